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


def test_a_day_is_unpublished_until_its_marker_is_written(aws) -> None:
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
        "~run",
    ]
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
    # Given a republish that lands between the reader's marker read and its row query
    query, raced = reader._query, []

    def query_after_a_republish(pk: str, **kwargs):
        if not raced:
            raced.append(True)
            writer.publish("active_players_by_country", DAY, rows({"BR": 1, "DE": 4}), "run-2")
        return query(pk, **kwargs)

    reader._query = query_after_a_republish  # this instance only
    # Then the reader notices the marker's run is gone and reads the new run whole
    assert read(reader) == {"BR": 1, "DE": 4} and raced
