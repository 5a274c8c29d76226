"""Publishing a run of the nightly job into the batch view: its days of the counts table and its partitions of the kpis
table (`publish`, after each run: the Glue job's `main()`, `headcount batch`), or the whole lake again (`republish`, when
the local stack starts: the batch view lives in moto's memory).

The tables are read from the lake with pyarrow (no Spark: headcount/views/lake.py); the batch view replaces a day's rows
as a whole, so publishing again is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from headcount.core import sketches
from headcount.core.catalog import Catalog, Granularity, Kind, Metric
from headcount.logic.zones import day_edges
from headcount.views.batch import BatchRow, BatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import read_count_runs, read_counts, read_kpis, zone_lake

if TYPE_CHECKING:
    import pyarrow as pa

    from headcount.batch.plan import JobResult


log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The counts (or kpis) of a day are not those of the run being published."""


def publish(
    lake: str | Path,
    days: Sequence[str],
    run_id: str,
    batch_view: BatchView,
    catalog: Catalog | None = None,
    kpi_days: Mapping[str, Sequence[str]] | None = None,
    *,
    tz: str,
) -> dict[tuple[str, str], list[BatchRow]]:
    """Publish every metric of the counts table for every day (an empty list when a metric has no row that day), then
    the kpis partitions the run wrote: `kpi_days` (metric -> days, the job's `JobResult.kpi_days`), or when None every
    partition whose rows carry `run_id`. Returns what was published by (metric, day). Refuses a day whose rows another
    run wrote (the job did not overwrite it). `tz`: the zone of the lake's days (a distinct sub-day twin's edges are
    cut in it)."""
    catalog = catalog or load_catalog()
    published = _publish_counts(lake, days, run_id, batch_view, catalog, tz)
    if kpi_days is None:
        kpi_days = _kpi_days_of_run(lake, run_id, catalog)
    wanted = [(metric, day) for metric, metric_days in kpi_days.items() for day in metric_days]
    found = _kpi_days(read_kpis(lake, wanted), catalog) if wanted else {}
    for name, day in wanted:
        metric = catalog.get(name)
        if metric is None:
            continue  # a metric no longer in the catalog is not published
        kpi_day = found.get((name, day), KpiDay())  # no rows: a grouped metric without any group that day
        if kpi_day.runs - {run_id}:
            raise PublishError(
                f"the kpis of {name} {day} were written by run {min(kpi_day.runs - {run_id})}, not {run_id}"
            )
        published[(name, day)] = _publish_kpi_day(batch_view, metric, day, kpi_day, run_id)
    return published


def publish_run(
    lake: str | Path, job: JobResult, batch_view: BatchView, catalog: Catalog | None = None
) -> dict[tuple[str, str], list[BatchRow]]:
    """Publish a run of the job (`publish`), then what it computed in each extra zone: the zone's copies of the
    metrics (`<name>@<zone>`), from the zone's tables."""
    catalog = catalog or load_catalog()
    published = publish(lake, job.days, job.run_id, batch_view, catalog, job.kpi_days, tz=job.tz)
    for zone, zone_run in job.zones.items():
        if zone_run.days:
            zone_catalog = catalog.in_zone(zone)
            published |= publish(
                zone_lake(lake, zone), zone_run.days, job.run_id, batch_view, zone_catalog, zone_run.kpi_days, tz=zone
            )
    return published


def _kpi_days_of_run(lake: str | Path, run_id: str, catalog: Catalog) -> dict[str, list[str]]:
    days: dict[str, list[str]] = {}
    for (metric, day), kpi_day in sorted(_kpi_days(read_kpis(lake), catalog).items()):
        if run_id in kpi_day.runs:
            days.setdefault(metric, []).append(day)
    return days


def _publish_counts(
    lake: str | Path, days: Sequence[str], run_id: str, batch_view: BatchView, catalog: Catalog, tz: str
) -> dict[tuple[str, str], list[BatchRow]]:
    if not days:
        return {}
    table = read_counts(lake, days)
    counted = [m for m in catalog.metrics if m.kind.counted]
    rows: dict[tuple[str, str], list[BatchRow]] = {(m.name, d): [] for m in counted for d in days}
    for item in table.to_pylist():
        if item["run_id"] != run_id:
            raise PublishError(f"the counts of {item['day']} were written by run {item['run_id']}, not {run_id}")
        key = (item["metric"], item["day"])
        if key in rows:  # a metric no longer in the catalog is not published
            # Spark writes updatable HLL_8; the view keeps the stored form of the real-time layer (HLL_4, half the bytes,
            # the same registers and estimate).
            sketch = sketches.encode(sketches.decode(item["sketch"])) if item["sketch"] is not None else None
            rows[key].append(
                BatchRow(item["metric"], item["day"], item["bucket"], item["group_value"], int(item["value"]), sketch)
            )
    for (metric, day), day_rows in rows.items():
        day_rows.sort(key=lambda r: (r.bucket, r.group))
        twin = catalog.get(metric)
        edges = None
        if twin is not None and twin.kind is Kind.DISTINCT and twin.granularity is Granularity.QUARTER:
            assert twin.lg_k is not None
            edges = day_edges(day_rows, date.fromisoformat(day), tz, twin.lg_k)
        try:
            batch_view.publish(metric, day, day_rows, run_id, edges=edges)
        except ValueError:
            if twin is None or twin.sub_day_of is None:
                raise
            # A sub-day twin has ~96 times its metric's cells: one with too many groups for an item is left out (other
            # zones are not answered for it that day), never the nightly publish of the metrics themselves
            log.warning("%s %s not published: %s cells, more than one item holds", metric, day, len(day_rows))
    return rows


