"""The lake (a local folder or s3://bucket/prefix): where the raw archive, the counts table and the KPIs' tables live,
listing their data files (never the markers Spark, Hadoop and Glue leave beside them), the players tables' manifests,
and reading the tables the publisher needs with pyarrow (no Spark). Their columns are headcount/core/lake_tables.py's;
publishing them into the batch view is headcount/logic/publishing.py's.

On S3, pyarrow talks to the endpoint of AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) when one is set: the local S3
emulator (headcount/local/s3.py); the job's Spark reads and writes the same URIs through Hadoop's S3 file system.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from headcount import names
from headcount.core.catalog import zone_token
from headcount.core.lake_tables import COUNTS, KPIS

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs


def lake_uri(lake: str | Path) -> str:
    lake = str(lake)
    if "://" in lake:
        return lake.rstrip("/")
    return os.path.abspath(lake).rstrip("/")


def zone_lake(lake: str | Path, zone: str) -> str:
    """Where the nightly job keeps an extra zone's tables (`zones/Asia.Tokyo/`: counts, activity, kpis and players, as
    the lake's, of the metrics `<name>@<zone>`); the raw archive and the players' index are the lake's."""
    return f"{lake_uri(lake)}/{names.ZONES_PREFIX}{zone_token(zone)}"


def raw_uri(lake: str | Path) -> str:
    return f"{lake_uri(lake)}/raw"


def counts_uri(lake: str | Path) -> str:
    return f"{lake_uri(lake)}/counts"


def index_uri(lake: str | Path) -> str:
    """The players' index of the raw archive, `player_index/dt=<arrival day>/` (player_id, hr): which archive hours hold
    a player's lines, kept by the nightly job, so that an erasure reads those hours only (headcount/batch/erasure.py)."""
    return f"{lake_uri(lake)}/{names.PLAYER_INDEX_PREFIX.rstrip('/')}"


def erasure_uri(lake: str | Path) -> str:
    """The erasure batches' plans, `erasure/batches/<batch>.json`: the raw objects a batch rewrites (each with when it
    was first written, which the job keeps reading as its arrival bound) and the days it recomputes. No player ids."""
    return f"{lake_uri(lake)}/{names.ERASURE_PREFIX.rstrip('/')}"


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


# A players table is replaced whole by every run: each version is written to a folder of its own,
# `players/metric=<m>/version=<run id>/`, and made current by one atomic step, the write of the metric's manifest
# `players/_manifests/metric=<m>/manifest`: the URIs of the version's data files, one a line (the format of Athena's
# symlink tables, so Athena's `players` table reads the current version only). Readers follow the manifest.
def players_version_uri(lake: str | Path, metric: str, version: str) -> str:
    return f"{partition_uri(players_uri(lake), metric)}/version={version}"


def players_manifest_uri(lake: str | Path, metric: str | None = None) -> str:
    """The manifests' folder (the Athena table's location), or one metric's manifest."""
    folder = f"{players_uri(lake)}/_manifests"
    return folder if metric is None else f"{partition_uri(folder, metric)}/manifest"


def read_players_manifest(lake: str | Path, metric: str) -> list[str] | None:
    """The data files (URIs) of the current version of a players table; None before its first version."""
    fs, path = lake_filesystem(players_manifest_uri(lake, metric))
    try:
        with fs.open_input_stream(path, compression=None) as stream:
            text = stream.read().decode()
    except FileNotFoundError:
        return None
    root = lake_uri(lake)
    return [line if is_s3(lake) else os.path.normpath(os.path.join(root, line)) for line in text.splitlines() if line]


def write_players_manifest(lake: str | Path, metric: str, files: Sequence[str]) -> None:
    """Make the version of these files current, in one step (`write_object`). On S3 the lines are the files' URIs (as
    Athena's symlink tables read them); in a folder, their paths relative to the lake (the folder may move)."""
    root = lake_uri(lake)
    lines = files if is_s3(lake) else [os.path.relpath(f, root) for f in files]
    write_object(players_manifest_uri(lake, metric), "".join(f"{line}\n" for line in lines).encode())


# ------------------------------------------------------------------------------------------------- files of the lake


def is_s3(lake: str | Path) -> bool:
    return str(lake).startswith(("s3://", "s3a://"))


def lake_filesystem(uri: str | Path) -> tuple[pafs.FileSystem, str]:
    """pyarrow's file system of a lake URI (S3 or the local disk), and the URI's path in it."""
    import pyarrow.fs as pafs

    uri = str(uri)
    if not is_s3(uri):
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    parts = urlsplit(uri)
    return s3_filesystem(parts.netloc), f"{parts.netloc}{parts.path}".rstrip("/")


@cache
def s3_filesystem(bucket: str) -> pafs.S3FileSystem:
    """S3, or the emulator of AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL; in the region of AWS_REGION (as Lambda and Glue
    set it), else the bucket's own."""
    import pyarrow.fs as pafs

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if endpoint:  # the emulator's credentials as they are now (a test's mocked AWS must not change them later)
        parts = urlsplit(endpoint)
        return pafs.S3FileSystem(
            endpoint_override=parts.netloc,
            scheme=parts.scheme,
            region=region or "us-east-1",
            access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        )
    return pafs.S3FileSystem(region=region or pafs.resolve_s3_region(bucket))


