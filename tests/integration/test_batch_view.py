"""The batch view in DynamoDB: a day is read as one whole run, even while a rerun is being published."""

from __future__ import annotations

from datetime import date

import pytest

from headcount import names
from headcount.core import keys
from headcount.views.aws import client
from headcount.views.batch import BatchRow, DynamoBatchView, PublishInProgress, _row_item

DAY = "2026-11-25"


def rows(values: dict[str, int]) -> list[BatchRow]:
    return [BatchRow("active_players_by_country", DAY, DAY, group, v, None) for group, v in values.items()]


def read(view: DynamoBatchView) -> dict[str, int] | None:
    day = view.day_rows("active_players_by_country", DAY)
    return None if day is None else {p.group: p.count for p in day}


def test_a_day_is_unpublished_until_its_publication_is_written(aws) -> None:
    view = DynamoBatchView(names.BATCH_TABLE)
    pk = keys.partition_key("active_players_by_country", DAY)
    # Given the rows of a run written, but not its marker (the job stopped in between)
    view._batch_write([{"PutRequest": {"Item": _row_item(pk, r, "run-1")}} for r in rows({"DE": 3})])
    # Then the day is not published: readers keep the real-time layer's numbers
    assert read(view) is None


def test_readers_see_the_old_run_until_the_new_one_is_complete_then_only_the_new_one(aws) -> None:
    view = DynamoBatchView(names.BATCH_TABLE)
    pk = keys.partition_key("active_players_by_country", DAY)
    # Given a published run
    view.publish("active_players_by_country", DAY, rows({"DE": 3, "FR": 2, "US": 9}), "run-1")
    assert read(view) == {"DE": 3, "FR": 2, "US": 9}
    # When a rerun (late events: DE grew, FR vanished, BR appeared) has written part of its rows
    rerun = rows({"BR": 1, "DE": 4, "US": 9})
    view._batch_write([{"PutRequest": {"Item": _row_item(pk, r, "run-2")}} for r in rerun[:2]])
    # Then readers still see the whole old run, not a mix
    assert read(view) == {"DE": 3, "FR": 2, "US": 9}
    # And once the rerun is published, exactly its rows, and nothing of the old run is left in the table
    view.publish("active_players_by_country", DAY, rerun, "run-2")
    assert read(view) == {"BR": 1, "DE": 4, "US": 9}
    assert view.published_run("active_players_by_country", DAY) == "run-2"
    items = client("dynamodb").query(
        TableName=names.BATCH_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )["Items"]
    assert sorted(i["sk"]["S"] for i in items) == [
        "run-2#2026-11-25#BR",
        "run-2#2026-11-25#DE",
        "run-2#2026-11-25#US",
    ]
    # The publication, in the metric's own partition, names the run and holds its values
    [publication] = view.publications("active_players_by_country", DAY, DAY).values()
    assert publication.run_id == "run-2" and {c.group: c.count for c in publication.cells} == {
        "BR": 1,
        "DE": 4,
        "US": 9,
    }
    # Publishing the same run again changes nothing
    view.publish("active_players_by_country", DAY, rerun, "run-2")
    assert read(view) == {"BR": 1, "DE": 4, "US": 9}


def test_a_run_id_that_would_break_the_keys_is_refused_before_any_work() -> None:
    from headcount.batch.plan import JobOptions

    for bad in ("a#b", "~run", ""):
        with pytest.raises(keys.BadRunId, match="run id"):
            keys.batch_sort_key(bad, DAY, "")
        with pytest.raises(keys.BadRunId):
            JobOptions(day=date(2026, 11, 25), lake="/lake", run_id=bad)


def test_one_run_publishes_a_day_at_a_time_and_a_dead_publishers_lease_expires(aws) -> None:
    clock = [1_795_000_000.0]  # the publishers' wall clock, in epoch seconds
    view = DynamoBatchView(names.BATCH_TABLE, lease_s=300, wait_s=0.2, clock=lambda: clock[0])
    pk = keys.partition_key("active_players_by_country", DAY)
    # Given run-1 holding the day's lease (publishing, or dead mid-publish)
    view._acquire(pk, "run-1")
    clock[0] += 299
    # When run-2 publishes within the lease, it waits, then gives up without writing anything
    with pytest.raises(PublishInProgress, match="published by run run-1"):
        view.publish("active_players_by_country", DAY, rows({"DE": 4}), "run-2")
    assert read(view) is None
    # And once the lease has expired, run-2 publishes, and leaves no lease behind
    clock[0] += 2
    view.publish("active_players_by_country", DAY, rows({"DE": 4}), "run-2")
    assert read(view) == {"DE": 4}
    assert view._get(pk, keys.LOCK_SK) is None


