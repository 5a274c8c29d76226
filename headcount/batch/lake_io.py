"""The job's reads and writes, through Spark and Hadoop's file system: the same calls for a local folder and for S3."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from headcount.batch.transforms import zero_rows
from headcount.core.catalog import Catalog
from headcount.core.lake_tables import ACTIVITY, PLAYERS, LakeTable
from headcount.views.lake import activity_uri, counts_uri, partition_uri, players_uri, raw_partition_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SUCCESS_MARKER = "_SUCCESS"  # what Spark's committer writes last into a folder it wrote whole


def read_raw(spark: SparkSession, lake: str, partitions: Sequence[str]) -> DataFrame:
    """Lines of the arrival partitions, as raw bytes, with the path of their file and when it was written. Hidden
    (temporary) files are skipped."""
    from pyspark.sql import functions as F  # noqa: N812

    paths = [raw_partition_uri(lake, dt) for dt in partitions]
    lines = spark.read.option("lineSep", "\n").option("recursiveFileLookup", "true").text(paths)
    return lines.select(
        F.col("value").cast("binary").alias("line"),
        F.col("_metadata.file_path").alias("file_path"),
        F.expr("unix_millis(_metadata.file_modification_time)").alias("file_written_ms"),  # S3's LastModified on Glue
    )


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


# The players table of a new-players metric is rewritten whole each run, from itself: the run writes the new version
# beside it (`_staged`, which readers of the table skip), and once that is complete (Spark's _SUCCESS marker) switches:
# deletes the old one, renames the new one into its place. A run that fails before the marker leaves the old version;
# one that fails during the switch leaves a complete new version, and the next read finishes the switch.


def read_players(spark: SparkSession, lake: str, metric: str) -> DataFrame:
    """The players table of a new-players metric (empty before its first run)."""
    _finish_switch(spark, lake, metric)
    uri = partition_uri(players_uri(lake), metric)
    if not path_exists(spark, uri):
        return spark.createDataFrame([], PLAYERS.ddl)
    return spark.read.schema(PLAYERS.ddl).parquet(uri)


def stage_players(players: DataFrame, lake: str, metric: str) -> DataFrame:
    """Write the new version of the players table beside the current one; -> the new version, as written."""
    uri = _staged_uri(lake, metric)
    players.repartition("player_id").sortWithinPartitions("player_id").write.mode("overwrite").parquet(uri)
    return players.sparkSession.read.schema(PLAYERS.ddl).parquet(uri)


def switch_players(spark: SparkSession, lake: str, metric: str) -> None:
    """Make the staged version the players table (`stage_players` first)."""
    if not _finish_switch(spark, lake, metric):
        raise RuntimeError(f"no complete staged players table at {_staged_uri(lake, metric)} to switch to")


def _finish_switch(spark: SparkSession, lake: str, metric: str) -> bool:
    """Complete a switch to a staged version that was written whole, or drop one that was not; True if it switched."""
    fs, staged = _fs(spark, _staged_uri(lake, metric))
    if not fs.exists(staged):
        return False
    if not fs.exists(_path(spark, f"{_staged_uri(lake, metric)}/{SUCCESS_MARKER}")):
        fs.delete(staged, True)  # a run that failed while writing it: the current version stands
        return False
    current = _path(spark, partition_uri(players_uri(lake), metric))
    if fs.exists(current) and not fs.delete(current, True):
        raise OSError(f"could not delete the previous players table {current}")
    if not fs.rename(staged, current):
        raise OSError(f"could not rename {staged} to {current}")
    return True


def _staged_uri(lake: str, metric: str) -> str:
    return partition_uri(f"{players_uri(lake)}/_staged", metric)


def _path(spark: SparkSession, uri: str) -> Any:
    return spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)  # noqa: SLF001


def _fs(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """Hadoop's file system of a URI (local, or S3 on Glue), and the URI as its Path."""
    path = _path(spark, uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path  # noqa: SLF001
