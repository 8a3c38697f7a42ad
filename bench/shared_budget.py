"""Benchmark: three syncs in three processes into one account, sharing its limits through a Prefect server.

    .venv/bin/python bench/shared_budget.py [--contacts 30000] [--syncs 3] [--time-scale 10] [--no-shared] [--out F]

Each sync is `python -m ac_sync.cli run --audience ... --list L<i> --group Admin` in its own OS process, all
against one emulator (its own process) and one Prefect server (a `prefect_test_harness` one), with
AC_SYNC_SHARED_BUDGET=true (false with --no-shared, which shows what the budget prevents). Everything is
measured from the emulator's request log, on its clock: 429s, the most requests in any 1/F s, the most bulk
imports in any 60/F s, and how close the bulk imports together ran to the ceiling of 100 per 60/F s once it
bound (the n-th and the (n+100)-th import are at best one window apart: ratio = window / mean of those
gaps). Then the cost of a lease alone: acquire and release against the same server, nobody else waiting.

tests/engine/test_shared_budget.py runs this same scenario (`run_scenario`, `analyse`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RATE_LIMITED,
    consecutive_window_counts,
    is_bulk,
    machine,
    max_in_window,
    report_path,
    reset_emulator,
    spacing_stats,
)

from ac_sync.activecampaign.client import BULK_MAX_CONTACTS  # noqa: E402
from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorProcess  # noqa: E402
from ac_sync.cli.sample import write_sample  # noqa: E402

GROUP = "Admin"
START_LINE_RULE = {"method": "POST", "path": "import/bulk_import", "status": 503, "retry_after": 1.0}
# A start line, so that the syncs run together from their first bulk import: `python -m ac_sync.cli ...` once
# every sync has imported its modules (Prefect and the flow take seconds on 2 cores), and no bulk import until
# every sync is ready to upload (its list linked, or read if it existed): reading a list costs the emulator
# time that grows with the account, holding every request meanwhile, so a late starter would stall the others.
_AT_THE_START_LINE = """
import pathlib, sys, time
import ac_sync.cli.app, ac_sync.cli.runner, ac_sync.flows.sync_audience
pathlib.Path(sys.argv[1]).touch()
while not pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.005)
sys.argv = ["ac-sync", *sys.argv[3:]]
ac_sync.cli.app.main()
"""
_STATS_LINE = re.compile(r"shared budget: (\{.*\})")


def run_scenario(
    prefect_api_url: str,
    work: Path,
    *,
    contacts: int = 30_000,
    syncs: int = 3,
    time_scale: float = 10.0,
    shared: bool = True,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Start `syncs` CLI processes at once into one fresh emulator account; answer everything raw."""
    with (
        EmulatorProcess(EmulatorConfig(time_scale=time_scale)) as emu,
        httpx.Client(base_url=f"{emu.base_url}/__emulator__", timeout=60) as admin,
    ):
        origin = reset_emulator(admin)
        admin.post("/groups", json={"title": GROUP}).raise_for_status()
        samples = []
        procs: list[tuple[subprocess.Popen[str], Any]] = []
        for i in range(1, syncs + 1):
            run_dir = work / f"sync-{i}"
            run_dir.mkdir(parents=True, exist_ok=True)
            samples.append(write_sample(run_dir / "audience.csv", contacts, seed=i, salt=f"-{i}"))
        go = work / "go"
        # The start line's second half: bulk imports wait (503, Retry-After) until every sync is ready to upload.
        admin.post("/faults", json={"rules": [START_LINE_RULE]}).raise_for_status()
        for i in range(1, syncs + 1):
            run_dir = work / f"sync-{i}"
            env = {
                **os.environ,
                "PREFECT_API_URL": prefect_api_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "AC_SYNC_API_URL": emu.base_url,
                "AC_SYNC_API_KEY": emu.api_key,
                "AC_SYNC_TIME_SCALE": str(time_scale),
                "AC_SYNC_STATE": str(run_dir / "state"),
                "AC_SYNC_VERBOSE_LOG_PATH": str(run_dir / "rejected.csv"),
                "AC_SYNC_PAUSE_TIMEOUT": "0",
                "AC_SYNC_SHARED_BUDGET": "true" if shared else "false",
            }
            args = [sys.executable, "-c", _AT_THE_START_LINE, str(run_dir / "ready"), str(go)]
            args += ["run", "--audience", str(run_dir / "audience.csv"), "--list", f"L{i}", "--group", GROUP, "--json"]
            stderr = (run_dir / "stderr.log").open("w")
            proc = subprocess.Popen(args, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
            procs.append((proc, stderr))
        deadline = time.monotonic() + timeout_s
        while not all((work / f"sync-{i}" / "ready").exists() for i in range(1, syncs + 1)):
            if time.monotonic() > deadline or any(proc.poll() is not None for proc, _ in procs):
                break
            time.sleep(0.05)
        started = time.monotonic()
        go.touch()
        while len(_lists_ready(admin.get("/requests").json())) < syncs:
            if time.monotonic() > deadline or any(proc.poll() is not None for proc, _ in procs):
                break
            time.sleep(0.05)
        admin.post("/faults", json={"rules": []}).raise_for_status()
        released = time.monotonic() - origin
        results = []
        for i, (proc, stderr) in enumerate(procs, start=1):
            try:
                out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            stderr.close()
            err_text = (work / f"sync-{i}" / "stderr.log").read_text(errors="replace")
            lines = [line for line in out.splitlines() if line.startswith("{")]
            stats = _STATS_LINE.findall(err_text)
            results.append(
                {
                    "exit_code": proc.returncode,
                    "summary": json.loads(lines[-1]) if lines else None,
                    "budget": json.loads(stats[-1]) if stats else None,
                    "stderr_tail": err_text[-3000:],
                }
            )
        ended = time.monotonic()
        log = admin.get("/requests").json()
        state = admin.get("/state").json()
    members = {lst["name"]: lst["members"] for lst in state["lists"]}
    lists = []
    for i, sample in enumerate(samples, start=1):
        held = {email for email, status in members.get(f"L{i}", {}).items() if status == 1}
        lists.append({"expected": len(sample.valid), "exact": held == sample.valid, "held": len(held)})
    return {
        "params": {"contacts": contacts, "syncs": syncs, "time_scale": time_scale, "shared": shared},
        "wall_s": ended - started,
        "run_start": started - origin,
        "start_line_s": released,
        "runs": results,
        "lists": lists,
        "log": log,
    }


def _lists_ready(log: list[dict[str, Any]]) -> list[int]:
    """Where each sync's last request before its upload is in the log: linking the list it created to the
    group (a new list is not read), or reading the members of a list that already existed."""
    return [
        i
        for i, e in enumerate(log)
        if (e["method"] == "POST" and e["path"].rstrip("/").endswith("/listGroups"))
        or (
            e["method"] == "GET" and e["path"].rstrip("/").endswith("/contacts") and "listid=" in (e.get("query") or "")
        )
    ]


def steady_part(log: list[dict[str, Any]], accepted: list[dict[str, Any]]) -> tuple[float, float] | None:
    """While every sync submits: from the first bulk import (the start line makes it everyone's first) to the
    first sync's last one, the first import of fewer than 250 contacts (each sync's last batch is its only
    partial one, unless its audience is a multiple of 250). Never before the last list read was answered
    (the first request logged after it): reading a list holds the emulator for time that grows with the account.
    """
    reads = _lists_ready(log)
    if not accepted or not reads:
        return None
    answered = log[reads[-1] + 1]["t"] if reads[-1] + 1 < len(log) else log[-1]["t"]
    last_batches = [e["t"] for e in accepted if (e["contacts"] or 0) < BULK_MAX_CONTACTS]
    start, end = max(accepted[0]["t"], answered), min(last_batches, default=accepted[-1]["t"])
    return (start, end) if end > start else None


def analyse(raw: dict[str, Any]) -> dict[str, Any]:
    cfg = EmulatorConfig()
    scale = raw["params"]["time_scale"]
    request_window_s, bulk_window_s = 1 / scale, 60 / scale
    # The start line's own 503s are not the account's limits answering: leave them out.
    log: list[dict[str, Any]] = [e for e in raw["log"] if not (is_bulk(e) and e["t"] < raw["start_line_s"])]
    held_at_start_line = len(raw["log"]) - len(log)
    bulk = [e for e in log if is_bulk(e)]
    accepted = [e["t"] for e in bulk if e["status"] == 200]  # log order is arrival order
    sustained = spacing_stats(accepted, cfg.bulk_per_minute, bulk_window_s)
    steady = steady_part(log, [e for e in bulk if e["status"] == 200])
    # The n-th and (n+100)-th import are at best one window apart once the limit binds: both inside the steady part.
    pairs = [
        accepted[k + cfg.bulk_per_minute] - accepted[k]
        for k in range(len(accepted) - cfg.bulk_per_minute)
        if steady and steady[0] <= accepted[k] and accepted[k + cfg.bulk_per_minute] <= steady[1]
    ]
    windows = consecutive_window_counts(accepted, bulk_window_s)
    budgets = [r["budget"] for r in raw["runs"] if r["budget"]]
    figures = {
        "requests": len(log),
        "bulk_accepted": len(accepted),
        "rate_limited": sum(1 for e in log if e["status"] in RATE_LIMITED),
        "too_many_requests_429": sum(1 for e in log if e["status"] == 429),
        "held_at_start_line": held_at_start_line,
        "bulk_refused": sum(1 for e in bulk if e["status"] == 400),
        "max_requests_per_window": max_in_window([e["t"] for e in log], request_window_s),
        "max_bulk_per_window": max_in_window(accepted, bulk_window_s),
        "steady_s": None if steady is None else [round(steady[0], 3), round(steady[1], 3)],
        "bulk_pairs": len(pairs),
        "ratio": bulk_window_s / statistics.fmean(pairs) if pairs else None,
        "ratio_median": bulk_window_s / statistics.median(pairs) if pairs else None,
        # The same over the whole run, start-up (the first window) and tail (fewer syncs) included.
        "ratio_whole_run": sustained["ratio_mean"] if sustained else None,
        "bulk_per_window_after_first": windows[1:],
        "exit_codes": [r["exit_code"] for r in raw["runs"]],
        "lists_exact": [lst["exact"] for lst in raw["lists"]],
        "wall_s": raw["wall_s"],
        "first_bulk_s": accepted[0] - raw["run_start"] if accepted else None,
        "upload_s": accepted[-1] - accepted[0] if accepted else None,
        "budget": _merge_budgets(budgets) if budgets else None,
    }
    if figures["budget"] and log:
        b = figures["budget"]
        calls = b["asks"] + b["looks"] + b["released"] + b["server_retries"] + b["renewed"]
        figures["server_calls_per_request"] = calls / len(log)
    figures["within_limits"] = (
        figures["rate_limited"] == 0
        and figures["bulk_refused"] == 0
        and figures["max_requests_per_window"] <= cfg.requests_per_second
        and figures["max_bulk_per_window"] <= cfg.bulk_per_minute
    )
    return figures


def _merge_budgets(budgets: list[dict[str, Any]]) -> dict[str, Any]:
    """The processes' lease figures together: counts summed, mean times weighted by their counts."""

    def total(key: str) -> int:
        return sum(sum(b[key].values()) if isinstance(b[key], dict) else b[key] for b in budgets)

    def weighted(key: str, weight: Callable[[dict[str, Any]], int]) -> float | None:
        parts = [(b[key], weight(b)) for b in budgets if b[key] is not None]
        of = sum(w for _, w in parts)
        return sum(v * w for v, w in parts) / of if of else None

    return {
        **{key: total(key) for key in ("granted", "handed_over", "waits", "asks", "locked", "looks", "released")},
        **{key: total(key) for key in ("server_retries", "renewed", "lost", "abandoned")},
        "wait_ms_mean": weighted("wait_ms_mean", lambda b: b["waits"]),
        "grant_call_ms_mean": weighted("grant_call_ms_mean", lambda b: sum(b["granted"].values())),
        "release_call_ms_mean": weighted("release_call_ms_mean", lambda b: b["released"]),
    }


async def lease_overhead(n: int = 200) -> dict[str, float]:
    """One lease at a time against the server PREFECT_API_URL names, nobody else waiting: the bare cost."""
    from ac_sync.engine.shared_budget import PrefectSharedBudget

    budget = PrefectSharedBudget(f"http://overhead-probe-{os.getpid()}.invalid")
    acquire, release = [], []
    try:
        await budget.release(await budget.acquire("request"))  # creates the limit and opens the client
        for _ in range(n):
            t0 = time.perf_counter()
            lease = await budget.acquire("request")
            t1 = time.perf_counter()
            await budget.release(lease)
            acquire.append(t1 - t0)
            release.append(time.perf_counter() - t1)
    finally:
        await budget.aclose()
    return {
        "acquire_ms_median": 1000 * statistics.median(acquire),
        "release_ms_median": 1000 * statistics.median(release),
        "acquire_plus_release_ms_median": 1000
        * statistics.median(a + r for a, r in zip(acquire, release, strict=True)),
        "acquire_plus_release_ms_p95": 1000
        * sorted(a + r for a, r in zip(acquire, release, strict=True))[int(0.95 * (n - 1))],
    }


def _fmt(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def report(fig: dict[str, Any], params: dict[str, Any], overhead: dict[str, float] | None) -> str:
    scale = params["time_scale"]
    lines = [
        f"{params['syncs']} syncs × {params['contacts']:,} rows at time-scale {scale:g}, "
        f"shared budget {'ON' if params['shared'] else 'OFF'}",
        f"  exit codes {fig['exit_codes']}, lists exact {fig['lists_exact']}, wall {fig['wall_s']:.1f} s, "
        f"upload {_fmt(fig['upload_s'], 1)} s",
        f"  requests {fig['requests']}, bulk imports accepted {fig['bulk_accepted']}",
        f"  429/503: {fig['rate_limited']} ({fig['too_many_requests_429']} × 429), bulk 'Rate limit exceeded' 400: "
        f"{fig['bulk_refused']} (not counted: {fig['held_at_start_line']} bulk imports held at the start line)",
        f"  max requests in any {1 / scale:.3g} s: {fig['max_requests_per_window']} (≤ 5)",
        f"  max bulk imports in any {60 / scale:.3g} s: {fig['max_bulk_per_window']} (≤ 100)",
        f"  aggregate bulk ratio over the steady part {fig['steady_s']} s (window / mean n→n+100 gap, "
        f"{fig['bulk_pairs']} pairs): {_fmt(fig['ratio'])} (median {_fmt(fig['ratio_median'])}); whole run "
        f"{_fmt(fig['ratio_whole_run'])}; per full window after the first: {fig['bulk_per_window_after_first']}",
    ]
    if fig["budget"]:
        b = fig["budget"]
        lines.append(
            f"  slots: {b['waits']} taken, {b['granted']} from the server in {b['asks']} asks ({b['locked']} × 423, "
            f"{b['looks']} looks, {b['server_retries']} busy retries), {b['handed_over']} handed on, "
            f"{b['released']} given back; {fig['server_calls_per_request']:.2f} Prefect calls per request; means: "
            f"wait {_fmt(b['wait_ms_mean'], 1)} ms, granted call {_fmt(b['grant_call_ms_mean'], 1)} ms, release "
            f"call {_fmt(b['release_call_ms_mean'], 1)} ms; renewed {b['renewed']}, lost {b['lost']}, abandoned "
            f"{b['abandoned']}"
        )
    if overhead:
        lines.append(
            f"  lease overhead alone (acquire + release, sequential): median "
            f"{overhead['acquire_plus_release_ms_median']:.1f} ms, p95 {overhead['acquire_plus_release_ms_p95']:.1f}"
            f" ms (acquire {overhead['acquire_ms_median']:.1f}, release {overhead['release_ms_median']:.1f})"
        )
    lines.append("  OK" if fig["within_limits"] and all(fig["lists_exact"]) else "  LIMITS BROKEN or lists wrong")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=30_000, help="rows per sync")
    parser.add_argument("--syncs", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--no-shared", action="store_true", help="without the shared budget (limits broken)")
    parser.add_argument("--out", type=Path, help="JSON results (default: bench/results/shared_budget-<F>.json)")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(), tempfile.TemporaryDirectory(prefix="ac-sync-shared-") as tmp:
        api_url = str(PREFECT_API_URL.value())
        raw = run_scenario(
            api_url,
            Path(tmp),
            contacts=args.contacts,
            syncs=args.syncs,
            time_scale=args.time_scale,
            shared=not args.no_shared,
        )
        overhead = asyncio.run(lease_overhead())
    fig = analyse(raw)
    print(report(fig, raw["params"], overhead))
    for i, run in enumerate(raw["runs"], start=1):
        if run["exit_code"] != 0:
            print(f"--- sync {i} stderr (tail) ---\n{run['stderr_tail']}")
    out: Path = report_path(args.out, "shared_budget", f"{args.time_scale:g}").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "shared_budget",
        "machine": machine(),
        "params": raw["params"],
        "figures": fig,
        "lease_overhead": overhead,
        "runs": [{k: r[k] for k in ("exit_code", "summary", "budget")} for r in raw["runs"]],
        "raw": {"requests": raw["log"]},
    }
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"results written to {out}")
    return 0 if fig["within_limits"] == (not args.no_shared) and all(fig["lists_exact"]) else 1


if __name__ == "__main__":
    sys.exit(main())
