"""The nightly batch job: exact counts of day D (and, again, of D-1 and D-2) from the raw archive.

Runs unchanged as a Glue 5.0 job (`--day yesterday --lake s3://bucket/lake --tz Europe/Berlin`; the `headcount`
package shipped as a zip with `--extra-py-files`, its wheels with `--additional-python-modules`) and on this machine
(`python -m glue_jobs.nightly_counts --day 2026-11-25 --lake .headcount/lake`, or `headcount batch`, which also
publishes).

Layout: `main()` turns arguments into `JobOptions`; `run_job()` does the I/O (which arrival partitions exist, read, write);
the steps in between are pure DataFrame -> DataFrame functions. Nothing runs at import.

- Input: `{lake}/raw/dt=YYYY-MM-DD/hr=HH/*.gz`, gzip JSON lines, one record per line, partitioned by arrival time (UTC).
  An event of local day X can only arrive in dt X-1 .. X+2, so a run for D reads dt D-3 .. D+2.
- Validation: `headcount.core.events.parse_event`, the validator of the real-time fold, in batched Python (`mapInArrow`),
  with the window of possible arrival times of its file: from its archive hour's start to when the file was written.
  Buckets and groups are computed there too, with the same code as the fold (`bucket_of`, `Metric.group_of`), so DST
  and group rules cannot drift. Rejected lines are tallied by reason (empty lines are no records).
- Dedup: one copy per `event_id`, the first to arrive (ties: the smallest MD5 of the record); events without an id all count.
- Output: Parquet table `{lake}/counts/`, partitioned by `day`, columns metric, bucket, group_value, value, sketch, run_id.
  Dynamic partition overwrite: a run replaces exactly the days it computed. Ungrouped metrics get a row for every bucket
  of every computed day (0 when nothing happened), so an empty day is a valid zero that overwrites an older answer.
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from headcount.catalog import load_catalog
from headcount.core.buckets import bucket_of, buckets_of_day, finished_day
from headcount.core.catalog import Catalog, Kind
from headcount.core.events import Rejection, parse_event
from headcount.core.keys import check_run_id
from headcount.views.lake import counts_uri, raw_uri

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Accumulator
    from pyspark.sql import DataFrame, SparkSession

HOUR_MS = 3_600_000
OUTSIDE_RAW_PARTITIONS = "outside_raw_partitions"  # a line of a file whose path names no dt=/hr= partition
ARRIVAL_DAYS_BEFORE, ARRIVAL_DAYS_AFTER = 1, 2  # an event of local day X arrives in dt X-1 .. X+2 (UTC)

EVENTS_SCHEMA = (
    "event_id string, hour_ms bigint, line_md5 string, "
    "cells array<struct<metric:string, bucket:string, group_value:string, player_id:string>>"
)
COUNTS_COLUMNS = ("metric", "bucket", "group_value", "value", "sketch", "run_id", "day")


class MissingInput(RuntimeError):
    """None of the arrival partitions that can hold events of the requested day exists."""


@dataclass(frozen=True)
class JobOptions:
    day: date
    lake: str  # a local folder or an s3:// URI
    run_id: str  # new_run_id(), or the caller's
    tz: str = "UTC"
    catalog_path: str | None = None
    days_back: int = 2
    batch_table: str | None = None  # Glue only: publish to this DynamoDB table after writing

    def __post_init__(self) -> None:
        check_run_id(self.run_id)  # before Spark starts, not at publish time


@dataclass(frozen=True)
class Plan:
    days: list[str]  # the local days this run computes (and overwrites), oldest first
    skipped: list[str]  # days of the run without any input partition: left as they are
    partitions: list[str]  # the arrival days (dt) to read, existing ones only


@dataclass(frozen=True)
class JobResult:
    run_id: str
    day: str
    days: list[str]
    skipped: list[str]
    partitions: list[str]
    counts_uri: str
    seconds: float
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> records among those read


def new_run_id(now: datetime) -> str:
    """A run id that sorts by when the run started (`now`, aware) and cannot collide with a concurrent run's."""
    now = now.astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


