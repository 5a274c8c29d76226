"""The job's reads and writes: the tables through Spark and Hadoop's file system, the players tables' manifests and
versions through pyarrow (headcount/views/lake.py); the same calls for a local folder and for S3."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from headcount.batch.erasure_plan import read_plans
from headcount.batch.transforms import zero_rows
from headcount.core.catalog import Catalog
from headcount.core.lake_tables import ACTIVITY, PLAYERS, LakeTable
from headcount.views.lake import (
    activity_uri,
    counts_uri,
    data_files,
    file_uri,
    index_uri,
    lake_filesystem,
    partition_uri,
    players_uri,
    players_version_uri,
    raw_partition_uri,
    read_players_manifest,
    write_players_manifest,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SUCCESS_MARKER = "_SUCCESS"  # what Spark's committer writes last into a folder it wrote whole


def read_raw(spark: SparkSession, lake: str, partitions: Sequence[str]) -> DataFrame:
    """Lines of the arrival partitions, as raw bytes, with the path of their file and when it was written. Hidden
    (temporary) files are skipped."""
    from pyspark.sql import functions as F  # noqa: N812

    if not partitions:  # a night without input
        return spark.createDataFrame([], "line binary, file_path string, file_written_ms bigint")
    paths = [raw_partition_uri(lake, dt) for dt in partitions]
    lines = spark.read.option("lineSep", "\n").option("recursiveFileLookup", "true").text(paths)
    return lines.select(
        F.col("value").cast("binary").alias("line"),
        F.col("_metadata.file_path").alias("file_path"),
        F.expr("unix_millis(_metadata.file_modification_time)").alias("file_written_ms"),  # S3's LastModified on Glue
    )


# ------------------------------------------------------------------------------------------ the players' index


def index_of(raw: DataFrame) -> DataFrame:
    """Raw lines -> (dt, hr, player_id): which archive hours hold a line of which player, whatever the line's verdict
    (a rejected line holds the id too). Spark's JSON path reads an integer id as its decimal string, as the events do."""
    from pyspark.sql import functions as F  # noqa: N812

    hour = r"/dt=(\d{4}-\d{2}-\d{2})/hr=(\d{2})/[^/]*$"
    player = F.get_json_object(F.col("line").cast("string"), "$.player_id")
    return (
        raw.select(
            F.regexp_extract("file_path", hour, 1).alias("dt"),
            F.regexp_extract("file_path", hour, 2).alias("hr"),
            player.alias("player_id"),
        )
        .where(F.col("player_id").isNotNull() & (F.col("dt") != ""))
        .distinct()
    )


def write_index(index: DataFrame, lake: str, dts: Sequence[str]) -> None:
    """Overwrite these arrival days' partitions of the players' index (a day without lines gets an empty file: it is
    indexed)."""
    if not dts:
        return
    index = index.persist()  # written, then its days listed: the raw partitions read once
    (
        index.repartition("dt")
        .sortWithinPartitions("dt", "player_id", "hr")
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy("dt")
        .parquet(index_uri(lake))
    )
    filled = {r["dt"] for r in index.select("dt").distinct().collect()}
    index.unpersist()
    empty = index.sparkSession.createDataFrame([], INDEX_DDL)
    for dt in sorted(set(dts) - filled):
        empty.write.mode("overwrite").parquet(f"{index_uri(lake)}/dt={dt}")


INDEX_DDL = "hr string, player_id string"


def erasure_written(lake: str, partitions: Collection[str]) -> dict[str, int]:
    """When the raw objects of these arrival days that erasures rewrote were first written (`raw_object_key` -> epoch
    ms), from the erasure batches' plans (headcount/batch/erasure.py)."""
    days = set(partitions)
    written: dict[str, int] = {}
    for plan in read_plans(lake):
        for key, ms in plan.written.items():
            if key[3:13] in days:
                written[key] = min(ms, written.get(key, ms))
    return written


