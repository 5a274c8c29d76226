"""The nightly job on small generated lakes: exact against the simulator's truth and an independent DuckDB computation,
idempotent reruns, late events, missing input, empty days, cross-engine sketches, and one validator for both layers."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from datasketches import tgt_hll_type

from glue_jobs import nightly_counts as glue_script
from headcount import names
from headcount.batch.job import run_job
from headcount.batch.plan import JobOptions, JobResult, MissingInput, new_run_id, parse_options
from headcount.batch.validation import HOUR_MS, Validator, _events_arrow_schema, arrival_window
from headcount.core import sketches
from headcount.core.buckets import bucket_of, buckets_of_day, day_bounds_ms
from headcount.core.catalog import Catalog, Granularity, Kind
from headcount.core.events import Reason, Rejection, parse_event
from headcount.local.batch import run_batch
from headcount.local.simulator import Simulation, simulate
from headcount.views.batch import DynamoBatchView, InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import PublishError, counts_uri, hour_of_path, publish, read_counts, read_kpis, republish
from headcount.views.tables import DuckDBTables, format_table
from tests.exact_counts_sql import exact_counts, verdicts
from tests.spark.raw_lake import arrivals, write_raw

TZ = "Europe/Berlin"
DAY = date(2026, 10, 26)  # the run's day; 2026-10-25 is the autumn DST change in Berlin: 25 hours
DAYS = ["2026-10-24", "2026-10-25", "2026-10-26"]
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "events.jsonl"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@dataclass
class Game:
    catalog: Catalog
    sim: Simulation
    expected: dict[tuple[str, str, str], int]  # (metric, bucket, group) -> exact value, for buckets of DAYS


def add(expected: dict, catalog: Catalog, event: dict, copies: int, seen: dict) -> None:
    """Count an event (sent `copies` times, without event_id: every copy counts) into `expected`."""
    for metric in catalog.counted_for(event["type"]):
        bucket = bucket_of(event["ts"], metric.granularity, TZ)
        key = (metric.name, bucket, metric.group_of(event["attrs"]))
        if metric.kind is Kind.COUNT:
            expected[key] += copies
        elif event["player_id"] not in seen[key]:
            seen[key].add(event["player_id"])
            expected[key] += 1


def no_id_events() -> list[dict]:
    """Events without event_id: never deduplicated (the lake holds each twice)."""
    events = [
        {
            "type": "session_start",
            "player_id": f"anon-{i}",
            "ts": ms("2026-10-25T12:00:00+01:00") + i * 1000,
            "attrs": {"country": "ZZ"},
        }
        for i in range(10)
    ]
    events += [
        {"type": "match_end", "player_id": "anon-1", "ts": ms("2026-10-25T02:30:00+01:00") + i * 1000, "attrs": {}}
        for i in range(7)
    ]  # the second 02:00-03:00 of the DST night
    return events


@pytest.fixture(scope="module")
def game() -> Game:
    catalog = load_catalog()
    start, _ = day_bounds_ms(date(2026, 10, 24), TZ)
    _, end = day_bounds_ms(DAY, TZ)
    sim = simulate(catalog, TZ, start, end, 3000, seed=11)
    assert sim.duplicates and sim.late
    expected: dict[tuple[str, str, str], int] = defaultdict(int)
    for metric, buckets in sim.truth.deduplicated.items():
        for bucket, groups in buckets.items():
            if bucket[:10] in DAYS:
                for group, value in groups.items():
                    expected[(metric, bucket, group)] += value
    seen: dict = defaultdict(set)
    for event in no_id_events():
        add(expected, catalog, event, copies=2, seen=seen)
    return Game(catalog, sim, dict(expected))


@pytest.fixture(scope="module")
def raw_lake(tmp_path_factory, game: Game) -> Path:
    """The archive of the game, as Firehose (or the archiver) leaves it, with the mishaps it can leave behind."""
    lake = tmp_path_factory.mktemp("lake")
    files = write_raw(lake, arrivals(game.sim.records), name="headcount-events-0")
    # A re-archived file (a crash between rename and checkpoint): every record twice, absorbed by the dedup.
    shutil.copy2(files[len(files) // 2], files[len(files) // 2].with_name("headcount-events-0-again.json.gz"))
    # Events without event_id, each sent twice: all counted.
    no_id = [(json.dumps(e).encode(), e["ts"] + 5_000) for e in no_id_events()]
    write_raw(lake, no_id + no_id, name="no-id")
    # Junk: every record of the validator corpus (its valid ones are months too old for these arrival times).
    write_raw(lake, [(c["record"].encode(), ms("2026-10-25T12:00:30Z")) for c in corpus()], name="junk")
    # Empty lines, as Firehose's AppendDelimiterToRecord leaves after newline-terminated records: no event, no rejection.
    write_raw(lake, [(b"\n", ms("2026-10-25T12:00:30Z"))] * 3, name="delimiters")
    # An archiver's temporary file (hidden) is not input.
    hidden = [
        (
            json.dumps({"type": "match_end", "player_id": "ghost", "ts": ms("2026-10-25T12:00:00Z")}).encode(),
            ms("2026-10-25T12:00:30Z"),
        )
    ] * 50
    for path in write_raw(lake, hidden, name="ghost"):
        path.rename(path.with_name(".headcount-events-1.json.gz.tmp4242"))
    return lake


@pytest.fixture(scope="module")
def first_run(spark, game: Game, raw_lake: Path, tmp_path_factory) -> tuple[Path, JobResult]:
    lake = tmp_path_factory.mktemp("first-run")
    shutil.copytree(raw_lake / "raw", lake / "raw")
    result = run_job(spark, JobOptions(day=DAY, lake=str(lake), tz=TZ, run_id="run-a"))
    return lake, result


def counted(catalog: Catalog) -> Catalog:
    """The metrics of the counts table (distinct and count), without the KPIs."""
    return Catalog(tuple(m for m in catalog.metrics if m.kind.counted))


def counts_by_cell(lake: Path, days: list[str]) -> dict[tuple[str, str, str], dict]:
    return {(r["metric"], r["bucket"], r["group_value"]): r for r in read_counts(lake, days).to_pylist()}


# ------------------------------------------------------------------------------------------------------ (a) exact


@pytest.mark.spark
def test_counts_equal_the_simulators_deduplicated_truth(game: Game, first_run) -> None:
    lake, result = first_run
    assert result.days == DAYS and not result.skipped
    existing = sorted(p.name[3:] for p in (lake / "raw").iterdir())
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
def test_the_run_tallies_every_rejected_record_it_read_by_reason(first_run) -> None:
    # Given every line of the (visible) files the run read, and the validator's verdict on each with its file's window
    lake, result = first_run
    expected: Counter[str] = Counter()
    for dt in result.partitions:
        for path in (lake / "raw" / f"dt={dt}").glob("hr=*/[!.]*"):
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
    lake, result = first_run
    duck = exact_counts(lake, result.partitions, result.days, TZ, counted(game.catalog))
    spark_rows = {cell: r["value"] for cell, r in counts_by_cell(lake, DAYS).items() if r["value"]}
    assert {(m, b, g): v for m, b, g, v in duck} == spark_rows


@pytest.mark.spark
def test_the_tables_answer_sql_over_the_same_files(game: Game, first_run) -> None:
    lake, result = first_run
    tables = DuckDBTables(lake)
    answer = tables.sql("SELECT day, value FROM counts WHERE metric = 'active_players' ORDER BY day")
    assert answer.columns == ["day", "value"]
    assert answer.rows == [(day, game.expected[("active_players", day, "")]) for day in DAYS]
    raw = tables.sql("SELECT count(*) AS n, count(DISTINCT dt) AS days FROM raw").rows[0]
    assert raw[0] > len(game.sim.records)  # + a re-archived file, no-id events, junk
    assert raw[1] == len(list((lake / "raw").iterdir())) >= len(result.partitions)
    text = format_table(tables.sql("SELECT metric, sketch FROM counts WHERE metric = 'active_players' LIMIT 1"))
    assert "active_players" in text and "bytes>" in text and "(1 row)" in text
    # The KPI tables too: a day's activity is its active players, the players table everyone seen up to the last day
    active = tables.sql("SELECT day, count(*) FROM activity WHERE metric = 'active_players' GROUP BY day ORDER BY day")
    assert active.rows == [(day, game.expected[("active_players", day, "")]) for day in DAYS]
    seen = tables.sql("SELECT count(*), count(DISTINCT player_id) FROM players WHERE metric = 'new_players'").rows[0]
    everyone = f"SELECT value FROM kpis WHERE metric = 'new_players' AND day = '{DAYS[-1]}' AND group_value IS NULL"
    assert seen[0] == seen[1] == tables.sql(everyone).rows[0][0]


# -------------------------------------------------------------------------------------- (b) reruns and late events


def published(view: DynamoBatchView, catalog: Catalog, days: list[str]) -> dict:
    """The published rows of the counts' metrics on these days."""
    return {
        (m.name, d): sorted(view.day_rows(m.name, d), key=lambda p: (p.bucket, p.group))
        for m in counted(catalog).metrics
        for d in days
    }


