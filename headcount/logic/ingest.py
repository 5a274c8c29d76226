"""`POST /v1/events`: producers' events, validated with the one validator, into the stream.

Each accepted event goes to Kinesis as one line of compact JSON with its player as partition key (per-player order), so
the fold and the archive see exactly what was validated here; a request's events of one player share a record (up to
RECORD_BYTES), as a game client's usually all are: Kinesis bills each record by started 25 KiB and Firehose by started
5 KiB, so a record per event costs ten times more than a record per request. Rejected events are answered with their index and reason
and never enter the stream: the caller can fix and resend them. A valid event the stream still refuses (throttling) when
the request's time is up is answered as rejected too (`stream_throttled`), so the caller resends exactly that one and
nothing that is already in; one whose call got no answer at all is `stream_unconfirmed` (it may be in: resending it may
count it twice in real time, and once in the nightly counts when it has an event_id).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field

import orjson

from headcount.core.erasure import blocked_hash
from headcount.core.events import Reason, Rejection, parse_event, repeats_a_key
from headcount.logic.errors import BadRequest, TooLarge
from headcount.views.realtime import RealtimeStore
from headcount.views.stream import StreamUnavailable, put_with_retries

MAX_EVENTS = 500
MAX_BODY_BYTES = 1024 * 1024
# A request's events of one player share a record (lines of compact JSON) up to this size: one Kinesis PUT payload unit,
# and far fewer of Firehose's 5 KiB a record (an event is about 200 bytes; docs/cost.md).
RECORD_BYTES = 25 * 1024
STREAM_THROTTLED = "stream_throttled"  # a valid event the stream refused until the request's deadline
STREAM_UNCONFIRMED = "stream_unconfirmed"  # a valid event in a call the stream never answered: in or not, unknown
# A request's time: API Gateway gives up at 29 s, the function at its timeout; the answer must say which events are in.
PUT_CALL_BUDGET_S = 6  # one PutRecords call, answered or abandoned
MARK_CALL_BUDGET_S = 2  # noting the shards that took records (a freshness hint) after the events are in
ANSWER_MARGIN_S = PUT_CALL_BUDGET_S + MARK_CALL_BUDGET_S + 2.0  # the last call may start just before the deadline


@dataclass
class _Pack:
    """Events of one player that go into one Kinesis record, one line each."""

    player_id: str
    indices: list[int] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    size: int = 0

    def add(self, index: int, line: bytes) -> None:
        self.indices.append(index)
        self.lines.append(line)
        self.size += len(line)


@dataclass(frozen=True)
class RejectedEvent:
    index: int  # in the request's `events`
    reason: str  # a validator reason (headcount.core.events.Reason), STREAM_THROTTLED or STREAM_UNCONFIRMED
    detail: str


@dataclass(frozen=True)
class Accepted:
    """What became of a request's events: `accepted` are in the stream; each other one is rejected, by index."""

    accepted: int
    rejected: list[RejectedEvent]
    # of `accepted`, the events of players erased with "no more": taken (nothing to resend) and dropped, never put
    dropped: int = 0


def put_deadline(remaining_ms: int, monotonic_now: float) -> float:
    """Until when (a time.monotonic()) throttled records are put again: the function's remaining time less what the
    last put, the marks and the answer may take; at least a second."""
    return monotonic_now + max(1.0, remaining_ms / 1000 - ANSWER_MARGIN_S)


