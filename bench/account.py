"""Benchmark: an account's five overlapping lists as one plan against the same lists synced one by one.

    .venv/bin/python bench/account.py --time-scale 20 [--people 100000] [--out PATH.json]
    .venv/bin/python bench/account.py --time-scale 1      # real speed: about 20 minutes

Five audiences on one account, each inside the one before: 100 %, 80 %, 40 %, 20 % and 5 % of `--people`
(100k, 80k, 40k, 20k and 5k by default). Side by side in one run, each on a freshly reset emulator:
  merged      `run --syncs` with all five: one item per contact, carrying every list it joins;
  one by one  the same file, `--only` each sync in turn (what a per-list tool does).
Each does a first sync, then a re-sync with 1 % of each list's members renamed. Reported: bulk imports,
requests, 429s and wall time of each, and the ratios merged ÷ one-by-one; the first sync's ideal is
⌈people/250⌉ ÷ Σ⌈list/250⌉ (400 ÷ 980 at the default size).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from common import code_version, machine, report_path, reset_emulator, sync_against, write_report
from rich.console import Console

from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorProcess

SHARES = {"all": 1.0, "customers": 0.8, "engaged": 0.4, "vip": 0.2, "founders": 0.05}


def write_audiences(folder: Path, people: int, renamed: bool) -> Path:
    """The five audiences and their syncs file; `renamed`: every 100th person has a new first name (1 % of each
    list, the same people on every list they belong to)."""
    syncs = []
    for name, share in SHARES.items():
        with (folder / f"{name}.csv").open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["email", "first_name", "last_name"])
            for i in range(round(people * share)):
                first = f"First{i}" + ("-renamed" if renamed and i % 100 == 0 else "")
                out.writerow([f"person{i}@example.com", first, "Example"])
        syncs.append({"name": name, "audience": f"{name}.csv", "list": name.title(), "group": "Admin"})
    path = folder / "syncs.yaml"
    path.write_text(yaml.safe_dump({"syncs": syncs}, sort_keys=False), encoding="utf-8")
    return path


def counted(log: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "requests": len(log),
        "bulk_imports": sum(1 for r in log if r["path"].endswith("/import/bulk_import") and r["status"] == 200),
        "429": sum(1 for r in log if r["status"] == 429),
    }


async def sync_file(syncs: Path, only: list[str] | None) -> int:
    from ac_sync.cli.runner import run_sync

    params: dict[str, Any] = {"syncs": str(syncs), "pause_timeout": 0}
    if only:
        params["only"] = only
    console = Console(file=io.StringIO())
    code, _ = await run_sync(params, as_json=False, console=console, quiet=True, account=True)
    return code


def scenario(admin: httpx.Client, work: Path, people: int, merged: bool, time_scale: float) -> dict[str, Any]:
    """A first sync and a 1 % re-sync, merged or one sync at a time, on a fresh account and a fresh state."""
    reset_emulator(admin)
    kind = "merged" if merged else "one-by-one"
    folder = work / kind
    folder.mkdir()
    os.environ["AC_SYNC_STATE"] = str(folder / "state")
    out: dict[str, Any] = {}
    for phase, renamed in (("first", False), ("resync", True)):
        syncs = write_audiences(folder, people, renamed)
        if phase == "resync":
            # A fresh minute of the account's import budget: the first sync filled the last one, and a new
            # run's limiter cannot know what an earlier process sent (AC_SYNC_SHARED_BUDGET would).
            time.sleep(61 / time_scale)
        mark = len(admin.get("/requests").json())
        started = time.monotonic()
        if merged:
            codes = [asyncio.run(sync_file(syncs, None))]
        else:
            codes = [asyncio.run(sync_file(syncs, [name])) for name in SHARES]
        seconds = time.monotonic() - started
        out[phase] = {
            "exit_codes": codes,
            "seconds": round(seconds, 2),
            **counted(admin.get("/requests").json()[mark:]),
        }
        print(f"  {kind:>10} {phase:>6}: {out[phase]}", flush=True)
    members = {
        lst["name"]: sum(1 for s in lst["members"].values() if s == 1) for lst in admin.get("/state").json()["lists"]
    }
    out["members"] = members
    out["exact"] = members == {n.title(): round(people * s) for n, s in SHARES.items()}
    return out


def run(people: int, time_scale: float) -> dict[str, Any]:
    from prefect.testing.utilities import prefect_test_harness

    # One Prefect database for both sides, started before any timing (else the first side pays its start).
    with (
        prefect_test_harness(),
        tempfile.TemporaryDirectory(prefix="ac-sync-bench-") as tmp,
        EmulatorProcess(EmulatorConfig(time_scale=time_scale)) as emu,
        httpx.Client(base_url=f"{emu.base_url}/__emulator__", timeout=120) as admin,
    ):
        work = Path(tmp)
        sync_against(emu, work, time_scale)
        cwd = Path.cwd()
        os.chdir(work)
        try:
            merged = scenario(admin, work, people, True, time_scale)
            one_by_one = scenario(admin, work, people, False, time_scale)
        finally:
            os.chdir(cwd)
    sizes = [round(people * s) for s in SHARES.values()]
    ideal = math.ceil(people / 250) / sum(math.ceil(n / 250) for n in sizes)
    ratios = {
        phase: {
            "bulk_imports": merged[phase]["bulk_imports"] / one_by_one[phase]["bulk_imports"],
            "requests": merged[phase]["requests"] / one_by_one[phase]["requests"],
            "seconds": merged[phase]["seconds"] / one_by_one[phase]["seconds"],
        }
        for phase in ("first", "resync")
    }
    return {
        "people": people,
        "lists": dict(zip([n.title() for n in SHARES], sizes, strict=True)),
        "time_scale": time_scale,
        "merged": merged,
        "one_by_one": one_by_one,
        "ratios": ratios,
        "ideal_first_import_ratio": ideal,
        "machine": machine(),
        "code": code_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.people, args.time_scale)
    write_report(report_path(args.out, "account", f"{args.time_scale:g}"), result)
    for phase in ("first", "resync"):
        r = result["ratios"][phase]
        m, o = result["merged"][phase], result["one_by_one"][phase]
        print(
            f"{phase}: bulk imports {m['bulk_imports']} vs {o['bulk_imports']} (ratio {r['bulk_imports']:.3f}),"
            f" requests {m['requests']} vs {o['requests']} ({r['requests']:.3f}),"
            f" wall time {m['seconds']:.1f} s vs {o['seconds']:.1f} s ({r['seconds']:.3f}),"
            f" 429s {m['429']} / {o['429']}"
        )
    print(f"ideal first-sync import ratio: {result['ideal_first_import_ratio']:.3f}")
    ok = result["merged"]["exact"] and result["one_by_one"]["exact"]
    codes = [
        c for s in (result["merged"], result["one_by_one"]) for p in ("first", "resync") for c in s[p]["exit_codes"]
    ]
    return 0 if ok and set(codes) == {0} else 1


if __name__ == "__main__":
    sys.exit(main())
