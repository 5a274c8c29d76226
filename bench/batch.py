"""Batch layer benchmark: `make bench-batch` (or `.venv/bin/python -m bench.batch [--events N]`).

Generates a raw lake of N events (default 10 million) for one day, then measures in one run, each in its own process:
  - the nightly Glue job for that day (glue_jobs/nightly_counts.py under pyspark 3.5.4, local[*], Spark's start-up
    included): the `counts` table and the game KPIs' `kpis` table;
  - DuckDB computing the same two tables from the same raw files, written independently in SQL: the counts of the
    distinct and count metrics (support/exact_counts_sql.py: the same validation rules and dedup) and the KPI rows the
    run must write (support/kpi_sql.py);
their wall times, events/s, the ratio, and the peak memory of each process tree (sampled RSS); then checks that both give
exactly the same rows: (metric, bucket, group, value) of every counts cell with events, and every kpis row.

The days are the run's (docs/DESIGN.md): the day and the 2 before it, except a day before it with no arrival partition
of its own, which a run leaves as it was (this lake has one day, so the run computes that day alone).

    .venv/bin/python -m bench.batch --tiny   # 2,000 events: that it runs, in a minute (the tests')
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import psutil

DAY = date(2026, 11, 20)
DAYS_BACK = 2  # the job's default --days_back
COMMAND = "make bench-batch  # = .venv/bin/python -m bench.batch"
CountRow = tuple[str, str, str, int]  # metric, bucket, group_value, value: a counts cell
KpiRow = tuple[str, str, str | None, int]  # metric, bucket, group_value (None: a new metric's everyone-seen row), value


def spark_env() -> dict[str, str]:
    """The environment of the job's own process under local Spark (glue_jobs/nightly_counts.py)."""
    return {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall time, peak RSS of the whole process tree (JVM and Python workers included), and stdout."""
    started = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{output[-3000:]}")
    return elapsed, peak[0], output


def days_of_run(lake: Path | str) -> list[str]:
    """The days the run for DAY computes, by the rule of docs/DESIGN.md (support/kpi_sql.py states it)."""
    from support.kpi_sql import archive_files, days_of_run

    return list(days_of_run(DAY, DAYS_BACK, archive_files(lake)))


def duckdb_side(lake: str, out: str) -> None:
    """Runs in the child process: DuckDB's counts and kpis rows of the run's days, from the arrival days the job
    reads."""
    from headcount.core.catalog import Catalog
    from headcount.views.catalog_file import load_catalog
    from support.exact_counts_sql import exact_counts
    from support.kpi_sql import KpiRecount, Run, archive_files

    catalog = load_catalog()
    days = days_of_run(lake)
    started = time.monotonic()
    # The counts table holds the distinct and count metrics only: the KPI kinds are the kpis table's (given the whole
    # catalog, exact_counts would count each KPI as a metric with no events of its kind: a row of 0 a day)
    counted = Catalog(tuple(m for m in catalog.metrics if m.kind.counted))
    dts = [(DAY + timedelta(days=n)).isoformat() for n in range(-DAYS_BACK - 1, 3)]
    counts = exact_counts(lake, dts, days, "UTC", counted)
    counts_s = time.monotonic() - started
    recount = KpiRecount(catalog, "UTC")
    recount.add_run(Run(tuple(days), archive_files(lake)))
    kpis = [[m, b, g, v] for (m, b, g), v in recount.rows().items()]
    doc = {"counts": counts, "kpis": kpis, "counts_s": counts_s, "kpis_s": time.monotonic() - started - counts_s}
    Path(out).write_text(json.dumps(doc))


def job_counts(lake: Path, days: list[str]) -> list[CountRow]:
    import duckdb

    in_days = ", ".join(f"'{d}'" for d in days)
    rows = duckdb.sql(
        f"SELECT metric, bucket, group_value, value FROM read_parquet('{lake}/counts/*/*.parquet', hive_partitioning = true) "
        f"WHERE day IN ({in_days}) AND value > 0 ORDER BY 1, 2, 3"  # DuckDB lists only cells with events
    ).fetchall()
    return [(m, b, g, int(v)) for m, b, g, v in rows]


def job_kpis(lake: Path) -> list[KpiRow]:
    """Every row of the kpis table (the lake is new: they are all this run's)."""
    import duckdb

    files = list(lake.glob("kpis/metric=*/day=*/*.parquet"))
    if not files:
        return []
    rows = duckdb.sql(
        f"SELECT metric, bucket, group_value, value FROM read_parquet({[str(f) for f in files]}, hive_partitioning = true)"
    ).fetchall()
    return [(m, b, g, int(v)) for m, b, g, v in rows]


def ordered(rows) -> list[tuple]:  # noqa: ANN001
    return sorted((tuple(r) for r in rows), key=lambda r: tuple((x is None, str(x)) for x in r))


def compared(label: str, ours: list[tuple], theirs: list[tuple]) -> bool:
    same = ordered(ours) == ordered(theirs)
    print(
        f"{label}: {len(ours):,} rows from the job, {len(theirs):,} from DuckDB: {'exactly equal' if same else 'DIFFERENT'}"
    )
    if not same:
        print("  first differences:", ordered(set(map(tuple, ours)) ^ set(map(tuple, theirs)))[:10])
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--tiny", action="store_true", help="--events 2000: that it runs, in a minute (the tests')")
    parser.add_argument("--duckdb-side", nargs=2, metavar=("LAKE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.duckdb_side:
        duckdb_side(*args.duckdb_side)
        return
    if args.tiny:
        args.events = 2_000

    print(f"reproduce with: {COMMAND} --events {args.events}", flush=True)
    lake = Path(tempfile.mkdtemp(prefix="headcount-lake-"))
    try:
        same = run(lake, args.events)
    finally:
        shutil.rmtree(lake, ignore_errors=True)
    if not same:
        sys.exit(1)


def run(lake: Path, events: int) -> bool:
    from bench.lake import write_lake

    started = time.monotonic()
    stats = write_lake(lake, DAY, events)
    size = sum(f.stat().st_size for f in lake.rglob("*.gz"))
    print(
        f"lake: {stats['lines']:,} lines ({stats['duplicates']:,} re-sent duplicates, {stats['malformed']:,} malformed, "
        f"{stats['late']:,} late) in {size / 2**20:,.0f} MiB of gzip, written in {time.monotonic() - started:.0f} s",
        flush=True,
    )

    python = sys.executable
    env = spark_env()
    spark_s, spark_peak, spark_out = measure(
        [python, "-m", "glue_jobs.nightly_counts", "--day", DAY.isoformat(), "--lake", str(lake), "--tz", "UTC"], env
    )
    out = lake / "duckdb.json"
    duck_s, duck_peak, _ = measure([python, "-m", "bench.batch", "--duckdb-side", str(lake), str(out)], env)
    duck = json.loads(out.read_text())

    days = days_of_run(lake)
    lines = stats["lines"]
    print(f"the run's days: {', '.join(days)}")
    print(
        f"Glue job (Spark local[*], start-up included): {spark_s:6.1f} s, {lines / spark_s:,.0f} events/s, "
        f"peak memory {spark_peak / 2**30:.2f} GiB"
    )
    print(
        f"DuckDB, same files and rules:                 {duck_s:6.1f} s, {lines / duck_s:,.0f} events/s, "
        f"peak memory {duck_peak / 2**30:.2f} GiB (counts {duck['counts_s']:.1f} s, KPIs {duck['kpis_s']:.1f} s)"
    )
    print(f"ratio job / DuckDB: {spark_s / duck_s:.2f}x   (target <= 1.0x at 10 million events)")
    same_counts = compared("counts", job_counts(lake, days), duck["counts"])
    same_kpis = compared("kpis", job_kpis(lake), duck["kpis"])
    print("\n".join("  " + line for line in spark_out.strip().splitlines()[-4:]))
    return same_counts and same_kpis


if __name__ == "__main__":
    main()