def zeros_frame(spark: SparkSession, catalog: Catalog, days: Sequence[str], tz: str) -> DataFrame:
    return spark.createDataFrame(
        zero_rows(catalog, days, tz), "metric string, bucket string, group_value string, player_id string, n bigint"
    )


def path_exists(spark: SparkSession, uri: str) -> bool:
    """Through Hadoop's file system: the same call for a local folder and for S3 on Glue."""
    fs, path = _fs(spark, uri)
    return bool(fs.exists(path))


def write_counts(counts: DataFrame, lake: str) -> None:
    (
        counts.repartition("day")
        .sortWithinPartitions("metric", "bucket", "group_value")
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy("day")
        .parquet(counts_uri(lake))
    )


# ------------------------------------------------------------------------------------------------ the KPI tables


def write_partitions(
    frame: DataFrame,
    table_uri: str,
    table: LakeTable,
    partitions: Collection[tuple[str, str]],
    order: Sequence[str],
) -> None:
    """Overwrite exactly these (metric, day) partitions of a KPI table (`activity` or `kpis`) with the frame's rows
    (dynamic partition overwrite, as the counts). A partition without rows gets an empty file: it is overwritten too, and
    an activity day without players still counts as computed. The frame is read twice: cache it."""
    spark = frame.sparkSession
    (
        frame.select("metric", "day", *table.columns)
        .repartition("metric", "day")
        .sortWithinPartitions("metric", "day", *order)
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy("metric", "day")
        .parquet(table_uri)
    )
    filled = {(r["metric"], r["day"]) for r in frame.select("metric", "day").distinct().collect()}
    empty = spark.createDataFrame([], table.ddl)
    for metric, day in sorted(set(partitions) - filled):
        empty.write.mode("overwrite").parquet(partition_uri(table_uri, metric, day))


def computed_days(spark: SparkSession, lake: str, metric: str) -> list[str]:
    """The days with an activity partition of this metric: the days the job has computed for it."""
    fs, folder = _fs(spark, partition_uri(activity_uri(lake), metric))
    if not fs.exists(folder):
        return []
    names = (status.getPath().getName() for status in fs.listStatus(folder) if status.isDirectory())
    return sorted(name.removeprefix("day=") for name in names if name.startswith("day="))


def read_activity(spark: SparkSession, lake: str, metric: str, days: Sequence[str]) -> DataFrame:
    """The activity of these computed days (every one has a partition: `computed_days`)."""
    schema = f"{ACTIVITY.ddl}, {ACTIVITY.partitions_ddl}"
    if not days:
        return spark.createDataFrame([], schema)
    paths = [partition_uri(activity_uri(lake), metric, d) for d in days]
    return spark.read.schema(schema).option("basePath", activity_uri(lake)).parquet(*paths)


# The players table of a new-players metric is rewritten whole each run, from itself, without a rename (on S3 a rename is
# a copy and a delete, neither atomic nor fast): the run writes the new version into a folder of its own, then makes it
# current by writing the metric's manifest (headcount/views/lake.py), one atomic step. A run killed before that leaves
# the current version as it was; the folder it was writing is never read, and is deleted with the replaced versions.
PLAYERS_GRACE_S = 12 * 3600  # a replaced version stays this long, for the queries reading it when it was replaced


def read_players(spark: SparkSession, lake: str, metric: str) -> DataFrame:
    """The current version of the players table of a new-players metric (empty before its first run)."""
    files = read_players_manifest(lake, metric)
    if files is None:  # a lake from before versions: the table is the files of the metric's folder (its next run's
        uri = partition_uri(players_uri(lake), metric)  # switch writes the first manifest)
        files = [file_uri(uri, f) for f in data_files(uri, ".parquet") if "/version=" not in f]
    if not files:
        return spark.createDataFrame([], PLAYERS.ddl)
    return spark.read.schema(PLAYERS.ddl).parquet(*files)


