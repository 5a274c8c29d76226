"""What the game KPIs add to the nightly job: the same nightly run on the same lake, with a catalog without the KPI
metrics and with them, in one process, printed as a ratio.

    make bench-kpis                                       # 35 days, ~700 new players a day (~3 minutes on 2 cores)
    .venv/bin/python -m bench.kpis --new-per-day 200      # a quick look (about a minute)
    .venv/bin/python -m bench.kpis --stages               # and where a nightly run's time goes
    .venv/bin/python -m bench.kpis --tiny                 # 2 days of 20 new players, one run each: that it runs

The lake is a simulated game (`headcount.local.simulator.simulate_game`: cohorts returning along a power law, late
sessions, re-sent duplicates, junk), archived by arrival up to the night after its last day D. A first run computes
every day but D with the KPIs (the history a nightly run builds on: the KPIs' activity and players tables), then the
nightly run for D (it recomputes the 2 days before, from the arrival days D-3 .. D+1) alternates between the two
catalogs, `--repeat` times each, on one local Spark session (start-up excluded, warmed by the first run). The counts
table must come out the same either way; the time of the best run of each is compared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

COMMAND = "make bench-kpis  # = .venv/bin/python -m bench.kpis"
TZ = "UTC"
FIRST = date(2026, 9, 1)


def counts_rows(lake: Path, days: list[str]) -> list[tuple]:
    from headcount.views.lake import read_counts

    rows = read_counts(lake, days).to_pylist()
    return sorted((r["day"], r["metric"], r["bucket"], r["group_value"], r["value"], r["sketch"]) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=35, help="days of play in the lake")
    parser.add_argument("--new-per-day", type=int, default=700)
    parser.add_argument("--repeat", type=int, default=2, help="nightly runs of each catalog, alternating")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stages", action="store_true", help="print the job's stages of each nightly run, timed")
    parser.add_argument(
        "--tiny", action="store_true", help="--days 2 --new-per-day 20 --repeat 1: that it runs (the tests')"
    )
    args = parser.parse_args()
    if args.tiny:
        args.days, args.new_per_day, args.repeat = 2, 20, 1
    print(
        f"reproduce with: {COMMAND} --days {args.days} --new-per-day {args.new_per_day} --repeat {args.repeat} --seed {args.seed}"
    )

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from headcount.batch.job import run_job
    from headcount.batch.plan import JobOptions
    from headcount.batch.session import local_spark
    from headcount.local.simulator import simulate_game
    from headcount.views.catalog_file import load_catalog
    from support.kpi_sql import nightly_run_ms
    from support.raw_lake import write_raw

    catalog = load_catalog()
    last = FIRST + timedelta(days=args.days - 1)
    work = Path(tempfile.mkdtemp(prefix="headcount-kpis-"))
    try:
        started = time.monotonic()
        game = simulate_game(catalog, TZ, FIRST, args.days, args.new_per_day, seed=args.seed)
        lines = game.arrived(0, nightly_run_ms(last, TZ))
        write_raw(work, lines, name="part")
        size = sum(f.stat().st_size for f in (work / "raw").rglob("*.gz"))
        print(
            f"lake: {len(lines):,} records of {len(game.joined):,} players over {args.days} days "
            f"({game.late:,} late sessions, {game.duplicates:,} re-sent, {game.malformed:,} junk), "
            f"{size / 2**20:,.0f} MiB of gzip, made in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        plain = work / "catalog-without-kpis.json"
        doc = json.loads(resources.files("headcount").joinpath("catalog.json").read_text())
        plain.write_text(json.dumps({"metrics": [m for m in doc["metrics"] if m["kind"] in ("distinct", "count")]}))

        spark = local_spark()
        try:
            started = time.monotonic()
            first = run_job(
                spark,
                JobOptions(
                    day=last - timedelta(days=1), lake=str(work), tz=TZ, run_id="history", days_back=args.days - 2
                ),
            )
            print(f"history: {len(first.days)} days with the KPIs in {time.monotonic() - started:.1f} s", flush=True)
            times: dict[str, list[float]] = {"without KPIs": [], "with KPIs": []}
            counts: dict[str, list[tuple]] = {}
            for n in range(args.repeat):
                for label, path in (("without KPIs", str(plain)), ("with KPIs", None)):
                    started = time.monotonic()

                    def stage(message: str, since: float = started) -> None:
                        if args.stages:
                            print(f"    {time.monotonic() - since:5.1f} s  {message[:110]}", flush=True)

                    result = run_job(
                        spark,
                        JobOptions(day=last, lake=str(work), tz=TZ, run_id=f"nightly-{n}", catalog_path=path),
                        progress=stage,
                    )
                    times[label].append(time.monotonic() - started)
                    print(
                        f"  nightly run {n + 1}, {label}: {times[label][-1]:.1f} s ({', '.join(result.days)})",
                        flush=True,
                    )
                    counts[label] = [row[:-1] + (row[-1] is not None,) for row in counts_rows(work, result.days)]
        finally:
            spark.stop()
        without, with_kpis = min(times["without KPIs"]), min(times["with KPIs"])
        print(f"nightly job without the KPIs: {without:6.1f} s (best of {args.repeat})")
        print(f"nightly job with the KPIs:    {with_kpis:6.1f} s (best of {args.repeat})")
        print(f"ratio with / without: {with_kpis / without:.2f}x  (the KPIs add {with_kpis - without:.1f} s)")
        same = counts["without KPIs"] == counts["with KPIs"]
        print(f"counts table: {'the same' if same else 'DIFFERENT'} with and without the KPIs")
        if not same:
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
