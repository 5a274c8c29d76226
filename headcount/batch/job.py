"""`run_job`: the job's plan, reads and write around its pure transforms (`main()` of the Glue script and
`headcount batch` call it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from headcount.batch.lake_io import path_exists, read_raw, write_counts, zeros_frame
from headcount.batch.plan import JobOptions, JobResult, plan_run
from headcount.batch.transforms import counts_of
from headcount.batch.validation import ReasonCounts
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import counts_uri, raw_partition_uri

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def run_job(spark: SparkSession, options: JobOptions, progress: Callable[[str], None] | None = None) -> JobResult:
    say = progress or (lambda _message: None)
    started = time.monotonic()
    catalog = load_catalog(options.catalog_path)
    plan = plan_run(options, lambda dt: path_exists(spark, raw_partition_uri(options.lake, dt)))
    say(
        f"computing {', '.join(plan.days)} ({options.tz}) from arrival partitions dt={plan.partitions[0]} .. "
        f"dt={plan.partitions[-1]} ({len(plan.partitions)} days)"
        + (f"; no input at all for {', '.join(plan.skipped)}, left as is" if plan.skipped else "")
    )
    raw = read_raw(spark, options.lake, plan.partitions)
    rejected = spark.sparkContext.accumulator({}, ReasonCounts())
    zeros = zeros_frame(spark, catalog, plan.days, options.tz)
    counts = counts_of(raw, zeros, catalog, options.tz, plan.days, options.run_id, rejected)
    write_counts(counts, options.lake)
    seconds = time.monotonic() - started
    say(f"wrote {counts_uri(options.lake)} for {', '.join(plan.days)} in {seconds:.1f} s (run {options.run_id})")
    if rejected.value:
        # An accumulator updated in a transformation counts a retried task twice: exact unless Spark retried one.
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejected.value.items()))
        say(f"rejected records among those read (they stay in raw/): {sum(rejected.value.values()):,} ({reasons})")
    return JobResult(
        options.run_id,
        options.day.isoformat(),
        plan.days,
        plan.skipped,
        plan.partitions,
        counts_uri(options.lake),
        seconds,
        dict(rejected.value),
    )