def players_first_days(lake: str, metric: str, ids: Collection[str]) -> list[str]:
    """The first days of these players in the current players table of a new-players metric (pyarrow, no Spark)."""
    import pyarrow.dataset as ds

    files = read_players_manifest(lake, metric) or []
    if not files or not ids:
        return []
    fs, _ = lake_filesystem(files[0])
    paths = [lake_filesystem(f)[1] for f in files]
    table = ds.dataset(paths, filesystem=fs, format="parquet").to_table(
        columns=["first_day"], filter=ds.field("player_id").isin(sorted(ids))
    )
    return sorted(set(table.column("first_day").to_pylist()))


def stage_players(players: DataFrame, lake: str, metric: str, version: str) -> DataFrame:
    """Write a new version of the players table beside the current one; -> the new version, as written."""
    uri = players_version_uri(lake, metric, version)
    players.repartition("player_id").sortWithinPartitions("player_id").write.mode("overwrite").parquet(uri)
    return players.sparkSession.read.schema(PLAYERS.ddl).parquet(uri)


def switch_players(lake: str, metric: str, version: str) -> None:
    """Make a staged version the players table (`stage_players` first), then delete the versions replaced more than
    PLAYERS_GRACE_S before it was written, and those of runs that never got this far."""
    uri = players_version_uri(lake, metric, version)
    files = data_files(uri, ".parquet")
    if not _has_marker(uri):
        raise RuntimeError(f"no complete players table at {uri} to switch to")
    previous = read_players_manifest(lake, metric) or []
    write_players_manifest(lake, metric, [file_uri(uri, f) for f in files])
    _drop_old_versions(lake, metric, keep={version, *_versions_of(previous)})


def _has_marker(uri: str) -> bool:
    """Whether Spark's committer finished the folder (its _SUCCESS marker, which `data_files` never lists)."""
    fs, path = lake_filesystem(f"{uri}/{SUCCESS_MARKER}")
    return fs.get_file_info(path).is_file


def _versions_of(files: Collection[str]) -> set[str]:
    return {part.removeprefix("version=") for f in files for part in f.split("/") if part.startswith("version=")}


def drop_replaced_players(lake: str, metric: str) -> None:
    """Delete every version of a players table but the current one, at once: an erasure's (the versions it replaced
    hold the erased players; a query reading one of them as it goes fails, and is run again)."""
    _drop_old_versions(lake, metric, keep=_versions_of(read_players_manifest(lake, metric) or []), grace_s=0)


def _drop_old_versions(lake: str, metric: str, keep: Collection[str], grace_s: float = PLAYERS_GRACE_S) -> None:
    """Delete the versions of a players table but `keep` (the current one and the one it replaced) whose files are all
    older than the grace period before the newest file of the table."""
    import pyarrow.fs as pafs

    fs, base = lake_filesystem(partition_uri(players_uri(lake), metric))
    found = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    newest: dict[str, float] = {}
    for info in found:
        relative = info.path[len(base) :].strip("/").split("/")
        # (a file in a version's folder: not the `version=…_$folder$` object Glue's file system leaves beside it)
        if info.type == pafs.FileType.File and len(relative) > 1 and relative[0].startswith("version=") and info.mtime:
            version = relative[0].removeprefix("version=")
            newest[version] = max(newest.get(version, 0.0), info.mtime.timestamp())
    if not newest:
        return
    now = max(newest.values())
    for version, written in sorted(newest.items()):
        if version not in keep and written <= now - grace_s:
            fs.delete_dir(f"{base}/version={version}")
            marker = f"{base}/version={version}_$folder$"  # Glue's file system may leave one beside the folder
            if fs.get_file_info(marker).is_file:
                fs.delete_file(marker)


def _path(spark: SparkSession, uri: str) -> Any:
    return spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)  # noqa: SLF001


def _fs(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """Hadoop's file system of a URI (local, or S3 on Glue), and the URI as its Path."""
    path = _path(spark, uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path  # noqa: SLF001
