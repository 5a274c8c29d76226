"""Serve Lambda: the REST API behind API Gateway (proxy integration), merging the batch and real-time views; the
dashboard and the API's own documentation."""

from __future__ import annotations

import base64
import contextlib
import hmac
import time
from functools import cache, lru_cache
from typing import Annotated

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from headcount.logic.errors import BadRequest, TooLarge, UnknownMetric
from headcount.logic.ingest import PutMarks, accept_events
from headcount.logic.serving import MetricsService
from headcount.logic.static import is_public, static_file
from headcount.observability import logger, metrics, report_posted, report_request, tracer
from headcount.settings import Settings
from headcount.views.aws import client
from headcount.views.batch import DynamoBatchView, PublishInProgress
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import DynamoRealtimeStore
from headcount.views.stream import OpenShards, Producer, StreamUnavailable

from .models import (
    DAY_HELP,
    DAY_PATTERN,
    Accepted,
    DistinctResponse,
    Health,
    MetricList,
    PostedEvents,
    SeriesResponse,
    error_responses,
    ok,
)
from .render import distinct_json, series_json

app = APIGatewayRestResolver(enable_validation=True)
PUT_CALL_BUDGET_S = 6  # one PutRecords call, answered or abandoned
POST_ANSWER_MARGIN_S = PUT_CALL_BUDGET_S + 2.0  # the last call may start just before the deadline
# Domain errors become HTTP answers here, and only here.
ERRORS: dict[type[Exception], tuple[int, str]] = {
    BadRequest: (400, "bad_request"),
    RequestValidationError: (400, "bad_request"),  # a parameter outside the OpenAPI document's schema
    UnknownMetric: (404, "unknown_metric"),
    TooLarge: (413, "too_large"),
    StreamUnavailable: (503, "stream_unavailable"),
    PublishInProgress: (503, "republishing"),  # a day changed under every read: retry
    BotoCoreError: (503, "store_unavailable"),  # DynamoDB or Kinesis out of reach after the client's retries: retry
}
From = Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN, description=f"first day: {DAY_HELP}")]
To = Annotated[str | None, Query(pattern=DAY_PATTERN, description=f"last day (default: from): {DAY_HELP}")]
Group = Annotated[str | None, Query(max_length=64, description="one group of a grouped metric")]
Name = Annotated[str, Path(description="a metric of the catalog (GET /v1/metrics)")]
READ_ERRORS = error_responses(400, 403, 404, 503)


@lru_cache(maxsize=1)
def _runtime() -> tuple[Settings, MetricsService]:
    settings = Settings()
    views = DynamoRealtimeStore(settings.realtime_table), DynamoBatchView(settings.batch_table)
    open_shards = OpenShards(client("kinesis"), settings.stream)
    service = MetricsService(
        load_catalog(settings.catalog_path),
        *views,
        settings.tz,
        open_shards,
        stale_after_ms=int(settings.stale_after_s * 1000),
        realtime_max_age_s=settings.realtime_max_age_s,
    )
    return settings, service


@lru_cache(maxsize=1)
def _producer() -> tuple[Producer, PutMarks]:
    settings, service = _runtime()
    producer = Producer(client("kinesis", call_budget_s=PUT_CALL_BUDGET_S), settings.stream)
    return producer, PutMarks(service.realtime, int(settings.put_mark_every_s * 1000))


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, content_types.APPLICATION_JSON, {"error": {"code": code, "message": message}})


def _json(body: bytes) -> Response:
    return Response(200, content_types.APPLICATION_JSON, body.decode())


QUERY_PARAMETERS = {"/v1/metrics/": ("from", "to", "group")}  # routes with parameters, by path prefix; others take none


