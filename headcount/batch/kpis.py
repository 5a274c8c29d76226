"""The game KPIs' computation as pure DataFrame -> DataFrame steps, from the deduplicated events of the counts:

events -> activity (one row per day, group and player of a daily distinct metric, with the player's earliest event)
activity + the previous players -> players (each player's first day and its group)
activity -> rolling rows; players -> new-players rows (cohorts, and everyone seen up to the day); players + activity ->
retention rows. Which days each is computed for is `plan`'s (`rolling_days`, `new_days`, `retention_days`).

The KPI rows are (day, bucket, group_value, value, sketch): `day` the partition (a rolling day, a cohort day), value the
exact number, sketch a Theta sketch (new players only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from headcount.batch.plan import shift
from headcount.batch.theta import theta_by_key
from headcount.core import sketches
from headcount.core.catalog import NO_GROUP
from headcount.core.lake_tables import ACTIVITY, PLAYERS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

ACTIVITY_SCHEMA = f"{ACTIVITY.partitions_ddl}, {ACTIVITY.ddl}"  # a row of the activity table, its partition keys first
PLAYERS_SCHEMA = PLAYERS.ddl
KPI_ROWS_SCHEMA = "day string, bucket string, group_value string, value bigint, sketch binary"
SEEN_SLICES = 16  # everyone seen up to a day is sketched in this many slices at once, then unioned (the same bytes)


def activity_of(events: DataFrame, metrics: Sequence[str]) -> DataFrame:
    """Deduplicated events -> one row per (metric, day, group_value, player_id) of these daily distinct metrics, with
    `first_ts_ms`, the earliest ts of the player's events in that cell."""
    from pyspark.sql import functions as F  # noqa: N812

    cells = events.select(F.explode("cells").alias("c")).select("c.*").where(F.col("metric").isin(list(metrics)))
    return cells.groupBy("metric", F.col("bucket").alias("day"), "group_value", "player_id").agg(
        F.min("ts_ms").alias("first_ts_ms")
    )


def earliest(activity: DataFrame) -> DataFrame:
    """Activity -> (player_id, first_day, group_value) of each player's earliest event: the smallest (first_ts_ms,
    group_value), so a tie between groups is settled the same way every run."""
    from pyspark.sql import functions as F  # noqa: N812

    first = F.min(F.struct("first_ts_ms", "group_value", "day")).alias("e")
    return (
        activity.groupBy("player_id")
        .agg(first)
        .select("player_id", F.col("e.day").alias("first_day"), F.col("e.group_value").alias("group_value"))
    )


def unresolved_players(old: DataFrame, window: DataFrame, first: str, last: str) -> DataFrame:
    """(player_id) of the players whose first day was in the window [first, last] and who have no activity left in it
    (rare: their events are no longer counted there). Their first day is after the window, if anywhere."""
    from pyspark.sql import functions as F  # noqa: N812

    in_window = old.where(F.col("first_day").between(first, last)).select("player_id")
    return in_window.join(window.select("player_id").distinct(), "player_id", "left_anti")


def merge_players(old: DataFrame, window: DataFrame, later: DataFrame, first: str, last: str) -> DataFrame:
    """The players table after a run: `old` (the previous table), `window` (the activity of every day in [first, last],
    the run's days recomputed), `later` (activity after the window, at least of the `unresolved_players`).

    A first day before the window stands (nothing in the window is earlier); otherwise the earliest activity in the
    window wins (a first day only moves earlier, or is set the first time); a first day after the window without
    activity in it stands; one in the window without activity left there becomes the earliest later activity, and a
    player with none anywhere is gone."""
    from pyspark.sql import functions as F  # noqa: N812

    def renamed(players: DataFrame, prefix: str) -> DataFrame:
        return players.select(
            "player_id", F.col("first_day").alias(f"{prefix}_day"), F.col("group_value").alias(f"{prefix}_group")
        )

    both = renamed(old, "o").join(renamed(earliest(window), "w"), "player_id", "full")
    joined = both.join(renamed(earliest(later), "l"), "player_id", "left")
    o_day, w_day = F.col("o_day"), F.col("w_day")
    keep = (o_day < first) | (w_day.isNull() & (o_day > last))
    day = F.when(keep, o_day).when(w_day.isNotNull(), w_day).otherwise(F.col("l_day"))
    group = F.when(keep, F.col("o_group")).when(w_day.isNotNull(), F.col("w_group")).otherwise(F.col("l_group"))
    return joined.select("player_id", day.alias("first_day"), group.alias("group_value")).where(
        F.col("first_day").isNotNull()
    )


