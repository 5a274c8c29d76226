"""The job's computation as pure DataFrame -> DataFrame steps: raw lines -> valid events -> deduplicated -> one row per
cell and player -> the rows of the counts table. (The KPIs' steps, from the same deduplicated events: `kpis`.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from headcount.batch.validation import EVENTS_SCHEMA, Validator
from headcount.core.buckets import buckets_of_day
from headcount.core.catalog import Catalog, Kind

if TYPE_CHECKING:
    from pyspark import Accumulator
    from pyspark.sql import DataFrame


def validate(
    raw: DataFrame,
    catalog: Catalog,
    tz: str,
    days: Sequence[str],
    rejected: Accumulator | None = None,
    archive: Archive | None = None,
) -> DataFrame:
    """Raw lines (`line` binary, `file_path` string, `file_written_ms` bigint) -> valid events: event_id, hour_ms,
    line_md5, cells."""
    archive = archive or Archive()
    validator = Validator(catalog, tz, frozenset(days), rejected, archive.written, archive.blocked)
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
    (count metrics have a null player_id, so one row per cell; the cells' `ts_ms` is the KPIs', not needed here)."""
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
    """A zero for every bucket of every day of each ungrouped metric of the counts table (grouped metrics have no rows
    for absent groups)."""
    return [
        (metric.name, bucket, "", None, 0)
        for metric in catalog.metrics
        if metric.kind.counted and metric.group_by is None
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


@dataclass(frozen=True)
class Archive:
    """What the erasures left the job to know about the archive: when the objects they rewrote were first written
    (`raw_object_key` -> epoch ms), and the players whose events are dropped (`blocked_hash`)."""

    written: Mapping[str, int] = field(default_factory=dict)
    blocked: frozenset[str] = frozenset()


def events_of(
    raw: DataFrame,
    catalog: Catalog,
    tz: str,
    days: Sequence[str],
    rejected: Accumulator | None = None,
    archive: Archive | None = None,
) -> DataFrame:
    """Raw lines -> the deduplicated valid events, with their cells of the run's days (the counts' and the KPIs')."""
    return dedupe(validate(raw, catalog, tz, days, rejected, archive))


def counts_of(events: DataFrame, zeros: DataFrame, catalog: Catalog, run_id: str) -> DataFrame:
    """Deduplicated events -> the rows of the counts table."""
    return finish(aggregate(with_zeros(cell_players(events), zeros), catalog), run_id)
