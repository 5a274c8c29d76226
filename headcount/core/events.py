"""The event contract with producers: parsing and validation, shared by the fold and the nightly job.

One validator for both layers: `parse_event` takes the raw record bytes and the window of arrival times the record may have
had (the Kinesis ApproximateArrivalTimestamp in the fold: a single instant; in the batch job, from the start of the
archive hour of the record's file to when that file was written).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import NamedTuple

import orjson

MAX_RECORD_BYTES = 8 * 1024
MAX_ID_CHARS = 128
MAX_ATTRS = 16
MAX_ATTR_VALUE_CHARS = 64
FUTURE_LIMIT_MS = 15 * 60 * 1000
PAST_LIMIT_MS = 30 * 24 * 3600 * 1000

TYPE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
ATTR_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")


class Reason(str, Enum):
    """Why an event was rejected; machine-readable, used as a metric dimension and in API responses."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    DUPLICATE_KEY = "duplicate_key"
    BAD_TYPE = "bad_type"
    BAD_PLAYER_ID = "bad_player_id"
    BAD_TS = "bad_ts"
    TS_IN_FUTURE = "ts_in_future"
    TS_TOO_OLD = "ts_too_old"
    BAD_EVENT_ID = "bad_event_id"
    BAD_ATTRS = "bad_attrs"


class Event(NamedTuple):  # a NamedTuple: built once per record, several times cheaper than a frozen dataclass
    type: str
    player_id: str
    ts_ms: int
    event_id: str | None
    attrs: dict[str, str]


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str


