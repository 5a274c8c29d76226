"""The KPIs' steps (headcount.batch.kpis) on a few hand-written rows, the days a run rewrites (headcount.batch.plan), the
players table's switch, and a late event through three runs of the job."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from pyspark.sql import functions as F  # noqa: N812

from headcount.batch import kpis
from headcount.batch.lake_io import read_players, stage_players, switch_players
from headcount.batch.plan import new_days, retention_days, rolling_days
from headcount.batch.validation import EVENTS_SCHEMA
from headcount.core.sketches import theta_decode, theta_estimate, theta_of_values
from headcount.local.batch import run_batch
from headcount.logic.publishing import republish
from headcount.views.batch import InMemoryBatchView
from headcount.views.lake import players_uri, read_kpis, read_players_manifest
from support.raw_lake import write_raw
from support.spark_frames import assertDataFrameEqual

LG_K = 12
NOBODY = theta_of_values((), LG_K)


def day(n: int) -> str:
    return f"2026-11-{n:02d}"


def activity(spark, rows):
    """(day, group, player, first_ts_ms) of active_players."""
    return spark.createDataFrame([("active_players", day(d), g, p, ts) for d, g, p, ts in rows], kpis.ACTIVITY_SCHEMA)


def players(spark, rows):
    """(player, first day, group)."""
    return spark.createDataFrame([(p, day(d), g) for p, d, g in rows], kpis.PLAYERS_SCHEMA)


def kpi_rows(spark, rows):
    return spark.createDataFrame(rows, kpis.KPI_ROWS_SCHEMA)


def theta(*ids: str) -> bytes:
    return theta_of_values(ids, LG_K)


# ------------------------------------------------------------------------------------------------------- activity


@pytest.mark.spark
def test_activity_is_one_row_per_day_group_and_player_with_its_earliest_event(spark) -> None:
    # Given a player's three events in two groups of one day, another day, and cells the KPIs are not built on
    def cell(metric: str, bucket: str, group: str, player: str | None, ts: int) -> dict:
        return {"metric": metric, "bucket": bucket, "group_value": group, "player_id": player, "ts_ms": ts}

    events = spark.createDataFrame(
        [
            (
                "e1",
                0,
                "a",
                [cell("active_players", day(20), "", "p1", 500), cell("by_country", day(20), "DE", "p1", 500)],
            ),
            ("e2", 0, "b", [cell("active_players", day(20), "", "p1", 300)]),
            (
                "e3",
                0,
                "c",
                [cell("active_players", day(21), "", "p1", 900), cell("matches_played", day(21), "", None, 9)],
            ),
        ],
        EVENTS_SCHEMA,
    )
    # When the activity of active_players and by_country is taken
    out = kpis.activity_of(events, ["active_players", "by_country"])
    # Then each (metric, day, group, player) is there once, with its earliest ts
    expected = spark.createDataFrame(
        [
            ("active_players", day(20), "", "p1", 300),
            ("active_players", day(21), "", "p1", 900),
            ("by_country", day(20), "DE", "p1", 500),
        ],
        kpis.ACTIVITY_SCHEMA,
    )
    assertDataFrameEqual(out, expected)


# -------------------------------------------------------------------------------------------------------- rolling


@pytest.mark.spark
def test_a_rolling_window_counts_each_player_once_over_the_days_ending_at_each_day(spark) -> None:
    # Given players active on the 18th to the 22nd (p1 every day), in two groups
    rows = [(d, "DE", "p1", 0) for d in range(18, 23)] + [(18, "FR", "p2", 0), (22, "FR", "p3", 0), (22, "DE", "p3", 0)]
    active = activity(spark, rows)
    # When 3-day windows end on the 20th, the 22nd and the 26th (nothing active from the 24th)
    ends = [day(20), day(22), day(26)]
    grouped = kpis.rolling_rows(active, ends, 3, grouped=True)
    ungrouped = kpis.rolling_rows(active.withColumn("group_value", F.lit("")), ends, 3, False)
    # Then the 20th has p1 and p2 (the 18th is in its window), the 22nd p1 and p3; an empty window is a 0 only for the
    # ungrouped metric (a grouped one has no rows for absent groups)
    assertDataFrameEqual(
        grouped,
        kpi_rows(
            spark,
            [
                (day(20), day(20), "DE", 1, None),
                (day(20), day(20), "FR", 1, None),
                (day(22), day(22), "DE", 2, None),
                (day(22), day(22), "FR", 1, None),
            ],
        ),
    )
    assertDataFrameEqual(
        ungrouped,
        kpi_rows(
            spark, [(day(20), day(20), "", 2, None), (day(22), day(22), "", 2, None), (day(26), day(26), "", 0, None)]
        ),
    )


# -------------------------------------------------------------------------------------------------------- players


@pytest.mark.spark
def test_a_players_first_day_is_set_by_their_earliest_event_and_only_moves_earlier(spark) -> None:
    # Given the previous players table, and the activity of a run's window (the 20th to the 22nd) with a late event
    old = players(
        spark,
        [
            ("p-late", 22, "DE"),  # a late event of the 21st arrived since: their first day moves to the 21st
            ("p-rerun", 25, "DE"),  # first seen after the window (an older day recomputed): moves into it
            ("p-old", 10, "DE"),  # first seen before the window: stays, whatever it did since
            ("p-after", 23, "DE"),  # after the window, not active in it: stays
        ],
    )
    window = activity(
        spark,
        [
            (21, "FR", "p-late", 2_000),
            (22, "DE", "p-late", 3_000),
            (21, "US", "p-rerun", 1_000),
            (20, "DE", "p-old", 1_000),
            (20, "DE", "p-new", 9_000),  # two groups at once: the smaller wins, as every run
            (20, "BR", "p-new", 9_000),
            (21, "DE", "p-new", 99_000),
        ],
    )
    nobody_later = activity(spark, [])
    # When the table is merged
    new = kpis.merge_players(old, window, nobody_later, day(20), day(22)).cache()
    # Then each player has the day and group of their earliest event
    expected = players(
        spark,
        [("p-late", 21, "FR"), ("p-rerun", 21, "US"), ("p-old", 10, "DE"), ("p-after", 23, "DE"), ("p-new", 20, "BR")],
    )
    assertDataFrameEqual(new, expected)
    # And the moves say which cohorts changed: the late and rerun players' old and new days, and a new player's
    assert {tuple(r) for r in kpis.moves(old, new).collect()} == {
        (None, day(20), 1),
        (day(22), day(21), 1),
        (day(25), day(21), 1),
    }
    new.unpersist()


@pytest.mark.spark
def test_a_first_day_without_activity_left_in_the_window_moves_to_the_earliest_later_activity(spark) -> None:
    # Given two players first seen in the window (the 20th to the 22nd) who have no activity left in it
    old = players(spark, [("p-moved", 21, "DE"), ("p-gone", 22, "DE"), ("p-stays", 20, "DE")])
    window = activity(spark, [(20, "DE", "p-stays", 0)])
    # When the players to look up are found, and the activity after the window is read for just them
    unresolved = kpis.unresolved_players(old, window, day(20), day(22))
    assertDataFrameEqual(unresolved, spark.createDataFrame([("p-moved",), ("p-gone",)], "player_id string"))
    after = activity(spark, [(24, "FR", "p-moved", 50), (25, "DE", "p-moved", 90), (24, "DE", "p-other", 0)])
    later = after.join(unresolved, "player_id", "left_semi")
    new = kpis.merge_players(old, window, later, day(20), day(22))
    # Then one moves to their earliest later day (the 24th, with its group), the other, seen nowhere, is gone
    assertDataFrameEqual(new, players(spark, [("p-moved", 24, "FR"), ("p-stays", 20, "DE")]))


# ---------------------------------------------------------------------------------------------------- new players


@pytest.mark.spark
def test_a_cohort_is_the_players_first_seen_on_the_day_per_group_with_their_theta_sketch(spark) -> None:
    # Given players first seen on the 20th (two groups) and the 21st, and nobody on the 22nd
    table = players(spark, [("p1", 20, "DE"), ("p2", 20, "DE"), ("p3", 20, "FR"), ("p4", 21, "DE"), ("p0", 19, "DE")])
    days = [day(20), day(21), day(22)]
    # Then a grouped metric has a row per cohort group, an ungrouped one a "" row every day, 0 and nobody's sketch
    assertDataFrameEqual(
        kpis.cohort_rows(table, days, LG_K, grouped=True),
        kpi_rows(
            spark,
            [
                (day(20), day(20), "DE", 2, theta("p1", "p2")),
                (day(20), day(20), "FR", 1, theta("p3")),
                (day(21), day(21), "DE", 1, theta("p4")),
            ],
        ),
    )
    ungrouped = table.withColumn("group_value", F.lit(""))
    assertDataFrameEqual(
        kpis.cohort_rows(ungrouped, days, LG_K, grouped=False),
        kpi_rows(
            spark,
            [
                (day(20), day(20), "", 3, theta("p1", "p2", "p3")),
                (day(21), day(21), "", 1, theta("p4")),
                (day(22), day(22), "", 0, NOBODY),
            ],
        ),
    )


@pytest.mark.spark
def test_everyone_seen_up_to_a_day_is_exact_and_sketched_as_if_at_once(spark) -> None:
    # Given 300 players first seen from the 10th to the 22nd, more than a Theta sketch of lg_k 5 keeps (32)
    lg_k = 5
    first = {f"p{i:03d}": 10 + i % 13 for i in range(300)}
    table = players(spark, [(p, d, "") for p, d in first.items()])
    days = [day(12), day(20), day(21)]
    # When the segments are sketched (in slices) and added up
    segments = [(r["day"], r["value"], r["sketch"]) for r in kpis.seen_segments(table, days, lg_k).collect()]
    rows = kpis.seen_rows(segments, days, lg_k)
    # Then each day's value is exact, and its sketch the very bytes of one sketch of them all
    for row_day, bucket, group, value, sketch in rows:
        seen = [p for p, d in first.items() if day(d) <= row_day]
        assert (bucket, group, value) == (row_day, None, len(seen))
        assert sketch == theta_of_values(seen, lg_k)
        assert theta_estimate(theta_decode(sketch)).low <= len(seen) <= theta_estimate(theta_decode(sketch)).high
    assert [r[3] for r in rows] == [70, 254, 277]
    # and a day before anyone was seen is 0 and nobody's sketch
    assert kpis.seen_rows([], [day(1)], LG_K) == [(day(1), day(1), None, 0, NOBODY)]


# ------------------------------------------------------------------------------------------------------ retention


@pytest.mark.spark
def test_retention_counts_each_cohort_group_active_on_d_plus_k_zeros_included(spark) -> None:
    # Given cohorts of the 20th (DE, FR) and the 21st (DE), and who was active on the days after (in any group)
    table = players(spark, [("p1", 20, "DE"), ("p2", 20, "DE"), ("p3", 20, "FR"), ("p4", 21, "DE")])
    active = activity(spark, [(21, "FR", "p1", 0), (21, "DE", "p4", 0), (27, "DE", "p2", 0), (22, "DE", "p9", 0)])
    computed = {day(d) for d in (20, 21, 22, 27)}  # the 28th (21+7) is not computed yet: no cell
    # When the retention of k = 1 and 7 is computed for both cohorts
    out = kpis.retention_rows(table, active, [day(20), day(21)], (1, 7), computed, grouped=True)
    # Then every cohort group has a cell per k whose day is computed, 0 when nobody returned
    assertDataFrameEqual(
        out,
        kpi_rows(
            spark,
            [
                (day(20), f"{day(20)}+1", "DE", 1, None),
                (day(20), f"{day(20)}+1", "FR", 0, None),
                (day(20), f"{day(20)}+7", "DE", 1, None),
                (day(20), f"{day(20)}+7", "FR", 0, None),
                (day(21), f"{day(21)}+1", "DE", 0, None),
            ],
        ),
    )
    # And an ungrouped metric has its "" cells even for an empty cohort (nobody was first seen on the 22nd)
    ungrouped = table.withColumn("group_value", F.lit(""))
    computed |= {day(23)}
    out = kpis.retention_rows(ungrouped, active, [day(20), day(22)], (1, 7), computed, grouped=False)
    assertDataFrameEqual(
        out,
        kpi_rows(
            spark,
            [
                (day(20), f"{day(20)}+1", "", 1, None),
                (day(20), f"{day(20)}+7", "", 1, None),
                (day(22), f"{day(22)}+1", "", 0, None),
            ],
        ),
    )


# ------------------------------------------------------------------------------------------ the days a run rewrites


def test_the_rolling_days_of_a_run_are_its_days_and_the_computed_ones_whose_window_holds_them() -> None:
    run = [day(10), day(11), day(12)]
    computed = [day(d) for d in (1, 9, 10, 11, 12, 13, 18, 19, 25)]  # an older day recomputed: later days exist
    assert rolling_days(run, computed, 7) == [day(10), day(11), day(12), day(13), day(18)]
    assert rolling_days(run, run, 28) == run  # the nightly run: the newest days


def test_a_move_rewrites_both_cohorts_and_everyone_seen_between_them() -> None:
    run = [day(20), day(21), day(22)]
    computed = [day(d) for d in range(15, 28)]
    assert new_days(run, [], computed) == run
    # a first day moved from the 25th (computed, after the run's days) to the 21st: the 21st to the 25th change
    assert new_days(run, [(day(25), day(21))], computed) == [day(d) for d in range(20, 26)]
    # a new player, or one gone: everyone seen from their day on changes
    assert new_days(run, [(None, day(21))], computed) == [day(d) for d in range(20, 28)]
    assert new_days(run, [(day(22), None)], computed) == [day(d) for d in (20, 21, *range(22, 28))]
    # the group changed, not the day: that cohort only
    assert new_days([day(20)], [(day(16), day(16))], computed) == [day(16), day(20)]


def test_the_retention_days_of_a_run_are_changed_cohorts_and_those_k_days_before_its_days() -> None:
    run = [day(20), day(21)]
    computed = [day(d) for d in range(1, 22)]
    # k = 1, 7: the 19th, 20th (k=1), 13th, 14th (k=7); the 21st has no D+1 computed yet; a changed cohort: the 5th
    assert retention_days(run, {day(5)}, computed, (1, 7)) == [day(d) for d in (5, 13, 14, 19, 20)]
    # a day before the lake began is no cohort
    assert retention_days([day(2)], set(), [day(1), day(2)], (1, 30)) == [day(1)]


# -------------------------------------------------------------------------------------------- the players' switch


@pytest.mark.spark
def test_a_players_table_is_switched_by_its_manifest_and_survives_a_run_killed_at_any_point(spark, tmp_path) -> None:
    lake = str(tmp_path)
    folder = Path(players_uri(lake)) / "metric=new_players"
    first = players(spark, [("p1", 20, "")])
    stage_players(first, lake, "new_players", "v1")
    switch_players(lake, "new_players", "v1")
    assertDataFrameEqual(read_players(spark, lake, "new_players"), first)
    manifest = read_players_manifest(lake, "new_players")
    assert manifest and all("/version=v1/" in uri and uri.endswith(".parquet") for uri in manifest)
    # (a folder lake's manifest names its files relative to the lake: a copy of the folder reads its own)
    moved = tmp_path.with_name(f"{tmp_path.name}-moved")
    shutil.copytree(tmp_path, moved)
    assert read_players_manifest(str(moved), "new_players") == [uri.replace(lake, str(moved)) for uri in manifest]

    # Killed while writing the new version (Spark's _SUCCESS not written yet): it is not current, nor can it become so
    second = players(spark, [("p1", 19, ""), ("p2", 21, "")])
    stage_players(second, lake, "new_players", "v2")
    (folder / "version=v2" / "_SUCCESS").unlink()
    assertDataFrameEqual(read_players(spark, lake, "new_players"), first)
    with pytest.raises(RuntimeError, match="no complete players table"):
        switch_players(lake, "new_players", "v2")
    assert read_players_manifest(lake, "new_players") == manifest
    # Killed after writing it, before the manifest: the old version stands, whole
    stage_players(second, lake, "new_players", "v3")
    assertDataFrameEqual(read_players(spark, lake, "new_players"), first)
    # The switch: one write of the manifest
    switch_players(lake, "new_players", "v3")
    assertDataFrameEqual(read_players(spark, lake, "new_players"), second)

    # Versions replaced (or abandoned) longer than the grace period before the newest one are deleted at a switch; the
    # current one and the one it replaces stay.
    def age(version: str, hours: float) -> None:
        for path in (folder / f"version={version}").iterdir():
            stamp = path.stat().st_mtime - hours * 3600
            os.utime(path, (stamp, stamp))

    for version in ("v1", "v2", "v3"):
        age(version, 13)
    stage_players(first, lake, "new_players", "v4")
    switch_players(lake, "new_players", "v4")
    assert sorted(p.name for p in folder.iterdir()) == ["version=v3", "version=v4"]
    assertDataFrameEqual(read_players(spark, lake, "new_players"), first)


@pytest.mark.spark
def test_a_players_table_from_before_versions_is_read_and_then_versioned(spark, tmp_path) -> None:
    # Given a lake whose players table is its metric folder's files (as the job wrote it before versions)
    lake = str(tmp_path)
    legacy = players(spark, [("p1", 20, ""), ("p2", 21, "")])
    legacy.write.parquet(str(Path(players_uri(lake)) / "metric=new_players"))
    # Then it is the table, until the next run's version replaces it
    assert read_players_manifest(lake, "new_players") is None
    assertDataFrameEqual(read_players(spark, lake, "new_players"), legacy)
    newer = players(spark, [("p1", 19, ""), ("p2", 21, "")])
    stage_players(newer, lake, "new_players", "v1")
    switch_players(lake, "new_players", "v1")
    assertDataFrameEqual(read_players(spark, lake, "new_players"), newer)


# ------------------------------------------------------------------------------------------------ through the job


def event(player: str, on: int, arrived: str) -> tuple[bytes, int]:
    ts = int(datetime.fromisoformat(f"{day(on)}T12:00:00+00:00").timestamp() * 1000)
    record = {"event_id": f"{player}-{on}", "type": "session_start", "player_id": player, "ts": ts}
    return json.dumps(record).encode(), int(datetime.fromisoformat(arrived).timestamp() * 1000)


def published_run(view: InMemoryBatchView, metric: str, on: str) -> str:
    return view.publications(metric, on, on)[on].run_id


def kpi_values(lake: Path) -> dict[tuple[str, str, str | None], int]:
    return {(r["metric"], r["bucket"], r["group_value"]): r["value"] for r in read_kpis(lake).to_pylist()}


@pytest.mark.spark
def test_a_late_event_changes_its_cohort_its_retention_and_the_windows_holding_it(spark, tmp_path: Path) -> None:
    # Given the nightly run of the 22nd (it computes the 21st and the 22nd): p1 on both days, p2 first on the 22nd
    write_raw(
        tmp_path,
        [event("p1", 21, "2026-11-21T12:01:00"), event("p1", 22, "2026-11-22T12:01:00")]
        + [event("p2", 22, "2026-11-22T12:01:00")],
        name="a",
    )
    view = InMemoryBatchView()
    run_batch(tmp_path, date(2026, 11, 22), "UTC", "run-1", batch_view=view, spark=spark, days_back=1)
    before = kpi_values(tmp_path)
    assert before[("new_players", day(22), "")] == 1 and before[("retention", f"{day(21)}+1", "")] == 1

    # When p2's event of the 21st arrives late (the 23rd), p3 plays on the 23rd, and the next night runs
    write_raw(tmp_path, [event("p2", 21, "2026-11-23T08:00:00"), event("p3", 23, "2026-11-23T12:01:00")], name="b")
    summary = run_batch(tmp_path, date(2026, 11, 23), "UTC", "run-2", batch_view=view, spark=spark, days_back=2)
    after = kpi_values(tmp_path)
    # Then p2 is new on the 21st, not the 22nd; everyone seen by the 21st is two; the 21st's cohort returned whole
    assert after[("new_players", day(21), "")] == 2 and after[("new_players", day(22), "")] == 0
    assert after[("new_players", day(21), None)] == 2 and after[("new_players", day(23), None)] == 3
    assert after[("retention", f"{day(21)}+1", "")] == 2 and after[("retention", f"{day(22)}+1", "")] == 0
    assert [after[("weekly_active_players", day(d), "")] for d in (21, 22, 23)] == [2, 2, 3]
    assert summary.job.kpi_days["retention"] == [day(21), day(22)]
    # and the batch view serves that: a new-players day's rows without the union row, which it gets as its union
    assert [(p.group, p.count) for p in view.day_rows("new_players", day(21))] == [("", 2)]
    assert view.unions[("new_players", day(21))] == theta("p1", "p2")
    assert [(p.bucket, p.count) for p in view.day_rows("retention", day(21))] == [(f"{day(21)}+1", 2)]

    # When a late event of the 22nd (p3, first seen on the 23rd) is counted by a rerun of the 22nd alone
    write_raw(tmp_path, [event("p3", 22, "2026-11-24T01:00:00")], name="c")
    summary = run_batch(tmp_path, date(2026, 11, 22), "UTC", "run-3", batch_view=view, spark=spark, days_back=0)
    rerun = kpi_values(tmp_path)
    # Then the computed days after it change too: p3's cohort moves to the 22nd, the 22nd's windows and retention
    # gain p3, the 23rd's window already had them
    assert summary.job.kpi_days["new_players"] == [day(22), day(23)]
    assert summary.job.kpi_days["weekly_active_players"] == [day(22), day(23)]
    assert (rerun[("new_players", day(22), "")], rerun[("new_players", day(23), "")]) == (1, 0)
    assert rerun[("new_players", day(22), None)] == 3
    assert rerun[("retention", f"{day(22)}+1", "")] == 1
    assert (rerun[("weekly_active_players", day(22), "")], rerun[("weekly_active_players", day(23), "")]) == (3, 3)
    assert published_run(view, "weekly_active_players", day(23)) == "run-3"
    assert published_run(view, "weekly_active_players", day(21)) == "run-2"

    # And a batch view that lost everything gets each partition back with the run that wrote it
    again = InMemoryBatchView()
    result = republish(tmp_path, again, tz="UTC")
    assert result.kpis[("new_players", day(23))] == "run-3" and result.kpis[("new_players", day(21))] == "run-2"
    assert not result.failed
    assert again.day_rows("new_players", day(22)) == view.day_rows("new_players", day(22))
    assert again.unions == view.unions
