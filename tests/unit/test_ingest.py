"""POST /v1/events' logic: every event ends accepted (in the stream) or rejected with its index, even when the stream
throttles, so a producer resends exactly what is not in."""

from __future__ import annotations

import time

import orjson
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from headcount.logic.ingest import (
    ANSWER_MARGIN_S,
    RECORD_BYTES,
    STREAM_THROTTLED,
    STREAM_UNCONFIRMED,
    Accepted,
    accept_events,
    put_deadline,
)
from headcount.views.stream import StreamUnavailable, put_with_retries

NOW_MS = 1_764_000_000_000


class ThrottlingStream:
    """PutRecords that refuses the records whose data contains `refuse` (ProvisionedThroughputExceeded, per record, as
    Kinesis does) for the first `refusals` calls, and keeps what it accepts."""

    def __init__(self, refuse: bytes = b"", refusals: int = 0) -> None:
        self.refuse, self.refusals = refuse, refusals
        self.stored: list[bytes] = []
        self.calls = 0

    def __call__(self, records: list[dict]) -> dict:
        self.calls += 1
        results, failed = [], 0
        for record in records:
            if self.refuse and self.refuse in record["Data"] and self.calls <= self.refusals:
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
                failed += 1
            else:
                self.stored.append(record["Data"])
                results.append({"SequenceNumber": str(len(self.stored)), "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": failed, "Records": results}


def stored_events(stream: ThrottlingStream) -> list[dict]:
    """The events in the stream's records (a record holds one player's events of a request, a line each)."""
    return [orjson.loads(line) for data in stream.stored for line in data.splitlines()]


def event(i: int, player: str = "p-1") -> dict:
    return {"event_id": f"e-{i}", "type": "session_start", "player_id": player, "ts": NOW_MS - 1000}


def body(events: list[dict]) -> bytes:
    return orjson.dumps({"events": events})


def test_records_refused_for_a_while_are_retried_until_they_are_in() -> None:
    # Given a stream that refuses p-2's records twice
    stream = ThrottlingStream(refuse=b'"p-2"', refusals=2)
    # When three events are posted
    answer = accept_events(body([event(0), event(1, "p-2"), event(2)]), NOW_MS, stream)
    # Then all are in, each once
    assert answer == Accepted(accepted=3, rejected=[])
    assert sorted(e["event_id"] for e in stored_events(stream)) == ["e-0", "e-1", "e-2"]
    assert stream.calls == 3


def test_records_still_refused_at_the_deadline_are_answered_as_rejected_by_index() -> None:
    # Given a stream that keeps refusing p-2's records, and a request whose time is almost up
    stream = ThrottlingStream(refuse=b'"p-2"', refusals=10**6)
    posted = [event(0), {"type": "Bad"}, event(2, "p-2"), event(3)]
    started = time.monotonic()
    # When the events are posted
    answer = accept_events(body(posted), NOW_MS, stream, deadline=time.monotonic() + 0.3)
    # Then the call returns by its deadline; the refused event is rejected by its index, the others are in once
    assert time.monotonic() - started < 1.0
    assert answer.accepted == 2
    assert [(r.index, r.reason) for r in answer.rejected] == [(1, "bad_type"), (2, STREAM_THROTTLED)]
    assert sorted(e["event_id"] for e in stored_events(stream)) == ["e-0", "e-3"]


def test_a_stream_refusing_everything_is_unavailable() -> None:
    stream = ThrottlingStream(refuse=b"session_start", refusals=10**6)
    with pytest.raises(StreamUnavailable):
        accept_events(body([event(0), event(1)]), NOW_MS, stream, deadline=time.monotonic() + 0.2)


def test_an_error_that_waiting_cannot_fix_is_raised_at_once() -> None:
    calls = []

    def missing_stream(records: list[dict]) -> dict:
        calls.append(records)
        raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no stream"}}, "PutRecords")

    with pytest.raises(ClientError):
        put_with_retries([{"Data": b"x", "PartitionKey": "p"}], missing_stream)
    assert len(calls) == 1


def test_events_of_a_call_that_got_no_answer_are_reported_as_unconfirmed_not_refused() -> None:
    # Given a stream whose answers are lost on the way back (it stored the records) while p-2 is also throttled
    stream = ThrottlingStream(refuse=b'"p-2"', refusals=10**6)

    def answer_lost(records: list[dict]) -> dict:
        stream(records)
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:4567")

    # When events are posted until the request's deadline
    answer = accept_events(body([event(0), event(1, "p-2")]), NOW_MS, answer_lost, deadline=time.monotonic() + 0.3)
    # Then nothing is claimed accepted or simply refused: each may be in the stream, and the caller is told so
    assert answer.accepted == 0
    assert [(r.index, r.reason) for r in answer.rejected] == [(0, STREAM_UNCONFIRMED), (1, STREAM_UNCONFIRMED)]
    assert b"e-0" in b"".join(stream.stored)  # it was in after all


def test_an_event_that_repeats_a_key_is_rejected_by_index_and_the_others_go_in() -> None:
    # Given a body whose second event names two players and whose third repeats an attribute (escaped, once)
    stream = ThrottlingStream()
    ts = NOW_MS - 1000
    posted = (
        b'{"events": [{"type": "session_start", "player_id": "p-1", "ts": %d},'
        b' {"type": "session_start", "player_id": "p-2", "ts": %d, "player_id": "p-3"},'
        b' {"type": "session_start", "player_id": "p-4", "ts": %d, "attrs": {"os": "ios", "\\u006fs": "android"}}]}'
    ) % (ts, ts, ts)
    # When it is posted
    answer = accept_events(posted, NOW_MS, stream)
    # Then those two are rejected as such (readers would disagree on their values), and only the first is in
    assert [(r.index, r.reason) for r in answer.rejected] == [(1, "duplicate_key"), (2, "duplicate_key")]
    assert answer.accepted == 1 and [e["player_id"] for e in stored_events(stream)] == ["p-1"]


def test_an_event_that_repeats_a_key_plainly_is_rejected_though_the_body_has_no_escape() -> None:
    # Given a body without a single backslash whose second event repeats "type" and whose fourth repeats an attribute
    stream = ThrottlingStream()
    ts = NOW_MS - 1000
    posted = (
        b'{"events":[{"type":"session_start","player_id":"p-1","ts":%d},'
        b'{"type":"a","type":"b","player_id":"p-2","ts":%d},'
        b'{"type":"session_start","player_id":"p-3","ts":%d,"attrs":{"country":"DE"}},'
        b'{"type":"session_start","player_id":"p-4","ts":%d,"attrs":{"country":"DE","country":"FR"}}]}'
    ) % (ts, ts, ts, ts)
    assert b"\\" not in posted
    # When it is posted
    answer = accept_events(posted, NOW_MS, stream)
    # Then those two are rejected as duplicate keys, by index, and the others go in
    assert [(r.index, r.reason) for r in answer.rejected] == [(1, "duplicate_key"), (3, "duplicate_key")]
    assert answer.accepted == 2 and [e["player_id"] for e in stored_events(stream)] == ["p-1", "p-3"]


def test_a_players_events_share_a_record_up_to_one_put_payload_unit() -> None:
    # Given a request with two players' events, p-1's more than one 25 KiB record holds
    stream = ThrottlingStream()
    attrs = {f"a{k}": "x" * 60 for k in range(8)}  # about 600 bytes an event
    posted = [{**event(i, "p-1" if i % 4 else "p-2"), "attrs": attrs} for i in range(80)]
    # When it is posted
    answer = accept_events(body(posted), NOW_MS, stream)
    # Then every event is in once, in records of one player each, none over RECORD_BYTES, a player's in order
    assert answer == Accepted(accepted=80, rejected=[])
    records = [[orjson.loads(line) for line in data.splitlines()] for data in stream.stored]
    assert all(len({e["player_id"] for e in r}) == 1 for r in records)
    assert all(len(data) <= RECORD_BYTES for data in stream.stored)
    assert [r[0]["player_id"] for r in records] == ["p-2", "p-1", "p-1"]  # p-1's 60 events take two records
    for player in ("p-1", "p-2"):
        ids = [e["event_id"] for r in records for e in r if e["player_id"] == player]
        assert ids == [e["event_id"] for e in posted if e["player_id"] == player]


def test_a_refused_record_rejects_each_of_its_events_by_index() -> None:
    # Given a stream that keeps refusing p-2's record
    stream = ThrottlingStream(refuse=b'"p-2"', refusals=10**6)
    posted = [event(0), event(1, "p-2"), event(2), event(3, "p-2")]
    # When the events are posted until the request's deadline
    answer = accept_events(body(posted), NOW_MS, stream, deadline=time.monotonic() + 0.3)
    # Then p-1's events are in, and both of p-2's are answered as throttled, by their indices
    assert answer.accepted == 2
    assert [(r.index, r.reason) for r in answer.rejected] == [(1, STREAM_THROTTLED), (3, STREAM_THROTTLED)]


def test_throttled_records_are_put_again_until_the_answer_must_go_and_for_a_second_at_least() -> None:
    # Given 29 s left (API Gateway's limit), the puts stop in time for the last call, the marks and the answer
    assert put_deadline(29_000, monotonic_now=100.0) == 100.0 + 29 - ANSWER_MARGIN_S
    # and with almost no time left, a request still gets one second of tries, not none
    assert put_deadline(3_000, monotonic_now=100.0) == 101.0


def test_the_events_of_a_player_erased_with_no_more_are_taken_and_dropped() -> None:
    from headcount.core.erasure import blocked_hash

    # Given a player erased with "no more" (in either form of the id)
    stream = ThrottlingStream()
    posted = [event(0), event(1, "4242"), {**event(2), "player_id": 4242}]
    # When their events are posted with another player's
    answer = accept_events(body(posted), NOW_MS, stream, blocked=frozenset({blocked_hash("4242")}))
    # Then all are accepted (nothing to resend), theirs dropped: only the other player's reaches the stream
    assert answer == Accepted(accepted=3, rejected=[], dropped=2)
    assert [e["player_id"] for e in stored_events(stream)] == ["p-1"]