def known_parameters_only(router: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    """A parameter a route does not take is a 400, not ignored: `form=` for `from=` would silently answer today."""
    path = router.current_event.path
    if path.startswith("/v1/"):
        taken = next((names for prefix, names in QUERY_PARAMETERS.items() if path.startswith(prefix)), ())
        unknown = sorted(set(router.current_event.query_string_parameters or {}) - set(taken))
        if unknown:
            takes = f"it takes {', '.join(taken)}" if taken else "it takes none"
            return _error(400, "bad_request", f"unknown parameter {unknown[0]!r} for {path}: {takes}")
    return next_middleware(router)


def require_api_key(router: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    if not is_public(router.current_event.path):
        given = router.current_event.headers.get("x-api-key") or ""  # case-insensitive, as HTTP header names are
        if not hmac.compare_digest(given.encode(), _runtime()[0].api_key.encode()):
            return _error(403, "forbidden", "missing or wrong x-api-key header")
    return next_middleware(router)


app.use(middlewares=[require_api_key, known_parameters_only])


def _received_ms() -> int:
    """When API Gateway received the request (`requestTimeEpoch`, ms): "now" for `today`/`yesterday` and the arrival
    of posted events, so a test gives the time with the event. The REST API always sends it; the wall clock stands in
    only for an event without it."""
    received = (app.current_event.get("requestContext") or {}).get("requestTimeEpoch")
    return int(received) if received else int(time.time() * 1000)


@app.get("/v1/health", summary="Is the API up", responses=ok(Health, "up"), security=[], tags=["meta"])
def health():
    return {"status": "ok"}


# Routes without a return annotation: their answers are rendered by orjson (render.py), not validated again.
@app.get("/v1/metrics", summary="The catalog's metrics", responses={**ok(MetricList, "the catalog"), **READ_ERRORS})
def list_metrics():
    return _json(orjson.dumps({"metrics": [m.describe() for m in _runtime()[1].list_metrics()]}))


@app.get(
    "/v1/metrics/<name>",
    summary="Every bucket of a metric over a range of days",
    description="Batch values are exact; real-time ones carry 95 % bounds. Every point says how fresh it is.",
    responses={**ok(SeriesResponse, "the points, bucket by bucket"), **READ_ERRORS},
)
def series(name: Name, from_: From = None, to: To = None, group: Group = None):
    return _json(series_json(_runtime()[1].series(name, from_, to, group, _received_ms())))


@app.get(
    "/v1/metrics/<name>/distinct",
    summary="Unique count over a whole range of days (distinct metrics)",
    responses={**ok(DistinctResponse, "the union of the range's days"), **READ_ERRORS},
)
def distinct(name: Name, from_: From = None, to: To = None, group: Group = None):
    return _json(distinct_json(_runtime()[1].distinct(name, from_, to, group, _received_ms())))


@app.post(
    "/v1/events",
    summary="Send events (≤ 500, ≤ 1 MiB)",
    description="Each event is validated on its own; the answer lists the rejected ones by index and reason.",
    responses={**ok(Accepted, "what became of the events"), **error_responses(400, 403, 413, 503)},
)
def post_events():
    # The body's bytes as sent (not Powertools' decoded_body, which decodes them as UTF-8 first): the size check and
    # the JSON parser see them, so any bytes get a 400 or a 413, never a function error.
    event = app.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    # Leave the function time to answer which events are in: API Gateway gives up at 29 s, the function at its timeout.
    seconds_left = app.lambda_context.get_remaining_time_in_millis() / 1000 - POST_ANSWER_MARGIN_S
    deadline = time.monotonic() + max(1.0, seconds_left)
    producer, marks = _producer()
    before = dict(producer.last_sequence)
    result = accept_events(body, _received_ms(), producer, deadline)
    report_posted(result)
    with contextlib.suppress(BotoCoreError, ClientError):  # a hint for freshness, never a reason to fail the answer
        marks.note([s for s, seq in producer.last_sequence.items() if before.get(s) != seq], _received_ms())
    return _json(orjson.dumps(result))


@app.get("/v1/openapi.json", summary="This document", include_in_schema=False)
def openapi():
    return _json(openapi_document())


@app.get("/v1/docs", include_in_schema=False)
def docs_page():
    return static_file("api.html")


@app.get("/", include_in_schema=False)
def dashboard_page():
    return static_file("index.html")


@app.get("/dashboard/<name>", include_in_schema=False)
def dashboard_file(name: str):
    return static_file(name)


@app.get("/dashboard/vendor/<name>", include_in_schema=False)
def vendored_file(name: str):
    return static_file(f"vendor/{name}")


@cache
def openapi_document() -> bytes:
    """Generated from the routes and models; `servers` is relative, so "try it out" works under any stage prefix."""
    doc = orjson.loads(
        app.get_openapi_json_schema(
            title="headcount",
            version="1",
            description=(
                "How many unique players: exact for finished days, approximate within seconds for today. Every route "
                "but /v1/health needs the x-api-key header (403 without it). Any other path answers 404 `not_found`, "
                "a method a path does not have 405 `method_not_allowed` with `Allow`; every error is "
                '{"error": {"code", "message"}}.'
            ),
            servers=[Server(url="..", description="this API")],
            security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
            security=[{"apiKey": []}],
        )
    )
    # Parameters outside the schema are answered 400 in the envelope (ERRORS), never Powertools' 422; health needs no key.
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    doc["paths"]["/v1/health"]["get"]["security"] = []
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    # The events body is read as bytes by the route (any bytes get an answer in the envelope), so Powertools does not
    # see it as a parameter: it is documented here from its model.
    post = doc["paths"]["/v1/events"]["post"]
    schemas[PostedEvents.__name__] = PostedEvents.model_json_schema(ref_template="#/components/schemas/{model}")
    post["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{PostedEvents.__name__}"}}},
    }
    return orjson.dumps(doc)


@app.exception_handler(list(ERRORS))
def domain_error(exc: Exception) -> Response:
    status, code = next(ERRORS[kind] for kind in type(exc).__mro__ if kind in ERRORS)
    return _error(status, code, _message(exc))


def _message(exc: Exception) -> str:
    if isinstance(exc, RequestValidationError):  # say which parameter and why, as the schema does
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()) or "bad request"
    return str(exc)


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
