"""Helpers for tests that run the real sync flow against the emulator."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from rich.console import Console

from ac_sync.cli.runner import print_run, run_sync
from ac_sync.engine import progress


async def sync(**params: Any) -> tuple[int, dict[str, Any]]:
    """Run the flow in this process, as `ac-sync run` does (`syncs=FILE`: as `run --syncs`); answer (exit code,
    summary). Every run is held to the promise that no known fact prints as None: in the terminal or the summary."""
    console = Console(file=io.StringIO(), width=200)
    code, summary = await run_sync(
        {k: v for k, v in params.items() if v is not None},
        as_json=False,
        console=console,
        quiet=True,
        account="syncs" in params,
    )
    printed = io.StringIO()
    print_run(summary, Console(file=printed, width=200), show=5)
    assert_known_facts(summary, printed.getvalue())
    return code, summary


def list_summaries(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summaries of each list a run's summary holds (its own, its syncs', a campaign's sub-audiences')."""
    if "syncs" not in summary:
        return [summary]
    return [part for one in summary["syncs"].values() for part in (one.get("sub_audiences") or {"": one}).values()]


def assert_known_facts(summary: dict[str, Any], text: str = "") -> None:
    """No known fact is None (null) in a summary, nor "None" in what the terminal printed."""
    assert "None" not in text, text
    for one in list_summaries(summary):
        if one.get("status") not in ("completed", "planned"):
            continue
        for key in ("flow_run_id", "list_name", "group_name", "group_id", "mode", "automations", "plan"):
            assert one.get(key) is not None, (key, one)
        new = one["status"] == "planned" and one.get("list_created")
        assert one.get("list_id") is not None or new, one
        assert (one.get("new_list") is not None) is bool(one.get("list_created")), one


class Admin:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=f"{base_url}/__emulator__")

    def state(self) -> dict[str, Any]:
        return self.http.get("/state").json()

    def requests(self) -> list[dict[str, Any]]:
        return self.http.get("/requests").json()

    def bulk_imports(self, since: int = 0) -> list[dict[str, Any]]:
        """The bulk-import POSTs in the request log (from entry `since` on), in arrival order."""
        log = self.requests()[since:]
        return [r for r in log if r["method"] == "POST" and r["path"].endswith("/import/bulk_import")]

    def accepted_bulk(self, since: int = 0) -> int:
        """Bulk imports the API accepted (a batch each)."""
        return sum(1 for r in self.bulk_imports(since) if r["status"] == 200)

    def members(self, list_name: str, status: int = 1) -> set[str]:
        lists = [lst for lst in self.state()["lists"] if lst["name"] == list_name]
        assert len(lists) == 1, f"expected one list named {list_name!r}, found {len(lists)}"
        return {email for email, s in lists[0]["members"].items() if s == status}

    def member_count(self, list_name: str) -> int:
        """Subscribed members of the list of that name, 0 while no such list exists yet."""
        lists = [lst for lst in self.state()["lists"] if lst["name"] == list_name]
        return sum(s == 1 for lst in lists for s in lst["members"].values())

    def contact(self, email: str) -> dict[str, Any]:
        """The emulator's view of one contact: names, field values by id, tags, list statuses."""
        resp = self.http.get("/contacts", params={"email": email})
        resp.raise_for_status()
        return resp.json()

    def config(self, **options: Any) -> None:
        self.http.post("/config", json=options).raise_for_status()

    def count(self, method: str, path_end: str, since: int = 0) -> int:
        """Requests in the log (from entry `since` on) of `method` whose path ends with `path_end`."""
        return sum(1 for r in self.requests()[since:] if r["method"] == method and r["path"].endswith(path_end))

    def group(self, title: str) -> int:
        return int(self.http.post("/groups", json={"title": title}).json()["id"])

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.http.post(path, json=body)
        resp.raise_for_status()
        return resp.json()


def api_request(emu: Any, method: str, path: str, **options: Any) -> Any:
    """A request to the emulator's /api/3 as a person would make it, waiting out its rate limit (the account's)."""
    with httpx.Client(base_url=emu.api_url, headers={"Api-Token": emu.api_key}) as api:
        while (resp := api.request(method, path, **options)).status_code == 429:
            time.sleep(float(resp.headers.get("Retry-After", "0.1")))
        resp.raise_for_status()
        return resp.json()