def test_a_reader_racing_a_republish_reads_again_and_gets_one_whole_run(aws) -> None:
    reader, writer = DynamoBatchView(names.BATCH_TABLE), DynamoBatchView(names.BATCH_TABLE)
    writer.publish("active_players_by_country", DAY, rows({"DE": 3, "FR": 2, "US": 9}), "run-1")
    # Given a republish that lands between the reader's publication read and its row query
    query, raced = reader._query, []

    def query_after_a_republish(pk: str, **kwargs):
        if not raced and kwargs.get("begins_with"):
            raced.append(True)
            writer.publish("active_players_by_country", DAY, rows({"BR": 1, "DE": 4}), "run-2")
        return query(pk, **kwargs)

    reader._query = query_after_a_republish  # this instance only
    # Then the reader notices the marker's run is gone and reads the new run whole
    assert read(reader) == {"BR": 1, "DE": 4} and raced


def sketch_of(players: range) -> bytes:
    from headcount.core import sketches

    sketch = sketches.new_sketch(12)
    sketches.update_all(sketch, (f"p-{i}" for i in players))
    return sketches.encode(sketch)


def test_a_range_of_days_is_one_query_and_a_finished_days_sketch_is_read_once_per_run(aws) -> None:
    from headcount.core import sketches

    view = DynamoBatchView(names.BATCH_TABLE, clock=lambda: 1_795_000_000.0)
    metric, days = "active_players_by_country", ["2026-11-23", "2026-11-24", "2026-11-25"]
    for n, day in enumerate(days):  # DE: players 0..99 every day; FR: a hundred new ones each day
        rows = [
            BatchRow(metric, day, day, "DE", 100, sketch_of(range(100))),
            BatchRow(metric, day, day, "FR", 100, sketch_of(range(1000 * (n + 1), 1000 * (n + 1) + 100))),
        ]
        view.publish(metric, day, rows, f"run-{n}")
    calls: list[str] = []
    ddb = client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        published = view.publications(metric, "2026-11-01", "2026-11-30")
        assert calls == ["GetItem", "Query"]  # the marker's version, then the range
        assert sorted(published) == days and published[days[0]].published_ms == 1_795_000_000_000
        # The union of a day's groups was written with the day: one item per day, read in one BatchGetItem
        calls.clear()
        union = view.union_sketches(metric, published.values(), None)
        assert calls == ["BatchGetItem"]
        estimate = sketches.estimate(sketches.union([sketches.decode(s) for s in union.values()], 12))
        assert estimate.low <= 400 <= estimate.high  # DE's 100 once, FR's 3 x 100
        fr = view.union_sketches(metric, published.values(), "FR")
        assert sketches.estimate(sketches.decode(fr[days[1]])).value == 100
        # Read again: from memory, no request, as long as the publications name the same runs
        calls.clear()
        assert view.union_sketches(metric, published.values(), None) == union
        assert calls == []
    finally:
        ddb.meta.events.unregister("before-call.dynamodb")
    # A republish names a new run: its sketch is read, not the remembered one
    view.publish(metric, days[0], [BatchRow(metric, days[0], days[0], "DE", 1, sketch_of(range(1)))], "run-9")
    again = view.union_sketches(metric, view.publications(metric, days[0], days[0]).values(), None)
    assert sketches.estimate(sketches.decode(again[days[0]])).value == 1


