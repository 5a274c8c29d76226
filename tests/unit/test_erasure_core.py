"""Erasure's pure core (headcount/core/erasure.py): which ids a request names, its receipt (salted hashes, never an
id), when a batch is due, and which lines of a raw object go."""

from __future__ import annotations

import orjson
import pytest

from headcount.core.erasure import (
    ARCHIVE_SETTLE_MS,
    BATCH_MARGIN_MS,
    DAY_MS,
    MAX_IDS_PER_REQUEST,
    BadErasure,
    ErasurePolicy,
    Receipt,
    State,
    canonical_id,
    canonical_ids,
    filter_lines,
)
from headcount.core.events import MAX_ID_CHARS

NOW_MS = 1_795_000_000_000  # 2026-11-18T11:06:40Z
HOUR_MS = 3_600_000
TS = 1_794_990_000_000  # a ts inside the raw lines below


def line(player_id: object, ts: object = TS, **more: object) -> bytes:
    return orjson.dumps({"type": "session_start", "player_id": player_id, "ts": ts, **more})


# ---------------------------------------------------------------------------------------------------- the ids


def test_an_integer_id_and_its_decimal_string_are_one_player():
    # Given the id as a game may send it: a JSON integer, or a string
    # Then both are the same canonical id, and a request naming both names one player, in the order given
    assert canonical_id(123) == canonical_id("123") == "123"
    assert canonical_ids([123, "alice", "123", "alice", 7]) == ["123", "alice", "7"]
    # And a string is taken as it is (no trimming, no number parsing)
    assert canonical_ids(["0123", " 123", "123.0"]) == ["0123", " 123", "123.0"]


@pytest.mark.parametrize("bad", [True, False, 1.5, 123.0, None, "", "x" * (MAX_ID_CHARS + 1), ["a"], {"id": "a"}])
def test_what_is_no_player_id_is_refused(bad):
    # Given a value a game's player_id could never be (a bool is a JSON type of its own, not an integer)
    # When a request names it / Then it is refused, saying what a player id is
    with pytest.raises(BadErasure, match="a player id is a non-empty string"):
        canonical_ids(["alice", bad])


def test_a_request_names_one_to_the_maximum_of_players():
    assert canonical_ids(["x" * MAX_ID_CHARS]) == ["x" * MAX_ID_CHARS]
    with pytest.raises(BadErasure, match="no player id"):
        canonical_ids([])
    # The maximum counts players, not how often they are named
    assert len(canonical_ids([*range(MAX_IDS_PER_REQUEST), *map(str, range(MAX_IDS_PER_REQUEST))])) == 1000
    with pytest.raises(BadErasure, match=f"at most {MAX_IDS_PER_REQUEST} player ids a request, got 1001"):
        canonical_ids(range(MAX_IDS_PER_REQUEST + 1))


# ---------------------------------------------------------------------------------------------------- the receipt


def test_a_receipt_covers_its_players_in_either_form_and_no_other():
    # Given a receipt of a request naming the integer 123 and alice
    receipt = Receipt.new(canonical_ids([123, "alice"]), NOW_MS)
    # Then it covers 123 however it is written, and alice; not a player it did not name
    assert receipt.covers(123) and receipt.covers("123") and receipt.covers("alice")
    assert not receipt.covers("1234") and not receipt.covers("Alice") and not receipt.covers(12)
    assert (receipt.players, receipt.state, receipt.requested_ms, receipt.no_more) == (2, State.PENDING, NOW_MS, False)
    # And another receipt of the same player has its own salt: receipts cannot be linked by their hashes
    again = Receipt.new(["alice"], NOW_MS)
    assert again.id != receipt.id and again.salt != receipt.salt and not set(again.hashes) & set(receipt.hashes)


def test_a_receipts_json_holds_no_player_id():
    # Given a request naming an email-like id and a long number
    ids = ["player.one@example.com", "9876543210123"]
    receipt = Receipt.new(ids, NOW_MS, no_more=True)
    # When it is written as JSON (what the API answers and the table keeps)
    text = orjson.dumps(receipt.to_json()).decode()
    # Then neither id is in it, in any form; one hash per player is
    assert not any(player_id in text for player_id in ids)
    assert len(receipt.to_json()["hashes"]) == 2


def test_a_receipt_round_trips_through_its_json():
    # Given a receipt its batch finished: steps, what was removed, when
    done = (
        Receipt.new(["alice", "42"], NOW_MS, no_more=True)
        .with_step("found", NOW_MS + HOUR_MS)
        .with_step("raw", NOW_MS + 2 * HOUR_MS)
    )
    done = Receipt.from_json(
        {
            **done.to_json(),
            "state": "done",
            "batch": "run-7",
            "removed": {"events": 12, "days_recomputed": ["2026-11-17"]},
            "finished_at_ms": NOW_MS + 3 * HOUR_MS,
        }
    )
    # When its JSON is read back (through bytes, as DynamoDB keeps it)
    back = Receipt.from_json(orjson.loads(orjson.dumps(done.to_json())))
    # Then it is the same receipt, and still covers its players
    assert back == done and back.covers(42) and back.state is State.DONE
    assert back.to_json()["steps"] == {"found": NOW_MS + HOUR_MS, "raw": NOW_MS + 2 * HOUR_MS}
    assert back.to_json()["nothing_found"] is False
    # And a batch that found none of the players says so
    empty = Receipt.from_json({**done.to_json(), "removed": {"events": 0}})
    assert empty.to_json()["nothing_found"] is True
    assert Receipt.new(["a"], NOW_MS).to_json()["nothing_found"] is False  # pending: nothing looked for yet


