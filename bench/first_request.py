"""Benchmark (e): time from the start of a full sync to its first bulk import, against the emulator.

    .venv/bin/python bench/first_request.py --rows 1000000 10000000 [--repeat 3] [--time-scale 1]

Each run is a fresh child process that calls `ac_sync.cli.runner.run_sync` exactly as `ac-sync run` does
(temporary Prefect server included) on a generated CSV (the same generator as audience_prep.py: ~3 %
invalid, ~2 % duplicates), into a new list, with an empty sync state: a first, full sync. The parent
watches the emulator's request log and stops the child (its whole process group) once the first bulk
import has arrived; at 25,000 contacts a minute the rest of a 10 M-row upload would take hours.

Times are on one clock (CLOCK_MONOTONIC, shared by all processes), placed on the emulator's timeline:

- call → 1st bulk: `run_sync` called → the first bulk import reached the emulator. Includes starting
  the temporary Prefect server, which a deployment (a running server) does not pay.
- flow start → 1st bulk: the flow run entered Running (its on_running hook) → the first bulk import.
  This is the figure the target (≤ 5 s at 10 M rows) is about.
- flow start → 1st request: get-details and the task overheads, up to `GET /users/me`.

What was sent is checked: once the batches that went out have completed, the list holds exactly the
first valid, de-duplicated rows of the file (first occurrence wins), as many as were sent.
A DuckDB `count(DISTINCT lower(trim(email)))` over the same file is timed in the same run, for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
from audience_prep import child_baseline, generate
from common import code_version, is_bulk, machine, median_of, report_path, reset_emulator, write_report

from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorProcess

GROUP = "Bench"
FIRST_BULK_TIMEOUT_S = 300.0
EXPECTED_ROWS = 25_000  # more than a run sends before it is stopped


def child(csv_path: Path, base_url: str, api_key: str, time_scale: float, workdir: Path, events: Path) -> None:
    """Run the flow; record the moments the log cannot show (the call, the flow entering Running)."""
    os.environ.update(
        AC_SYNC_API_URL=base_url,
        AC_SYNC_API_KEY=api_key,
        AC_SYNC_TIME_SCALE=str(time_scale),
        AC_SYNC_STATE=str(workdir / "state"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    import asyncio

    from rich.console import Console

    import ac_sync.flows.sync_audience as module
    from ac_sync.cli.runner import run_sync

    def mark(name: str) -> None:
        with events.open("a") as fh:
            fh.write(json.dumps({name: time.monotonic()}) + "\n")

    # run_sync imports the flow from the module when called, so the hooked copy is the one that runs.
    module.sync_audience = module.sync_audience.with_options(on_running=[lambda *_: mark("flow_running")])
    os.chdir(workdir)
    params = {"audience": str(csv_path), "list_name": f"Bench {workdir.name}", "group_name": GROUP}
    mark("call")
    asyncio.run(run_sync(params, as_json=False, console=Console(stderr=True), quiet=True))
    mark("returned")


def expected_first_batch(csv_path: Path, work: Path, size: int) -> list[str]:
    """The first `size` emails the audience holds, in order: only a prefix of the file can decide them."""
    from ac_sync.engine.audience import prepare_audience

    head = work / "head.csv"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv(?, all_varchar=true) LIMIT {size * 4}) TO '{head}' (HEADER)",
            [str(csv_path)],
        )
    db = work / "head.duckdb"
    prepare_audience(str(head), db)
    with duckdb.connect(str(db)) as con:
        rows = con.execute(f"SELECT email FROM audience ORDER BY source_row LIMIT {size}").fetchall()
    return [r[0] for r in rows]


def one_run(
    csv_path: Path, emu: EmulatorProcess, admin: httpx.Client, time_scale: float, timeout_s: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ac-sync-first-") as tmp:
        work = Path(tmp)
        list_name = f"Bench {work.name}"
        events = work / "events.jsonl"
        origin = reset_emulator(admin)
        admin.post("/groups", json={"title": GROUP}).raise_for_status()
        args = [sys.executable, __file__, "--child", str(csv_path), emu.base_url, emu.api_key, str(time_scale)]
        # A session of its own: the child starts a Prefect server, and the whole group is stopped at the end.
        # Its output goes to a file: stopping it mid-upload makes Prefect log the run as crashed, which is
        # expected here and only noise; the file is shown when no bulk import arrived.
        child_log = work / "child.log"
        with child_log.open("wb") as out:
            proc = subprocess.Popen(
                [*args, str(work), str(events)], start_new_session=True, stdout=out, stderr=subprocess.STDOUT
            )
        first_bulk: dict[str, Any] | None = None
        log: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        try:
            while first_bulk is None and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
                log = admin.get("/requests").json()
                first_bulk = next((e for e in log if is_bulk(e)), None)
        finally:
            _stop(proc)
        if first_bulk is None:
            print(child_log.read_text(errors="replace")[-4000:], file=sys.stderr)
        # Let every batch that went out finish, then read what the list holds: exactly the first rows.
        settle = time.monotonic() + 30 / time_scale + 10
        while time.monotonic() < settle:
            batches = admin.get("/batches").json()
            if all(b["status"] in ("completed", "failed") for b in batches):
                break
            time.sleep(0.5)
        members = [
            email
            for lst in admin.get("/state").json()["lists"]
            for email, status in lst["members"].items()
            if lst["name"] == list_name
        ]
        sent = sum(int(b["contacts"]) for b in batches)
        marks: dict[str, float] = {}
        if events.exists():
            for line in events.read_text().splitlines():
                marks.update(json.loads(line))
    if first_bulk is None:
        return {"ok": False, "exit_code": proc.returncode}
    first_request = log[0]["t"]
    call = marks["call"] - origin
    running = marks.get("flow_running", float("nan")) - origin
    return {
        "ok": True,
        "call_to_first_bulk_s": first_bulk["t"] - call,
        "flow_start_to_first_bulk_s": first_bulk["t"] - running,
        "flow_start_to_first_request_s": first_request - running,
        "first_request_to_first_bulk_s": first_bulk["t"] - first_request,
        "call_to_flow_start_s": running - call,
        "first_batch_contacts": batches[0]["contacts"] if batches else None,
        "contacts_sent": sent,
        "list_members": members,
        "requests_before_first_bulk": [f"{e['method']} {e['path']}" for e in log if e["t"] <= first_bulk["t"]],
    }


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # SIGINT first, so the child's Prefect server is shut down by its own context managers.
    for sig, wait_s in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=1.0, help="the emulator's (1 = ActiveCampaign's limits)")
    parser.add_argument("--workdir", type=Path, help="where the generated CSVs go (kept and reused)")
    parser.add_argument("--timeout", type=float, default=FIRST_BULK_TIMEOUT_S, help="give up on a run after this")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results/first_request-<rows>.json)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        csv_path, base_url, api_key, scale, work, events = args.child
        child(Path(csv_path), base_url, api_key, float(scale), Path(work), Path(events))
        return

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="first-request-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": machine(), "code": code_version(), "time_scale": args.time_scale, "sizes": {}}
    with (
        EmulatorProcess(EmulatorConfig(time_scale=args.time_scale)) as emu,
        httpx.Client(base_url=f"{emu.base_url}/__emulator__", timeout=60) as admin,
    ):
        for rows in args.rows:
            csv_path = workdir / f"audience-{rows}.csv"
            if not csv_path.exists():
                generate(csv_path, rows)
            with tempfile.TemporaryDirectory(prefix="first-expected-") as tmp:
                expected = expected_first_batch(csv_path, Path(tmp), EXPECTED_ROWS)
            runs = []
            for _ in range(args.repeat):
                baseline = child_baseline(csv_path)["seconds"]
                run = one_run(csv_path, emu, admin, args.time_scale, args.timeout)
                run["baseline_s"] = baseline
                # The list must hold exactly the first `sent` audience rows: in order, valid, no duplicate.
                members = run.pop("list_members", [])
                run["first_rows_exact"] = (
                    run.get("ok", False)
                    and sorted(members) == sorted(expected[: run["contacts_sent"]])
                    and run["contacts_sent"] <= len(expected)
                )
                run["loadavg_1"] = os.getloadavg()[0]
                runs.append(run)
                print(json.dumps({"rows": rows, **{k: v for k, v in run.items() if k != "requests_before_first_bulk"}}))
            report["sizes"][str(rows)] = runs
    print()
    print(
        f"{'rows':>11} | {'flow start → 1st bulk':>22} | {'call → 1st bulk':>16} | {'flow start → 1st request':>24}"
        f" | {'duckdb count distinct':>21} | sent rows exact"
    )
    for rows, runs in report["sizes"].items():
        ok = [r for r in runs if r["ok"]]
        if not ok:
            print(f"{int(rows):>11,} | no bulk import within {args.timeout:.0f} s")
            continue

        def med(key: str, runs: list[dict[str, Any]] = ok) -> str:
            return f"{median_of(runs, key):.2f} s"

        print(
            f"{int(rows):>11,} | {med('flow_start_to_first_bulk_s'):>22} | {med('call_to_first_bulk_s'):>16} | "
            f"{med('flow_start_to_first_request_s'):>24} | {med('baseline_s'):>21} | "
            f"{all(r['first_rows_exact'] for r in ok)}"
        )
    write_report(report_path(args.out, "first_request", *args.rows), report)


if __name__ == "__main__":
    main()
