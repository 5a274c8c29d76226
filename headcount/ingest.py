"""`POST /v1/events`: producers' events, validated with the one validator, into the stream.

Each accepted event goes to Kinesis as one line of compact JSON with its player as partition key (per-player order), so
the fold and the archive see exactly what was validated here. Rejected events are answered with their index and reason
and never enter the stream: the caller can fix and resend them. A valid event the stream still refuses (throttling) when
the request's time is up is answered as rejected too (`stream_throttled`), so the caller resends exactly that one and
nothing that is already in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from headcount.core.events import Rejection, parse_event
from headcount.views.stream import StreamUnavailable, put_with_retries

MAX_EVENTS = 500
MAX_BODY_BYTES = 1024 * 1024
STREAM_THROTTLED = "stream_throttled"  # a valid event the stream refused until the request's deadline


class TooLarge(ValueError):
    pass


class BadBody(ValueError):
    pass


def accept_events(
    body: bytes, now_ms: int, put_records: Callable[[list[dict]], dict], deadline: float | None = None
) -> dict[str, Any]:
    """Validate every event, put the valid ones into the stream (retrying throttled records until `deadline`,
    a time.monotonic()), and answer which ones are in and which are not, by index: an event is either accepted (in the
    stream) or rejected with a reason, so the caller resends exactly the rejected ones."""
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
    records: list[dict] = []
    indices: list[int] = []
    rejected: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        line = orjson.dumps(event) + b"\n"
        verdict = parse_event(line, now_ms)
        if isinstance(verdict, Rejection):
            rejected.append({"index": index, "reason": verdict.reason.value, "detail": verdict.detail})
        else:
            records.append({"Data": line, "PartitionKey": verdict.player_id})
            indices.append(index)
    failing = put_with_retries(records, put_records, deadline=deadline) if records else []
    if failing and len(failing) == len(records):
        raise StreamUnavailable(f"the stream refused all {len(records)} valid events (throttling); send them again")
    rejected += [
        {"index": indices[i], "reason": STREAM_THROTTLED, "detail": "the stream refused it; send it again"}
        for i in failing
    ]
    rejected.sort(key=lambda r: r["index"])
    return {"accepted": len(records) - len(failing), "rejected": rejected}
