"""`POST /v1/events`: producers' events, validated with the one validator, into the stream.

Each accepted event goes to Kinesis as one line of compact JSON with its player as partition key (per-player order), so
the fold and the archive see exactly what was validated here. Rejected events are answered with their index and reason
and never enter the stream: the caller can fix and resend them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from headcount.core.events import Rejection, parse_event
from headcount.views.stream import send

MAX_EVENTS = 500
MAX_BODY_BYTES = 1024 * 1024


class TooLarge(ValueError):
    pass


class BadBody(ValueError):
    pass


def accept_events(body: bytes, now_ms: int, put_records: Callable[[list[dict]], dict]) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} per request")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise BadBody('the body must be {"events": [...]}')
    events = doc["events"]
    if len(events) > MAX_EVENTS:
        raise TooLarge(f"{len(events)} events; at most {MAX_EVENTS} per request")
    records: list[tuple[bytes, str]] = []
    rejected: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        line = orjson.dumps(event) + b"\n"
        verdict = parse_event(line, now_ms)
        if isinstance(verdict, Rejection):
            rejected.append({"index": index, "reason": verdict.reason.value, "detail": verdict.detail})
        else:
            records.append((line, verdict.player_id))
    send(records, put_records, writers=1)
    return {"accepted": len(records), "rejected": rejected}
