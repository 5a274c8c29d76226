"""The lake (a local folder or s3://bucket/prefix): where the raw archive, the counts table and the KPIs' tables live,
and publishing the counts and KPIs of a run into the batch view.

`publish` reads the job's Parquet output with pyarrow (no Spark) and writes each (metric, day) to the batch view; the view
replaces a day's rows as a whole, so publishing again is harmless.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from headcount.core import sketches
from headcount.core.catalog import Catalog, Kind, Metric
from headcount.views.batch import BatchRow, BatchView
from headcount.views.catalog_file import load_catalog

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds


def lake_uri(lake: str | Path) -> str:
    lake = str(lake)
    if "://" in lake:
        return lake.rstrip("/")
    return os.path.abspath(lake).rstrip("/")


def raw_uri(lake: str | Path) -> str:
    return f"{lake_uri(lake)}/raw"


def counts_uri(lake: str | Path) -> str:
    return f"{lake_uri(lake)}/counts"


# The KPIs' tables, written by the nightly job (headcount/batch/kpis.py): `activity/metric=<m>/day=<D>/` and
# `kpis/metric=<m>/day=<D>/` partitioned like that, `players/metric=<m>/` one folder per new-players metric.
def activity_uri(lake: str | Path) -> str:
    return f"{lake_uri(lake)}/activity"


def players_uri(lake: str | Path) -> str:
    return f"{lake_uri(lake)}/players"


def kpis_uri(lake: str | Path) -> str:
    return f"{lake_uri(lake)}/kpis"


def partition_uri(table_uri: str, metric: str, day: str | None = None) -> str:
    """A metric's folder of a KPI table (`activity`, `players`, `kpis`), or one day's."""
    folder = f"{table_uri}/metric={metric}"
    return folder if day is None else f"{folder}/day={day}"


# The raw archive's layout, defined here only: Firehose's (infra/ingest.py spells it in Firehose's prefix language),
# `raw/dt=YYYY-MM-DD/hr=HH/<file>.gz` by arrival time in UTC. The archiver writes it, the job reads and parses it, the
# tables glob it.
RAW_FILES_GLOB = "dt=*/hr=*/*.gz"  # every archive file, under raw_uri()


def raw_partition(arrival_epoch_s: float) -> str:
    """The partition (`dt=…/hr=…`, under raw/) of a record that arrived at this time."""
    t = time.gmtime(arrival_epoch_s)
    return f"dt={t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}/hr={t.tm_hour:02d}"


def raw_partition_uri(lake: str | Path, dt: str) -> str:
    """The folder of one arrival day (YYYY-MM-DD) of the raw archive."""
    return f"{raw_uri(lake)}/dt={dt}"


_HOUR_OF_PATH = re.compile(r"/dt=(\d{4})-(\d{2})-(\d{2})/hr=(\d{2})/[^/]*$")


def hour_of_path(path: str) -> int | None:
    """Start of the archive hour (epoch ms, UTC) a file's path names, None if the path is not a raw partition."""
    match = _HOUR_OF_PATH.search(path)
    if match is None:
        return None
    y, mo, d, h = (int(g) for g in match.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23):
        return None
    return calendar.timegm((y, mo, d, h, 0, 0)) * 1000


class PublishError(RuntimeError):
    """The counts (or kpis) of a day are not those of the run being published."""


def read_counts(lake: str | Path, days: Sequence[str]) -> pa.Table:
    """The rows of the counts table for these days (columns metric, bucket, group_value, value, sketch, run_id, day)."""
    import pyarrow.dataset as ds

    return _counts_dataset(lake).to_table(filter=ds.field("day").isin(list(days)))


def _counts_dataset(lake: str | Path) -> ds.Dataset:
    import pyarrow as pa
    import pyarrow.dataset as ds

    partitioning = ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive")
    return ds.dataset(counts_uri(lake), format="parquet", partitioning=partitioning)


def publish(
    lake: str | Path,
    days: Sequence[str],
    run_id: str,
    batch_view: BatchView,
    catalog: Catalog | None = None,
    kpi_days: Mapping[str, Sequence[str]] | None = None,
) -> dict[tuple[str, str], list[BatchRow]]:
    """Publish every metric of the counts table for every day (an empty list when a metric has no row that day), then
    the kpis partitions the run wrote: `kpi_days` (metric -> days, the job's `JobResult.kpi_days`), or when None every
    partition whose rows carry `run_id`. Returns what was published by (metric, day). Refuses a day whose rows another
    run wrote (the job did not overwrite it)."""
    catalog = catalog or load_catalog()
    published = _publish_counts(lake, days, run_id, batch_view, catalog)
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


def _kpi_days_of_run(lake: str | Path, run_id: str, catalog: Catalog) -> dict[str, list[str]]:
    days: dict[str, list[str]] = {}
    for (metric, day), kpi_day in sorted(_kpi_days(read_kpis(lake), catalog).items()):
        if run_id in kpi_day.runs:
            days.setdefault(metric, []).append(day)
    return days


def _publish_counts(
    lake: str | Path, days: Sequence[str], run_id: str, batch_view: BatchView, catalog: Catalog
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
        batch_view.publish(metric, day, day_rows, run_id)
    return rows


KPIS_TABLE_COLUMNS = ("bucket", "group_value", "value", "sketch", "run_id", "metric", "day")


def read_kpis(lake: str | Path, partitions: Sequence[tuple[str, str]] | None = None) -> pa.Table:
    """The rows of the kpis table (columns bucket, group_value, value, sketch, run_id, metric, day): of these (metric,
    day) partitions, or all of them; an empty table before the job first wrote it."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    partitioning = ds.partitioning(pa.schema([("metric", pa.string()), ("day", pa.string())]), flavor="hive")
    uri = kpis_uri(lake)
    if "://" not in uri and not os.path.isdir(uri):
        return pa.table({name: [] for name in KPIS_TABLE_COLUMNS})
    dataset = ds.dataset(uri, format="parquet", partitioning=partitioning)
    if partitions is None:
        return dataset.to_table()
    metrics, days = sorted({m for m, _d in partitions}), sorted({d for _m, d in partitions})
    return dataset.to_table(filter=ds.field("metric").isin(metrics) & ds.field("day").isin(days))


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


def republish(lake: str | Path, batch_view: BatchView, catalog: Catalog | None = None) -> Republished:
    """Publish every day of the counts table again, each with the run that wrote it, and every partition of the kpis
    table with its run. For a batch view that lost its items (the local one lives in moto's memory) while the lake kept
    the tables. A day that cannot be published (a damaged partition, rows of two runs) is reported and skipped: the
    others still are. (A kpis partition without rows names no run: it stays unpublished.)"""
    result = Republished()
    catalog = catalog or load_catalog()
    if "://" in lake_uri(lake) or os.path.isdir(counts_uri(lake)):
        table = _counts_dataset(lake).to_table(columns=["day", "run_id"])
        runs = dict(zip(table.column("day").to_pylist(), table.column("run_id").to_pylist(), strict=True))
        for day, run_id in sorted(runs.items()):
            try:
                _publish_counts(lake, [str(day)], run_id, batch_view, catalog)
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