def published_kpis(view: DynamoBatchView, kpi_days: dict[str, list[str]]) -> dict:
    return {
        (metric, d): sorted(view.day_rows(metric, d), key=lambda p: (p.bucket, p.group))
        for metric, days in kpi_days.items()
        for d in days
    }


@pytest.mark.spark
def test_rerun_publishes_identical_values_and_late_events_join_the_next_nights_recompute(
    spark, aws, game: Game, raw_lake: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(raw_lake / "raw", lake / "raw")
    view = DynamoBatchView(names.BATCH_TABLE)

    kpi_days = run_batch(lake, DAY, TZ, "run-1", batch_view=view, spark=spark).job.kpi_days
    first = published(view, game.catalog, DAYS)
    first_kpis = published_kpis(view, kpi_days)
    assert kpi_days["new_players"] == DAYS and kpi_days["retention"] == DAYS[:2]  # no 2026-10-27 yet for +1
    assert run_batch(lake, DAY, TZ, "run-2", batch_view=view, spark=spark).job.kpi_days == kpi_days
    again = published(view, game.catalog, DAYS)
    assert again == first  # values and sketch bytes
    assert published_kpis(view, kpi_days) == first_kpis  # the Theta sketches too
    stored = [(p, sketches.decode(p.sketch)) for rows in first.values() for p in rows if p.sketch]
    assert stored and all(s.tgt_type == tgt_hll_type.HLL_4 for _p, s in stored)  # the stored form
    assert all(sketches.estimate(s).low <= p.count <= sketches.estimate(s).high for p, s in stored)
    assert view.published_run("active_players", DAYS[-1]) == "run-2"
    active = {p.bucket: p.count for p in first[("active_players", DAYS[-1])]}
    assert active == {DAYS[-1]: game.expected[("active_players", DAYS[-1], "")]}

    # Players of DAY whose events arrive the next morning, after the night's run ...
    late = [
        {
            "event_id": f"late-{i}",
            "type": "session_start",
            "player_id": f"late-{i}",
            "ts": ms("2026-10-26T21:00:00+01:00") + i,
            "attrs": {"country": "DE"},
        }
        for i in range(5)
    ]
    write_raw(lake, [(json.dumps(e).encode(), ms("2026-10-27T09:15:00Z")) for e in late], name="late")
    # ... are in DAY's numbers after the next night, which recomputes DAY-1 .. DAY+1.
    summary = run_batch(lake, DAY + timedelta(days=1), TZ, "run-3", batch_view=view, spark=spark)
    assert summary.job.days == ["2026-10-25", "2026-10-26", "2026-10-27"]
    after = published(view, game.catalog, DAYS)
    assert {p.bucket: p.count for p in after[("active_players", DAYS[-1])]} == {DAYS[-1]: active[DAYS[-1]] + 5}
    de = ("active_players_by_country", DAYS[-1])
    assert {p.group: p.count for p in after[de]}["DE"] == {p.group: p.count for p in first[de]}["DE"] + 5
    assert after[("matches_played", DAYS[-1])] == first[("matches_played", DAYS[-1])]
    # They are new players of DAY, in the rolling windows holding it, and in retention's cohort of DAY (not on DAY+1)
    kpis_after = published_kpis(view, summary.job.kpi_days)

    def value(kpis: dict, metric: str, bucket: str, day: str = DAYS[-1]) -> int:
        return {p.bucket: p.count for p in kpis[(metric, day)]}[bucket]

    for metric in ("new_players", "weekly_active_players", "monthly_active_players"):
        assert value(kpis_after, metric, DAYS[-1]) == value(first_kpis, metric, DAYS[-1]) + 5
    assert value(kpis_after, "retention", "2026-10-26+1") == 0
    assert summary.job.kpi_days["weekly_active_players"] == summary.job.days
    assert summary.totals["2026-10-27"]["active_players"] == 0  # arrived, but nothing happened on DAY+1 yet
    # Dynamic partition overwrite: the run replaced its three days and left 2026-10-24 as run-2 wrote it.
    runs = {(r["day"], r["run_id"]) for r in read_counts(lake, ["2026-10-24", *summary.job.days]).to_pylist()}
    assert runs == {("2026-10-24", "run-2"), ("2026-10-25", "run-3"), ("2026-10-26", "run-3"), ("2026-10-27", "run-3")}
    assert view.published_run("active_players", "2026-10-24") == "run-2"


@pytest.mark.spark
def test_a_lost_batch_view_is_published_again_from_the_counts_table(first_run, aws) -> None:
    # Given the counts of a run, and a batch view that has lost them (moto keeps its state in memory only)
    lake, result = first_run
    reference = InMemoryBatchView()
    publish(lake, result.days, result.run_id, reference, kpi_days=result.kpi_days)
    view = DynamoBatchView(names.BATCH_TABLE)
    assert view.day_rows("active_players", DAYS[-1]) is None
    # When the local stack starts again and republishes the lake's counts and kpis
    republished = republish(lake, view)
    # Then every day is back as the run that computed it published it, and every KPI partition
    assert republished.days == dict.fromkeys(DAYS, "run-a") and not republished.failed
    kpi_partitions = [(metric, day) for metric, days in result.kpi_days.items() for day in days]
    assert republished.kpis == dict.fromkeys(kpi_partitions, "run-a")
    everything = [(m.name, day) for m in counted(load_catalog()).metrics for day in DAYS] + kpi_partitions
    for metric, day in everything:
        assert view.published_run(metric, day) == "run-a"

        def cells(rows: list) -> list:
            return sorted((p.bucket, p.group, p.count, p.sketch) for p in rows)

        assert cells(view.day_rows(metric, day)) == cells(reference.day_rows(metric, day))
    # (the union row of a new-players day is everyone seen up to it, as published)
    publication = view.publications("new_players", DAYS[-1], DAYS[-1])[DAYS[-1]]
    assert view.union_sketches("new_players", [publication], None) == {
        DAYS[-1]: reference.unions[("new_players", DAYS[-1])]
    }
    assert republish(lake.parent / "no-such-lake", view).days == {}


@pytest.mark.spark
def test_a_damaged_day_does_not_keep_the_others_from_being_republished(first_run, aws, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Given the lake's counts plus a day whose partition holds rows of two runs
    lake, _result = first_run
    shutil.copytree(lake / "counts", tmp_path / "counts")
    damaged = tmp_path / "counts" / "day=2026-10-20"
    damaged.mkdir()
    for run in ("x", "y"):
        row = {"metric": ["matches_played"], "bucket": ["2026-10-20"], "group_value": [""]}
        row |= {"value": pa.array([1], pa.int64()), "sketch": pa.array([None], pa.binary()), "run_id": [run]}
        pq.write_table(pa.table(row), damaged / f"part-{run}.parquet")
    # When they are published again
    result = republish(tmp_path, DynamoBatchView(names.BATCH_TABLE))
    # Then the damaged day is reported and left unpublished, the others are published
    assert result.days == dict.fromkeys(DAYS, "run-a")
    assert list(result.failed) == ["2026-10-20"] and "PublishError" in result.failed["2026-10-20"]
    assert DynamoBatchView(names.BATCH_TABLE).day_rows("matches_played", "2026-10-20") is None


# ----------------------------------------------------------------------------------- (c) missing input, empty day


@pytest.mark.spark
def test_missing_input_fails_clearly(spark, tmp_path: Path) -> None:
    (tmp_path / "raw" / "dt=2026-10-20" / "hr=10").mkdir(parents=True)  # too early to hold events of DAY
    with pytest.raises(
        MissingInput,
        match=r"no raw input for 2026-10-26: none of the arrival partitions "
        r"dt=2026-10-25, dt=2026-10-26, dt=2026-10-27, dt=2026-10-28",
    ):
        run_job(spark, JobOptions(day=DAY, lake=str(tmp_path), run_id="run-a", tz=TZ))
    assert not (tmp_path / "counts").exists()


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


# ------------------------------------------------------------------------------------ (e) one validator, two engines


def corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def test_the_corpus_covers_every_reason() -> None:
    cases = corpus()
    assert len(cases) >= 30
    assert {c["expect"] for c in cases} == {"valid"} | {r.value for r in Reason}


def test_parse_event_and_the_sql_validation_agree_on_the_corpus() -> None:
    cases = corpus()
    sql = verdicts([(c["record"], c["arrival_ms"], c["arrival_ms"]) for c in cases])
    for case, verdict in zip(cases, sql, strict=True):
        event = parse_event(case["record"], case["arrival_ms"])
        python = event.reason.value if isinstance(event, Rejection) else "valid"
        assert python == case["expect"], case["note"]
        assert (verdict.reason or "valid") == case["expect"], case["note"]
        if python == "valid":
            assert (verdict.event_id, verdict.type, verdict.player_id, verdict.ts_ms, verdict.attrs) == (
                event.event_id,
                event.type,
                event.player_id,
                event.ts_ms,
                event.attrs,
            ), case["note"]


def test_the_jobs_python_stage_keeps_exactly_the_corpus_events_valid_in_the_archive_hour() -> None:
    import pyarrow as pa

    cases = corpus()
    hour = cases[0]["arrival_ms"]
    assert all(c["arrival_ms"] == hour for c in cases) and hour % HOUR_MS == 0
    written = hour + HOUR_MS + 5 * 60_000  # Firehose wrote the file 5 minutes after the hour
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([c["record"].encode() for c in cases], pa.binary()),
            pa.array(["file:/lake/raw/dt=2026-01-01/hr=10/part.json.gz"] * len(cases), pa.string()),
            pa.array([written] * len(cases), pa.int64()),
        ],
        names=["line", "file_path", "file_written_ms"],
    )
    validator = Validator(load_catalog(), "UTC", frozenset({"2026-01-01"}))
    out = pa.Table.from_batches(list(validator(iter([batch]))), schema=_events_arrow_schema()).to_pylist()

    kept = []
    for case in cases:
        # The archive knows the file's hour and when it was written: arrival anywhere from 10:00 to 11:05, so one case
        # more is not in the future.
        event = parse_event(case["record"], *arrival_window(hour, written))
        if not isinstance(event, Rejection):
            assert case["expect"] in ("valid", "ts_in_future"), case["note"]
            kept.append(event)
        else:
            assert event.reason.value == case["expect"], case["note"]
    assert [row["event_id"] for row in out if row["event_id"] is not None] == [
        e.event_id for e in kept if e.event_id is not None
    ]
    assert len(out) == len(kept) and all(row["hour_ms"] == hour for row in out)
    # Cells only for the kept days (an event of another day is still there, for the dedup, with no cells).
    on_the_day = [e for e in kept if datetime.fromtimestamp(e.ts_ms / 1000, UTC).date() == date(2026, 1, 1)]
    assert len([row for row in out if row["cells"]]) == len(on_the_day) < len(kept)
    assert {c["metric"] for row in out for c in row["cells"]} == {
        "active_players",
        "active_players_by_country",
        "ad_impressions",
    }  # the corpus has no valid match_end


