"""Every benchmark in one command, each in its own process, with one summary at the end.

    .venv/bin/pip install -e '.[bench]'          # matplotlib, for the chart
    .venv/bin/python bench/run_all.py            # about 4 minutes on 2 cores
    .venv/bin/python bench/run_all.py --quick    # smaller sizes, a few minutes

(a) full sync at time-scale 1 (50,000 contacts) and 20: achieved contacts/min ÷ the ceiling, with a chart
(b)(c) re-sync with 1 % changed and unchanged: write requests ÷ ⌈changes/250⌉, requests in all
(d) audience preparation for a re-sync with 1 % changed, ÷ DuckDB's own count(DISTINCT), and peak RSS
(e) time from the start of a full sync to its first bulk request
(f) an account's five overlapping lists (100,000 people) as one plan against one list at a time: bulk
    imports, requests and wall time, first sync and re-sync, at time-scale 20
Results: bench/results/*.json, bench/results/full_sync-*.png, and bench/results/summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS

BENCH = Path(__file__).resolve().parent


def step(name: str, script: str, *args: str) -> dict[str, Any]:
    print(f"\n=== {name}: {script} {' '.join(args)}", flush=True)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], text=True)
    return {"name": name, "exit_code": proc.returncode, "seconds": round(time.monotonic() - started, 1)}


def load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run, not the reported figures")
    args = parser.parse_args()
    real_n, big = ("20000", ["1000000"]) if args.quick else ("50000", ["1000000", "10000000"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    steps = [
        step("(a) full sync, time-scale 1", "full_sync.py", "--contacts", real_n, "--time-scale", "1",
             "--out", str(RESULTS / "full_sync-1.json"), "--chart", str(RESULTS / "full_sync-1.png")),
        step("(a) full sync, time-scale 20", "full_sync.py", "--contacts", "50000", "--time-scale", "20",
             "--out", str(RESULTS / "full_sync-20.json"), "--chart", str(RESULTS / "full_sync-20.png")),
        step("(b)(c) re-syncs", "resync.py", "--contacts", "50000", "--time-scale", "20",
             "--out", str(RESULTS / "resync.json")),
        step("(d) re-sync preparation", "resync_prep.py", "--rows", *big, "--repeat", "1",
             "--out", str(RESULTS / "resync_prep.json")),
        step("(e) first bulk request", "first_request.py", "--rows", *big, "--repeat", "1",
             "--out", str(RESULTS / "first_request.json")),
        step("(f) an account's lists as one plan", "account.py", "--people", "20000" if args.quick else "100000",
             "--time-scale", "20", "--out", str(RESULTS / "account.json")),
    ]  # fmt: skip
    summary = {
        "steps": steps,
        "full_sync_1": load(RESULTS / "full_sync-1.json"),
        "full_sync_20": load(RESULTS / "full_sync-20.json"),
        "resync": load(RESULTS / "resync.json"),
        "resync_prep": load(RESULTS / "resync_prep.json"),
        "first_request": load(RESULTS / "first_request.json"),
        "account": load(RESULTS / "account.json"),
    }
    for key in ("full_sync_1", "full_sync_20"):
        if summary[key]:
            summary[key].pop("log", None)  # the raw request log stays in its own file
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print("\n=== summary")
    for s in steps:
        print(f"  {s['name']:<32} exit {s['exit_code']}  {s['seconds']:>7.1f} s")
    print(f"written: {RESULTS / 'summary.json'}")
    return 0 if all(s["exit_code"] == 0 for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
