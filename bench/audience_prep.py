"""Benchmark: prepare_audience on a generated CSV vs DuckDB's own scan of the same file.

    .venv/bin/python bench/audience_prep.py --rows 1000000 [--repeat 3] [--keep]

Each measurement runs in a fresh child process, so its peak RSS (ru_maxrss) is its own and the
page cache is the only thing shared. Also timed: prepare_audience with the rejected rows' reasons left
for later (as a sync does), and count_audience (what get-details does for a file). The CSV is generated
by DuckDB (seconds, even at 10 M rows) with ~3 % invalid addresses of many kinds, ~2 % duplicates
(differing in case and spacing), some internationalised domains, quoted names with commas and quotes,
and phone numbers with leading zeros.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from common import median_of, peak_rss_mb, run_child

# h is a pseudo-random number in [0, 1000) per row; the bands pick the kind of row.
GENERATOR_SQL = """
COPY (
    SELECT
        CASE
            WHEN h < 30 THEN CASE h % 10
                WHEN 0 THEN 'user' || i || '@gmail'
                WHEN 1 THEN 'user' || i || '@@gmail.com'
                WHEN 2 THEN 'user ' || i || '@gmail.com'
                WHEN 3 THEN 'user' || i || 'gmail.com'
                WHEN 4 THEN 'user' || i || '@gmail..com'
                WHEN 5 THEN '.user' || i || '@example.org'
                WHEN 6 THEN 'User ' || i || ' <user' || i || '@example.org>'
                WHEN 7 THEN 'jöhn' || i || '@example.org'
                WHEN 8 THEN 'user' || i || '@localhost'
                ELSE CASE WHEN i % 2 = 0 THEN 'n/a' ELSE '' END
            END
            WHEN h < 49 THEN '  USER' || (i // 2) || '@Example.ORG '
            WHEN h = 50 THEN 'user' || i || '@bücher.de'
            WHEN h = 51 THEN 'first--last' || i || '@foo--bar.com'
            ELSE 'user' || i || '@' || (['gmail.com', 'example.org', 'mail.co.uk'])[1 + i % 3]
        END AS email,
        'First' || i AS first_name,
        CASE WHEN i % 5 = 0 THEN 'O''Brien, "Jr"' ELSE 'Last' || i END AS last_name,
        '0' || lpad((i % 1000000000)::VARCHAR, 9, '0') AS phone,
        CASE i % 4 WHEN 0 THEN 'vip; newsletter' WHEN 1 THEN 'newsletter' WHEN 2 THEN '' ELSE 'a,b , c' END
            AS tags{custom}
    FROM (SELECT i, hash(i) % 1000 AS h FROM range(1, {rows} + 1) t(i))
) TO '{path}' (HEADER, DELIMITER ',', QUOTE '"', FORCE_QUOTE (last_name))
"""


# Six custom fields of a marketer's export: text, date, dropdown, listbox, a number and a date-time.
CUSTOM_SQL = """,
        'Company ' || (i % 500) AS company,
        '2024-' || lpad((1 + i % 12)::VARCHAR, 2, '0') || '-' || lpad((1 + i % 28)::VARCHAR, 2, '0') AS signup_date,
        (['Free', 'pro', 'Team'])[1 + i % 3] AS plan,
        CASE i % 3 WHEN 0 THEN 'news; events' WHEN 1 THEN 'offers' ELSE '' END AS interests,
        (i % 10000)::VARCHAR || '.' || lpad((i % 100)::VARCHAR, 2, '0') AS lifetime_value,
        '2024-05-01T10:' || lpad((i % 60)::VARCHAR, 2, '0') || ':00+02:00' AS last_seen"""


def custom_fields() -> list[Any]:
    """The account fields the custom columns map to (by perstag)."""
    from ac_sync.engine.audience.mapping import AccountField

    return [
        AccountField(1, "Company", "COMPANY"),
        AccountField(2, "Signup Date", "SIGNUP_DATE", "date"),
        AccountField(3, "Plan", "PLAN", "dropdown", ("Free", "Pro", "Team")),
        AccountField(4, "Interests", "INTERESTS", "listbox", ("news", "events", "offers")),
        AccountField(5, "Lifetime Value", "LIFETIME_VALUE"),
        AccountField(6, "Last Seen", "LAST_SEEN", "datetime"),
    ]


def generate(path: Path, rows: int, *, custom: bool = False) -> None:
    with duckdb.connect() as con:
        sql = GENERATOR_SQL.format(rows=rows, path=str(path).replace("'", "''"), custom=CUSTOM_SQL if custom else "")
        con.execute(sql)


def child_baseline(csv_path: Path) -> dict[str, float]:
    start = time.perf_counter()
    with duckdb.connect() as con:
        row = con.execute("SELECT count(DISTINCT lower(trim(email))) FROM read_csv(?)", [str(csv_path)]).fetchone()
    return {"seconds": time.perf_counter() - start, "distinct": float(row[0] if row else 0)}


def child_store(csv_path: Path, db_path: Path) -> dict[str, float]:
    # The floor for any pipeline that must leave the rows in a DuckDB file: read and store, nothing else.
    start = time.perf_counter()
    with duckdb.connect(str(db_path)) as con:
        con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, all_varchar = true)", [str(csv_path)])
    return {"seconds": time.perf_counter() - start}


def child_prepare(csv_path: Path, db_path: Path, how: str = "prepare") -> dict[str, float]:
    from ac_sync.engine.audience import count_audience, prepare_audience

    start = time.perf_counter()
    if how == "count":
        summary = count_audience(str(csv_path), db_path)
    else:
        summary = prepare_audience(str(csv_path), db_path, defer_reasons=how == "deferred")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows": summary.rows,
        "valid": summary.valid,
        "invalid": summary.invalid,
        "duplicates": summary.duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="where to put the CSV and database (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *paths = args.child
        if kind == "baseline":
            result = child_baseline(Path(paths[0]))
        elif kind == "store":
            result = child_store(Path(paths[0]), Path(paths[1]))
        else:
            result = child_prepare(Path(paths[0]), Path(paths[1]), kind)
        result["max_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="audience-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    csv_path = workdir / f"audience-{args.rows}.csv"
    if not csv_path.exists():
        start = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f}s")

    baseline, stored, prepared, deferred, counted = [], [], [], [], []
    for i in range(args.repeat):
        baseline.append(run_child(__file__, "baseline", str(csv_path)))
        store_path = workdir / f"store-{args.rows}-{i}.duckdb"
        stored.append(run_child(__file__, "store", str(csv_path), str(store_path)))
        store_path.unlink(missing_ok=True)
        db_path = workdir / f"audience-{args.rows}-{i}.duckdb"
        for kind, runs in (("count", counted), ("deferred", deferred), ("prepare", prepared)):
            for leftover in (db_path, db_path.with_name(db_path.name + ".pending.json")):
                leftover.unlink(missing_ok=True)
            runs.append(run_child(__file__, kind, str(csv_path), str(db_path)))
        if not args.keep:
            db_path.unlink(missing_ok=True)

    base_s = median_of(baseline, "seconds")
    store_s = median_of(stored, "seconds")
    prep_s = median_of(prepared, "seconds")
    last = prepared[-1]
    print(
        f"rows={args.rows:,} valid={last['valid']:,.0f} invalid={last['invalid']:,.0f} "
        f"duplicates={last['duplicates']:,.0f}"
    )
    print(
        f"duckdb count(DISTINCT lower(trim(email))):  median {base_s:.2f}s  "
        f"runs {[round(r['seconds'], 2) for r in baseline]}  peak RSS {baseline[-1]['max_rss_mb']:.0f} MB"
    )
    print(
        f"prepare_audience:                           median {prep_s:.2f}s  "
        f"runs {[round(r['seconds'], 2) for r in prepared]}  "
        f"peak RSS {max(r['max_rss_mb'] for r in prepared):.0f} MB"
    )
    for label, runs in (("  with reasons deferred", deferred), ("count_audience (get-details)", counted)):
        print(
            f"{label + ':':<44}median {median_of(runs, 'seconds'):.2f}s  "
            f"runs {[round(r['seconds'], 2) for r in runs]}  peak RSS {max(r['max_rss_mb'] for r in runs):.0f} MB"
        )
    print(
        f"duckdb CREATE TABLE AS read_csv (on disk):  median {store_s:.2f}s  "
        f"runs {[round(r['seconds'], 2) for r in stored]}  peak RSS {stored[-1]['max_rss_mb']:.0f} MB"
    )
    print(f"ratio prepare/scan: {prep_s / base_s:.1f}x   prepare/store-on-disk: {prep_s / store_s:.1f}x")
    if not args.keep:
        csv_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