@pytest.mark.parametrize(
    ("arrived", "written"),
    [
        ("2026-01-01T11:03:00Z", "2026-01-01T11:04:10Z"),  # its file's oldest record arrived 10:59; 5-minute buffer
        ("2026-01-01T13:40:00Z", "2026-01-01T13:41:00Z"),  # Firehose catching up on a backlog: one file, hours of it
    ],
)
def test_a_record_firehose_filed_under_an_earlier_hour_gets_the_folds_verdict(arrived: str, written: str) -> None:
    # Given a record the fold kept (its ts 14 minutes after its arrival), in a file Firehose named after hr=10
    hour = ms("2026-01-01T10:00:00Z")

    def record(ts_ms: int) -> bytes:
        return json.dumps({"type": "session_start", "player_id": "p", "ts": ts_ms}).encode()

    kept = record(ms(arrived) + 14 * 60_000)
    assert not isinstance(parse_event(kept, ms(arrived)), Rejection)
    # Then the job keeps it too: its file's window reaches when the file was written
    validator = Validator(load_catalog(), "UTC", frozenset({"2026-01-01"}))
    window = arrival_window(hour, ms(written))
    assert window == (hour, ms(written))
    assert isinstance(validator.event_row(kept, window), tuple)
    # and 15 minutes after the file was written is the limit
    assert isinstance(validator.event_row(record(ms(written) + 15 * 60_000 + 1), window), Rejection)
    # A file written within its hour (the local archiver flushes every 10 s) is read as the whole hour
    assert arrival_window(hour, hour + 60_000) == (hour, hour + HOUR_MS - 1)


