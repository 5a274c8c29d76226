"""The nightly job on a small generated lake: exact against the simulator's truth and an independent DuckDB computation
(its copies, hours and days apart, counted once), missing input, empty days, cross-engine sketches. (Reruns and late
events: test_nightly_reruns.py; one validator for both layers: test_nightly_validation.py; the job's and the CLI's
entry points: test_nightly_entry_points.py; their game, archive and first run: conftest.py.)"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from headcount.batch.validation import arrival_window
from headcount.core import sketches
from headcount.core.buckets import buckets_of_day
from headcount.core.catalog import Granularity, Kind
from headcount.core.events import Rejection, parse_event
from headcount.local.batch import run_batch
from headcount.views.batch import InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import hour_of_path, read_counts
from headcount.views.tables import DuckDBTables, format_table
from support.exact_counts_sql import exact_counts
from support.raw_lake import write_raw
from tests.spark.nightly_game import (
    DAY,
    DAYS,
    TZ,
    Game,
    counted,
    counts_by_cell,
    ms,
    resent_copies,
)

# ------------------------------------------------------------------------------------------------------ (a) exact


@pytest.mark.spark
def test_counts_equal_the_simulators_deduplicated_truth(game: Game, first_run) -> None:
    lake, result, files = first_run
    assert result.days == DAYS and not result.skipped
    existing = sorted(p.name[3:] for p in (files / "raw").iterdir())
    assert result.partitions == [dt for dt in existing if "2026-10-23" <= dt <= "2026-10-28"]
    rows = counts_by_cell(lake, DAYS)

    assert {cell: r["value"] for cell, r in rows.items() if r["value"]} == game.expected
    assert {r["run_id"] for r in rows.values()} == {"run-a"}
    assert all(r["day"] == r["bucket"][:10] for r in rows.values())
    # Ungrouped metrics: a row for every bucket of every day, zeros included (25 hours on the DST day); the KPI metrics
    # have a table of their own.
    assert {m for (m, _b, _g) in rows} == {m.name for m in game.catalog.metrics if m.kind.counted}
    for metric in counted(game.catalog).metrics:
        if metric.group_by is None:
            for day in DAYS:
                buckets = {b for (m, b, _g) in rows if m == metric.name and b[:10] == day}
                assert buckets == set(buckets_of_day(date.fromisoformat(day), metric.granularity, TZ))
        else:
            assert all(r["value"] > 0 for (m, _b, _g), r in rows.items() if m == metric.name)
    assert len([b for (m, b, _g) in rows if m == "ad_impressions" and b.startswith("2026-10-25")]) == 25
    # Distinct metrics carry a sketch whose estimate brackets the exact value; counts carry none.
    for (name, _b, _g), r in rows.items():
        metric = game.catalog.get(name)
        if metric.kind is Kind.COUNT or r["value"] == 0:
            assert r["sketch"] is None
        else:
            estimate = sketches.estimate(sketches.decode(r["sketch"]))
            assert estimate.low <= r["value"] <= estimate.high


@pytest.mark.spark
def test_copies_of_an_event_filed_hours_and_days_apart_count_once(game: Game, first_run) -> None:
    # Given events whose copies the archive holds in several hours, on several days (dt=), all read by the run
    lake, result, files = first_run
    copied = {json.loads(data)["event_id"] for data, _arrival in resent_copies(game.sim.records)}
    filed: dict[str, set[tuple[str, str]]] = defaultdict(set)  # event_id -> the (dt, hr) of the files holding it
    types: dict[str, str] = {}
    for path in (files / "raw").glob("dt=*/hr=*/[!.]*"):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # junk
            if isinstance(event, dict) and event.get("event_id") in copied:
                filed[event["event_id"]].add((path.parent.parent.name[3:], path.parent.name))
                types[event["event_id"]] = event["type"]
    assert len(filed) == len(copied) >= 30 and {"match_end", "ad_impression"} <= set(types.values())
    assert all(len(hours) >= 3 and len({dt for dt, _hr in hours}) >= 2 for hours in filed.values())
    assert {dt for hours in filed.values() for dt, _hr in hours} <= set(result.partitions)
    # When the run counted them (first_run), then every count is exact: each event once, wherever its copies landed
    rows = counts_by_cell(lake, DAYS)
    for metric in ("matches_played", "ad_impressions", "active_players_by_country"):
        counted_cells = {cell: r["value"] for cell, r in rows.items() if cell[0] == metric and r["value"]}
        assert counted_cells == {cell: v for cell, v in game.expected.items() if cell[0] == metric}, metric


@pytest.mark.spark
def test_the_run_tallies_every_rejected_record_it_read_by_reason(first_run) -> None:
    # Given every line of the (visible) files the run read, and the validator's verdict on each with its file's window
    _lake, result, files = first_run
    expected: Counter[str] = Counter()
    for dt in result.partitions:
        for path in (files / "raw" / f"dt={dt}").glob("hr=*/[!.]*"):
            window = arrival_window(hour_of_path(str(path)), int(path.stat().st_mtime * 1000))
            for line in gzip.decompress(path.read_bytes()).split(b"\n")[:-1]:
                if not line:
                    continue  # an empty line is no record
                verdict = parse_event(line, *window)
                if isinstance(verdict, Rejection):
                    expected[verdict.reason.value] += 1
    # Then the run's tally is exactly that (local Spark retries no task)
    assert result.rejected == dict(expected)
    assert {"not_json", "not_object", "bad_type", "too_large", "ts_too_old"} <= set(result.rejected)  # the junk


@pytest.mark.spark
def test_counts_equal_an_independent_duckdb_computation(game: Game, first_run) -> None:
    lake, result, files = first_run
    duck = exact_counts(files, result.partitions, result.days, TZ, counted(game.catalog))
    spark_rows = {cell: r["value"] for cell, r in counts_by_cell(lake, DAYS).items() if r["value"]}
    assert {(m, b, g): v for m, b, g, v in duck} == spark_rows


@pytest.mark.spark
def test_the_tables_answer_sql_over_the_same_files(game: Game, first_run) -> None:
    lake, result, files = first_run
    tables = DuckDBTables(lake)
    answer = tables.sql("SELECT day, value FROM counts WHERE metric = 'active_players' ORDER BY day")
    assert answer.columns == ["day", "value"]
    assert answer.rows == [(day, game.expected[("active_players", day, "")]) for day in DAYS]
    raw = tables.sql("SELECT count(*) AS n, count(DISTINCT dt) AS days FROM raw").rows[0]
    assert raw[0] > len(game.sim.records)  # + a re-archived file, no-id events, junk
    assert raw[1] == len(list((files / "raw").iterdir())) >= len(result.partitions)
    text = format_table(tables.sql("SELECT metric, sketch FROM counts WHERE metric = 'active_players' LIMIT 1"))
    assert "active_players" in text and "bytes>" in text and "(1 row)" in text
    # The KPI tables too: a day's activity is its active players, the players table everyone seen up to the last day
    active = tables.sql("SELECT day, count(*) FROM activity WHERE metric = 'active_players' GROUP BY day ORDER BY day")
    assert active.rows == [(day, game.expected[("active_players", day, "")]) for day in DAYS]
    seen = tables.sql("SELECT count(*), count(DISTINCT player_id) FROM players WHERE metric = 'new_players'").rows[0]
    everyone = f"SELECT value FROM kpis WHERE metric = 'new_players' AND day = '{DAYS[-1]}' AND group_value IS NULL"
    assert seen[0] == seen[1] == tables.sql(everyone).rows[0][0]


# ----------------------------------------------------------------------------------- (c) missing input, empty day


@pytest.mark.spark
def test_a_night_without_input_publishes_a_day_of_no_events(spark, tmp_path: Path) -> None:
    # Given a lake whose archive holds nothing yet (a stack deployed before the game has players)
    view = InMemoryBatchView()
    summary = run_batch(tmp_path, DAY, TZ, "run-a", batch_view=view, spark=spark, days_back=2)
    # Then the run succeeds: its day is a day of no events, published as such, and no archive stopped
    assert summary.job.days == [DAY.isoformat()] and summary.job.partitions == [] and summary.job.without_input == []
    assert [(p.bucket, p.count) for p in view.day_rows("active_players", DAY.isoformat())] == [(DAY.isoformat(), 0)]
    # And a night without input after the archive held days is told apart (the alarm's metric), and leaves the day as
    # it is: no exact zeros over what the real-time layer (or an earlier run) says
    write_raw(tmp_path, [(b'{"type": "session_start"}', ms("2026-10-20T10:00:00Z"))], name="early")
    later = run_batch(tmp_path, DAY, TZ, "run-b", batch_view=view, spark=spark, days_back=0)
    assert (
        later.job.without_input == [DAY.isoformat()] and later.job.days == [] and later.job.skipped == [DAY.isoformat()]
    )
    assert view.days[("active_players", DAY.isoformat())][0] == "run-a"


@pytest.mark.spark
def test_an_empty_day_is_a_valid_zero_that_replaces_an_older_answer(spark, tmp_path: Path) -> None:
    catalog = load_catalog()
    event = {
        "event_id": "e-1",
        "type": "session_start",
        "player_id": "p-1",
        "ts": ms("2026-10-26T12:00:00+01:00"),
        "attrs": {"country": "DE"},
    }
    write_raw(tmp_path, [(json.dumps(event).encode(), ms("2026-10-26T11:00:10Z"))], name="a")
    view = InMemoryBatchView()
    run_batch(tmp_path, DAY, TZ, "run-1", batch_view=view, spark=spark, days_back=0)
    assert [p.count for p in view.day_rows("active_players", "2026-10-26")] == [1]

    # The same hour re-archived without any valid event of the day: only junk and an event of another day.
    shutil.rmtree(tmp_path / "raw")
    other_day = {**event, "ts": ms("2026-10-25T12:00:00+01:00")}
    write_raw(
        tmp_path,
        [
            (b'{"type": "session_start", "player_id": "p-1", "ts": \n', ms("2026-10-26T11:00:10Z")),
            (json.dumps(other_day).encode(), ms("2026-10-26T11:00:10Z")),
        ],
        name="b",
    )
    summary = run_batch(tmp_path, DAY, TZ, "run-2", batch_view=view, spark=spark, days_back=0)
    assert summary.job.days == ["2026-10-26"]
    assert summary.totals["2026-10-26"] == {"active_players": 0, "matches_played": 0, "ad_impressions": 0}
    assert [(p.bucket, p.count, p.sketch) for p in view.day_rows("active_players", "2026-10-26")] == [
        ("2026-10-26", 0, None)
    ]
    assert view.day_rows("active_players_by_country", "2026-10-26") == []
    hours = view.day_rows("ad_impressions", "2026-10-26")
    assert len(hours) == 24 and all(p.count == 0 for p in hours)
    assert {r["run_id"] for r in read_counts(tmp_path, ["2026-10-26"]).to_pylist()} == {"run-2"}
    assert catalog.get("ad_impressions").granularity is Granularity.HOUR


# ------------------------------------------------------------------------------------ (d) cross-engine sketches


@pytest.mark.spark
def test_spark_and_python_sketches_union_without_double_counting(spark) -> None:
    lg_k = 12
    a = [f"player-{i:06d}" for i in range(0, 6000)]
    b = [f"player-{i:06d}" for i in range(6000, 9000)]  # seen by both layers
    c = [f"player-{i:06d}" for i in range(9000, 14000)]
    from pyspark.sql import functions as F  # noqa: N812

    frame = spark.createDataFrame([(p,) for p in a + b], "player_id string")
    spark_bytes = frame.agg(F.hll_sketch_agg("player_id", lg_k)).collect()[0][0]

    realtime = sketches.new_sketch(lg_k)
    for player in b + c:
        realtime.update(player)
    union = sketches.estimate(sketches.union([sketches.decode(spark_bytes), realtime], lg_k))
    assert union.low <= len(set(a + b + c)) <= union.high
    assert union.high < len(a) + 2 * len(b) + len(c)  # counting B twice would be out of bounds

    # Same hashing: a Python sketch of the same ids has the same registers, so it adds nothing to Spark's.
    python_ab = sketches.new_sketch(lg_k)
    for player in reversed(a + b):
        python_ab.update(player)
    spark_ab = sketches.decode(spark_bytes)
    assert (
        sketches.union([spark_ab, python_ab], lg_k).get_estimate()
        == sketches.union([spark_ab, sketches.decode(spark_bytes)], lg_k).get_estimate()
    )
    # And a stored (HLL_4) copy of the Spark sketch unions the same way.
    stored = sketches.decode(sketches.encode(sketches.decode(spark_bytes)))
    assert sketches.estimate(sketches.union([stored, realtime], lg_k)) == union
