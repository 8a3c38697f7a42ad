"""Benchmark: incremental re-syncs through the real flow, counted in the emulator's request log.

    .venv/bin/python bench/resync.py --contacts 50000 --changed-pct 1 --time-scale 20 [--out PATH.json]

(b) after a full sync, a re-sync with 1 % of the rows changed: write requests ÷ ⌈changes/250⌉ (target 1.0)
    and the total requests of that run;
(c) a re-sync of the unchanged audience: requests in all (target ≤ 5) and contact writes (target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from common import code_version, machine, report_path, reset_emulator, sync_against, write_report
from rich.console import Console

from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorProcess

CONTACT_WRITES = {"/api/3/import/bulk_import", "/api/3/contacts", "/api/3/contact/sync", "/api/3/contactLists"}


def write_audience(path: Path, contacts: int, changed: int) -> None:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "first_name", "last_name"])
        for i in range(contacts):
            # The first `changed` rows get a new first name; spread them out so batches mix old and new.
            stride = max(1, contacts // max(changed, 1))
            first = f"First{i}" + ("-changed" if changed and i % stride == 0 and i // stride < changed else "")
            out.writerow([f"person{i}@example.com", first, "Example"])


def count(log: list[dict[str, Any]]) -> dict[str, int]:
    writes = [r for r in log if r["method"] != "GET" and r["path"] in CONTACT_WRITES]
    return {
        "requests": len(log),
        "contact_writes": len(writes),
        "bulk_imports": sum(1 for r in writes if r["path"].endswith("bulk_import")),
        "polls": sum(1 for r in log if r["path"].endswith("/import/info")),
        "429": sum(1 for r in log if r["status"] == 429),
    }


def run(contacts: int, changed_pct: float, time_scale: float) -> dict[str, Any]:
    changed = round(contacts * changed_pct / 100)
    with (
        tempfile.TemporaryDirectory(prefix="ac-sync-bench-") as tmp,
        EmulatorProcess(EmulatorConfig(time_scale=time_scale)) as emu,
        httpx.Client(base_url=f"{emu.base_url}/__emulator__", timeout=60) as admin,
    ):
        work = Path(tmp)
        sync_against(emu, work, time_scale)
        from ac_sync.cli.runner import run_sync

        audience = work / "audience.csv"
        params = {"audience": str(audience), "list_name": "Resync", "group_name": "Admin", "pause_timeout": 0}
        os.chdir(work)
        reset_emulator(admin)

        async def one() -> tuple[int, list[dict[str, Any]]]:
            mark = len(admin.get("/requests").json())
            code, _ = await run_sync(params, as_json=False, console=Console(stderr=True), quiet=True)
            return code, admin.get("/requests").json()[mark:]

        async def scenario() -> dict[str, Any]:
            write_audience(audience, contacts, 0)
            full_code, full_log = await one()
            write_audience(audience, contacts, changed)
            changed_code, changed_log = await one()
            same_code, same_log = await one()
            return {
                "exit_codes": [full_code, changed_code, same_code],
                "full": count(full_log),
                "changed": count(changed_log),
                "unchanged": count(same_log),
            }

        result = asyncio.run(scenario())
    ideal = math.ceil(changed / 250)
    result.update(
        contacts=contacts,
        changed_rows=changed,
        time_scale=time_scale,
        b_write_ratio=result["changed"]["contact_writes"] / ideal if ideal else None,
        b_ideal_writes=ideal,
        c_requests=result["unchanged"]["requests"],
        c_contact_writes=result["unchanged"]["contact_writes"],
        machine=machine(),
        code=code_version(),
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--changed-pct", type=float, default=1.0)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cwd = Path.cwd()
    result = run(args.contacts, args.changed_pct, args.time_scale)
    os.chdir(cwd)
    write_report(report_path(args.out, "resync", args.contacts), result)
    b, c = result["changed"], result["unchanged"]
    print(f"re-sync of {args.contacts:,} contacts, {result['changed_rows']:,} changed, time-scale {args.time_scale}")
    print(
        f"  (b) contact writes {b['contact_writes']} for ⌈{result['changed_rows']}/250⌉ = {result['b_ideal_writes']}: "
        f"ratio {result['b_write_ratio']:.2f} (target 1.0); requests in all {b['requests']} ({b['polls']} polls)"
    )
    print(f"  (c) unchanged: {c['requests']} requests (target ≤ 5), {c['contact_writes']} contact writes (target 0)")
    ok = result["exit_codes"] == [0, 0, 0] and result["b_write_ratio"] == 1.0 and c["requests"] <= 5
    return 0 if ok and c["contact_writes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
