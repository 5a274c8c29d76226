"""The lake (a local folder or s3://bucket/prefix): where the raw archive and the counts table live, and publishing the
counts of a run into the batch view.

`publish` reads the job's Parquet output with pyarrow (no Spark) and writes each (metric, day) to the batch view; the view
replaces a day's rows as a whole, so publishing again is harmless.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from headcount.core import sketches
from headcount.core.catalog import Catalog
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
    """The counts of a day are not those of the run being published."""


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
    lake: str | Path, days: Sequence[str], run_id: str, batch_view: BatchView, catalog: Catalog | None = None
) -> dict[tuple[str, str], list[BatchRow]]:
    """Publish every catalog metric of every day (an empty list when a metric has no row that day); returns what was
    published by (metric, day). Refuses a day whose rows another run wrote (the job did not overwrite it)."""
    catalog = catalog or load_catalog()
    table = read_counts(lake, days)
    rows: dict[tuple[str, str], list[BatchRow]] = {(m.name, d): [] for m in catalog.metrics for d in days}
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


@dataclass
class Republished:
    days: dict[str, str] = field(default_factory=dict)  # day -> the run whose counts were published again
    failed: dict[str, str] = field(default_factory=dict)  # day -> why it could not be (it stays real-time)


def republish(lake: str | Path, batch_view: BatchView, catalog: Catalog | None = None) -> Republished:
    """Publish every day of the counts table again, each with the run that wrote it. For a batch view that lost its
    items (the local one lives in moto's memory) while the lake kept the counts. A day that cannot be published (a
    damaged partition, rows of two runs) is reported and skipped: the others still are."""
    result = Republished()
    if "://" not in lake_uri(lake) and not os.path.isdir(counts_uri(lake)):
        return result
    catalog = catalog or load_catalog()
    table = _counts_dataset(lake).to_table(columns=["day", "run_id"])
    runs = dict(zip(table.column("day").to_pylist(), table.column("run_id").to_pylist(), strict=True))
    for day, run_id in sorted(runs.items()):
        try:
            publish(lake, [str(day)], run_id, batch_view, catalog=catalog)
        except (PublishError, ValueError, OSError) as exc:  # pyarrow's errors are OSError / ValueError subclasses
            result.failed[str(day)] = f"{type(exc).__name__}: {exc}"
        else:
            result.days[str(day)] = run_id
    return result
