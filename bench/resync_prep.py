"""Benchmark (d): audience preparation for a re-sync with 1 % of the rows changed, against DuckDB's own scan.

    .venv/bin/python bench/resync_prep.py --rows 1000000 10000000 [--repeat 3] [--mode upsert|mirror] [--custom]

The CSV is audience_prep.py's (~3 % invalid, ~2 % duplicates); with `--custom` it also has six custom
columns (text, date, dropdown, listbox, a number, a date-time) mapped to fields by perstag. The sync state is
what a previous sync of that CSV left behind, with 1 % of its contacts' first names different (their hash
and what the state says was sent): one snapshot.parquet, no deltas. Each measurement runs in a fresh child process (its
own peak RSS), and the baseline, DuckDB's `SELECT count(DISTINCT lower(trim(email))) FROM read_csv(...)`
over the same file, is timed in the same run, alternating with the measured pipeline:

- prepare: `prepare_audience(..., defer_reasons=True)` — read, normalise, validate (every verdict and
  count final), de-duplicate, publish `audience` and `rejected`.
- diff: `build_plan` against the state (the list's opted-out contacts empty) — `to_send` ready.
- (d) = prepare + diff; the target is ≤ 5 × the baseline.
- reasons: completing the rejected rows' reason texts (email-validator's messages), which the flow
  does while the upload runs; reported, not part of (d).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from audience_prep import child_baseline, custom_fields, generate
from common import code_version, machine, median_of, peak_rss_mb, report_path, run_child, write_report

DESTINATION = "bench.example/list-1"
CHANGED_EVERY = 100  # one row in a hundred has changed since the last sync


def mapping_for(csv_path: Path, custom: bool) -> Any:
    from ac_sync.engine.audience.mapping import map_columns
    from ac_sync.engine.audience.source import open_source

    with duckdb.connect() as con:
        columns = open_source(con, str(csv_path), None, "main").columns
    return map_columns(columns, custom_fields() if custom else [])


def make_state(csv_path: Path, state_root: Path, work: Path, custom: bool) -> dict[str, int]:
    """The state a previous sync of `csv_path` left, with every CHANGED_EVERY-th contact changed since."""
    from ac_sync.engine.audience import prepare_audience
    from ac_sync.engine.audience.normalise import value_column
    from ac_sync.engine.upload.state import SyncState

    db = work / "previous.duckdb"
    mapping = mapping_for(csv_path, custom)
    prepare_audience(str(csv_path), db, mapping=mapping, defer_reasons=True)
    state = SyncState(str(state_root), DESTINATION)
    snapshot = Path(state.root) / "snapshot.parquet"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    changed = f"hash(email) % {CHANGED_EVERY} = 0"
    custom_columns = [value_column(m.target.field.id) for m in mapping.custom]  # type: ignore[union-attr]
    values = "".join(f", '{c}', {c}" for c in custom_columns)
    with duckdb.connect(str(db)) as con:
        con.execute(
            f"""COPY (
                SELECT email,
                       CASE WHEN {changed} THEN md5(fields_hash) ELSE fields_hash END AS fields_hash,
                       'subscribed' AS status,
                       json_object('first_name', CASE WHEN {changed} THEN 'Before' ELSE first_name END,
                                   'last_name', last_name, 'phone', phone, 'tags', tags{values})::VARCHAR AS sent
                FROM audience
            ) TO '{snapshot}' (FORMAT parquet)"""
        )
        row = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE hash(email) % {CHANGED_EVERY} = 0) FROM audience"
        ).fetchone()
    db.unlink()
    assert row is not None
    return {"state_rows": row[0], "changed": row[1]}


def child_resync(csv_path: Path, db_path: Path, state_root: Path, mode: str, custom: bool) -> dict[str, Any]:
    from ac_sync.engine.audience import prepare_audience
    from ac_sync.engine.audience.rejected import complete_rejected
    from ac_sync.engine.upload.planner import PlanRules, build_plan, load_unsubscribed
    from ac_sync.engine.upload.state import SyncState

    mapping = mapping_for(csv_path, custom)
    cpu0 = os.times()
    start = time.perf_counter()
    summary = prepare_audience(str(csv_path), db_path, mapping=mapping, defer_reasons=True)
    prepared = time.perf_counter()
    con = duckdb.connect(str(db_path))
    load_unsubscribed(con, [])
    counts = build_plan(con, SyncState(str(state_root), DESTINATION), PlanRules(mode=mode, mapping=mapping))
    planned = time.perf_counter()
    cpu1 = os.times()
    to_send = con.execute("SELECT count(*) FROM to_send").fetchone()
    con.close()
    reasons = complete_rejected(db_path)
    done = time.perf_counter()
    return {
        "prepare_s": prepared - start,
        "diff_s": planned - prepared,
        "d_s": planned - start,
        "d_cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        "reasons_s": done - planned,
        "reasons_completed": reasons,
        "rows": summary.rows,
        "valid": summary.valid,
        "invalid": summary.invalid,
        "duplicates": summary.duplicates,
        "plan": counts.as_dict(),
        "to_send": to_send[0] if to_send else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=["upsert", "mirror"], default="upsert")
    parser.add_argument("--custom", action="store_true", help="six custom columns mapped to fields, besides the four")
    parser.add_argument("--workdir", type=Path, help="where the CSVs go (kept and reused; default: a temp dir)")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results/resync_prep-<rows>.json)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        cpu0 = os.times()
        if kind == "baseline":
            result: dict[str, Any] = dict(child_baseline(Path(rest[0])))
        else:
            result = child_resync(Path(rest[0]), Path(rest[1]), Path(rest[2]), rest[3], rest[4] == "custom")
        cpu1 = os.times()
        result["cpu_s"] = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        result["max_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="resync-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "machine": machine(),
        "code": code_version(),
        "mode": args.mode,
        "custom": args.custom,
        "sizes": {},
    }
    kind = "custom" if args.custom else "standard"
    for rows in args.rows:
        csv_path = workdir / f"audience-{rows}-{kind}.csv"
        if not csv_path.exists():
            generate(csv_path, rows, custom=args.custom)
        with tempfile.TemporaryDirectory(prefix="resync-", dir=workdir) as tmp:
            work = Path(tmp)
            state_info = make_state(csv_path, work / "state", work, args.custom)
            baseline, measured = [], []
            for i in range(args.repeat):
                baseline.append(run_child(__file__, "baseline", str(csv_path)))
                db = work / f"run-{i}.duckdb"
                measured.append(
                    run_child(__file__, "resync", str(csv_path), str(db), str(work / "state"), args.mode, kind)
                )
                db.unlink(missing_ok=True)
                print(
                    f"rows={rows:,} run {i + 1}: baseline {baseline[-1]['seconds']:.2f}s, "
                    f"(d) {measured[-1]['d_s']:.2f}s (prepare {measured[-1]['prepare_s']:.2f}s + diff "
                    f"{measured[-1]['diff_s']:.2f}s), reasons {measured[-1]['reasons_s']:.2f}s, "
                    f"peak RSS {measured[-1]['max_rss_mb']:.0f} MB, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        report["sizes"][str(rows)] = {"state": state_info, "baseline": baseline, "resync": measured}

    print()
    print(
        f"{'rows':>11} | {'baseline':>8} | {'prepare':>8} | {'diff':>6} | {'(d)':>7} | {'(d)/base':>8} | "
        f"{'cpu (d)/base':>12} | {'reasons':>7} | {'peak RSS':>8} | plan"
    )
    for rows, data in report["sizes"].items():
        base = median_of(data["baseline"], "seconds")
        base_cpu = median_of(data["baseline"], "cpu_s")
        runs = data["resync"]

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return median_of(runs, key)

        ratio = med("d_s") / base
        data["summary"] = {"baseline_s": base, "d_s": med("d_s"), "ratio": ratio, "peak_rss_mb": med("max_rss_mb")}
        plan = runs[-1]["plan"]
        print(
            f"{int(rows):>11,} | {base:>7.2f}s | {med('prepare_s'):>7.2f}s | {med('diff_s'):>5.2f}s | "
            f"{med('d_s'):>6.2f}s | {ratio:>7.1f}x | {med('d_cpu_s') / base_cpu:>11.1f}x | {med('reasons_s'):>6.2f}s | "
            f"{max(r['max_rss_mb'] for r in runs):>5.0f} MB | {plan['updates']:,} updates, {plan['adds']:,} adds, "
            f"{plan['unchanged']:,} unchanged"
        )
    write_report(report_path(args.out, "resync_prep", kind, *args.rows), report)


if __name__ == "__main__":
    main()
