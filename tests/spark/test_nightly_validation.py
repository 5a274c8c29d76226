"""One validator, two engines: the Python verdict, the job's Python stage and the independent SQL agree on the corpus
(tests/corpus/events.jsonl) and on the archive's arrival windows; the job's options; publishing the lake's rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from headcount.batch.plan import new_run_id, parse_options
from headcount.batch.validation import HOUR_MS, Validator, _events_arrow_schema, arrival_window
from headcount.core import sketches
from headcount.core.events import Reason, Rejection, parse_event
from headcount.logic.publishing import PublishError, publish, republish
from headcount.views.batch import InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import counts_uri, hour_of_path
from support.exact_counts_sql import verdicts
from tests.spark.nightly_game import (
    DAY,
    TZ,
    corpus,
    ms,
)

# ------------------------------------------------------------------------------------ (e) one validator, two engines


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
    metrics = {"active_players", "active_players_by_country", "ad_impressions"}  # the corpus has no valid match_end
    assert {c["metric"] for row in out for c in row["cells"]} == metrics | {f"{m}~quarter" for m in metrics}


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
        publish(tmp_path, ["2026-10-26"], "new", view, tz=TZ)
    rows = publish(tmp_path, ["2026-10-26"], "old", view, tz=TZ)
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
    published = publish(tmp_path, [], "r", view, kpi_days=kpi_days, tz=TZ)
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
    assert sorted(publish(tmp_path, [], "r", again, tz=TZ)) == [
        ("new_players", "2026-10-26"),
        ("weekly_active_players", "2026-10-26"),
    ]
    with pytest.raises(PublishError, match="the kpis of retention 2026-10-25 were written by run old, not r"):
        publish(tmp_path, [], "r", again, kpi_days={"retention": ["2026-10-25"]}, tz=TZ)
    # And republish takes each partition with its run
    assert republish(tmp_path, InMemoryBatchView(), tz=TZ).kpis == {
        ("new_players", "2026-10-26"): "r",
        ("retention", "2026-10-25"): "old",
        ("weekly_active_players", "2026-10-26"): "r",
    }


def test_an_erased_players_events_are_dropped_and_a_rewritten_files_bound_is_its_first_write() -> None:
    import pyarrow as pa

    from headcount.core.erasure import blocked_hash

    # Given a file of hr=10 first written at 10:30 and rewritten by an erasure days later, holding an event of a player
    # erased with "no more", one of another player, and one dated 10:50 (after the file's first write + 15 minutes)
    path = "s3://lake/raw/dt=2026-01-01/hr=10/part-1.gz"
    lines = [
        json.dumps({"type": "session_start", "player_id": player, "ts": ms(ts)}).encode()
        for player, ts in (
            ("gone", "2026-01-01T10:10:00Z"),
            (7, "2026-01-01T10:11:00Z"),
            ("late", "2026-01-01T11:50:00Z"),
        )
    ]
    batch = pa.RecordBatch.from_pydict(
        {"line": lines, "file_path": [path] * 3, "file_written_ms": [ms("2026-01-04T09:00:00Z")] * 3}
    )
    validator = Validator(
        load_catalog(),
        "UTC",
        frozenset({"2026-01-01"}),
        written={"dt=2026-01-01/hr=10/part-1.gz": ms("2026-01-01T10:30:00Z")},
        blocked=frozenset({blocked_hash("gone")}),
    )
    # When the job validates it
    (out,) = list(validator(iter([batch])))
    # Then only the other player's event is kept: the erased one is dropped, the late one is still too far ahead of
    # the file's first write (as it was before the rewrite)
    assert [cell["player_id"] for cells in out.column("cells").to_pylist() for cell in cells][:1] == ["7"]
    assert out.num_rows == 1
