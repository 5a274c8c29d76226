"""The lake (a local folder or s3://bucket/prefix): where the raw archive, the counts table and the KPIs' tables live,
and reading the tables the publisher needs with pyarrow (no Spark). Their columns are headcount/core/lake_tables.py's;
publishing them into the batch view is headcount/logic/publishing.py's.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from headcount.core.lake_tables import COUNTS, KPIS

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


def read_counts(lake: str | Path, days: Sequence[str]) -> pa.Table:
    """The rows of the counts table for these days (columns metric, bucket, group_value, value, sketch, run_id, day)."""
    import pyarrow.dataset as ds

    return _counts_dataset(lake).to_table(filter=ds.field("day").isin(list(days)))


def read_count_runs(lake: str | Path) -> dict[str, str]:
    """The days of the counts table, each with the run of its rows (of a day with rows of two runs, one of them); empty
    before the job first wrote a local lake."""
    if "://" not in lake_uri(lake) and not os.path.isdir(counts_uri(lake)):
        return {}
    table = _counts_dataset(lake).to_table(columns=["day", "run_id"])
    return dict(zip(table.column("day").to_pylist(), table.column("run_id").to_pylist(), strict=True))


def _counts_dataset(lake: str | Path) -> ds.Dataset:
    import pyarrow.dataset as ds

    return ds.dataset(counts_uri(lake), format="parquet", partitioning=_partitioning(COUNTS.partitions))


def read_kpis(lake: str | Path, partitions: Sequence[tuple[str, str]] | None = None) -> pa.Table:
    """The rows of the kpis table (columns bucket, group_value, value, sketch, run_id, metric, day): of these (metric,
    day) partitions, or all of them; an empty table before the job first wrote it."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    uri = kpis_uri(lake)
    if "://" not in uri and not os.path.isdir(uri):
        return pa.table({name: [] for name in (*KPIS.columns, *KPIS.partitions)})
    dataset = ds.dataset(uri, format="parquet", partitioning=_partitioning(KPIS.partitions))
    if partitions is None:
        return dataset.to_table()
    metrics, days = sorted({m for m, _d in partitions}), sorted({d for _m, d in partitions})
    return dataset.to_table(filter=ds.field("metric").isin(metrics) & ds.field("day").isin(days))


def _partitioning(keys: Mapping[str, str]) -> ds.Partitioning:
    """Hive's folder names (`day=2026-11-25/`) of these partition keys, all strings."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    assert set(keys.values()) == {"string"}, keys
    return ds.partitioning(pa.schema([(key, pa.string()) for key in keys]), flavor="hive")
