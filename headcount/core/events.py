"""The event contract with producers: parsing and validation, shared by the fold and the nightly job.

One validator for both layers: `parse_event` takes the raw record bytes and the window of arrival times the record may have
had (the Kinesis ApproximateArrivalTimestamp in the fold: a single instant; the archive hour's bounds in the batch job).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

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
    BAD_TYPE = "bad_type"
    BAD_PLAYER_ID = "bad_player_id"
    BAD_TS = "bad_ts"
    TS_IN_FUTURE = "ts_in_future"
    TS_TOO_OLD = "ts_too_old"
    BAD_EVENT_ID = "bad_event_id"
    BAD_ATTRS = "bad_attrs"


@dataclass(frozen=True, slots=True)
class Event:
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
        raise _Invalid(Reason.TOO_LARGE, f"record is {len(raw)} bytes, limit {MAX_RECORD_BYTES}")
    try:
        doc = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise _Invalid(Reason.NOT_JSON, str(exc)[:200]) from None
    if not isinstance(doc, dict):
        raise _Invalid(Reason.NOT_OBJECT, f"record is a JSON {type(doc).__name__}, not an object")

    event_type = doc.get("type")
    if not isinstance(event_type, str) or not TYPE_RE.fullmatch(event_type):
        raise _Invalid(Reason.BAD_TYPE, "type must match ^[a-z][a-z0-9_]{0,63}$")
    player_id = _player_id(doc.get("player_id"))
    ts_ms = _timestamp_ms(doc.get("ts"))
    if ts_ms > latest_ms + FUTURE_LIMIT_MS:
        raise _Invalid(Reason.TS_IN_FUTURE, "ts is more than 15 minutes after arrival")
    if ts_ms < earliest_ms - PAST_LIMIT_MS:
        raise _Invalid(Reason.TS_TOO_OLD, "ts is more than 30 days before arrival")
    event_id = doc.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_CHARS):
        raise _Invalid(Reason.BAD_EVENT_ID, "event_id must be a non-empty string of at most 128 characters")
    return Event(event_type, player_id, ts_ms, event_id, _attrs(doc.get("attrs")))


def _player_id(value: object) -> str:
    # bool is an int subclass in Python but a distinct JSON type: reject it.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise _Invalid(
            Reason.BAD_PLAYER_ID, "player_id must be a non-empty string of at most 128 characters or an integer"
        )
    return value


def _timestamp_ms(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid(Reason.BAD_TS, "ts is not ISO-8601") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise _Invalid(Reason.BAD_TS, "ts needs a UTC offset (Z or +hh:mm)")
        return _epoch_ms(parsed)
    raise _Invalid(Reason.BAD_TS, "ts must be an ISO-8601 string with offset or epoch milliseconds")


def _epoch_ms(parsed: datetime) -> int:
    # Integer arithmetic: float timestamps would round some milliseconds the wrong way.
    whole = int(parsed.replace(microsecond=0).timestamp())
    return whole * 1000 + parsed.microsecond // 1000


def _attrs(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_ATTRS:
        raise _Invalid(Reason.BAD_ATTRS, "attrs must be an object of at most 16 keys")
    attrs: dict[str, str] = {}
    for key, item in value.items():
        if not ATTR_KEY_RE.fullmatch(key):
            raise _Invalid(Reason.BAD_ATTRS, f"attribute name {key[:40]!r} must match ^[a-z][a-z0-9_]{{0,31}}$")
        text = _scalar_text(item)
        if text is None or len(text) > MAX_ATTR_VALUE_CHARS:
            raise _Invalid(Reason.BAD_ATTRS, f"attribute {key!r} must be a scalar of at most 64 characters")
        attrs[key] = text
    return attrs


def _scalar_text(item: object) -> str | None:
    """A scalar attribute as the string every layer uses: JSON's own spelling for true/false, decimal for integers."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return item
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        return json.dumps(item)
    return None  # null, list, object
