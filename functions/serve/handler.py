"""Serve Lambda: the REST API behind API Gateway (proxy integration), merging the batch and real-time views."""

from __future__ import annotations

import base64
import hmac
import time
from dataclasses import asdict
from functools import lru_cache

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError

from headcount.logic.errors import BadRequest, TooLarge, UnknownMetric
from headcount.logic.ingest import accept_events
from headcount.logic.serving import MetricsService
from headcount.observability import logger, metrics, report_posted, report_request, tracer
from headcount.settings import Settings
from headcount.views.aws import client
from headcount.views.batch import DynamoBatchView, PublishInProgress
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import DynamoRealtimeStore
from headcount.views.stream import Producer, StreamUnavailable

app = APIGatewayRestResolver()
PUT_CALL_BUDGET_S = 6  # one PutRecords call, answered or abandoned
POST_ANSWER_MARGIN_S = PUT_CALL_BUDGET_S + 2.0  # the last call may start just before the deadline
# Domain errors become HTTP answers here, and only here.
ERRORS: dict[type[Exception], tuple[int, str]] = {
    BadRequest: (400, "bad_request"),
    UnknownMetric: (404, "unknown_metric"),
    TooLarge: (413, "too_large"),
    StreamUnavailable: (503, "stream_unavailable"),
    PublishInProgress: (503, "republishing"),  # a day changed under every read: retry
    BotoCoreError: (503, "store_unavailable"),  # DynamoDB or Kinesis out of reach after the client's retries: retry
}


@lru_cache(maxsize=1)
def _runtime() -> tuple[Settings, MetricsService]:
    settings = Settings()
    views = DynamoRealtimeStore(settings.realtime_table), DynamoBatchView(settings.batch_table)
    return settings, MetricsService(load_catalog(settings.catalog_path), *views, settings.tz)


@lru_cache(maxsize=1)
def _producer() -> Producer:
    return Producer(client("kinesis", call_budget_s=PUT_CALL_BUDGET_S), _runtime()[0].stream)


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, content_types.APPLICATION_JSON, {"error": {"code": code, "message": message}})


def require_api_key(router: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    if router.current_event.path.rstrip("/") != "/v1/health":
        given = router.current_event.headers.get("x-api-key") or ""  # case-insensitive, as HTTP header names are
        if not hmac.compare_digest(given.encode(), _runtime()[0].api_key.encode()):
            return _error(403, "forbidden", "missing or wrong x-api-key header")
    return next_middleware(router)


app.use(middlewares=[require_api_key])


def _received_ms() -> int:
    """When API Gateway received the request (`requestTimeEpoch`, ms): "now" for `today`/`yesterday` and the arrival
    of posted events, so a test gives the time with the event. The REST API always sends it; the wall clock stands in
    only for an event without it."""
    received = (app.current_event.get("requestContext") or {}).get("requestTimeEpoch")
    return int(received) if received else int(time.time() * 1000)


@app.get("/v1/health")
def health() -> dict:
    return {"status": "ok"}


@app.get("/v1/metrics")
def list_metrics() -> dict:
    return {"metrics": [m.describe() for m in _runtime()[1].list_metrics()]}


@app.get("/v1/metrics/<name>")
def series(name: str) -> dict:
    q = app.current_event.query_string_parameters
    answer = _runtime()[1].series(name, q.get("from"), q.get("to"), q.get("group"), _received_ms())
    return {"metric": answer.metric, "timezone": answer.timezone, "points": [p.to_json() for p in answer.points]}


@app.get("/v1/metrics/<name>/distinct")
def distinct(name: str) -> dict:
    q = app.current_event.query_string_parameters
    answer = _runtime()[1].distinct(name, q.get("from"), q.get("to"), q.get("group"), _received_ms())
    doc = asdict(answer)
    return {"metric": doc.pop("metric"), "from": doc.pop("first").isoformat(), "to": doc.pop("last").isoformat(), **doc}


@app.post("/v1/events")
def post_events() -> dict:
    # The body's bytes as sent (not Powertools' decoded_body, which decodes them as UTF-8 first): the size check and
    # the JSON parser see them, so any bytes get a 400 or a 413, never a function error.
    event = app.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    # Leave the function time to answer which events are in: API Gateway gives up at 29 s, the function at its timeout.
    seconds_left = app.lambda_context.get_remaining_time_in_millis() / 1000 - POST_ANSWER_MARGIN_S
    deadline = time.monotonic() + max(1.0, seconds_left)
    result = accept_events(body, _received_ms(), _producer(), deadline)
    report_posted(result)
    return asdict(result)


@app.exception_handler(list(ERRORS))
def domain_error(exc: Exception) -> Response:
    status, code = next(ERRORS[kind] for kind in type(exc).__mro__ if kind in ERRORS)
    return _error(status, code, str(exc))


@app.not_found
def not_found(exc: Exception) -> Response:
    """No route for this method and path (after the key check: the middleware runs first): 405 when the path has
    routes for other methods, else 404."""
    path = app.current_event.path
    allowed = sorted({route.method for route in app._static_routes + app._dynamic_routes if route.rule.match(path)})  # noqa: SLF001
    if allowed:
        method = app.current_event.http_method
        response = _error(405, "method_not_allowed", f"{method} is not a method of {path}: {', '.join(allowed)}")
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return _error(404, "not_found", "no such route")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    report_request()
    return app.resolve(event, context)