def test_publications_are_kept_while_the_markers_version_is_the_one_they_were_read_under(aws) -> None:
    metric = "active_players_by_country"
    writer, reader = DynamoBatchView(names.BATCH_TABLE), DynamoBatchView(names.BATCH_TABLE)  # the job; the API

    def publish(day: str, de: int, run: str) -> None:
        writer.publish(metric, day, [BatchRow(metric, day, day, "DE", de, None)], run)

    def values(first: str, last: str) -> dict[str, int]:
        return {d: p.cells[0].count for d, p in reader.publications(metric, first, last).items()}

    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):
        publish(day, 10, f"run-{day}")
    calls: list[str] = []
    ddb = reader.ddb
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        assert values("2026-11-20", "2026-11-22") == {d: 10 for d in ("2026-11-20", "2026-11-21", "2026-11-22")}
        assert calls == ["GetItem", "Query"]
        # Read again, or a part of it: the marker's version only
        calls.clear()
        assert values("2026-11-21", "2026-11-22") == {"2026-11-21": 10, "2026-11-22": 10}
        assert calls == ["GetItem"]
        # A longer range: only the days not read yet are queried
        calls.clear()
        assert len(values("2026-11-01", "2026-11-25")) == 3
        assert calls == ["GetItem", "Query", "Query"]  # 11-01..11-19 and 11-23..11-25
        calls.clear()
        assert len(values("2026-11-05", "2026-11-24")) == 3 and calls == ["GetItem"]
        # The job publishes a new day and republishes one: the next read sees both
        publish("2026-11-23", 7, "run-b")
        publish("2026-11-20", 12, "run-c")
        calls.clear()
        assert values("2026-11-20", "2026-11-23") == {
            "2026-11-20": 12,
            "2026-11-21": 10,
            "2026-11-22": 10,
            "2026-11-23": 7,
        }
        assert calls == ["GetItem", "Query"]
    finally:
        ddb.meta.events.unregister("before-call.dynamodb")
    # Past the cap on cells kept, the least recently read metric's publications go
    reader.KNOWN_CELLS = 3
    other = "matches_played"
    writer.publish(other, "2026-11-20", [BatchRow(other, "2026-11-20", "2026-11-20", "", 5, None)], "run-m")
    assert reader.publications(other, "2026-11-20", "2026-11-20")["2026-11-20"].cells[0].count == 5
    assert list(reader._known) == [other]


def test_a_run_replaced_while_its_sketches_are_read_is_reported_not_served_half(aws) -> None:
    from headcount.views.batch import RunReplaced

    view = DynamoBatchView(names.BATCH_TABLE)
    metric = "active_players_by_country"
    view.publish(metric, DAY, [BatchRow(metric, DAY, DAY, "DE", 3, sketch_of(range(3)))], "run-1")
    old = view.publications(metric, DAY, DAY)
    view.publish(metric, DAY, [BatchRow(metric, DAY, DAY, "DE", 4, sketch_of(range(4)))], "run-2")
    with pytest.raises(RunReplaced):
        DynamoBatchView(names.BATCH_TABLE).union_sketches(metric, old.values(), None)


def test_a_days_rows_with_their_sketches_are_read_once_per_run_and_a_replaced_run_is_reported(aws) -> None:
    from headcount.core import sketches
    from headcount.views.batch import RunReplaced

    # Given a day of a sub-day twin: quarter hours of two groups, one of them 0 (no sketch to read)
    view = DynamoBatchView(names.BATCH_TABLE)
    twin = "active_players_by_country~quarter"
    quarters = [f"{DAY}T00:00+00:00", f"{DAY}T00:15+00:00"]
    view.publish(
        twin,
        DAY,
        [
            BatchRow(twin, DAY, quarters[0], "DE", 3, sketch_of(range(3))),
            BatchRow(twin, DAY, quarters[1], "DE", 0, None),
            BatchRow(twin, DAY, quarters[1], "FR", 5, sketch_of(range(10, 15))),
        ],
        "run-1",
    )
    published = view.publications(twin, DAY, DAY)
    calls: list[str] = []
    ddb = client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        # When its rows are read: those with players, with their sketches, of a group when asked
        rows = view.row_sketches(twin, published.values(), None)[DAY]
        assert sorted((r.bucket, r.group, r.count) for r in rows) == [(quarters[0], "DE", 3), (quarters[1], "FR", 5)]
        assert sketches.estimate(sketches.decode(next(r.sketch for r in rows if r.group == "FR"))).value == 5
        assert [r.group for r in view.row_sketches(twin, published.values(), "DE")[DAY]] == ["DE"]
        assert calls == ["BatchGetItem", "BatchGetItem"]
        # and again: from memory, while the publication names the same run
        calls.clear()
        assert view.row_sketches(twin, published.values(), None)[DAY] == rows
        assert calls == []
    finally:
        ddb.meta.events.unregister("before-call.dynamodb")
    # A run replaced under the read is reported, not served half
    view.publish(twin, DAY, [BatchRow(twin, DAY, quarters[0], "DE", 4, sketch_of(range(4)))], "run-2")
    with pytest.raises(RunReplaced):
        DynamoBatchView(names.BATCH_TABLE).row_sketches(twin, published.values(), None)