class _Invalid(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail


def event_lines(data: bytes) -> tuple[bytes, ...] | list[bytes]:
    """The events of one Kinesis record, one per line: a record is newline-terminated JSON, and the archive stores
    records as lines, so a record holding several lines is read line by line by both layers alike. Empty lines hold no
    event and are skipped by both (Firehose's AppendDelimiterToRecord adds one after every newline-terminated record)."""
    if data.find(b"\n", 0, len(data) - 1) == -1:  # the usual case: one line, its newline left for parse_event
        return (data,) if data not in _EMPTY else ()
    return [line for line in data.split(b"\n") if line]


_EMPTY = (b"", b"\n")


def parse_event(data: bytes | str, earliest_arrival_ms: int, latest_arrival_ms: int | None = None) -> Event | Rejection:
    """Parse one record into an Event, or say why it is rejected.

    `ts` may be at most 15 minutes after the latest possible arrival and at most 30 days before the earliest one.
    """
    if latest_arrival_ms is None:
        latest_arrival_ms = earliest_arrival_ms
    raw = data.encode() if isinstance(data, str) else data
    try:
        return _parse(raw, earliest_arrival_ms, latest_arrival_ms)
    except _Invalid as invalid:
        return Rejection(invalid.reason, invalid.detail)


def _parse(raw: bytes, earliest_ms: int, latest_ms: int) -> Event:
    if len(raw) > MAX_RECORD_BYTES:
        size = len(raw) - raw.endswith(b"\n")  # the terminating newline is not part of the event
        if size > MAX_RECORD_BYTES:
            raise _Invalid(Reason.TOO_LARGE, f"record is {size} bytes, limit {MAX_RECORD_BYTES}")
    try:
        # orjson: strict RFC 8259 (no NaN, no invalid UTF-8), and about 4x faster than json on these small documents.
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Invalid(Reason.NOT_JSON, str(exc)[:200]) from None
    if type(doc) is not dict:
        raise _Invalid(Reason.NOT_OBJECT, f"record is a JSON {type(doc).__name__}, not an object")
    if repeats_a_key(raw, doc):
        # orjson and Python keep the last value of a repeated key, DuckDB's and Athena's JSON functions the first: the
        # archive would be read as another event than the one counted.
        raise _Invalid(Reason.DUPLICATE_KEY, "an object of the record repeats a key")

    event_type = doc.get("type")
    if type(event_type) is not str or (
        event_type not in _VALID_TYPES and not _remember_valid(_VALID_TYPES, TYPE_RE, event_type)
    ):
        raise _Invalid(Reason.BAD_TYPE, "type must match ^[a-z][a-z0-9_]{0,63}$")
    # Fast paths inline (a string id, epoch milliseconds); everything else goes through the full checks.
    player_id = doc.get("player_id")
    if type(player_id) is not str or not 0 < len(player_id) <= MAX_ID_CHARS:
        player_id = _player_id(player_id)
    ts_ms = doc.get("ts")
    if type(ts_ms) is not int:
        ts_ms = _timestamp_ms(ts_ms)
    if ts_ms > latest_ms + FUTURE_LIMIT_MS:
        raise _Invalid(Reason.TS_IN_FUTURE, "ts is more than 15 minutes after arrival")
    if ts_ms < earliest_ms - PAST_LIMIT_MS:
        raise _Invalid(Reason.TS_TOO_OLD, "ts is more than 30 days before arrival")
    event_id = doc.get("event_id")
    if event_id is not None and (type(event_id) is not str or not 0 < len(event_id) <= MAX_ID_CHARS):
        raise _Invalid(Reason.BAD_EVENT_ID, "event_id must be a non-empty string of at most 128 characters")
    # tuple.__new__: an Event without NamedTuple's Python-level __new__ (the fold's hot loop)
    return tuple.__new__(Event, (event_type, player_id, ts_ms, event_id, _attrs(doc.get("attrs"))))


def repeats_a_key(raw: bytes, doc: dict) -> bool:
    """Whether an object anywhere in the record has a key twice (the parsed `doc` kept one of them).

    Without a backslash in the record, no string in it holds a quote, a backslash or a control character, so orjson
    writes `doc` back with exactly one pair of quotes per key and per string value, as the record has them: a repeated
    key shows as more quotes in the record than in `doc` written back (half the cost of walking `doc` in Python, which
    matters at the fold's rate). With escapes, a scan of the text."""
    if b"\\" not in raw:
        try:
            return raw.count(b'"') != orjson.dumps(doc).count(b'"')
        except orjson.JSONEncodeError:  # nothing orjson parsed should fail to write back; if it does, the slow way
            pass
    return _scan_for_repeated_key(raw.decode())


def _scan_for_repeated_key(text: str) -> bool:
    """The keys of each object, in a valid JSON text, checked for repeats (escapes decoded, so `"a"` and `"\\u0061"`
    are the same key); iterative, one stack frame per open object or array."""
    frames: list[set[str] | None] = []  # a set of keys per open object, None per open array
    expect_key = False
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if expect_key:
                key = json.loads(text[i : end + 1])
                keys = frames[-1]
                assert keys is not None
                if key in keys:
                    return True
                keys.add(key)
                expect_key = False
            i = end + 1
            continue
        if char == "{":
            frames.append(set())
            expect_key = True
        elif char == "[":
            frames.append(None)
        elif char in "}]":
            frames.pop()
        elif char == ",":
            expect_key = bool(frames) and frames[-1] is not None
        i += 1
    return False


# Names seen valid before: most events repeat a handful of types and attribute names, so skip their regex.
_VALID_TYPES: set[str] = set()
_VALID_ATTR_KEYS: set[str] = set()
_MAX_REMEMBERED = 10_000


def _remember_valid(seen: set[str], pattern: re.Pattern[str], name: str) -> bool:
    if not pattern.fullmatch(name):
        return False
    if len(seen) < _MAX_REMEMBERED:
        seen.add(name)
    return True


def _player_id(value: object) -> str:
    # `type(...) is int`: bool is an int subclass in Python but a distinct JSON type, rejected.
    if type(value) is int:
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise _Invalid(
            Reason.BAD_PLAYER_ID, "player_id must be a non-empty string of at most 128 characters or an integer"
        )
    return value


def timestamp_ms(value: object) -> int | None:
    """An event's `ts` as epoch milliseconds, None if it is not a valid one (the erasure's day of a line)."""
    try:
        return _timestamp_ms(value)
    except _Invalid:
        return None


def _timestamp_ms(value: object) -> int:
    if type(value) is int:  # not bool
        return value
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid(Reason.BAD_TS, "ts is not ISO-8601") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise _Invalid(Reason.BAD_TS, "ts needs a UTC offset (Z or +hh:mm)")
        return _epoch_ms(parsed)
    raise _Invalid(Reason.BAD_TS, "ts must be an ISO-8601 string with offset or epoch milliseconds")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def _epoch_ms(parsed: datetime) -> int:
    # Integer arithmetic (floored to the millisecond): float timestamps would round some milliseconds the wrong way.
    return (parsed - _EPOCH) // _MILLISECOND


def _attrs(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if type(value) is not dict or len(value) > MAX_ATTRS:
        raise _Invalid(Reason.BAD_ATTRS, "attrs must be an object of at most 16 keys")
    all_text = True
    for key, item in value.items():
        if key not in _VALID_ATTR_KEYS and not _remember_valid(_VALID_ATTR_KEYS, ATTR_KEY_RE, key):
            raise _Invalid(Reason.BAD_ATTRS, f"attribute name {key[:40]!r} must match ^[a-z][a-z0-9_]{{0,31}}$")
        if type(item) is not str:
            all_text = False
        elif len(item) > MAX_ATTR_VALUE_CHARS:
            raise _Invalid(Reason.BAD_ATTRS, f"attribute {key!r} must be a scalar of at most 64 characters")
    if all_text:
        return value  # the usual case: the parsed document's own dict, already all strings
    attrs: dict[str, str] = {}
    for key, item in value.items():
        text = _scalar_text(item)
        if text is None or len(text) > MAX_ATTR_VALUE_CHARS:
            raise _Invalid(Reason.BAD_ATTRS, f"attribute {key!r} must be a scalar of at most 64 characters")
        attrs[key] = text
    return attrs


def _scalar_text(item: object) -> str | None:
    """A scalar attribute as the string every layer uses: JSON's own spelling for true/false, decimal for integers."""
    if isinstance(item, str):
        return item
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        return json.dumps(item)
    return None  # null, list, object
