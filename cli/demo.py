"""`ac-sync demo`: the real flow against the bundled emulator, checked against the emulator's final state."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from ac_sync.cli.runner import EXIT_OK, EXIT_OTHER, Terminal, command_words
from ac_sync.cli.sample import DEMO_FIELDS, write_sample
from ac_sync.cli.stopping import Stop

DEMO_GROUP = "Marketing"
DEMO_LIST = "Demo audience"


def point_at_emulator(emu: Any, time_scale: float, state: Path | None = None) -> None:
    """Point this process's syncs (settings read from the environment) at the emulator `emu`."""
    os.environ.update(
        AC_SYNC_API_URL=emu.base_url,
        AC_SYNC_API_KEY=emu.api_key,
        AC_SYNC_TIME_SCALE=str(time_scale),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    if state is not None:
        os.environ["AC_SYNC_STATE"] = str(state)


async def seed_demo_fields(api_url: str, api_key: str, time_scale: float) -> None:
    """The demo account's custom fields, made through the API (at its rate limit) as someone would."""
    from pydantic import SecretStr

    from ac_sync.activecampaign.client import ACClient
    from ac_sync.activecampaign.ratelimit import AccountLimits

    async with ACClient(api_url, SecretStr(api_key), limits=AccountLimits(time_scale=time_scale)) as api:
        for spec in DEMO_FIELDS:
            made = await api.create_field(spec["title"], spec["type"], perstag=spec["perstag"])
            if spec.get("options"):
                await api.add_field_options(made.id, list(spec["options"]))


def run_demo(*, contacts: int, time_scale: float, as_json: bool, console: Console) -> int:
    # The run's own summary line is the demo's to write (with its check): only a stop writes one for it.
    term = Terminal(console, command=command_words(), as_json=False)
    try:
        with term.session():
            code, summary = _demo(term, contacts=contacts, time_scale=time_scale, console=console)
    except Stop as stop:
        term.as_json = as_json
        return term.stopped(stop)
    if as_json:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
    return code


def _demo(term: Terminal, *, contacts: int, time_scale: float, console: Console) -> tuple[int, dict[str, Any]]:
    from ac_sync.activecampaign.emulator.config import EmulatorConfig
    from ac_sync.activecampaign.emulator.server import EmulatorServer

    with (
        tempfile.TemporaryDirectory(prefix="ac-sync-demo-") as tmp,
        EmulatorServer(EmulatorConfig(time_scale=time_scale)) as emu,
    ):
        term.display.status("seeding the emulator's account")
        work = Path(tmp)
        sample = write_sample(work / "audience.csv", contacts, custom=True)
        httpx.post(f"{emu.base_url}/__emulator__/groups", json={"title": DEMO_GROUP}).raise_for_status()
        asyncio.run(seed_demo_fields(emu.api_url, emu.api_key, time_scale))
        console.print(
            f"Emulator at {emu.base_url} (time-scale {time_scale}), its account given the group {DEMO_GROUP!r} and"
            f" {len(DEMO_FIELDS)} custom fields; sample audience of {sample.rows} rows ({len(sample.valid)} valid,"
            f" {sample.invalid} malformed, {sample.duplicates} duplicates)",
            soft_wrap=True,
        )
        point_at_emulator(emu, time_scale)
        params = {
            "audience": str(sample.path),
            "list_name": DEMO_LIST,
            "group_name": DEMO_GROUP,
            "state": str(work / "state"),
            "verbose_log": str(Path.cwd() / ".ac-sync-demo" / "rejected" / "{list}" / "{when}-{run}.csv"),
        }
        code, summary = term.run(params)
        state = httpx.get(f"{emu.base_url}/__emulator__/state").json()
        lists = [lst for lst in state["lists"] if lst["name"] == DEMO_LIST]
        members = {email for email, status in lists[0]["members"].items() if status == 1} if lists else set()
        linked = bool(lists) and summary.get("group_id") in [int(g) for g in lists[0]["group_ids"]]
        exact = members == set(sample.valid)
        summary["demo_check"] = {
            "list_holds_exactly_valid_audience": exact,
            "list_linked_to_group": linked,
            "members": len(members),
            "expected": len(sample.valid),
        }
        if code == EXIT_OK:
            verdict = "[green]OK[/]" if exact and linked else "[red]MISMATCH[/]"
            console.print(
                f"{verdict}: the list holds {len(members)} contacts; the valid audience has {len(sample.valid)}; "
                f"linked to {DEMO_GROUP!r}: {linked}"
            )
            if not (exact and linked):
                code = EXIT_OTHER
    return code, summary
