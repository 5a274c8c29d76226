"""Serve Lambda: the REST API behind API Gateway (proxy integration), merging the batch and real-time views."""

from __future__ import annotations

import hmac
import time
from collections import Counter
from functools import lru_cache

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from headcount.aws import client
from headcount.catalog import load_catalog
from headcount.ingest import BadBody, TooLarge, accept_events
from headcount.observability import count_by, logger, metrics, tracer
from headcount.serving import BadRequest, MetricsService, UnknownMetric
from headcount.settings import Settings
from headcount.views.batch import DynamoBatchView, PublishInProgress
from headcount.views.realtime import DynamoRealtimeStore
from headcount.views.stream import Producer, StreamUnavailable

app = APIGatewayRestResolver()
PUT_CALL_BUDGET_S = 6  # one PutRecords call, answered or abandoned
POST_ANSWER_MARGIN_S = PUT_CALL_BUDGET_S + 2.0  # the last call may start just before the deadline


@lru_cache(maxsize=1)
def _runtime() -> tuple[Settings, MetricsService]:
    settings = Settings()
    service = MetricsService(
        load_catalog(settings.catalog_path),
        DynamoRealtimeStore(settings.realtime_table),
        DynamoBatchView(settings.batch_table),
        settings.tz,
    )
    return settings, service


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, content_types.APPLICATION_JSON, {"error": {"code": code, "message": message}})


def require_api_key(router: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    if router.current_event.path.rstrip("/") != "/v1/health":
        # HTTP header names are case-insensitive; API Gateway passes them as the client wrote them.
        given = next((v for k, v in router.current_event.headers.items() if k.lower() == "x-api-key"), None) or ""
        if not hmac.compare_digest(given.encode(), _runtime()[0].api_key.encode()):
            return _error(403, "forbidden", "missing or wrong x-api-key header")
    return next_middleware(router)


app.use(middlewares=[require_api_key])


@app.get("/v1/health")
def health() -> dict:
    return {"status": "ok"}


@app.get("/v1/metrics")
def list_metrics() -> dict:
    return {"metrics": _runtime()[1].list_metrics()}


def _received_ms() -> int:
    """When API Gateway received the request (`requestTimeEpoch`, ms): "now" for `today`/`yesterday` and the arrival
    of posted events, so a test gives the time with the event. The REST API always sends it; the wall clock stands in
    only for an event without it."""
    received = (app.current_event.get("requestContext") or {}).get("requestTimeEpoch")
    return int(received) if received else int(time.time() * 1000)


@app.get("/v1/metrics/<name>")
def series(name: str) -> dict:
    q = app.current_event.query_string_parameters or {}
    return _runtime()[1].series(name, q.get("from"), q.get("to"), q.get("group"), _received_ms())


@app.get("/v1/metrics/<name>/distinct")
def distinct(name: str) -> dict:
    q = app.current_event.query_string_parameters or {}
    return _runtime()[1].distinct(name, q.get("from"), q.get("to"), q.get("group"), _received_ms())


@app.post("/v1/events")
def post_events() -> Response:
    body = app.current_event.decoded_body or ""
    # Leave the function time to answer which events are in: API Gateway gives up at 29 s, the function at its timeout.
    seconds_left = app.lambda_context.get_remaining_time_in_millis() / 1000 - POST_ANSWER_MARGIN_S
    deadline = time.monotonic() + max(1.0, seconds_left)
    result = accept_events(body.encode() if isinstance(body, str) else body, _received_ms(), _producer(), deadline)
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=result["accepted"])
    count_by("PostedEventsRejected", "reason", Counter(r["reason"] for r in result["rejected"]))
    if result["rejected"]:
        logger.info(
            "posted events rejected", extra={"rejected": result["rejected"][:20], "accepted": result["accepted"]}
        )
    return Response(200, content_types.APPLICATION_JSON, result)


@lru_cache(maxsize=1)
def _producer() -> Producer:
    return Producer(client("kinesis", call_budget_s=PUT_CALL_BUDGET_S), _runtime()[0].stream)


# Domain errors become HTTP answers here, and only here.
_ERRORS: dict[type[Exception], tuple[int, str]] = {
    BadRequest: (400, "bad_request"),
    BadBody: (400, "bad_request"),
    UnknownMetric: (404, "unknown_metric"),
    TooLarge: (413, "too_large"),
    StreamUnavailable: (503, "stream_unavailable"),
    PublishInProgress: (503, "republishing"),  # a day changed under every read: retry
}
for _type, (_status, _code) in _ERRORS.items():
    app.exception_handler(_type)(lambda exc, status=_status, code=_code: _error(status, code, str(exc)))


@app.not_found
def not_found(exc: Exception) -> Response:
    return _error(404, "not_found", "no such route")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return app.resolve(event, context)
