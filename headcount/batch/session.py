"""The Spark session: Glue's on Glue, a local one like it on this machine."""

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
    spark = _configure(builder).getOrCreate()
    spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def glue_spark() -> SparkSession:
    from awsglue.context import GlueContext  # type: ignore[import-not-found]
    from pyspark.context import SparkContext

    spark = GlueContext(SparkContext.getOrCreate()).spark_session
    for key, value in _SESSION_CONF.items():
        spark.conf.set(key, value)
    return spark


_SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
}


def _configure(builder):  # noqa: ANN001, ANN202 - SparkSession.Builder
    for key, value in _SESSION_CONF.items():
        builder = builder.config(key, value)
    return builder