def api_post(emu: Any, path: str, body: dict[str, Any]) -> Any:
    return api_request(emu, "POST", path, json=body)


def create_field(emu: Any, title: str, type_: str = "text", options: list[str] | None = None, **extra: Any) -> int:
    """A custom field made through the API, as someone would in ActiveCampaign; answers its id."""
    field_id = int(api_post(emu, "/fields", {"field": {"title": title, "type": type_, **extra}})["field"]["id"])
    if options:
        body = [
            {"orderid": n, "value": v, "label": v, "isdefault": False, "field": field_id}
            for n, v in enumerate(options, 1)
        ]
        api_post(emu, "/fieldOption/bulk", {"fieldOptions": body})
    return field_id


def create_list(emu: Any, name: str) -> dict[str, Any]:
    """Create a list through the API, as a person in ActiveCampaign's UI would."""
    with httpx.Client(base_url=emu.api_url, headers={"Api-Token": emu.api_key}) as api:
        slug = f"{name.lower().replace(' ', '-')}-{len(api.get('/lists').json()['lists'])}"
        body = {"list": {"name": name, "stringid": slug, "sender_url": "https://x.example", "sender_reminder": "r"}}
        resp = api.post("/lists", json=body)
        resp.raise_for_status()
        return resp.json()["list"]


def cli_env() -> dict[str, str]:
    """This process's environment, with the Prefect API the tests run against."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}


def ac_sync_cli(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    """`ac-sync ARGS` in a child process, as an operator would type it (environment: `env`, else cli_env())."""
    return subprocess.run(
        [sys.executable, "-m", "ac_sync.cli", *args],
        env=cli_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def start_cli(*args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[str]:
    """`ac-sync ARGS` started in a child process, as an operator starts a run in a terminal (environment: `env`,
    else cli_env()); the caller waits for it or ends it."""
    return subprocess.Popen(
        [sys.executable, "-m", "ac_sync.cli", *args], env=cli_env() if env is None else env, text=True, **popen
    )


def first_json(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The first JSON line the child prints on its stdout (with --json, a paused run's paused line)."""
    assert proc.stdout is not None, "start the child with stdout=subprocess.PIPE"
    return json.loads(proc.stdout.readline())


class PauseWatch:
    """Catches the run's Paused notice (what the CLI prints), without polling the API."""

    def __init__(self) -> None:
        self.notices: list[progress.Paused] = []
        self.event = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def __call__(self, notice: progress.Notice) -> None:
        if isinstance(notice, progress.Paused):
            self.notices.append(notice)
            self._loop.call_soon_threadsafe(self.event.set)

    async def next(self, timeout: float = 60) -> progress.Paused:
        await asyncio.wait_for(self.event.wait(), timeout)
        self.event.clear()
        return self.notices[-1]

    async def paused(self, code: str | None = None) -> progress.Paused:
        """The next notice once its run is Paused, so that it can be resolved; `code`: the failure it must be."""
        notice = await self.next()
        # This module's asserts are not rewritten by pytest: the message says what was seen.
        assert code is None or notice.code == code, f"paused with {notice.code}, not {code}"
        await wait_paused(notice.flow_run_id)
        return notice


async def wait_paused(flow_run_id: str, timeout: float = 30) -> None:
    """The notice comes just before the pause is proposed; resolving needs the Paused state itself."""
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while time.monotonic() < deadline:
            run = await client.read_flow_run(UUID(flow_run_id))
            if run.state and run.state.is_paused():
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"flow run {flow_run_id} did not pause")


async def kill_after_accepted(proc: subprocess.Popen[Any], admin: Admin, batches: int, timeout_s: float = 90) -> None:
    """kill -9 `proc` once the API has accepted `batches` bulk imports (failing if it stops or stalls first)."""
    try:
        deadline = time.monotonic() + timeout_s
        while admin.accepted_bulk() < batches:
            assert proc.poll() is None and time.monotonic() < deadline, "the upload did not get going"
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