# ---------------------------------------------------------------------------------------------------------------- plan


def arrival_days(day: date) -> list[date]:
    return [day + timedelta(days=i) for i in range(-ARRIVAL_DAYS_BEFORE, ARRIVAL_DAYS_AFTER + 1)]


def plan_run(options: JobOptions, raw_partition_exists: Callable[[str], bool]) -> Plan:
    """Which days to compute and which arrival partitions to read; fails when day D itself has no input at all."""
    run_days = [options.day - timedelta(days=i) for i in range(options.days_back, -1, -1)]
    wanted = sorted({dt for d in run_days for dt in arrival_days(d)})
    existing = {dt for dt in wanted if raw_partition_exists(dt.isoformat())}
    if not existing & set(arrival_days(options.day)):
        looked = ", ".join(f"dt={d.isoformat()}" for d in arrival_days(options.day))
        raise MissingInput(
            f"no raw input for {options.day.isoformat()}: none of the arrival partitions {looked} exists under "
            f"{raw_uri(options.lake)} (has the archive run? is --lake right?)"
        )
    # A day before D is recomputed only while its own arrival day is in the lake: a day whose early partitions are gone
    # (a lifecycle rule, a new lake) keeps its published answer rather than being overwritten by a partial one.
    days = [d for d in run_days if d == options.day or d in existing]
    needed = {dt for d in days for dt in arrival_days(d)} & existing
    return Plan(
        days=[d.isoformat() for d in days],
        skipped=[d.isoformat() for d in run_days if d not in days],
        partitions=[dt.isoformat() for dt in sorted(needed)],
    )


# ------------------------------------------------------------------------------------------- the batched Python stage

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


def arrival_window(hour_ms: int, written_ms: int) -> tuple[int, int]:
    """The earliest and latest arrival (epoch ms) of a record in a file of the archive hour starting at `hour_ms`,
    written (last modified) at `written_ms`.

    Firehose names a file after its OLDEST record's arrival, so every record arrived at or after the hour's start, and
    before the file was written: within its buffer interval after the hour when Firehose keeps up, hours later when it
    catches up on a backlog. Never earlier than the hour's end, so a file written early (the local archiver, a
    mid-hour flush) is read as that whole hour."""
    return hour_ms, max(hour_ms + HOUR_MS - 1, written_ms)


@dataclass(frozen=True)
class Validator:
    """The Python stage: record lines in, one row per valid event out, with the (metric, bucket, group) cells of the kept
    days it counts in. Picklable (it is shipped to the Python workers)."""

    catalog: Catalog
    tz: str
    days: frozenset[str]
    # {reason: records}: the fold's EventsRejected reasons, plus `outside_raw_partitions` for a file of no raw partition
    rejected: Accumulator | None = None

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        schema = _events_arrow_schema()
        windows: dict[str, tuple[int, int] | None] = {}
        rejected: Counter[str] = Counter()
        for batch in batches:
            keys: list[str] = []
            hour_list: list[int] = []
            md5s: list[str] = []
            cells_list: list[list[dict]] = []
            lines = batch.column(0).to_pylist()
            paths = batch.column(1).to_pylist()
            written = batch.column(2).to_pylist()
            for line, path, written_ms in zip(lines, paths, written, strict=True):
                if not line:
                    continue  # an empty line holds no event (as in the fold's event_lines)
                window = windows.get(path, ())
                if window == ():
                    hour_ms = hour_of_path(path)
                    window = windows[path] = None if hour_ms is None else arrival_window(hour_ms, written_ms)
                if window is None:
                    rejected[OUTSIDE_RAW_PARTITIONS] += 1
                    continue
                hour_ms = window[0]
                row = self.event_row(line, window)
                if row is None:
                    continue
                if isinstance(row, Rejection):
                    rejected[row.reason.value] += 1
                    continue
                keys.append(row[0])
                hour_list.append(hour_ms)
                md5s.append(row[1])
                cells_list.append(row[2])
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(keys, pa.string()),
                    pa.array(hour_list, pa.int64()),
                    pa.array(md5s, pa.string()),
                    pa.array(cells_list, schema.field("cells").type),
                ],
                schema=schema,
            )
            if self.rejected is not None and rejected:
                self.rejected.add(dict(rejected))
                rejected.clear()

    def event_row(self, line: bytes, window: tuple[int, int]) -> tuple[str | None, str, list[dict]] | Rejection | None:
        """(event_id or None, MD5 of the record, cells) of a valid event, its Rejection for a rejected record, None for
        a valid event without an id that counts in none of the run's days (nothing to count, nothing to dedupe)."""
        event = parse_event(line, *window)
        if isinstance(event, Rejection):
            return event
        cells = []
        for metric in self.catalog.for_event_type(event.type):
            bucket = bucket_of(event.ts_ms, metric.granularity, self.tz)
            if bucket[:10] in self.days:
                cells.append(
                    {
                        "metric": metric.name,
                        "bucket": bucket,
                        "group_value": metric.group_of(event.attrs),
                        "player_id": event.player_id if metric.kind is Kind.DISTINCT else None,
                    }
                )
        if event.event_id is None and not cells:
            return None  # nothing to count and nothing to be a duplicate of
        return event.event_id, hashlib.md5(line).hexdigest(), cells  # noqa: S324 - a tie-breaker, not security