def accept_events(
    body: bytes,
    now_ms: int,
    put_records: Callable[[list[dict]], dict],
    deadline: float | None = None,
    blocked: Container[str] = frozenset(),
) -> Accepted:
    """Validate every event, put the valid ones into the stream (retrying throttled records until `deadline`,
    a time.monotonic()), and answer which ones are in and which are not, by index: an event is either accepted (in the
    stream) or rejected with a reason, so the caller resends exactly the rejected ones. An event of a player in
    `blocked` (`blocked_hash`: erased with "no more") is accepted and dropped."""
    events, repeating = _events_of(body)
    packs: dict[str, list[_Pack]] = {}  # by player: their events, in records of at most RECORD_BYTES
    rejected: list[RejectedEvent] = []
    dropped = 0
    for index, event in enumerate(events):
        if index in repeating:
            rejected.append(RejectedEvent(index, Reason.DUPLICATE_KEY.value, "an object of the event repeats a key"))
            continue
        line = orjson.dumps(event) + b"\n"
        verdict = parse_event(line, now_ms)
        if isinstance(verdict, Rejection):
            rejected.append(RejectedEvent(index, verdict.reason.value, verdict.detail))
            continue
        if blocked and blocked_hash(verdict.player_id) in blocked:
            dropped += 1
            continue
        player = packs.setdefault(verdict.player_id, [])
        if not player or player[-1].size + len(line) > RECORD_BYTES:
            player.append(_Pack(verdict.player_id))
        player[-1].add(index, line)
    ordered = sorted((pack for player in packs.values() for pack in player), key=lambda pack: pack.indices[0])
    records = [{"Data": b"".join(pack.lines), "PartitionKey": pack.player_id} for pack in ordered]
    accepted = 0
    if records:
        outcome = put_with_retries(records, put_records, deadline=deadline)
        if len(outcome.pending) == len(records) and not outcome.unanswered:
            events_refused = sum(len(pack.indices) for pack in ordered)
            raise StreamUnavailable(
                f"the stream refused all {events_refused} valid events (throttling); send them again"
            )
        for i in outcome.pending:
            rejected += [_undelivered(index, i in outcome.unanswered) for index in ordered[i].indices]
        rejected.sort(key=lambda r: r.index)
        accepted = sum(len(pack.indices) for pack in ordered) - sum(len(ordered[i].indices) for i in outcome.pending)
    return Accepted(accepted + dropped, rejected, dropped)


def _events_of(body: bytes) -> tuple[list, set[int]]:
    """The body's events, and the indexes of those that repeat a key; TooLarge or BadRequest for a bad body."""
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} per request")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise BadRequest('the body must be {"events": [...]}')
    events = doc["events"]
    if len(events) > MAX_EVENTS:
        raise TooLarge(f"{len(events)} events; at most {MAX_EVENTS} per request")
    # Parsing the body kept one value of a repeated key: find the events that had one, before they are re-serialized.
    return events, _events_repeating_a_key(body) if repeats_a_key(body, doc) else set()


class _Pairs(dict):
    """A parsed object that remembers whether it, or an object inside it, repeated a key."""

    repeats = False


def _object(pairs: list[tuple[str, object]]) -> _Pairs:
    parsed = _Pairs(pairs)
    parsed.repeats = len(parsed) < len(pairs) or any(_repeats(value) for _key, value in pairs)
    return parsed


def _repeats(value: object) -> bool:
    if isinstance(value, _Pairs):
        return value.repeats
    return isinstance(value, list) and any(_repeats(item) for item in value)


def _events_repeating_a_key(body: bytes) -> set[int]:
    """The indices of the events with a repeated key in some object of theirs (the body is valid JSON)."""
    try:
        doc = json.loads(body, object_pairs_hook=_object)
    except RecursionError:
        raise BadRequest("the body nests too deep") from None
    events = doc.get("events") if isinstance(doc, dict) else None
    return {i for i, event in enumerate(events or []) if _repeats(event)}


def _undelivered(index: int, unanswered: bool) -> RejectedEvent:
    if unanswered:
        detail = "the stream did not answer: it may hold it; resent, it may count twice until the nightly counts"
        return RejectedEvent(index, STREAM_UNCONFIRMED, detail)
    return RejectedEvent(index, STREAM_THROTTLED, "the stream refused it; send it again")


@dataclass
class PutMarks:
    """When this function last noted putting records into each shard, so that it notes it at most every `every_ms`:
    readers tell a shard whose fold stopped (records put well after its watermark) from an idle one."""

    store: RealtimeStore
    every_ms: int = 30_000
    noted: dict[str, int] = field(default_factory=dict)

    def note(self, shards: Iterable[str], put_ms: int) -> None:
        for shard in shards:
            if put_ms - self.noted.get(shard, -self.every_ms) >= self.every_ms:
                self.store.note_put(shard, put_ms)
                self.noted[shard] = put_ms
