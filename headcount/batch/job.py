"""`run_job`: the job's plan, reads and writes around its pure transforms (`main()` of the Glue script and
`headcount batch` call it): the counts, then the KPIs (`kpi_job`) from the same deduplicated events."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from headcount import names
from headcount.batch.kpi_job import update_kpis
from headcount.batch.lake_io import (
    erasure_written,
    index_of,
    path_exists,
    read_raw,
    write_counts,
    write_index,
    zeros_frame,
)
from headcount.batch.plan import JobOptions, JobResult, Plan, ZoneRun, plan_run
from headcount.batch.session import on_glue
from headcount.batch.transforms import Archive, counts_of, events_of
from headcount.batch.validation import ReasonCounts
from headcount.core.buckets import last_day_ended_by
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import (
    counts_uri,
    first_arrival_day,
    index_uri,
    raw_partition_uri,
    raw_uri,
    zone_lake,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from headcount.core.catalog import Catalog

log = logging.getLogger(__name__)


def run_job(
    spark: SparkSession,
    options: JobOptions,
    progress: Callable[[str], None] | None = None,
    blocked: frozenset[str] = frozenset(),
) -> JobResult:
    """The nightly run of `options.day` (and the days back). `blocked`: the players erased with "no more"
    (`blocked_hash`), whose events it drops."""
    exists = lambda dt: path_exists(spark, raw_partition_uri(options.lake, dt))  # noqa: E731
    first = first_arrival_day(options.lake)
    plan = plan_run(options, exists, first)
    zone_plans = {
        zone: plan_run(replace(options, tz=zone, day=last_day_ended_by(options.day, options.tz, zone)), exists, first)
        for zone in options.extra_zones
    }
    return run_plan(spark, options, plan, progress, blocked, zone_plans=zone_plans)


def run_plan(
    spark: SparkSession,
    options: JobOptions,
    plan: Plan,
    progress: Callable[[str], None] | None = None,
    blocked: frozenset[str] = frozenset(),
    erased: Sequence[str] = (),
    kpi_days: Mapping[str, Sequence[str]] | None = None,
    zone_plans: Mapping[str, Plan] | None = None,
) -> JobResult:
    """Compute the plan's days (the nightly run's, or an erasure's: `erased` players leave the players tables, and
    `kpi_days` are written too, by metric), then each extra zone's plan (`options.extra_zones`: its days, of the
    catalog's copy in that zone)."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    catalog = load_catalog(options.catalog_path)
    source = (
        f"from arrival partitions dt={plan.partitions[0]} .. dt={plan.partitions[-1]} ({len(plan.partitions)} days)"
        if plan.partitions
        else f"without input: no arrival partition under {raw_uri(options.lake)} can hold their events (days of no events)"
    )
    say(
        f"computing {', '.join(plan.days) or 'no day'} ({options.tz}) {source}"
        + (f"; no input at all for {', '.join(plan.skipped)}, left as is" if plan.skipped else "")
    )
    if plan.without_input:
        say(
            f"warning: no input for {', '.join(plan.without_input)} although the archive holds earlier days: left as "
            f"it is (has the archive stopped?)"
        )
    rejected = spark.sparkContext.accumulator({}, ReasonCounts())
    written: dict[str, list[str]] = {}
    if plan.days:
        archive = Archive(erasure_written(options.lake, plan.partitions), blocked)
        written = _compute(spark, options, catalog, plan, rejected, say, started, archive, erased, kpi_days)
    zones: dict[str, ZoneRun] = {}
    for zone, zone_plan in (zone_plans or {}).items():
        zones[zone] = ZoneRun(zone_plan.days)
        if not zone_plan.days:
            say(f"{zone}: no day to compute ({', '.join(zone_plan.skipped) or 'none'} left as they are)")
            continue
        say(f"{zone}: computing {', '.join(zone_plan.days)} of {zone} into {zone_lake(options.lake, zone)}")
        archive = Archive(erasure_written(options.lake, zone_plan.partitions), blocked)
        recounted = spark.sparkContext.accumulator({}, ReasonCounts())  # the rejected records were counted once
        zone_written = _compute(
            spark, options, catalog, zone_plan, recounted, say, started, archive, erased, kpi_days, zone=zone
        )
        zones[zone] = ZoneRun(zone_plan.days, zone_written)

    seconds = time.monotonic() - started
    say(f"run {options.run_id} done in {seconds:.1f} s")
    if rejected.value:
        # An accumulator updated in a transformation counts a retried task twice: exact unless Spark retried one.
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejected.value.items()))
        say(f"rejected records among those read (they stay in raw/): {sum(rejected.value.values()):,} ({reasons})")
    result = JobResult(
        options.run_id,
        options.day.isoformat(),
        plan.days,
        plan.skipped,
        plan.partitions,
        counts_uri(options.lake),
        seconds,
        dict(rejected.value),
        written,
        plan.without_input,
        options.service,
        zones,
        options.tz,
    )
    if run_metrics_wanted():
        report_run(result, progress=say)
    return result