def _events_arrow_schema() -> pa.Schema:
    import pyarrow as pa

    cell = pa.struct(
        [("metric", pa.string()), ("bucket", pa.string()), ("group_value", pa.string()), ("player_id", pa.string())]
    )
    return pa.schema(
        [("event_id", pa.string()), ("hour_ms", pa.int64()), ("line_md5", pa.string()), ("cells", pa.list_(cell))]
    )


# ---------------------------------------------------------------------------------------- pure DataFrame -> DataFrame


def validate(
    raw: DataFrame, catalog: Catalog, tz: str, days: Sequence[str], rejected: Accumulator | None = None
) -> DataFrame:
    """Raw lines (`line` binary, `file_path` string, `file_written_ms` bigint) -> valid events: event_id, hour_ms,
    line_md5, cells."""
    validator = Validator(catalog, tz, frozenset(days), rejected)
    return raw.select("line", "file_path", "file_written_ms").mapInArrow(validator, EVENTS_SCHEMA)


def dedupe(events: DataFrame) -> DataFrame:
    """One row per event_id: the copy that arrived first, ties broken by the record's MD5; events without an id are all
    kept. Deterministic, so a retried Spark task computes the same rows (no random keys)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    # Id-less events are partitioned by their MD5, not all together under a null id (one task would sort them all).
    spread = F.when(F.col("event_id").isNull(), F.col("line_md5"))
    first = Window.partitionBy("event_id", spread).orderBy("hour_ms", "line_md5")
    numbered = events.withColumn("_n", F.row_number().over(first))  # a window function cannot sit in a filter
    return numbered.where(F.col("event_id").isNull() | (F.col("_n") == 1)).drop("_n")


def cell_players(events: DataFrame) -> DataFrame:
    """Deduplicated events -> one row per (metric, bucket, group_value, player_id) with its number of events `n`
    (count metrics have a null player_id, so one row per cell)."""
    from pyspark.sql import functions as F  # noqa: N812

    cells = events.select(F.explode("cells").alias("c")).select("c.*")
    return cells.groupBy("metric", "bucket", "group_value", "player_id").agg(F.count(F.lit(1)).alias("n"))


def with_zeros(cell_rows: DataFrame, zeros: DataFrame) -> DataFrame:
    """Add the zero rows (player_id null, n 0): a cell without events still comes out of `aggregate`, as 0."""
    return cell_rows.unionByName(zeros)


def aggregate(cell_rows: DataFrame, catalog: Catalog) -> DataFrame:
    """-> (metric, bucket, group_value, value, sketch): the exact count or distinct count, and for distinct metrics
    `hll_sketch_agg` (HLL_8) of the player ids with the metric's lg_k (null when the value is 0)."""
    from pyspark.sql import functions as F  # noqa: N812

    key = ["metric", "bucket", "group_value"]
    # All rows of a cell in one partition, sorted by player: the sketch sees its ids in a fixed order, so a rerun
    # produces the same bytes however the input was split.
    ordered = cell_rows.repartition(*key).sortWithinPartitions(*key, "player_id")

    distinct = [m for m in catalog.metrics if m.kind is Kind.DISTINCT]
    by_lg_k: dict[int, list[str]] = {}
    for metric in distinct:
        by_lg_k.setdefault(metric.lg_k or 0, []).append(metric.name)
    aggs = [F.sum("n").alias("_events"), F.count("player_id").alias("_ids")]
    aggs += [
        F.hll_sketch_agg(F.when(F.col("metric").isin(metric_names), F.col("player_id")), lg_k).alias(f"_sk{lg_k}")
        for lg_k, metric_names in by_lg_k.items()
    ]
    grouped = ordered.groupBy(*key).agg(*aggs)

    is_distinct = F.col("metric").isin([m.name for m in distinct]) if distinct else F.lit(False)
    value = F.when(is_distinct, F.col("_ids")).otherwise(F.col("_events")).cast("bigint")
    sketch = F.lit(None).cast("binary")
    for lg_k, metric_names in by_lg_k.items():
        sketch = F.when(F.col("metric").isin(metric_names) & (F.col("_ids") > 0), F.col(f"_sk{lg_k}")).otherwise(sketch)
    return grouped.select(*key, value.alias("value"), sketch.alias("sketch"))


