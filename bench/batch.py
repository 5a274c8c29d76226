"""Batch layer benchmark: `make bench-batch` (or `.venv/bin/python -m bench.batch [--events N]`).

Generates a raw lake of N events (default 10 million) for one day, then measures in one run, each in its own process:
  - the nightly Glue job (glue_jobs/nightly_counts.py under pyspark 3.5.4, local[*], Spark's start-up included);
  - DuckDB computing the same exact counts from the same raw files (tests/exact_counts_sql.py: the same
    validation rules and dedup, written independently in SQL);
their wall times, events/s, the ratio, and the peak memory of each process tree (sampled RSS); then checks that both give
exactly the same (metric, bucket, group, value) rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import psutil

DAY = date(2026, 11, 20)
COMMAND = "make bench-batch  # = .venv/bin/python -m bench.batch"


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


def days_of_run() -> list[str]:
    return [(DAY - timedelta(days=n)).isoformat() for n in (2, 1, 0)]


def duckdb_side(lake: str, out: str) -> None:
    """Runs in the child process: DuckDB's exact counts of the job's days, from the arrival days the job reads."""
    from headcount.views.catalog_file import load_catalog
    from tests.exact_counts_sql import exact_counts

    dts = [(DAY + timedelta(days=n)).isoformat() for n in range(-3, 3)]
    rows = exact_counts(lake, dts, days_of_run(), "UTC", load_catalog())
    Path(out).write_text(json.dumps(rows))


def spark_rows(lake: Path) -> list[tuple[str, str, str, int]]:
    import duckdb

    days = ", ".join(f"'{d}'" for d in days_of_run())
    rows = duckdb.sql(
        f"SELECT metric, bucket, group_value, value FROM read_parquet('{lake}/counts/*/*.parquet', hive_partitioning = true) "
        f"WHERE day IN ({days}) AND value > 0 ORDER BY 1, 2, 3"  # DuckDB lists only cells with events
    ).fetchall()
    return [(m, b, g, int(v)) for m, b, g, v in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--duckdb-side", nargs=2, metavar=("LAKE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.duckdb_side:
        duckdb_side(*args.duckdb_side)
        return

    from bench.lake import write_lake

    print(f"reproduce with: {COMMAND} --events {args.events}", flush=True)
    lake = Path(tempfile.mkdtemp(prefix="headcount-lake-"))
    started = time.monotonic()
    stats = write_lake(lake, DAY, args.events)
    size = sum(f.stat().st_size for f in lake.rglob("*.gz"))
    print(
        f"lake: {stats['lines']:,} lines ({stats['duplicates']:,} re-sent duplicates, {stats['malformed']:,} malformed, "
        f"{stats['late']:,} late) in {size / 2**20:,.0f} MiB of gzip, written in {time.monotonic() - started:.0f} s",
        flush=True,
    )

    python = sys.executable
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": python}
    spark_s, spark_peak, spark_out = measure(
        [python, "-m", "glue_jobs.nightly_counts", "--day", DAY.isoformat(), "--lake", str(lake), "--tz", "UTC"], env
    )
    out = lake / "duckdb.json"
    duck_s, duck_peak, _ = measure([python, "-m", "bench.batch", "--duckdb-side", str(lake), str(out)], env)

    ours = spark_rows(lake)
    theirs = [tuple(r) for r in json.loads(out.read_text())]
    lines = stats["lines"]
    print(
        f"Glue job (Spark local[*], start-up included): {spark_s:6.1f} s, {lines / spark_s:,.0f} events/s, "
        f"peak memory {spark_peak / 2**30:.2f} GiB"
    )
    print(
        f"DuckDB, same files and rules:                 {duck_s:6.1f} s, {lines / duck_s:,.0f} events/s, "
        f"peak memory {duck_peak / 2**30:.2f} GiB"
    )
    print(f"ratio job / DuckDB: {spark_s / duck_s:.2f}x   (target <= 4x)")
    same = ours == theirs
    print(
        f"results: {len(ours):,} rows from the job, {len(theirs):,} from DuckDB: "
        f"{'exactly equal' if same else 'DIFFERENT'}"
    )
    if not same:
        diff = sorted(set(ours) ^ set(theirs))[:10]
        print("first differences:", diff)
        sys.exit(1)
    print("\n".join("  " + line for line in spark_out.strip().splitlines()[-4:]))


if __name__ == "__main__":
    main()
