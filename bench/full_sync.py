"""Benchmark: one full sync through the real Prefect flow, against the emulator in its own process.

    .venv/bin/python bench/full_sync.py --contacts 50000 --time-scale 20 [--out PATH.json] [--chart PATH.png]

How close the upload runs to ActiveCampaign's bulk ceiling (100 imports of 250 contacts per minute, i.e.
25,000 contacts/min; F times that per real minute at --time-scale F) without breaking the 5 requests/s
limit, measured from the emulator's request log, and whether the list ends up holding exactly the
audience. See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import (
    RATE_LIMITED,
    code_version,
    confirmations,
    consecutive_window_counts,
    cumulative,
    fmt_ratio,
    is_bulk,
    is_info,
    machine,
    max_in_window,
    percentile,
    report_path,
    reset_emulator,
    spacing_stats,
    sync_against,
)
from rich.console import Console

from ac_sync.activecampaign.client import BULK_MAX_CONTACTS
from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorProcess
from ac_sync.cli.sample import write_sample

GROUP = "Bench"
LIST = "Bench audience"


def run_flow(contacts: int, time_scale: float) -> dict[str, Any]:
    """Seed the emulator, run the flow, and collect what the analysis needs (all raw, nothing derived)."""
    config = EmulatorConfig(time_scale=time_scale)
    with (
        tempfile.TemporaryDirectory(prefix="ac-sync-bench-") as tmp,
        EmulatorProcess(config) as emu,
        httpx.Client(base_url=f"{emu.base_url}/__emulator__", timeout=60) as admin,
    ):
        work = Path(tmp)
        # No malformed or duplicate rows: every row is a contact to upload, so the figures are about upload.
        sample = write_sample(work / "audience.csv", contacts, malformed_ratio=0.0, duplicate_ratio=0.0)
        sync_against(emu, work, time_scale)
        # Only now: Prefect reads some of its settings when first imported.
        from ac_sync.cli.runner import run_sync

        origin = reset_emulator(admin)
        admin.post("/groups", json={"title": GROUP}).raise_for_status()
        params = {
            "audience": str(sample.path),
            "list_name": LIST,
            "group_name": GROUP,
            "verbose_log": str(work / "rejected.csv"),
        }
        cwd = Path.cwd()
        # The flow keeps its working files under ./.ac-sync: keep them in the temp dir, not the caller's.
        os.chdir(work)
        try:
            started = time.monotonic()
            code, summary = asyncio.run(run_sync(params, as_json=False, console=Console(stderr=True), quiet=True))
            ended = time.monotonic()
        finally:
            os.chdir(cwd)
        log = admin.get("/requests").json()
        batches = admin.get("/batches").json()
        state = admin.get("/state").json()
    members = next((lst["members"] for lst in state["lists"] if lst["name"] == LIST), {})
    subscribed = {email for email, status in members.items() if status == 1}
    return {
        "exit_code": code,
        "summary": summary,
        "run_start": started - origin,
        "run_end": ended - origin,
        "log": log,
        "batches": batches,
        "expected": sample.valid,
        "subscribed": subscribed,
    }


def analyse(raw: dict[str, Any], contacts: int, time_scale: float) -> dict[str, Any]:
    cfg = EmulatorConfig()
    bulk_window_s = 60 / time_scale
    request_window_s = 1 / time_scale
    ceiling_per_min = cfg.bulk_per_minute * BULK_MAX_CONTACTS * time_scale
    log: list[dict[str, Any]] = raw["log"]
    bulk = [e for e in log if is_bulk(e)]
    accepted = [e for e in bulk if e["status"] == 200]
    bulk_times = [e["t"] for e in bulk]
    confirmed = confirmations(log, raw["batches"])

    first_request = log[0]["t"] if log else None
    first_bulk = bulk_times[0] if bulk else None
    last_bulk = bulk_times[-1] if bulk else None
    last_confirmation = confirmed[-1].t if confirmed else None
    uploaded = sum(e["contacts"] or 0 for e in accepted)
    upload_s = last_confirmation - first_bulk if first_bulk is not None and last_confirmation is not None else None
    per_min = uploaded / upload_s * 60 if upload_s else None
    windows = consecutive_window_counts([e["t"] for e in accepted], bulk_window_s)
    # The emulator keeps batches in submission order, so the n-th accepted POST made the n-th batch.
    confirmed_at = {c.batch_id: c.t for c in confirmed}
    lags = [
        confirmed_at[b["batchId"]] - e["t"]
        for e, b in zip(accepted, raw["batches"], strict=False)
        if b["batchId"] in confirmed_at
    ]
    gaps = sorted(((bulk_times[i + 1] - bulk_times[i], i + 1) for i in range(len(bulk_times) - 1)), reverse=True)[:5]
    after_first = windows[1:]
    info_times = [e["t"] for e in log if is_info(e)]
    tail_polls = [t for t in info_times if last_bulk is not None and t > last_bulk]
    tail_s = None if last_bulk is None or last_confirmation is None else last_confirmation - last_bulk

    max_requests = max_in_window([e["t"] for e in log], request_window_s)
    max_bulk = max_in_window(bulk_times, bulk_window_s)
    expected, subscribed = raw["expected"], raw["subscribed"]
    exact = subscribed == expected
    ok = raw["exit_code"] == 0 and exact and max_requests <= cfg.requests_per_second and max_bulk <= cfg.bulk_per_minute
    run_start = raw["run_start"]
    return {
        "benchmark": "full_sync",
        "ok": ok,
        "machine": {**machine(), "loadavg_before_run": raw.get("load_before")},
        "code": raw.get("code"),
        "params": {
            "contacts": contacts,
            "time_scale": time_scale,
            "request_window_s": request_window_s,
            "bulk_window_s": bulk_window_s,
            "ceiling_contacts_per_real_min": ceiling_per_min,
        },
        "exit_code": raw["exit_code"],
        "flow_summary": raw["summary"],
        # Seconds since the emulator's reset, on its clock; run_start/run_end are the client's, mapped onto it.
        "timeline_s": {
            "run_start": run_start,
            "first_request": first_request,
            "first_bulk": first_bulk,
            "last_bulk": last_bulk,
            "last_confirmation": last_confirmation,
            "last_request": log[-1]["t"] if log else None,
            "run_end": raw["run_end"],
        },
        "durations_s": {
            "wall": raw["run_end"] - run_start,
            "start_to_first_request": None if first_request is None else first_request - run_start,
            "start_to_first_bulk": None if first_bulk is None else first_bulk - run_start,
            "submitting": None if first_bulk is None else last_bulk - first_bulk,
            "upload_phase": upload_s,
            "last_confirmation_to_run_end": None if last_confirmation is None else raw["run_end"] - last_confirmation,
        },
        "throughput": {
            "contacts_uploaded": uploaded,
            "contacts_per_real_min": per_min,
            "ratio_upload_phase": None if per_min is None else per_min / ceiling_per_min,
            "ratio_max_sliding_window": max_bulk / cfg.bulk_per_minute,
            "bulk_per_consecutive_window": windows,
            "ratio_consecutive_windows_after_first": (
                sum(after_first) / len(after_first) / cfg.bulk_per_minute if after_first else None
            ),
            "sustained": spacing_stats([e["t"] for e in accepted], cfg.bulk_per_minute, bulk_window_s),
            # Where the submitter stood still: (seconds, index of the POST that ended the gap), longest first.
            "longest_bulk_gaps": [(round(g, 6), i) for g, i in gaps],
        },
        "confirmation_lag_s": None
        if not lags
        else {
            "emulator_processing": (cfg.processing_base_s + cfg.processing_per_contact_s * BULK_MAX_CONTACTS)
            / time_scale,
            "median": statistics.median(lags),
            "p95": percentile(lags, 0.95),
            "max": max(lags),
            "last_bulk_to_last_confirmation": tail_s,
        },
        # The confirmation side: how the status polls kept up with the submissions.
        "polling": {
            "polls_per_batch": len(info_times) / len(confirmed) if confirmed else None,
            "polls_per_s_while_submitting": (
                sum(1 for t in info_times if first_bulk <= t <= last_bulk) / (last_bulk - first_bulk)
                if first_bulk is not None and last_bulk > first_bulk
                else None
            ),
            "unconfirmed_at_last_bulk": sum(1 for c in confirmed if last_bulk is not None and c.t > last_bulk),
            "polls_after_last_bulk": len(tail_polls),
            "polls_per_s_after_last_bulk": len(tail_polls) / tail_s if tail_s else None,
        },
        "requests": {
            "total": len(log),
            "bulk_import": len(bulk),
            "import_info": sum(1 for e in log if is_info(e)),
            "other": sum(1 for e in log if not is_bulk(e) and not is_info(e)),
            "rate_limited": sum(1 for e in log if e["status"] in RATE_LIMITED),
            "bulk_400": sum(1 for e in bulk if e["status"] == 400),
            "dropped_or_unanswered": sum(1 for e in log if not e["status"]),
            "max_in_request_window": max_requests,
            "max_bulk_in_bulk_window": max_bulk,
        },
        "check": {
            "list_holds_exactly_expected": exact,
            "members_subscribed": len(subscribed),
            "expected": len(expected),
            "missing": len(expected - subscribed),
            "unexpected": len(subscribed - expected),
        },
        "series": {
            "confirmed": cumulative((c.t, c.contacts) for c in confirmed),
            "submitted": cumulative((e["t"], e["contacts"] or 0) for e in accepted),
        },
        # Everything above can be recomputed from these two.
        "raw": {
            "requests": log,
            "batches": [{k: b[k] for k in ("batchId", "status", "contacts")} for b in raw["batches"]],
        },
    }


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def print_report(result: dict[str, Any], console: Console) -> None:
    p, d, th, rq, ck = (result[k] for k in ("params", "durations_s", "throughput", "requests", "check"))
    sustained, lag, pl = th["sustained"], result["confirmation_lag_s"], result["polling"]
    rows = [
        ("whole run (wall)", _s(d["wall"])),
        ("run start → first API request", _s(d["start_to_first_request"])),
        ("run start → first bulk import", _s(d["start_to_first_bulk"])),
        ("first → last bulk import", _s(d["submitting"])),
        ("first bulk import → last confirmation", _s(d["upload_phase"])),
        ("contacts uploaded", f"{th['contacts_uploaded']:,}"),
        (
            "contacts / real min (ceiling)",
            f"{th['contacts_per_real_min'] or 0:,.0f} ({p['ceiling_contacts_per_real_min']:,.0f})",
        ),
        ("ratio over the upload phase (a)", fmt_ratio(th["ratio_upload_phase"])),
        ("ratio, busiest sliding window (b)", fmt_ratio(th["ratio_max_sliding_window"])),
        ("ratio, full windows after the first (b)", fmt_ratio(th["ratio_consecutive_windows_after_first"])),
        ("ratio sustained, k → k+100 spacing", fmt_ratio(sustained and sustained["ratio_median"])),
        (
            "slack after the window, median / p95 / max",
            "n/a"
            if not sustained
            else f"{sustained['slack_median_s'] * 1000:.0f} / {sustained['slack_p95_s'] * 1000:.0f} / "
            f"{sustained['slack_max_s'] * 1000:.0f} ms",
        ),
        (
            "batch confirmation lag, median / p95 / max",
            "n/a"
            if not lag
            else f"{lag['median']:.2f} / {lag['p95']:.2f} / {lag['max']:.2f} s "
            f"(emulator's processing: {lag['emulator_processing']:.2f} s)",
        ),
        (
            "status polls per batch; per s while submitting / after",
            f"{fmt_ratio(pl['polls_per_batch'])}; {fmt_ratio(pl['polls_per_s_while_submitting'])} / "
            f"{fmt_ratio(pl['polls_per_s_after_last_bulk'])} ({pl['unconfirmed_at_last_bulk']} batches "
            "unconfirmed at the last bulk import)",
        ),
        (
            "requests: total / bulk / info / other",
            f"{rq['total']} / {rq['bulk_import']} / {rq['import_info']} / {rq['other']}",
        ),
        (
            "429 (or 503) / bulk 400 / dropped",
            f"{rq['rate_limited']} / {rq['bulk_400']} / {rq['dropped_or_unanswered']}",
        ),
        (f"max requests in any {p['request_window_s']:.3g} s (≤ 5)", str(rq["max_in_request_window"])),
        (f"max bulk imports in any {p['bulk_window_s']:.3g} s (≤ 100)", str(rq["max_bulk_in_bulk_window"])),
        (
            "list holds exactly the audience",
            f"{'yes' if ck['list_holds_exactly_expected'] else 'NO'} ({ck['members_subscribed']:,} of "
            f"{ck['expected']:,}; {ck['missing']} missing, {ck['unexpected']} unexpected)",
        ),
    ]
    # Plain aligned lines rather than a boxed table: they stay readable in logs and narrow terminals.
    console.print(f"[bold]full sync: {p['contacts']:,} contacts at time-scale {p['time_scale']:g}[/]")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        console.print(f"  {name:<{width}}  {value}", highlight=False)
    verdict = "[green]OK[/]" if result["ok"] else "[red]FAILED[/] (flow failed, list mismatch or a limit broken)"
    console.print(f"{verdict}  exit code {result['exit_code']}")


def draw_chart(result: dict[str, Any], path: Path, console: Console) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print("matplotlib is not installed (it is not a project dependency): no chart drawn")
        return
    p, series = result["params"], result["series"]
    t0 = result["timeline_s"]["first_bulk"]
    if t0 is None:
        console.print("no bulk import was made: no chart drawn")
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, style in (("submitted", {"alpha": 0.5, "linestyle": ":"}), ("confirmed", {})):
        xs = [0.0] + [t - t0 for t, _ in series[key]]
        ys = [0] + [n for _, n in series[key]]
        ax.step(xs, ys, where="post", label=f"contacts {key}", **style)
    end = max(t for t, _ in series["confirmed"]) - t0 if series["confirmed"] else 1.0
    per_s = p["ceiling_contacts_per_real_min"] / 60
    ax.plot([0, end], [0, per_s * end], color="grey", linestyle="--", label="ceiling (25,000/min × time-scale)")
    ax.set_xlabel("seconds since the first bulk import (emulator clock)")
    ax.set_ylabel("contacts")
    ax.set_title(f"{p['contacts']:,} contacts at time-scale {p['time_scale']:g}")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    console.print(f"chart written to {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--out", type=Path, help="JSON results (default: bench/results/full_sync-<F>.json)")
    parser.add_argument("--chart", type=Path, help="PNG of contacts confirmed over time (needs matplotlib)")
    args = parser.parse_args()
    if args.contacts < 1 or args.time_scale <= 0:
        parser.error("--contacts must be positive and --time-scale greater than 0")
    out: Path = report_path(args.out, "full_sync", f"{args.time_scale:g}").resolve()
    chart: Path | None = args.chart.resolve() if args.chart else None

    console = Console(soft_wrap=True)
    # Taken before the flow's modules are imported: that is the code the run measures.
    code = code_version()
    load_before = os.getloadavg()
    raw = run_flow(args.contacts, args.time_scale)
    raw["code"], raw["load_before"] = code, load_before
    result = analyse(raw, args.contacts, args.time_scale)
    print_report(result, console)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    console.print(f"results written to {out}")
    if chart is not None:
        draw_chart(result, chart, console)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
