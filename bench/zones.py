"""What answering any time zone costs, by the granularity of the metrics' sub-day twins: `make bench-zones`
(`.venv/bin/python -m bench.zones`; `--tiny`: small sizes, that it runs).

The catalog's `sub_day` is "off" (the reporting zone's days only, the build before tz=), "hour" (whole-hour zones
only) or "quarter" (every zone: the default). For each, in one run:
1. the fold: the real fold (`fold_batch`, in-memory view, the write units DynamoDB would bill) through one shard's
   day at the reference load, as `make bench-kpi-fold` drives it (requests of 10 events of one player, 100 events/s
   from 500,000 players a day, a batch per 2 s window): write units per 1,000 events, the month's write units and
   their price, the fold's time, and the real-time items and bytes the day leaves;
2. the nightly job (glue_jobs/nightly_counts.py under local Spark, start-up included) over a lake of `--job-events`
   events of one day (bench/lake.py): its time, and the rows and sketch bytes it publishes into the batch view a day;
   then with the default twins and one, then two, extra zones the job computes exactly (`--extra_zones`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import headcount
from bench.batch import DAY, measure, spark_env
from bench.kpi_fold import SECONDS_PER_MONTH, day_batches
from bench.kpi_fold import run as fold_day
from headcount.core.catalog import parse_catalog
from headcount.cost.prices import DYNAMODB_STORAGE_GB_MONTH, DYNAMODB_WRITE_UNITS_PER_MILLION

COMMAND = "make bench-zones  # = .venv/bin/python -m bench.zones"
VARIANTS = ("off", "hour", "quarter")
EXTRA_ZONES = ("Asia/Tokyo", "America/Los_Angeles")  # the job's variants with extra zones: the first, then both
ITEM_OVERHEAD_BYTES = 120  # keys and attributes besides the value or sketch (as bench/sketch_writes.py)


def catalog_doc(sub_day: str) -> dict:
    doc = json.loads((Path(headcount.__file__).parent / "catalog.json").read_text())
    return doc | {"sub_day": sub_day}


def fold(args: argparse.Namespace) -> dict[str, tuple]:
    batches = day_batches(args.hours, 2.0, args.events_per_s, args.players, seed=1)
    print(f"the fold: {len(batches):,} batches of 2 s, {sum(map(len, batches)):,} records ({args.hours:g} h)")
    print(
        f"{'sub_day':<8} {'WRU/1k ev':>10} {'M WRU/month':>12} {'$/month':>8} {'fold s':>7} {'× off':>6} {'items':>8} {'MiB':>7}"
    )
    results = {}
    for variant in VARIANTS:
        catalog = parse_catalog(catalog_doc(variant))
        result, store = fold_day(batches, catalog, keep_store=True)
        items = len(store.items)
        stored = sum(
            ITEM_OVERHEAD_BYTES + len(i.sketch or b"") + sum(len(x) + 1 for x in i.ids or ())
            for i in store.items.values()
        )
        per_month = result.write_units / (args.hours * 3600) * SECONDS_PER_MONTH
        results[variant] = (result, per_month, items, stored)
        base = results["off"][0].seconds
        print(
            f"{variant:<8} {1000 * result.write_units / result.events:>10.2f} {per_month / 1e6:>12.2f} "
            f"{per_month / 1e6 * DYNAMODB_WRITE_UNITS_PER_MILLION:>8.2f} {result.seconds:>7.1f} "
            f"{result.seconds / base:>6.2f} {items:>8,} {stored / 2**20:>7.2f}"
        )
    off = results["off"][1]
    for variant in VARIANTS[1:]:
        added = results[variant][1] - off
        print(
            f"  {variant}: +{added / 1e6:.2f} M WRU a month, ${added / 1e6 * DYNAMODB_WRITE_UNITS_PER_MILLION:.2f}/month at "
            f"${DYNAMODB_WRITE_UNITS_PER_MILLION}/M WRU (real-time items expire after 35 days: their storage is "
            f"~35 days of the bytes above, ${35 * results[variant][3] / 2**30 * DYNAMODB_STORAGE_GB_MONTH * 24 / args.hours:.2f}"
            "/month at most)"
        )
    return results


def job(args: argparse.Namespace) -> None:
    from bench.lake import write_lake

    print(f"\nthe nightly job over {args.job_events:,} events of {DAY} (each variant its own run, start-up included)")
    print(f"{'sub_day':<22} {'job s':>7} {'× off':>6} {'rows a day':>11} {'sketch MiB':>11}")
    work = Path(tempfile.mkdtemp(prefix="headcount-zones-"))
    try:
        lake = work / "lake"
        write_lake(lake, DAY, args.job_events)
        base = None
        # a first run not counted (the files into the page cache, the JVM's jars); tiny: the default's run only
        runs = [(v, ()) for v in ("off", *VARIANTS)] + [("quarter", EXTRA_ZONES[:n]) for n in (1, 2)]
        for variant, zones in [("quarter", EXTRA_ZONES[:1])] if args.tiny else runs:
            catalog_path = work / f"catalog-{variant}.json"
            catalog_path.write_text(json.dumps(catalog_doc(variant)))
            for table in (p for p in lake.iterdir() if p.name != "raw"):  # each run from the archive alone
                shutil.rmtree(table, ignore_errors=True)
            argv = [sys.executable, "-m", "glue_jobs.nightly_counts", "--day", DAY.isoformat(), "--lake", str(lake)]
            argv += ["--tz", "UTC", "--catalog", str(catalog_path)]
            seconds, _, _ = measure(argv + (["--extra_zones", ",".join(zones)] if zones else []), spark_env())
            if base is None and not args.tiny:
                base = 0.0  # the warm-up
                continue
            base = base or seconds
            rows, sketch_bytes = _published(lake)
            label = variant + (f" + {len(zones)} extra zone{'s' if len(zones) > 1 else ''}" if zones else "")
            print(f"{label:<22} {seconds:>7.1f} {seconds / base:>6.2f} {rows:>11,} {sketch_bytes / 2**20:>11.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _published(lake: Path) -> tuple[int, int]:
    """The counts table's rows of the day, and their sketches' bytes (HLL_8 as Spark writes them; the batch view keeps
    them as HLL_4, about half)."""
    from headcount.views.lake import read_counts

    table = read_counts(lake, [DAY.isoformat()]).to_pylist()
    return len(table), sum(len(r["sketch"] or b"") for r in table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0, help="hours of the day to fold (default 2; 24: a day)")
    parser.add_argument("--events-per-s", type=float, default=100.0)
    parser.add_argument("--players", type=int, default=500_000, help="daily players of the shard")
    parser.add_argument("--job-events", type=int, default=1_000_000, help="events of the nightly job's day")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="--hours 0.05 --players 5000 --job-events 2000, the job with quarter and one extra zone only",
    )
    parser.add_argument("--job-only", action="store_true", help="the nightly job's part only")
    parser.add_argument("--fold-only", action="store_true", help="the fold's part only")
    args = parser.parse_args()
    if args.tiny:
        args.hours, args.players, args.job_events = 0.05, 5_000, 2_000
    print(
        f"reproduce with: {COMMAND} --hours {args.hours:g} --events-per-s {args.events_per_s:g} "
        f"--players {args.players} --job-events {args.job_events}"
        + (" --job-only" if args.job_only else "")
        + (" --fold-only" if args.fold_only else "")
    )
    if not args.job_only:
        fold(args)
    if not args.fold_only:
        job(args)


if __name__ == "__main__":
    main()
