"""The job's reads and writes, through Spark and Hadoop's file system: the same calls for a local folder and for S3."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from headcount.batch.transforms import zero_rows
from headcount.core.catalog import Catalog
from headcount.views.lake import counts_uri, raw_partition_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return bool(path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path))  # noqa: SLF001


def write_counts(counts: DataFrame, lake: str) -> None:
    (
        counts.repartition("day")
        .sortWithinPartitions("metric", "bucket", "group_value")
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy("day")
        .parquet(counts_uri(lake))
    )