def zero_rows(catalog: Catalog, days: Sequence[str], tz: str) -> list[tuple[str, str, str, None, int]]:
    """A zero for every bucket of every day of each ungrouped metric (grouped metrics have no rows for absent groups)."""
    return [
        (metric.name, bucket, "", None, 0)
        for metric in catalog.metrics
        if metric.group_by is None
        for day in days
        for bucket in buckets_of_day(date.fromisoformat(day), metric.granularity, tz)
    ]


def finish(counts: DataFrame, run_id: str) -> DataFrame:
    from pyspark.sql import functions as F  # noqa: N812

    return counts.select(
        "metric",
        "bucket",
        "group_value",
        "value",
        "sketch",
        F.lit(run_id).alias("run_id"),
        F.substring("bucket", 1, 10).alias("day"),
    )


def counts_of(
    raw: DataFrame,
    zeros: DataFrame,
    catalog: Catalog,
    tz: str,
    days: Sequence[str],
    run_id: str,
    rejected: Accumulator | None = None,
) -> DataFrame:
    """The whole computation: raw lines -> the rows of the counts table."""
    events = dedupe(validate(raw, catalog, tz, days, rejected))
    return finish(aggregate(with_zeros(cell_players(events), zeros), catalog), run_id)


# -------------------------------------------------------------------------------------------------------------- I/O


def read_raw(spark: SparkSession, lake: str, partitions: Sequence[str]) -> DataFrame:
    """Lines of the arrival partitions, as raw bytes, with the path of their file and when it was written. Hidden
    (temporary) files are skipped."""
    from pyspark.sql import functions as F  # noqa: N812

    paths = [f"{raw_uri(lake)}/dt={dt}" for dt in partitions]
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