def moves(old: DataFrame, new: DataFrame) -> DataFrame:
    """(old_day, new_day, players): how many players' (first_day, group_value) changed, by their old and new first day
    (old_day null: new players; new_day null: gone). The cohorts of those days changed."""
    from pyspark.sql import functions as F  # noqa: N812

    o = old.select("player_id", F.col("first_day").alias("old_day"), F.col("group_value").alias("old_group"))
    n = new.select("player_id", F.col("first_day").alias("new_day"), F.col("group_value").alias("new_group"))
    both = o.join(n, "player_id", "full")
    same = F.col("old_day").eqNullSafe(F.col("new_day")) & F.col("old_group").eqNullSafe(F.col("new_group"))
    return both.where(~same).groupBy("old_day", "new_day").agg(F.count(F.lit(1)).alias("players"))


def rolling_rows(activity: DataFrame, ends: Sequence[str], window_days: int, grouped: bool) -> DataFrame:
    """For each day X of `ends`, per group: the distinct players with activity in X-window_days+1 .. X (`activity` holds
    at least those days). An ungrouped metric has its "" row on every day, 0 without activity."""
    from pyspark.sql import functions as F  # noqa: N812

    session = activity.sparkSession
    if not ends:
        return session.createDataFrame([], KPI_ROWS_SCHEMA)

    def covers(end: Column) -> Column:
        return (end >= F.col("day")) & (F.datediff(F.to_date(end), F.to_date(F.col("day"))) < window_days)

    windows = activity.select(F.explode(F.filter(_days(ends), covers)).alias("day"), "group_value", "player_id")
    counted = windows.groupBy("day", "group_value").agg(F.countDistinct("player_id").alias("value"))
    if not grouped:
        zeros = session.createDataFrame(
            [(d, NO_GROUP, 0) for d in ends], "day string, group_value string, value bigint"
        )
        counted = counted.unionByName(zeros).groupBy("day", "group_value").agg(F.sum("value").alias("value"))
    return _rows(counted, F.col("day"))


def cohort_rows(players: DataFrame, days: Sequence[str], lg_k: int, grouped: bool) -> DataFrame:
    """For each cohort day D, per group: the players whose first day is D in that group (the group of their earliest
    event), with their Theta sketch. An ungrouped metric has its "" row on every day (0, the sketch of nobody)."""
    from pyspark.sql import functions as F  # noqa: N812

    session = players.sparkSession
    cohorts = players.where(F.col("first_day").isin(list(days))).select(
        F.col("first_day").alias("day"), "group_value", "player_id"
    )
    sketched = theta_by_key(cohorts, ["day", "group_value"], lg_k)
    if not grouped:
        nobody = sketches.theta_of_values((), lg_k)
        zeros = session.createDataFrame(
            [(d, NO_GROUP, 0, nobody) for d in days], "day string, group_value string, value bigint, sketch binary"
        )
        # The zeros of days without players: told from the cohorts themselves, not from the sketches (built once).
        empty = zeros.join(cohorts.select("day", "group_value").distinct(), ["day", "group_value"], "left_anti")
        sketched = sketched.unionByName(empty)
    return _rows(sketched, F.col("day"), F.col("sketch"))