@dataclass
class KpiDay:
    """The rows of one partition of the kpis table, as published: the rows, the union row (group_value NULL: a
    new-players metric's everyone seen up to the day) and the runs that wrote them."""

    rows: list[BatchRow] = field(default_factory=list)
    union: bytes | None = None
    runs: set[str] = field(default_factory=set)


def _kpi_days(table: pa.Table, catalog: Catalog) -> dict[tuple[str, str], KpiDay]:
    """The table's partitions of the catalog's KPI metrics."""
    found: dict[tuple[str, str], KpiDay] = {}
    for item in table.to_pylist():
        metric = catalog.get(item["metric"])
        if metric is None or metric.kind.counted:
            continue
        kpi_day = found.setdefault((item["metric"], item["day"]), KpiDay())
        kpi_day.runs.add(item["run_id"])
        if item["group_value"] is None:
            kpi_day.union = item["sketch"]
        else:  # Theta sketches (new players) are stored as the job wrote them: nothing to convert
            kpi_day.rows.append(
                BatchRow(
                    item["metric"], item["day"], item["bucket"], item["group_value"], int(item["value"]), item["sketch"]
                )
            )
    return found


def _publish_kpi_day(batch_view: BatchView, metric: Metric, day: str, kpi_day: KpiDay, run_id: str) -> list[BatchRow]:
    if metric.kind is Kind.NEW and kpi_day.union is None:
        raise PublishError(f"the kpis of {metric.name} {day} have no row of everyone seen up to the day (group NULL)")
    rows = sorted(kpi_day.rows, key=lambda r: (r.bucket, r.group))
    batch_view.publish(metric.name, day, rows, run_id, union=kpi_day.union)
    return rows


@dataclass
class Republished:
    days: dict[str, str] = field(default_factory=dict)  # day -> the run whose counts were published again
    kpis: dict[tuple[str, str], str] = field(default_factory=dict)  # (KPI metric, day) -> the run of its partition
    failed: dict[str, str] = field(default_factory=dict)  # day (or "metric day") -> why it could not be (real-time)
    zones: dict[str, Republished] = field(default_factory=dict)  # each extra zone's (its failures are in `failed` too)


def republish(
    lake: str | Path,
    batch_view: BatchView,
    catalog: Catalog | None = None,
    extra_zones: Sequence[str] = (),
    *,
    tz: str,
) -> Republished:
    """Publish every day of the counts table again, each with the run that wrote it, and every partition of the kpis
    table with its run; then each extra zone's tables likewise (`zones`). For a batch view that
    lost its items (the local one lives in moto's memory) while the lake kept the tables. A day that cannot be
    published (a damaged partition, rows of two runs) is reported and skipped: the others still are. (A kpis partition
    without rows names no run: it stays unpublished.)"""
    catalog = catalog or load_catalog()
    result = _republish(lake, batch_view, catalog, tz)
    for zone in extra_zones:
        result.zones[zone] = again = _republish(zone_lake(lake, zone), batch_view, catalog.in_zone(zone), zone)
        result.failed |= {f"{key} in {zone}": why for key, why in again.failed.items()}
    return result


def _republish(lake: str | Path, batch_view: BatchView, catalog: Catalog, tz: str) -> Republished:
    result = Republished()
    for day, run_id in sorted(read_count_runs(lake).items()):
        try:
            _publish_counts(lake, [str(day)], run_id, batch_view, catalog, tz)
        except (PublishError, ValueError, OSError) as exc:  # pyarrow's errors are OSError / ValueError subclasses
            result.failed[str(day)] = f"{type(exc).__name__}: {exc}"
        else:
            result.days[str(day)] = run_id
    try:
        kpi_days = _kpi_days(read_kpis(lake), catalog)
    except (ValueError, OSError) as exc:
        result.failed["kpis"] = f"{type(exc).__name__}: {exc}"
        return result
    for (name, day), kpi_day in sorted(kpi_days.items()):
        metric = catalog.get(name)
        assert metric is not None  # _kpi_days keeps the catalog's metrics
        if len(kpi_day.runs) != 1:
            result.failed[f"{name} {day}"] = f"PublishError: rows of runs {', '.join(sorted(kpi_day.runs))}"
            continue
        [run_id] = kpi_day.runs
        try:
            _publish_kpi_day(batch_view, metric, day, kpi_day, run_id)
        except PublishError as exc:
            result.failed[f"{name} {day}"] = f"{type(exc).__name__}: {exc}"
        else:
            result.kpis[(name, day)] = run_id
    return result