def _compute(
    spark: SparkSession,
    options: JobOptions,
    catalog: Catalog,
    plan: Plan,
    rejected: Any,
    say: Callable[[str], None],
    started: float,
    archive: Archive,
    erased: Sequence[str],
    also: Mapping[str, Sequence[str]] | None,
    zone: str | None = None,
) -> dict[str, list[str]]:
    """The counts, then the KPIs, of the plan's days, and the players' index of the arrival partitions read; -> the
    days of the kpis partitions written, by metric. `zone`: an extra zone's pass instead: its days, the catalog's copy
    in it (`Catalog.in_zone`), its tables under `zone_lake`, and no index (the reporting zone's pass writes it)."""
    tz, out = (options.tz, options.lake) if zone is None else (zone, zone_lake(options.lake, zone))
    if zone is not None:
        catalog = catalog.in_zone(zone)
    raw = read_raw(spark, options.lake, plan.partitions)
    # Kept: the counts and the KPIs read them, and validating twice would also count the rejected records twice.
    events = events_of(raw, catalog, tz, plan.days, rejected, archive).persist()
    try:
        zeros = zeros_frame(spark, catalog, plan.days, tz)
        write_counts(counts_of(events, zeros, catalog, options.run_id), out)
        say(f"wrote {counts_uri(out)} for {', '.join(plan.days)} in {time.monotonic() - started:.1f} s")
        written = update_kpis(spark, events, catalog, out, plan.days, options.run_id, say, erased, also)
    finally:
        events.unpersist()
    if plan.partitions and zone is None:
        indexing = time.monotonic()
        write_index(index_of(raw), options.lake, plan.partitions)
        say(
            f"player index: wrote arrival days {plan.partitions[0]} .. {plan.partitions[-1]} to "
            f"{index_uri(options.lake)} in {time.monotonic() - indexing:.1f} s"
        )
    return written


def run_metrics_wanted() -> bool:
    """On Glue (the deployed job), or where boto3 is pointed at an endpoint (`AWS_ENDPOINT_URL`: the local stack's
    moto): never from a laptop's or a test's default AWS account."""
    return on_glue() or bool(os.environ.get("AWS_ENDPOINT_URL"))


def report_run(result: JobResult, cloudwatch: Any = None, progress: Callable[[str], None] | None = None) -> bool:
    """Put the run's metrics (names.METRIC_NIGHTLY_RUN_SECONDS, names.METRIC_NIGHTLY_DAYS_COMPUTED; the dashboard's
    "last run"; names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT, which an alarm watches) into CloudWatch. A failure is logged and
    False returned: metrics never fail the run."""
    dimensions = [{"Name": "service", "Value": result.service}]
    try:
        if cloudwatch is None:
            from headcount.views.aws import client

            cloudwatch = client("cloudwatch")
        cloudwatch.put_metric_data(
            Namespace=names.POWERTOOLS_NAMESPACE,
            MetricData=[  # no Timestamp: CloudWatch's receive time, the run's end
                {
                    "MetricName": names.METRIC_NIGHTLY_RUN_SECONDS,
                    "Dimensions": dimensions,
                    "Value": result.seconds,
                    "Unit": "Seconds",
                },
                {
                    "MetricName": names.METRIC_NIGHTLY_DAYS_COMPUTED,
                    "Dimensions": dimensions,
                    "Value": len(result.days),
                    "Unit": "Count",
                },
                {
                    "MetricName": names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT,
                    "Dimensions": dimensions,
                    "Value": len(result.without_input),
                    "Unit": "Count",
                },
            ],
        )
    except Exception as exc:  # noqa: BLE001 - whatever boto3 raises (no region, no credentials, denied, unreachable)
        log.warning("the run's metrics were not put into CloudWatch: %s", exc, exc_info=True)
        if progress is not None:
            progress(f"the run's metrics were not put into CloudWatch ({type(exc).__name__}: {exc}); the run is done")
        return False
    if progress is not None:
        progress(
            f"put {names.METRIC_NIGHTLY_RUN_SECONDS}, {names.METRIC_NIGHTLY_DAYS_COMPUTED} and "
            f"{names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT} into CloudWatch"
        )
    return True