# ---------------------------------------------------------------------------------------------------- the policy


def test_a_batch_waits_for_the_archive_to_settle():
    # Given a policy that would take any single request at once
    policy = ErasurePolicy(every_days=1, max_pending=1, deadline_days=7)
    # When a request is younger than the archive's settle time / Then no batch is due; once it has settled, one is
    assert policy.due([NOW_MS - ARCHIVE_SETTLE_MS + 1], NOW_MS) is None
    assert policy.due([NOW_MS - ARCHIVE_SETTLE_MS], NOW_MS) is not None
    assert policy.eligible([NOW_MS - ARCHIVE_SETTLE_MS, NOW_MS - 60_000], NOW_MS) == [NOW_MS - ARCHIVE_SETTLE_MS]
    assert policy.due([], NOW_MS) is None


def test_a_batch_is_due_before_the_oldest_request_would_wait_longer_than_every_days():
    # Given a batch a week at least, or at 3 waiting
    policy = ErasurePolicy(every_days=7, max_pending=3, deadline_days=7)
    # Then a request 5 days 20 hours old is due tonight (tomorrow's run, and its batch's hours, would end past the
    # week), one of 5 days 19 hours not yet
    assert policy.due([NOW_MS - 6 * DAY_MS + 5 * HOUR_MS], NOW_MS) is None
    assert "5.8 days old" in (policy.due([NOW_MS - 6 * DAY_MS + 4 * HOUR_MS], NOW_MS) or "")
    # And a request made just after a nightly run started is taken by a run that ends before it is a week old: the
    # first night it is due is at most 6 days 20 hours after it, and a batch ends within 4 hours of its night's start
    nights = [NOW_MS + k * DAY_MS for k in range(8)]
    request = NOW_MS + 60_000
    first = next(night for night in nights if night >= request and policy.due([request], night))
    assert first - request + BATCH_MARGIN_MS <= 7 * DAY_MS
    # And 3 settled requests are due at once; 2 settled and one still settling are not
    settled = [NOW_MS - HOUR_MS, NOW_MS - 2 * HOUR_MS]
    assert policy.due(settled, NOW_MS) is None
    assert policy.due([*settled, NOW_MS - 60_000], NOW_MS) is None
    assert "3 requests are waiting" in (policy.due([*settled, NOW_MS - 3 * HOUR_MS], NOW_MS) or "")


def test_a_policy_that_could_miss_its_deadline_is_refused():
    with pytest.raises(ValueError, match="every_days"):
        ErasurePolicy(every_days=8, deadline_days=7)
    with pytest.raises(ValueError, match="max_pending"):
        ErasurePolicy(max_pending=0)


# ---------------------------------------------------------------------------------------------------- raw lines


def test_the_erased_players_lines_go_in_either_form_and_the_rest_stays_byte_for_byte():
    # Given a raw object: the players' lines (an integer id and its string, alice), others, empty lines and a line
    # that is no JSON, with the spacing a producer sent
    kept_lines = [
        b'{"type": "session_start", "player_id" : "bob",  "ts": 1794990000000}',
        b"",
        line(1234),
        line("0123"),
        b"not json, player_id alice",
        b"   ",
        line("alice-2"),
    ]
    data = b"\n".join(
        [line("alice"), kept_lines[0], line(123), kept_lines[1], line("123", ts=None), *kept_lines[2:], b""]
    )
    # When the lines of alice and 123 are filtered out
    filtered = filter_lines(data, frozenset({"alice", "123"}))
    # Then exactly those lines went, each with its ts (None for the one without a valid one); the rest is unchanged
    assert filtered.data == b"\n".join([*kept_lines, b""])
    assert filtered.removed == {"alice": [TS], "123": [TS, None]} and filtered.lines == 3


def test_a_line_naming_the_player_id_twice_goes_if_either_is_erased():
    # Given a line the validator rejects (duplicate_key): DuckDB reads its first player_id, orjson its last
    twice = b'{"type": "x", "player_id": "bob", "player_id": "alice", "ts": 1794990000000}'
    # Then it goes when either player is erased
    assert filter_lines(twice + b"\n", frozenset({"alice"})).data == b""
    assert filter_lines(twice + b"\n", frozenset({"bob"})).data == b""
    assert filter_lines(twice + b"\n", frozenset({"carol"})).data == twice + b"\n"
    # And a player_id inside the attributes is not the line's player
    nested = line("bob", attrs={"player_id": "alice", "other": {"player_id": "alice"}})
    assert filter_lines(nested, frozenset({"alice"})).data == nested


def test_no_ids_leave_the_object_as_it_is():
    data = line("alice") + b"\n"
    filtered = filter_lines(data, frozenset())
    assert filtered.data is data and filtered.lines == 0
    assert filter_lines(data, frozenset({"bob"})).data == data