def write_object(uri: str, body: bytes, modified_s: float | None = None) -> None:
    """Write a file of the lake whole or not at all, as Firehose writes an object: on S3 one PUT (an object appears
    whole), on a disk a hidden file renamed into place (readers skip hidden names), `modified_s` its time (S3 sets an
    object's own: when it was put)."""
    fs, path = lake_filesystem(uri)
    if is_s3(uri):  # (no create_dir: on S3 it writes folder markers, and asks for the whole bucket's listing)
        with fs.open_output_stream(path, compression=None) as out:
            out.write(body)
        return
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".{name}.tmp{os.getpid()}")
    with open(partial, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    if modified_s is not None:
        os.utime(partial, (modified_s, modified_s))
    os.replace(partial, path)


def is_data_file(path: str, size: int | None) -> bool:
    """Whether a file under a table's folder holds its data. Not: a name of the folders Spark and Hadoop use while they
    write (`_temporary/`, `.spark-staging-*`) or of their markers (`_SUCCESS`), hidden files (an archiver's `.tmp`),
    the `<folder>_$folder$` objects Glue's S3 file system leaves, and zero-byte objects (folder markers)."""
    if not size:
        return False
    parts = path.split("/")
    return not parts[-1].endswith("$folder$") and not any(part.startswith(("_", ".")) for part in parts)


def data_files(table_uri: str, suffix: str) -> list[str]:
    """The data files of a table (or of one of its partitions), as paths of `lake_filesystem(table_uri)`, sorted; empty
    when the folder does not exist."""
    import pyarrow.fs as pafs

    fs, base = lake_filesystem(table_uri)
    found = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return sorted(
        info.path
        for info in found
        if info.type == pafs.FileType.File
        and info.path.endswith(suffix)
        and is_data_file(info.path[len(base) :], info.size)
    )


def file_uri(table_uri: str, path: str) -> str:
    """The URI of a path of `lake_filesystem(table_uri)`."""
    return f"{urlsplit(table_uri).scheme}://{path}" if is_s3(table_uri) else path


# The raw archive's layout, defined here only: Firehose's (infra/ingest.py spells it in Firehose's prefix language),
# `raw/dt=YYYY-MM-DD/hr=HH/<file>.gz` by arrival time in UTC. The archiver writes it, the job reads and parses it, the
# tables list its files (`data_files`, `hour_of_path`).


def raw_partition(arrival_epoch_s: float) -> str:
    """The partition (`dt=…/hr=…`, under raw/) of a record that arrived at this time."""
    t = time.gmtime(arrival_epoch_s)
    return f"dt={t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}/hr={t.tm_hour:02d}"


_OBJECT_OF_PATH = re.compile(r"(dt=[^/]+/hr=[^/]+/[^/]+)$")


def raw_object_key(path: str) -> str | None:
    """A raw file's name within the archive, `dt=…/hr=…/<file>`, whatever the scheme and root of its path (Spark's
    `file:`, `s3a://`, pyarrow's bucket/key): how an erasure's plan names the objects it rewrote."""
    match = _OBJECT_OF_PATH.search(path)
    return match.group(1) if match else None


def arrival_days_of(lake: str | Path, table_uri: str | None = None) -> list[str]:
    """The arrival days (dt) of the raw archive (or of another table partitioned by `dt=`), sorted."""
    import pyarrow.fs as pafs

    fs, path = lake_filesystem(table_uri or raw_uri(lake))
    found = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(i.base_name[3:] for i in found if i.type == pafs.FileType.Directory and i.base_name.startswith("dt="))


def first_arrival_day(lake: str | Path) -> str | None:
    """The earliest arrival day (dt) of the raw archive, None while it is empty: one listing of raw/'s folders."""
    import pyarrow.fs as pafs

    fs, path = lake_filesystem(raw_uri(lake))
    found = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    days = [i.base_name[3:] for i in found if i.type == pafs.FileType.Directory and i.base_name.startswith("dt=")]
    return min(days, default=None)


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
    before the job first wrote it."""
    table = _counts_dataset(lake).to_table(columns=["day", "run_id"])
    return dict(zip(table.column("day").to_pylist(), table.column("run_id").to_pylist(), strict=True))


def _counts_dataset(lake: str | Path) -> ds.Dataset:
    return _parquet_dataset(counts_uri(lake), COUNTS.columns, COUNTS.partitions)


def read_kpis(lake: str | Path, partitions: Sequence[tuple[str, str]] | None = None) -> pa.Table:
    """The rows of the kpis table (columns bucket, group_value, value, sketch, run_id, metric, day): of these (metric,
    day) partitions, or all of them; an empty table before the job first wrote it."""
    import pyarrow.dataset as ds

    dataset = _parquet_dataset(kpis_uri(lake), KPIS.columns, KPIS.partitions)
    if partitions is None:
        return dataset.to_table()
    metrics, days = sorted({m for m, _d in partitions}), sorted({d for _m, d in partitions})
    return dataset.to_table(filter=ds.field("metric").isin(metrics) & ds.field("day").isin(days))


def _parquet_dataset(table_uri: str, columns: Mapping[str, str], partitions: Mapping[str, str]) -> ds.Dataset:
    """A table of the job's Parquet files, its data files only (`data_files`), with its partition keys from Hive's
    folder names (`day=2026-11-25/`, all strings); no rows before the job first wrote it."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    assert set(partitions.values()) == {"string"}, partitions
    fs, base = lake_filesystem(table_uri)
    files = data_files(table_uri, ".parquet")
    if not files:
        types = {"string": pa.string(), "bigint": pa.int64(), "binary": pa.binary()}
        return ds.dataset(
            pa.schema([(name, types[kind]) for name, kind in {**columns, **partitions}.items()]).empty_table()
        )
    partitioning = ds.partitioning(pa.schema([(key, pa.string()) for key in partitions]), flavor="hive")
    return ds.dataset(files, filesystem=fs, format="parquet", partitioning=partitioning, partition_base_dir=base)