def test_hour_of_path_and_options() -> None:
    assert hour_of_path("s3://b/lake/raw/dt=2026-10-25/hr=23/x.json.gz") == ms("2026-10-25T23:00:00Z")
    assert hour_of_path("file:/lake/raw/dt=2026-10-25/x.json.gz") is None
    now = ms("2026-10-27T00:30:00+01:00")
    options = parse_options(
        ["--day", "yesterday", "--lake", "s3://bucket/lake", "--tz", TZ, "--run-id", "r1"], now_ms=now
    )
    assert (options.day, options.lake, options.tz, options.run_id, options.days_back) == (
        DAY,
        "s3://bucket/lake",
        TZ,
        "r1",
        2,
    )
    assert counts_uri("s3://bucket/lake/") == "s3://bucket/lake/counts"
    assert new_run_id(datetime(2026, 10, 27, 3, 0, tzinfo=UTC)).startswith("20261027T030000Z-")


def test_publish_refuses_rows_of_another_run(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "counts" / "day=2026-10-26"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "metric": ["active_players"],
                "bucket": ["2026-10-26"],
                "group_value": [""],
                "value": pa.array([3], pa.int64()),
                "sketch": pa.array([None], pa.binary()),
                "run_id": ["old"],
            }
        ),
        folder / "part-0.parquet",
    )
    view = InMemoryBatchView()
    with pytest.raises(PublishError, match="written by run old"):
        publish(tmp_path, ["2026-10-26"], "new", view)
    rows = publish(tmp_path, ["2026-10-26"], "old", view)
    assert [r.value for r in rows[("active_players", "2026-10-26")]] == [3]
    assert view.day_rows("matches_played", "2026-10-26") == []


