"""The batch layer on this machine: run the nightly job in-process, then publish its days (counts and KPIs) as the
batch view.

`run_batch` calls what the Glue job's `main()` calls (`headcount.batch.job.run_job`), on a local Spark session, then
`headcount.logic.publishing.publish`, as the job's `main()` does on Glue with `--batch_table`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from headcount import names
from headcount.batch.erasure import Erasure, ErasureResult
from headcount.batch.job import run_job
from headcount.batch.plan import JobOptions, JobResult
from headcount.batch.session import local_spark
from headcount.core.catalog import Catalog, Granularity, Kind
from headcount.core.erasure import ErasurePolicy
from headcount.logic.publishing import publish_run
from headcount.views.batch import BatchRow, BatchView
from headcount.views.catalog_file import load_catalog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from headcount.views.erasure_store import ErasureStore
    from headcount.views.realtime import RealtimeStore


@dataclass
class BatchSummary:
    job: JobResult
    publish_seconds: float
    rows: int
    totals: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> metric -> the day's value
    erasure: ErasureResult | None = None  # the erasure batch the run made, if one was due

    def lines(self) -> list[str]:
        job = self.job
        out = [
            f"run {job.run_id}: computed {', '.join(job.days)} from arrival days "
            f"{job.partitions[0]} .. {job.partitions[-1]} in {job.seconds:.1f} s; "
            f"published {self.rows} rows in {self.publish_seconds:.1f} s"
        ]
        if job.skipped:
            out.append(f"no input at all for {', '.join(job.skipped)}: left as they were")
        for day in job.days:
            values = ", ".join(f"{metric} {value:,}" for metric, value in self.totals.get(day, {}).items())
            out.append(f"  {day}: {values}")
        if job.kpi_days:
            written = ", ".join(f"{metric} {len(days)}" for metric, days in job.kpi_days.items())
            out.append(f"  KPI days written: {written}")
        if self.erasure is not None:
            e = self.erasure
            out.append(
                f"erasure batch {e.batch}: {len(e.receipts)} requests done in {e.seconds:.1f} s: {e.events} events "
                f"removed from {e.objects_rewritten + e.objects_deleted} raw objects ({e.versions_deleted} older "
                f"versions deleted), {len(e.job.days) if e.job else 0} days recomputed, {e.realtime_items} real-time "
                f"items purged"
            )
            out.extend(f"  receipt {r.id}: {r.state.value}" for r in e.receipts)
        return out


def day_totals(catalog: Catalog, published: dict[tuple[str, str], list[BatchRow]]) -> dict[str, dict[str, int]]:
    """The day's exact value of each ungrouped metric of the counts table whose day total is known from its rows (not
    hourly distincts)."""
    totals: dict[str, dict[str, int]] = {}
    for metric in catalog.listed():
        if metric.group_by is not None or not metric.kind.counted:
            continue
        if metric.kind is Kind.DISTINCT and metric.granularity is not Granularity.DAY:
            continue
        for (name, day), rows in published.items():
            if name == metric.name:
                totals.setdefault(day, {})[name] = sum(r.value for r in rows)
    return totals


def run_batch(
    lake_dir: str | Path,
    day: date,
    tz: str,
    run_id: str,
    *,
    batch_view: BatchView | None = None,
    catalog_path: str | None = None,
    spark: SparkSession | None = None,
    days_back: int = 2,
    progress: Callable[[str], None] | None = None,
    erasure: ErasureSetup | None = None,
    extra_zones: Sequence[str] = (),
) -> BatchSummary:
    """The nightly job for `day` (a day that has ended: `finished_day` says which) on a local Spark session, then the
    publish (to the DynamoDB table `names.BATCH_TABLE` unless another batch view is given), then, as on Glue, the
    erasure batch when one is due (`erasure`). `extra_zones`: more zones it computes exactly (JobOptions)."""
    say = progress or (lambda _message: None)
    options = JobOptions(
        day=day,
        lake=str(lake_dir),
        tz=tz,
        catalog_path=catalog_path,
        run_id=run_id,
        days_back=days_back,
        extra_zones=tuple(extra_zones),
    )
    if batch_view is None:
        from headcount.views.batch import DynamoBatchView

        batch_view = DynamoBatchView(names.BATCH_TABLE)
    catalog = load_catalog(catalog_path)
    view = batch_view

    outcomes: list[tuple[dict[tuple[str, str], list[BatchRow]], float]] = []  # each publish's rows and seconds

    def publish_job(job: JobResult) -> None:
        started = time.monotonic()
        published = publish_run(lake_dir, job, view, catalog)
        seconds = time.monotonic() - started
        rows = sum(len(r) for r in published.values())
        counted = sum(1 for m in catalog.listed() if m.kind.counted)
        twins = sum(1 for m in catalog.metrics if m.sub_day_of is not None)
        kpi_partitions = sum(len(days) for days in job.kpi_days.values())
        say(
            f"published {rows} rows ({counted} metrics{' and their sub-day twins' if twins else ''} x "
            f"{len(job.days)} days, {kpi_partitions} KPI days"
            + "".join(f"; in {zone} {len(run.days)} days" for zone, run in job.zones.items())
            + f") in {seconds:.1f} s"
        )
        outcomes.append((published, seconds))

    own_session = spark is None
    if spark is None:
        say("starting Spark (local) ...")
        spark = local_spark()
    try:
        now_ms = erasure.clock() if erasure else 0  # when the archive is read: an erasure takes the requests before
        result = run_job(spark, options, progress=say, blocked=erasure.store.blocked() if erasure else frozenset())
        publish_job(result)
        published, publish_seconds = outcomes[0]  # the night's (an erasure's publish comes after)
        erased = None
        if erasure is not None:
            erased = Erasure(
                spark,
                options,
                erasure.store,
                publish_job,
                erasure.realtime,
                erasure.policy,
                erasure.clock,
                say,
                erasure.on_step,
            ).run(now_ms, erasure.force)
    finally:
        if own_session:
            spark.stop()
    rows = sum(len(r) for r in published.values())
    return BatchSummary(result, publish_seconds, rows, day_totals(catalog, published), erased)


@dataclass
class ErasureSetup:
    """What a local nightly run needs to erase as the job does on Glue."""

    store: ErasureStore
    realtime: RealtimeStore | None = None
    policy: ErasurePolicy = field(default_factory=ErasurePolicy)
    force: bool = False  # `headcount batch --erase-now`
    clock: Callable[[], int] = lambda: int(time.time() * 1000)
    on_step: Callable[[str], None] = lambda _step: None
