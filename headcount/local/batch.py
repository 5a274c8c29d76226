"""The batch layer on this machine: run the nightly job in-process, then publish its days (counts and KPIs) as the
batch view.

`run_batch` calls what the Glue job's `main()` calls (`headcount.batch.job.run_job`), on a local Spark session, then
`headcount.logic.publishing.publish`, as the job's `main()` does on Glue with `--batch_table`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from headcount import names
from headcount.batch.job import run_job
from headcount.batch.plan import JobOptions, JobResult
from headcount.batch.session import local_spark
from headcount.core.catalog import Catalog, Granularity, Kind
from headcount.logic.publishing import publish
from headcount.views.batch import BatchRow, BatchView
from headcount.views.catalog_file import load_catalog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class BatchSummary:
    job: JobResult
    publish_seconds: float
    rows: int
    totals: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> metric -> the day's value

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
        return out


def day_totals(catalog: Catalog, published: dict[tuple[str, str], list[BatchRow]]) -> dict[str, dict[str, int]]:
    """The day's exact value of each ungrouped metric of the counts table whose day total is known from its rows (not
    hourly distincts)."""
    totals: dict[str, dict[str, int]] = {}
    for metric in catalog.metrics:
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
) -> BatchSummary:
    """The nightly job for `day` (a day that has ended: `finished_day` says which) on a local Spark session, then the
    publish (to the DynamoDB table `names.BATCH_TABLE` unless another batch view is given)."""
    say = progress or (lambda _message: None)
    options = JobOptions(
        day=day,
        lake=str(lake_dir),
        tz=tz,
        catalog_path=catalog_path,
        run_id=run_id,
        days_back=days_back,
    )
    own_session = spark is None
    if spark is None:
        say("starting Spark (local) ...")
        spark = local_spark()
    try:
        result = run_job(spark, options, progress=say)
    finally:
        if own_session:
            spark.stop()
    if batch_view is None:
        from headcount.views.batch import DynamoBatchView

        batch_view = DynamoBatchView(names.BATCH_TABLE)
    catalog = load_catalog(catalog_path)
    started = time.monotonic()
    published = publish(lake_dir, result.days, result.run_id, batch_view, catalog=catalog, kpi_days=result.kpi_days)
    publish_seconds = time.monotonic() - started
    rows = sum(len(r) for r in published.values())
    counted = sum(1 for m in catalog.metrics if m.kind.counted)
    kpi_partitions = sum(len(days) for days in result.kpi_days.values())
    say(
        f"published {rows} rows ({counted} metrics x {len(result.days)} days, {kpi_partitions} KPI days) "
        f"in {publish_seconds:.1f} s"
    )
    return BatchSummary(result, publish_seconds, rows, day_totals(catalog, published))