def write_kpis(lake: Path, metric: str, day: str, rows: list[tuple], run_id: str) -> None:
    """A kpis partition as the job writes it: (bucket, group_value, value, sketch) rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = lake / "kpis" / f"metric={metric}" / f"day={day}"
    folder.mkdir(parents=True)
    buckets, groups, values, sketch_bytes = (list(column) for column in zip(*rows, strict=True)) if rows else ([],) * 4
    table = {"bucket": pa.array(buckets, pa.string()), "group_value": pa.array(groups, pa.string())}
    table |= {"value": pa.array(values, pa.int64()), "sketch": pa.array(sketch_bytes, pa.binary())}
    pq.write_table(pa.table(table | {"run_id": pa.array([run_id] * len(rows), pa.string())}), folder / "part-0.parquet")


def test_publish_gives_a_new_players_day_its_union_row_and_refuses_kpis_of_another_run(tmp_path: Path) -> None:
    # Given a run's kpis partitions: a new-players day (its cohort, and everyone seen up to it, group NULL), a rolling
    # day, a grouped rolling day without any group (no rows), and a partition an older run wrote
    cohort, seen = sketches.theta_of_values(["p2"], 12), sketches.theta_of_values(["p1", "p2"], 12)
    write_kpis(
        tmp_path, "new_players", "2026-10-26", [("2026-10-26", "", 1, cohort), ("2026-10-26", None, 2, seen)], "r"
    )
    write_kpis(tmp_path, "weekly_active_players", "2026-10-26", [("2026-10-26", "", 2, None)], "r")
    write_kpis(tmp_path, "weekly_active_players", "2026-10-25", [], "r")
    write_kpis(tmp_path, "retention", "2026-10-25", [("2026-10-25+1", "", 1, None)], "old")
    view = InMemoryBatchView()
    # When the run is published with what it wrote
    kpi_days = {"new_players": ["2026-10-26"], "weekly_active_players": ["2026-10-25", "2026-10-26"]}
    published = publish(tmp_path, [], "r", view, kpi_days=kpi_days)
    # Then the new-players day has its cohort as rows and everyone seen as its union, Theta bytes as written
    assert [(p.group, p.count, p.sketch) for p in view.day_rows("new_players", "2026-10-26")] == [("", 1, cohort)]
    assert view.unions[("new_players", "2026-10-26")] == seen
    assert [p.count for p in view.day_rows("weekly_active_players", "2026-10-26")] == [2]
    assert (
        view.day_rows("weekly_active_players", "2026-10-25") == []
        and published[("weekly_active_players", "2026-10-25")] == []
    )
    # And without the job's list, the partitions whose rows carry the run (the empty one names none)
    again = InMemoryBatchView()
    assert sorted(publish(tmp_path, [], "r", again)) == [
        ("new_players", "2026-10-26"),
        ("weekly_active_players", "2026-10-26"),
    ]
    with pytest.raises(PublishError, match="the kpis of retention 2026-10-25 were written by run old, not r"):
        publish(tmp_path, [], "r", again, kpi_days={"retention": ["2026-10-25"]})
    # And republish takes each partition with its run
    assert republish(tmp_path, InMemoryBatchView()).kpis == {
        ("new_players", "2026-10-26"): "r",
        ("retention", "2026-10-25"): "old",
        ("weekly_active_players", "2026-10-26"): "r",
    }


# ------------------------------------------------------------------------------------------------ entry points


@pytest.mark.spark
def test_main_runs_the_job_from_glue_style_arguments_and_publishes(
    spark, aws, game: Game, raw_lake: Path, tmp_path: Path, capsys
) -> None:
    # Given the raw archive and the stack's batch table
    shutil.copytree(raw_lake / "raw", tmp_path / "raw")
    args = ["--day", "2026-10-26", "--lake", str(tmp_path), "--tz", TZ, "--run_id", "glue-1", "--days_back", "0"]
    # When the job runs as Glue would start it, publishing to the table
    assert glue_script.main([*args, "--batch_table", names.BATCH_TABLE]) == 0
    # Then the counts table holds exactly that day, and the batch view serves it
    rows = read_counts(tmp_path, DAYS).to_pylist()
    assert {r["day"] for r in rows} == {"2026-10-26"} and {r["run_id"] for r in rows} == {"glue-1"}
    expected = {cell: v for cell, v in game.expected.items() if cell[1].startswith("2026-10-26")}
    assert {(r["metric"], r["bucket"], r["group_value"]): r["value"] for r in rows if r["value"]} == expected
    view = DynamoBatchView(names.BATCH_TABLE)
    published = {
        (m.name, r.bucket, r.group): r.count
        for m in counted(load_catalog()).metrics
        for r in view.day_rows(m.name, "2026-10-26")
        if r.count
    }
    assert published == expected
    # and the KPI days it computed (the rolling windows and cohorts of the day; retention has no 2026-10-27 yet)
    kpis = read_kpis(tmp_path).to_pylist()
    assert {(r["metric"], r["day"]) for r in kpis} == {
        (m, "2026-10-26") for m in ("weekly_active_players", "monthly_active_players", "new_players")
    }
    assert view.published_run("new_players", "2026-10-26") == "glue-1"
    kpi_rows = len([r for r in kpis if r["group_value"] is not None])
    out = capsys.readouterr().out
    assert f"published {len(rows) + kpi_rows} rows of 2026-10-26 (and 3 KPI days) to {names.BATCH_TABLE}" in out
    assert (
        "nightly_counts: kpis: weekly_active_players 1 day, monthly_active_players 1 day, new_players 1 cohort day, retention 0 cohort days"
        in out
    )


def test_the_sql_command_prints_a_table(first_run, capsys) -> None:
    from headcount.local.config import LocalConfig

    lake, _result = first_run
    config = LocalConfig(state_dir=lake.parent / lake.name.replace("first-run", "state"))
    config.state_dir.mkdir(exist_ok=True)
    (config.state_dir / "lake").symlink_to(lake)
    args = command_line("sql", "SELECT day, value FROM counts WHERE metric = 'active_players' ORDER BY day")
    assert args.run(args, config) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["day", "value"] and len(out) == 2 + len(DAYS) + 1
    args = command_line("sql", "SELECT nope FROM counts")
    assert args.run(args, config) == 1


def test_the_batch_command_says_when_there_is_nowhere_to_publish(monkeypatch, tmp_path: Path, capsys) -> None:
    import socket

    from headcount.cli.batch import run_batch_command
    from headcount.local.config import LocalConfig
    from headcount.views.aws import client

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LocalConfig(state_dir=tmp_path, moto_port=port)
    for key, value in config.aws_environment().items():
        monkeypatch.setenv(key, value)  # restored at teardown
    client.cache_clear()
    try:
        assert run_batch_command(config, "2026-10-26") == 1
    finally:
        client.cache_clear()
    assert "is `headcount up` running?" in capsys.readouterr().err
    assert run_batch_command(config, "last tuesday") == 2
    assert run_batch_command(config, "2026-10-26", run_id="nightly#1") == 2
    assert "a run id is 1-128 characters" in capsys.readouterr().err


def command_line(*argv: str):
    """`headcount ARGV` (a batch-layer command) as the CLI parses it."""
    import argparse

    from headcount.cli.batch import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def test_athena_tables_query_the_stacks_workgroup_and_register_over_s3_only() -> None:
    from headcount.views.tables import AthenaTables

    tables = AthenaTables()
    assert (tables.database, tables.workgroup) == (names.GLUE_DATABASE, names.ATHENA_WORKGROUP)
    with pytest.raises(ValueError, match="Athena reads S3"):
        tables.register("/tmp/lake")
