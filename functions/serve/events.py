"""`POST /v1/events`: a game's events into the stream (headcount/logic/ingest.py)."""

from __future__ import annotations

import base64
import time

import orjson
from aws_lambda_powertools.event_handler.api_gateway import Router
from botocore.exceptions import BotoCoreError, ClientError

from headcount.logic.ingest import accept_events, put_deadline
from headcount.observability import logger, report_posted

from .models import Accepted, error_responses, ok
from .render import json_response
from .runtime import received_ms, runtime

router = Router()


@router.post(
    "/v1/events",
    summary="Send events (≤ 500, ≤ 1 MiB)",
    description="Each event is validated on its own; the answer lists the rejected ones by index and reason.",
    responses={**ok(Accepted, "what became of the events"), **error_responses(400, 403, 413, 503)},
)
def post_events():
    # The body's bytes as sent (not Powertools' decoded_body, which decodes them as UTF-8 first): the size check and
    # the JSON parser see them, so any bytes get a 400 or a 413, never a function error.
    event = router.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    deadline = put_deadline(router.lambda_context.get_remaining_time_in_millis(), time.monotonic())
    ingest, now_ms = runtime().ingest, received_ms(router)
    before = dict(ingest.producer.last_sequence)
    result = accept_events(body, now_ms, ingest.producer, deadline, ingest.blocked.hashes(time.monotonic()))
    report_posted(result)
    try:  # a hint for freshness, never a reason to fail the answer: the events are in
        ingest.marks.note([s for s, seq in ingest.producer.last_sequence.items() if before.get(s) != seq], now_ms)
    except (BotoCoreError, ClientError) as exc:
        logger.warning("could not note the shards that took records; stale may come late", exc_info=exc)
    return json_response(orjson.dumps(result))