def run_job(spark: SparkSession, options: JobOptions, progress: Callable[[str], None] | None = None) -> JobResult:
    say = progress or (lambda _message: None)
    started = time.monotonic()
    catalog = load_catalog(options.catalog_path)
    plan = plan_run(options, lambda dt: path_exists(spark, f"{raw_uri(options.lake)}/dt={dt}"))
    say(
        f"computing {', '.join(plan.days)} ({options.tz}) from arrival partitions dt={plan.partitions[0]} .. "
        f"dt={plan.partitions[-1]} ({len(plan.partitions)} days)"
        + (f"; no input at all for {', '.join(plan.skipped)}, left as is" if plan.skipped else "")
    )
    raw = read_raw(spark, options.lake, plan.partitions)
    rejected = spark.sparkContext.accumulator({}, ReasonCounts())
    zeros = zeros_frame(spark, catalog, plan.days, options.tz)
    counts = counts_of(raw, zeros, catalog, options.tz, plan.days, options.run_id, rejected)
    write_counts(counts, options.lake)
    seconds = time.monotonic() - started
    say(f"wrote {counts_uri(options.lake)} for {', '.join(plan.days)} in {seconds:.1f} s (run {options.run_id})")
    if rejected.value:
        # An accumulator updated in a transformation counts a retried task twice: exact unless Spark retried one.
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejected.value.items()))
        say(f"rejected records among those read (they stay in raw/): {sum(rejected.value.values()):,} ({reasons})")
    return JobResult(
        options.run_id,
        options.day.isoformat(),
        plan.days,
        plan.skipped,
        plan.partitions,
        counts_uri(options.lake),
        seconds,
        dict(rejected.value),
    )


class ReasonCounts:
    """An AccumulatorParam of {reason: records}."""

    def zero(self, _value: dict[str, int]) -> dict[str, int]:
        return {}

    def addInPlace(self, total: dict[str, int], more: dict[str, int]) -> dict[str, int]:  # noqa: N802 - Spark's name
        for reason, n in more.items():
            total[reason] = total.get(reason, 0) + n
        return total


# ----------------------------------------------------------------------------------------------------- the session


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


# ------------------------------------------------------------------------------------------------------------- main


_REQUIRED = ("day", "lake")
_OPTIONAL = ("tz", "catalog", "run_id", "days_back", "batch_table")


def on_glue() -> bool:
    try:
        import awsglue  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


def parse_options(argv: Sequence[str], now_ms: int) -> JobOptions:
    """Glue's `getResolvedOptions` when awsglue is importable (it ignores Glue's own arguments), argparse otherwise.
    `now_ms` (epoch milliseconds) is when the run starts: what `yesterday` means, and whether the day has ended."""
    if on_glue():
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]

        wanted = [*_REQUIRED, *(name for name in _OPTIONAL if f"--{name}" in argv)]
        args = getResolvedOptions(["nightly_counts", *argv], wanted)
    else:
        parser = argparse.ArgumentParser(prog="nightly_counts", description="the nightly exact counts job")
        parser.add_argument("--day", required=True, help="YYYY-MM-DD or yesterday (in --tz), a day that has ended")
        parser.add_argument("--lake", required=True, help="the lake: a folder or s3://bucket/prefix")
        parser.add_argument("--tz", default="UTC", help="the reporting time zone")
        parser.add_argument("--catalog", default=None, help="the metric catalog (default: the packaged one)")
        parser.add_argument("--run_id", "--run-id", default=None)
        parser.add_argument("--days_back", "--days-back", type=int, default=2, help="also recompute this many days")
        parser.add_argument("--batch_table", "--batch-table", default=None, help="publish to this DynamoDB table")
        args = vars(parser.parse_args(list(argv)))
    tz = args.get("tz") or "UTC"
    return JobOptions(
        day=finished_day(args["day"], now_ms, tz),
        lake=args["lake"],
        tz=tz,
        catalog_path=args.get("catalog") or None,
        run_id=args.get("run_id") or new_run_id(datetime.fromtimestamp(now_ms / 1000, UTC)),
        days_back=2 if args.get("days_back") in (None, "") else int(args["days_back"]),
        batch_table=args.get("batch_table") or None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv, now_ms=int(time.time() * 1000))
    spark = glue_spark() if on_glue() else local_spark()

    def say(message: str) -> None:
        print(f"nightly_counts: {message}", flush=True)

    result = run_job(spark, options, progress=say)
    if options.batch_table:
        from headcount.views.batch import DynamoBatchView
        from headcount.views.lake import publish

        published = publish(
            options.lake,
            result.days,
            result.run_id,
            DynamoBatchView(options.batch_table),
            catalog=load_catalog(options.catalog_path),
        )
        rows = sum(len(day_rows) for day_rows in published.values())
        say(f"published {rows} rows of {', '.join(result.days)} to {options.batch_table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
