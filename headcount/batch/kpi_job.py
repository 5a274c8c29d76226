"""`update_kpis`: the KPIs' part of a run, the reads and writes around `kpis`' transforms.

Incremental: a run reads the activity of its own days (fresh) and of the few days around them its KPIs need (the
rolling windows, the days D+k of the retention cells), and the players tables, never all history. In order:
1. activity of the run's days, for every daily distinct metric a KPI is built on, into `activity/` (the run's days'
   partitions overwritten, an empty day included);
2. per new-players metric, its players table updated from itself and the window's activity (`merge_players`), and which
   players' first day moved (`moves`);
3. the kpis partitions those days change: rolling days, cohort days of the new-players and retention metrics, all
   written at once into `kpis/` (ratio metrics have none: the serving layer divides).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headcount.batch import kpis
from headcount.batch.lake_io import (
    computed_days,
    read_activity,
    read_players,
    stage_players,
    switch_players,
    write_partitions,
)
from headcount.batch.plan import new_days, retention_days, rolling_days, shift
from headcount.core.catalog import Catalog, Kind, Metric
from headcount.core.lake_tables import ACTIVITY, KPIS
from headcount.views.lake import activity_uri, kpis_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Moved:
    """How a run changed a players table: (old first day, new first day, players) as `kpis.moves` counts them."""

    pairs: list[tuple[str | None, str | None, int]]

    def days(self) -> list[tuple[str | None, str | None]]:
        return [(old, new) for old, new, _n in self.pairs]

    def cohorts(self) -> set[str]:
        """The cohort days that changed."""
        return {d for old, new, _n in self.pairs for d in (old, new) if d is not None}

    def summary(self) -> str:
        new = sum(n for old, _new, n in self.pairs if old is None)
        gone = sum(n for _old, new, n in self.pairs if new is None)
        moved = sum(n for old, new, n in self.pairs if old is not None and new is not None)
        return f"{new:,} new, {moved:,} moved to another first day or group, {gone:,} gone"


def update_kpis(
    spark: SparkSession,
    events: DataFrame,
    catalog: Catalog,
    lake: str,
    run_days: Sequence[str],
    run_id: str,
    say: Callable[[str], None],
    erased: Sequence[str] = (),
    also: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[str]]:
    """The KPIs of a run from its deduplicated events; -> the days of the kpis partitions written, by metric.
    `erased`: players an erasure removes from the players tables (their activity is gone from the run's days); `also`:
    more days to write, by metric (what an erasure's stopped try wrote and did not publish)."""
    also = also or {}
    bases = catalog.activity_metrics()
    if not bases:
        return {}
    activity = kpis.activity_of(events, [m.name for m in bases]).persist()
    partitions = [(m.name, d) for m in bases for d in run_days]
    write_partitions(activity, activity_uri(lake), ACTIVITY, partitions, ["group_value", "player_id"])
    activity.unpersist()
    say(f"activity: wrote {', '.join(m.name for m in bases)} for {', '.join(run_days)} to {activity_uri(lake)}")
    computed = {m.name: computed_days(spark, lake, m.name) for m in bases}

    rows: list[DataFrame] = []
    written: dict[str, list[str]] = {}
    moved: dict[str, Moved] = {}
    # New-players metrics first: a retention metric's cohort days follow its new-players metric's moves.
    built = catalog.stored_kpis()  # a ratio has no rows: divided at read time
    for metric in sorted(built, key=lambda m: m.kind is not Kind.NEW):
        base = catalog.base(metric)
        days_of_base = computed[base.name]
        extra = [d for d in also.get(metric.name, ()) if d in days_of_base]
        if metric.kind is Kind.ROLLING:
            days, frame = _rolling(spark, lake, metric, base, run_days, days_of_base, extra)
        elif metric.kind is Kind.NEW:
            moved[metric.name] = _players(spark, lake, metric, base, run_days, days_of_base, run_id, erased)
            say(f"players: {metric.name}: {moved[metric.name].summary()}")
            days, frame = _new(spark, lake, metric, run_days, days_of_base, moved[metric.name], extra)
        else:
            assert metric.of is not None  # a retention metric's new-players metric (catalog)
            days, frame = _retention(spark, lake, metric, base, run_days, days_of_base, moved[metric.of], extra)
        rows.append(kpis.finish_kpis(frame, metric.name, run_id))
        written[metric.name] = days
    written = {m.name: written[m.name] for m in built}  # in catalog order

    table = rows[0]
    for frame in rows[1:]:
        table = table.unionByName(frame)
    table = table.persist()
    partitions = [(metric, d) for metric, days in written.items() for d in days]
    write_partitions(table, kpis_uri(lake), KPIS, partitions, ["bucket", "group_value"])
    table.unpersist()
    say(f"kpis: {described(catalog, written)} to {kpis_uri(lake)}")
    return written


def described(catalog: Catalog, written: dict[str, list[str]]) -> str:
    """What a run wrote, for its progress output: `weekly_active_players 3 days, retention 12 cohort days, ...`."""
    parts = []
    for name, days in written.items():
        metric = catalog.get(name)
        what = "cohort day" if metric is not None and metric.kind in (Kind.NEW, Kind.RETENTION) else "day"
        parts.append(f"{name} {len(days)} {what}{'s' if len(days) != 1 else ''}")
    return ", ".join(parts)


def _rolling(
    spark: SparkSession,
    lake: str,
    metric: Metric,
    base: Metric,
    run_days: Sequence[str],
    computed: list[str],
    extra: Sequence[str],
) -> tuple[list[str], DataFrame]:
    assert metric.window_days is not None  # every rolling metric has one (catalog)
    days = sorted({*rolling_days(run_days, computed, metric.window_days), *extra})
    first = shift(days[0], 1 - metric.window_days)
    activity = read_activity(spark, lake, base.name, [d for d in computed if first <= d <= days[-1]])
    return days, kpis.rolling_rows(activity, days, metric.window_days, metric.group_by is not None)


def _players(
    spark: SparkSession,
    lake: str,
    metric: Metric,
    base: Metric,
    run_days: Sequence[str],
    computed: list[str],
    run_id: str,
    erased: Sequence[str] = (),
) -> Moved:
    """Update the players table of a new-players metric from the activity of the run's window: a new version of it,
    named after the run (and unique: a run id given twice never overwrites the version being read). Erased players
    are not carried over (their moves: from their first day to None)."""
    first, last = min(run_days), max(run_days)
    window = read_activity(spark, lake, base.name, [d for d in computed if first <= d <= last])
    before = read_players(spark, lake, metric.name)
    old = before
    if erased:
        gone = spark.createDataFrame([(player_id,) for player_id in erased], "player_id string")
        old = before.join(gone, "player_id", "left_anti")
    later = read_activity(spark, lake, base.name, [])
    after = [d for d in computed if d > last]  # only when an older day is recomputed
    if after:
        unresolved = kpis.unresolved_players(old, window, first, last)
        if not unresolved.isEmpty():
            later = read_activity(spark, lake, base.name, after).join(unresolved, "player_id", "left_semi")
    version = f"{run_id}.{uuid.uuid4().hex[:8]}"
    new = stage_players(kpis.merge_players(old, window, later, first, last), lake, metric.name, version)
    pairs = [(r["old_day"], r["new_day"], r["players"]) for r in kpis.moves(before, new).collect()]
    switch_players(lake, metric.name, version)
    return Moved(sorted(pairs, key=lambda p: (p[0] or "", p[1] or "")))


def _new(
    spark: SparkSession,
    lake: str,
    metric: Metric,
    run_days: Sequence[str],
    computed: list[str],
    moved: Moved,
    extra: Sequence[str],
) -> tuple[list[str], DataFrame]:
    assert metric.lg_k is not None  # a new-players metric's Theta lg_k (catalog)
    days = sorted({*new_days(run_days, moved.days(), computed), *extra})
    players = read_players(spark, lake, metric.name)
    cohorts = kpis.cohort_rows(players, days, metric.lg_k, metric.group_by is not None)
    segments = [(r["day"], r["value"], r["sketch"]) for r in kpis.seen_segments(players, days, metric.lg_k).collect()]
    seen = spark.createDataFrame(kpis.seen_rows(segments, days, metric.lg_k), kpis.KPI_ROWS_SCHEMA)
    return days, cohorts.unionByName(seen)


def _retention(
    spark: SparkSession,
    lake: str,
    metric: Metric,
    base: Metric,
    run_days: Sequence[str],
    computed: list[str],
    moved: Moved,
    extra: Sequence[str],
) -> tuple[list[str], DataFrame]:
    assert metric.of is not None
    ks = metric.returned_after
    days = retention_days(run_days, {*moved.cohorts(), *extra}, computed, ks)
    returned = sorted({shift(d, k) for d in days for k in ks} & set(computed))
    players = read_players(spark, lake, metric.of)
    activity = read_activity(spark, lake, base.name, returned)
    return days, kpis.retention_rows(players, activity, days, ks, set(computed), metric.group_by is not None)
