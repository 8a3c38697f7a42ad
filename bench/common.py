"""Helpers shared by the sync benchmarks: the emulator's request log read as the measurement.

Every timing here is on the emulator's clock (seconds since its last reset), because the server is where
ActiveCampaign's limits are enforced: what the client believes it sent is not what counts.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

BULK_PATH = "/api/3/import/bulk_import"
INFO_PATH = "/api/3/import/info"
RATE_LIMITED = (429, 503)
# Where each benchmark writes its report when it is not given --out.
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        # Other work on the machine skews the scaled runs most: compare with cpus before trusting a figure.
        "loadavg_1_5_15": os.getloadavg(),
    }


def code_version() -> dict[str, Any]:
    """The commit measured and the tracked files that differed from it (others may be editing the tree)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = _git(root, "rev-parse", "HEAD").strip()
        modified = [line[3:] for line in _git(root, "status", "--porcelain", "--untracked-files=no").splitlines()]
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "modified": []}
    return {"commit": commit, "modified": modified}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def reset_emulator(admin: httpx.Client) -> float:
    """Reset the emulator and answer its clock's origin on our own time.monotonic().

    The emulator stamps its log with time.monotonic() minus the instant of the reset; CLOCK_MONOTONIC is
    one system-wide clock, so the midpoint of our request brackets that instant to within its round trip,
    which lets client-side moments (the flow's start) be placed on the server's timeline.
    """
    before = time.monotonic()
    admin.post("/reset").raise_for_status()
    after = time.monotonic()
    return (before + after) / 2


def is_bulk(entry: dict[str, Any]) -> bool:
    return entry["method"] == "POST" and entry["path"].rstrip("/") == BULK_PATH


def is_info(entry: dict[str, Any]) -> bool:
    return entry["method"] == "GET" and entry["path"].rstrip("/") == INFO_PATH


def max_in_window(times: Sequence[float], window_s: float) -> int:
    """The most arrivals in any half-open window of `window_s` seconds (the emulator's own rule)."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def consecutive_window_counts(times: Sequence[float], window_s: float) -> list[int]:
    """Arrivals in back-to-back windows from the first arrival; only windows that end by the last one.

    A window cut short by the end of the work would count what was left to send, not the pace.
    """
    ordered = sorted(times)
    if not ordered:
        return []
    first, last = ordered[0], ordered[-1]
    counts = []
    i = 0
    while first + (i + 1) * window_s <= last:
        lo = bisect_left(ordered, first + i * window_s)
        hi = bisect_left(ordered, first + (i + 1) * window_s)
        counts.append(hi - lo)
        i += 1
    return counts


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass(frozen=True)
class Confirmation:
    t: float
    contacts: int
    batch_id: str


def confirmations(log: Iterable[dict[str, Any]], batches: Iterable[dict[str, Any]]) -> list[Confirmation]:
    """When each completed batch was confirmed: the last successful `import/info` poll of its id.

    The uploader stops polling a batch once it reads `completed`, so its last poll is the confirming one;
    the log does not keep response bodies, so this is the closest the server's view gets.
    """
    last_poll: dict[str, float] = {}
    for entry in log:
        if is_info(entry) and entry["status"] == 200:
            batch_id = parse_qs(entry.get("query") or "").get("batchId", [""])[0]
            last_poll[batch_id] = entry["t"]
    out = [
        Confirmation(last_poll[b["batchId"]], int(b["contacts"]), b["batchId"])
        for b in batches
        if b["status"] == "completed" and b["batchId"] in last_poll
    ]
    return sorted(out, key=lambda c: c.t)


def cumulative(points: Iterable[tuple[float, int]]) -> list[tuple[float, int]]:
    total = 0
    series = []
    for t, n in sorted(points):
        total += n
        series.append((round(t, 6), total))
    return series


def spacing_stats(times: Sequence[float], lag: int, window_s: float) -> dict[str, Any] | None:
    """How long the (k + lag)-th arrival came after the k-th, against the window that allows `lag` per window.

    With `lag` equal to the window's limit this is the sustained pace with the opening burst taken out:
    once the first `lag` have gone, each further one can only go when an earlier one leaves the window.
    """
    ordered = sorted(times)
    gaps = [ordered[k + lag] - ordered[k] for k in range(len(ordered) - lag)]
    if not gaps:
        return None
    slack = [g - window_s for g in gaps]
    return {
        "pairs": len(gaps),
        "ratio_mean": window_s / statistics.fmean(gaps),
        "ratio_median": window_s / statistics.median(gaps),
        "min_gap_s": min(gaps),
        "slack_median_s": statistics.median(slack),
        "slack_p95_s": percentile(slack, 0.95),
        "slack_max_s": max(slack),
    }


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries the parent's peak over into a forked child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, *args: str) -> dict[str, Any]:
    """Run `script --child ARGS` in a fresh process (its own peak RSS); answer the JSON of its last line."""
    out = subprocess.run([sys.executable, script, "--child", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def median_of(runs: Iterable[Mapping[str, Any]], key: str) -> float:
    """The median of `key` over `runs`, the repeated measurements of one size."""
    return statistics.median(r[key] for r in runs)


def report_path(out: Path | None, *name: object) -> Path:
    """`out` (the --out option) if given, else results/ and the parts of `name` joined by "-", e.g.
    results/first_request-1000000-10000000.json."""
    return out or RESULTS / ("-".join(str(part) for part in name) + ".json")


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {path}")


def sync_against(emu: Any, work: Path, time_scale: float) -> None:
    """Point this process's syncs (settings read from the environment) at the emulator `emu`, state in `work`."""
    from ac_sync.cli.demo import point_at_emulator

    point_at_emulator(emu, time_scale, work / "state")
