"""Each of the job's DataFrame -> DataFrame steps on a few hand-written rows (headcount.batch.transforms)."""

from __future__ import annotations

import pytest

from headcount.batch.transforms import aggregate, cell_players, dedupe, finish, validate, with_zeros, zero_rows
from headcount.batch.validation import EVENTS_SCHEMA
from headcount.core import sketches
from headcount.views.catalog_file import load_catalog
from support.spark_frames import assertDataFrameEqual

pytestmark = pytest.mark.spark
CATALOG = load_catalog()
CELL_ROWS = "metric string, bucket string, group_value string, player_id string, n bigint"
DAY = "2026-11-25"


def cell(metric: str, player: str | None, group: str = "") -> dict:
    return {"metric": metric, "bucket": DAY, "group_value": group, "player_id": player, "ts_ms": 0}


def events(spark, rows):
    return spark.createDataFrame(rows, EVENTS_SCHEMA)


def test_dedupe_keeps_the_earliest_copy_and_breaks_ties_by_the_records_md5(spark) -> None:
    # Given one event archived three times: twice in the same (earliest) hour, once an hour later
    hour = 1_795_000_000_000
    copies = events(
        spark,
        [
            ("e-1", hour + 3_600_000, "000-earliest-md5", [cell("matches_played", None)]),
            ("e-1", hour, "bbb", [cell("matches_played", None)]),
            ("e-1", hour, "aaa", [cell("matches_played", None)]),
            ("e-2", hour, "ccc", [cell("matches_played", None)]),
        ],
    )
    # Then one copy of each id remains: the earliest hour's, and of those the smallest MD5
    expected = events(
        spark,
        [("e-1", hour, "aaa", [cell("matches_played", None)]), ("e-2", hour, "ccc", [cell("matches_played", None)])],
    )
    assertDataFrameEqual(dedupe(copies), expected)


def test_dedupe_keeps_every_event_without_an_id_even_identical_ones(spark) -> None:
    # Given events without an id, two of them the same bytes (a producer that sent an id-less event twice)
    hour = 1_795_000_000_000
    rows = [
        (None, hour, "aaa", [cell("matches_played", None)]),
        (None, hour, "aaa", [cell("matches_played", None)]),
        (None, hour, "bbb", [cell("matches_played", None)]),
    ]
    # Then nothing tells them apart from real repeats: all are kept
    assertDataFrameEqual(dedupe(events(spark, rows)), events(spark, rows))


def test_cell_players_counts_each_players_events_per_cell(spark) -> None:
    rows = [
        ("e-1", 0, "a", [cell("active_players", "p-1"), cell("active_players_by_country", "p-1", "DE")]),
        ("e-2", 0, "b", [cell("active_players", "p-1"), cell("active_players_by_country", "p-1", "FR")]),
        ("e-3", 0, "c", [cell("active_players", "p-2")]),
        ("e-4", 0, "d", [cell("matches_played", None)]),
        ("e-5", 0, "e", [cell("matches_played", None)]),
    ]
    expected = spark.createDataFrame(
        [
            ("active_players", DAY, "", "p-1", 2),
            ("active_players", DAY, "", "p-2", 1),
            ("active_players_by_country", DAY, "DE", "p-1", 1),
            ("active_players_by_country", DAY, "FR", "p-1", 1),
            ("matches_played", DAY, "", None, 2),
        ],
        CELL_ROWS,
    )
    assertDataFrameEqual(cell_players(events(spark, rows)), expected)


def test_aggregate_counts_events_and_distinct_players_with_a_sketch_of_them(spark) -> None:
    # Given three players (one twice) and five matches in the day's cells
    rows = spark.createDataFrame(
        [
            ("active_players", DAY, "", "p-1", 2),
            ("active_players", DAY, "", "p-2", 1),
            ("active_players", DAY, "", "p-3", 1),
            ("matches_played", DAY, "", None, 5),
        ],
        CELL_ROWS,
    )
    # When aggregated
    out = {(r["metric"], r["bucket"]): r for r in aggregate(rows, CATALOG).collect()}
    # Then a count metric sums its events and has no sketch; a distinct metric counts players, and its sketch agrees
    assert (out[("matches_played", DAY)]["value"], out[("matches_played", DAY)]["sketch"]) == (5, None)
    players = out[("active_players", DAY)]
    assert players["value"] == 3
    assert round(sketches.decode(bytes(players["sketch"])).get_estimate()) == 3


def test_zero_rows_give_an_empty_day_a_zero_and_a_null_sketch(spark) -> None:
    # Given a day with no events at all: only the zero rows of the ungrouped metrics
    zeros = spark.createDataFrame(zero_rows(CATALOG, [DAY], "UTC"), CELL_ROWS)
    empty = spark.createDataFrame([], CELL_ROWS)
    counts = aggregate(with_zeros(empty, zeros), CATALOG)
    # Then every bucket of every ungrouped metric is a 0 without a sketch (24 hours of ad impressions, 96 quarter hours
    # of each sub-day twin), and grouped metrics have no rows (no group was seen); the KPI metrics are not in the counts
    # table
    quarters = [f"{DAY}T{h:02d}:{m:02d}+00:00" for h in range(24) for m in (0, 15, 30, 45)]
    expected = spark.createDataFrame(
        [(m, DAY, "", 0, None) for m in ("active_players", "matches_played")]
        + [("ad_impressions", f"{DAY}T{h:02d}:00+00:00", "", 0, None) for h in range(24)]
        + [
            (f"{m}~quarter", q, "", 0, None)
            for m in ("active_players", "matches_played", "ad_impressions")
            for q in quarters
        ],
        "metric string, bucket string, group_value string, value bigint, sketch binary",
    )
    assertDataFrameEqual(counts, expected)


def test_a_zero_row_does_not_change_a_cell_that_has_events(spark) -> None:
    zeros = spark.createDataFrame([("matches_played", DAY, "", None, 0)], CELL_ROWS)
    rows = spark.createDataFrame([("matches_played", DAY, "", None, 4)], CELL_ROWS)
    assert [(r["metric"], r["value"]) for r in aggregate(with_zeros(rows, zeros), CATALOG).collect()] == [
        ("matches_played", 4)
    ]


def test_finish_adds_the_run_and_the_day_partition(spark) -> None:
    counts = spark.createDataFrame(
        [("ad_impressions", f"{DAY}T05:00+00:00", "", 7, None)],
        "metric string, bucket string, group_value string, value bigint, sketch binary",
    )
    expected = spark.createDataFrame(
        [("ad_impressions", f"{DAY}T05:00+00:00", "", 7, None, "run-1", DAY)],
        "metric string, bucket string, group_value string, value bigint, sketch binary, run_id string, day string",
    )
    assertDataFrameEqual(finish(counts, "run-1"), expected)


def test_validate_of_no_lines_is_no_events(spark) -> None:
    raw = spark.createDataFrame([], "line binary, file_path string, file_written_ms bigint")
    out = validate(raw, CATALOG, "UTC", [DAY])
    assertDataFrameEqual(out, events(spark, []))