def seen_segments(players: DataFrame, days: Sequence[str], lg_k: int) -> DataFrame:
    """(day, slice, value, sketch): the players whose first day is at most `day` and after the day of `days` before it,
    in slices of their id's hash, each sketched. `seen_rows` adds them up into everyone seen up to each day."""
    from pyspark.sql import functions as F  # noqa: N812

    segment = F.array_min(F.filter(_days(sorted(days)), lambda end: end >= F.col("first_day")))
    sliced = players.select(
        segment.alias("day"), F.pmod(F.xxhash64("player_id"), F.lit(SEEN_SLICES)).alias("slice"), "player_id"
    )
    return theta_by_key(sliced.where(F.col("day").isNotNull()), ["day", "slice"], lg_k)


def seen_rows(segments: Iterable[tuple[str, int, bytes]], days: Sequence[str], lg_k: int) -> list[tuple]:
    """The row of each day D with group_value NULL: everyone seen up to D (first day <= D), exactly, and their Theta
    sketch, from the `seen_segments` (day, value, sketch): the union of every segment up to D. A Theta union keeps the
    smallest hashes of its inputs, so it is the sketch of all of them (the same bytes as one built at once)."""
    by_day: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for day, value, sketch in segments:
        by_day[day].append((value, sketch))
    rows: list[tuple] = []
    seen, running = 0, sketches.theta_union_of((), lg_k)
    for day in sorted(days):
        pieces = by_day.get(day, [])
        seen += sum(value for value, _sketch in pieces)
        running = sketches.theta_union_of([running, *(sketches.theta_decode(s) for _v, s in pieces)], lg_k)
        rows.append((day, day, None, seen, running.serialize()))
    return rows


def retention_rows(
    players: DataFrame,
    activity: DataFrame,
    cohort_days: Sequence[str],
    returned_after: Sequence[int],
    computed: Collection[str],
    grouped: bool,
) -> DataFrame:
    """For each cohort day D and k of `returned_after` with D+k computed (`computed`: the days with activity), per cohort
    group: the players of the cohort (first day D, that group) with activity, in any group, on D+k (`activity` holds at
    least those days). Bucket `D+k`; every cohort group has its k cells, 0 included, and an ungrouped metric its ""
    cells even for an empty cohort."""
    from pyspark.sql import functions as F  # noqa: N812

    session = players.sparkSession
    cells = [(d, k, shift(d, k)) for d in cohort_days for k in returned_after if shift(d, k) in computed]
    if not cells:
        return session.createDataFrame([], KPI_ROWS_SCHEMA)
    wanted = session.createDataFrame(cells, "day string, k int, returned_day string")
    members = players.select(F.col("first_day").alias("day"), "group_value", "player_id").join(
        F.broadcast(wanted), "day"
    )
    active = activity.select(F.col("day").alias("returned_day"), "player_id").distinct()
    returned = (
        members.join(active, ["returned_day", "player_id"], "left_semi")
        .groupBy("day", "k", "group_value")
        .agg(F.count(F.lit(1)).alias("value"))
    )
    groups = members.select("day", "k", "group_value").distinct()
    if not grouped:
        groups = groups.unionByName(wanted.select("day", "k", F.lit(NO_GROUP).alias("group_value"))).distinct()
    counted = groups.join(returned, ["day", "k", "group_value"], "left").fillna(0, ["value"])
    return _rows(counted, F.concat(F.col("day"), F.lit("+"), F.col("k").cast("string")))


def finish_kpis(rows: DataFrame, metric: str, run_id: str) -> DataFrame:
    """KPI rows -> the rows of the kpis table (partitioned by metric and day)."""
    from pyspark.sql import functions as F  # noqa: N812

    return rows.select(
        F.lit(metric).alias("metric"),
        "day",
        "bucket",
        "group_value",
        "value",
        "sketch",
        F.lit(run_id).alias("run_id"),
    )


def _days(days: Sequence[str]) -> Column:
    from pyspark.sql import functions as F  # noqa: N812

    return F.array(*[F.lit(d) for d in days])


def _rows(frame: DataFrame, bucket: Column, sketch: Column | None = None) -> DataFrame:
    from pyspark.sql import functions as F  # noqa: N812

    return frame.select(
        "day",
        bucket.alias("bucket"),
        "group_value",
        F.col("value").cast("bigint").alias("value"),
        (sketch if sketch is not None else F.lit(None)).cast("binary").alias("sketch"),
    )
