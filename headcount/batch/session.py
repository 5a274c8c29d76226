"""The Spark session: Glue's on Glue, a local one like it on this machine.

On Glue, `s3://` is Glue's own S3 file system. Here it is Hadoop's S3A (`hadoop-aws`, at the Hadoop version pyspark
3.5.4 bundles, and its AWS SDK: jars the Makefile fetches, named by HEADCOUNT_SPARK_JARS), pointed at the endpoint of
AWS_ENDPOINT_URL_S3 (the local S3 emulator, path-style) when one is set, so the job's code reads and writes the same
`s3://` URIs in both places.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def on_glue() -> bool:
    try:
        import awsglue  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


_QUIET_LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def local_spark(cores: str = "*", shuffle_partitions: int = 8, driver_memory: str = "2g") -> SparkSession:
    """A local session like Glue's Spark: UTC session time zone, few shuffle partitions, quiet logs. An active session
    (a test's, a notebook's) is used as it is."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    log4j = os.path.join(tempfile.gettempdir(), "headcount-spark-log4j2.properties")
    with open(log4j, "w") as out:
        out.write(_QUIET_LOG4J)
    builder = (
        SparkSession.builder.appName("headcount-nightly-counts")
        .master(f"local[{cores}]")
        .config("spark.driver.memory", driver_memory)
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    jars = os.environ.get("HEADCOUNT_SPARK_JARS")
    if jars:
        builder = builder.config("spark.jars", jars)
    for key, value in s3a_settings(os.environ.get("AWS_ENDPOINT_URL_S3")).items():
        builder = builder.config(f"spark.hadoop.{key}", value)
    spark = _configure(builder).getOrCreate()
    spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def s3a_settings(endpoint: str | None) -> dict[str, str]:
    """Hadoop's settings for `s3://` and `s3a://` through S3A: S3A's default credentials chain; with an emulator's
    endpoint, that one, path-style, plain HTTP if it is one, with the credentials of the AWS_* variables as they are now
    (the JVM's own environment is the one it started with)."""
    settings = {"fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem"}
    if endpoint:
        settings |= {
            "fs.s3a.access.key": os.environ.get("AWS_ACCESS_KEY_ID", ""),
            "fs.s3a.secret.key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            "fs.s3a.endpoint": endpoint,
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https://")).lower(),
            "fs.s3a.endpoint.region": os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
        }
    return settings


def use_s3_endpoint(spark: SparkSession, endpoint: str) -> None:
    """Point a running local session's S3A at an endpoint (before its first S3 call: Hadoop caches file systems)."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    for key, value in s3a_settings(endpoint).items():
        conf.set(key, value)


def glue_spark() -> SparkSession:
    from awsglue.context import GlueContext  # type: ignore[import-not-found]
    from pyspark.context import SparkContext

    spark = GlueContext(SparkContext.getOrCreate()).spark_session
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001 - the context exists: Hadoop's own conf
    for key, value in _SESSION_CONF.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key.removeprefix("spark.hadoop."), value)
        else:
            spark.conf.set(key, value)
    return spark


_SESSION_CONF = {
    # Spark's committers mark a folder they wrote whole with _SUCCESS (the players tables' switch requires it): Hadoop's
    # default, said here so that no cluster setting turns it off
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
}


def _configure(builder):  # noqa: ANN001, ANN202 - SparkSession.Builder
    for key, value in _SESSION_CONF.items():
        builder = builder.config(key, value)
    return builder