def test_a_twins_edges_are_published_with_its_rows_read_once_per_run_and_go_with_their_run(aws) -> None:
    from headcount.core import sketches
    from headcount.logic.zones import day_edges
    from headcount.views.batch import RunReplaced

    # Given a day of a sub-day twin published with its edges (players 0-2 at 02:00, 10-14 at 18:30)
    view = DynamoBatchView(names.BATCH_TABLE)
    twin = "active_players~quarter"
    rows = [
        BatchRow(twin, DAY, f"{DAY}T02:00+00:00", "", 3, sketch_of(range(3))),
        BatchRow(twin, DAY, f"{DAY}T18:30+00:00", "", 5, sketch_of(range(10, 15))),
    ]
    edges = day_edges(rows, date.fromisoformat(DAY), "UTC", 12)
    view.publish(twin, DAY, rows, "run-1", edges=edges)
    publication = view.publications(twin, DAY, DAY)[DAY]
    # Then the publication names its cuts, and its rows are only the rows (no edge among them)
    assert f"{DAY}T18:30+00:00" in publication.cuts and f"{DAY}T18:35+00:00" not in publication.cuts
    assert {f"<{c}" for c in publication.cuts} | {f">{c}" for c in publication.cuts} == set(edges)
    assert sorted(p.bucket for p in view.day_rows(twin, DAY)) == [r.bucket for r in rows]
    # When Kolkata's day (from 18:30 UTC) reads its part of the day, and the day before Kolkata's reads the rest
    wanted = [(publication, f">{DAY}T18:30+00:00"), (publication, f"<{DAY}T18:30+00:00"), (publication, "*")]
    got = view.edge_sketches(twin, wanted)
    players = {bucket: sketches.estimate(sketches.decode(got[(DAY, bucket)])).value for _, bucket in wanted}
    assert players == {f">{DAY}T18:30+00:00": 5, f"<{DAY}T18:30+00:00": 3, "*": 8}
    # and before the first player: nobody
    assert view.edge_sketches(twin, [(publication, f"<{DAY}T01:00+00:00")]) == {(DAY, f"<{DAY}T01:00+00:00"): None}
    # Read again: from memory
    calls: list[str] = []
    ddb = client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        assert view.edge_sketches(twin, wanted) == got and calls == []
    finally:
        ddb.meta.events.unregister("before-call.dynamodb")
    # A rerun published without edges leaves none of run-1's behind
    view.publish(twin, DAY, rows[:1], "run-2")
    assert view.publications(twin, DAY, DAY)[DAY].cuts == frozenset()
    items = ddb.query(
        TableName=names.BATCH_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.partition_key(twin, DAY)}},
    )["Items"]
    assert sorted(i["sk"]["S"] for i in items) == ["run-2#*#", f"run-2#{DAY}T02:00+00:00#"]
    with pytest.raises(RunReplaced):
        DynamoBatchView(names.BATCH_TABLE).edge_sketches(twin, wanted[:1])


def test_a_day_too_large_for_one_publication_is_refused_with_what_to_do(aws) -> None:
    import hashlib

    view = DynamoBatchView(names.BATCH_TABLE)
    many = {hashlib.sha256(str(i).encode()).hexdigest()[:24]: i for i in range(40_000)}  # a group_by like a player id
    with pytest.raises(ValueError, match="more than one DynamoDB item holds"):
        view.publish("active_players_by_country", DAY, rows(many), "run-1")
    assert read(view) is None  # and nothing was published


def test_the_api_reads_the_publications_again_when_a_republish_replaced_the_run_it_shares(aws) -> None:
    from headcount.logic.reads import Reads
    from headcount.logic.serving import MetricsService
    from headcount.views.catalog_file import load_catalog
    from headcount.views.realtime import InMemoryRealtimeStore

    metric, now_ms = "active_players_by_country", 1_795_000_000_000  # 2026-11-18T11:06:40Z
    day = "2026-11-17"
    writer = DynamoBatchView(names.BATCH_TABLE)
    writer.publish(metric, day, [BatchRow(metric, day, day, "DE", 100, sketch_of(range(100)))], "run-1")
    service = MetricsService(Reads(load_catalog(), InMemoryRealtimeStore(), DynamoBatchView(names.BATCH_TABLE), "UTC"))
    # Given a request that read the day's publication (requests share it for a second), then a republish
    assert service.series(metric, day, None, None, now_ms).points[0].value == 100
    writer.publish(metric, day, [BatchRow(metric, day, day, "DE", 250, sketch_of(range(250)))], "run-2")
    # When a request within that second needs the run's sketches, which the republish deleted
    answer = service.distinct(metric, day, None, None, now_ms)
    # Then it read the publication again and answers from the new run, whole
    assert (answer.value, answer.exact) == (250, False) and answer.low <= 250 <= answer.high
