"""Serve Lambda: the REST API behind API Gateway (proxy integration), merging the batch and real-time views; the
dashboard and the API's own documentation."""

from __future__ import annotations

import base64
import gc
import time
from functools import lru_cache
from typing import Annotated

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from headcount.logic.errors import BadRequest, TooLarge, UnknownMetric
from headcount.logic.ingest import PutMarks, accept_events
from headcount.logic.serving import MetricsService
from headcount.observability import logger, metrics, report_posted, report_request, tracer
from headcount.settings import Settings
from headcount.views.aws import client
from headcount.views.batch import DynamoBatchView, PublishInProgress
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import DynamoRealtimeStore
from headcount.views.stream import RETRYABLE, OpenShards, Producer, StreamUnavailable

from .middlewares import api_key_check, known_parameters_only
from .models import (
    DAY_HELP,
    DAY_PATTERN,
    Accepted,
    DistinctResponse,
    Health,
    MetricList,
    RetentionResponse,
    SeriesResponse,
    error_responses,
    ok,
)
from .openapi import openapi_document
from .render import distinct_json, error_response, json_response, retention_json, series_json
from .static import static_file

app = APIGatewayRestResolver(enable_validation=True)
PUT_CALL_BUDGET_S = 6  # one PutRecords call, answered or abandoned
MARK_CALL_BUDGET_S = 2  # noting the shards that took records (a freshness hint) after the events are in
POST_ANSWER_MARGIN_S = PUT_CALL_BUDGET_S + MARK_CALL_BUDGET_S + 2.0  # the last call may start just before the deadline
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
    # What the function holds for its life (modules, models, clients) out of the cycle collector's way: a year of
    # hourly points allocates enough to set off full collections, which walked all of it (bench-api: p99 halved)
    gc.freeze()
    return settings, service


@lru_cache(maxsize=1)
def _producer() -> tuple[Producer, PutMarks]:
    settings, _ = _runtime()
    producer = Producer(client("kinesis", call_budget_s=PUT_CALL_BUDGET_S), settings.stream)
    # The marks' writes within a small budget too: a slow table must not hold the answer past API Gateway's 29 s
    statuses = DynamoRealtimeStore(settings.realtime_table, client("dynamodb", call_budget_s=MARK_CALL_BUDGET_S))
    return producer, PutMarks(statuses, int(settings.put_mark_every_s * 1000))


app.use(middlewares=[api_key_check(lambda: _runtime()[0].api_key), known_parameters_only])


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
    return json_response(orjson.dumps({"metrics": [m.describe() for m in _runtime()[1].list_metrics()]}))


@app.get(
    "/v1/metrics/<name>",
    summary="Every bucket of a metric over a range of days",
    description="Batch values are exact; real-time ones carry 95 % bounds. Every point says how fresh it is.",
    responses={**ok(SeriesResponse, "the points, bucket by bucket"), **READ_ERRORS},
)
def series(name: Name, from_: From = None, to: To = None, group: Group = None):
    return json_response(series_json(_runtime()[1].series(name, from_, to, group, _received_ms())))


@app.get(
    "/v1/metrics/<name>/distinct",
    summary="Unique count over a whole range of days (distinct metrics)",
    responses={**ok(DistinctResponse, "the union of the range's days"), **READ_ERRORS},
)
def distinct(name: Name, from_: From = None, to: To = None, group: Group = None):
    return json_response(distinct_json(_runtime()[1].distinct(name, from_, to, group, _received_ms())))


@app.get(
    "/v1/retention/<name>",
    summary="The cohort matrix of a retention metric",
    description="Cohort days from..to × each k of the metric's returned_after: how many of the players new on D "
    "were active again on D+k. Exact where the batch layer published the cell; otherwise Theta-sketch estimates with "
    "95 % bounds; a cell whose day has not come yet is null.",
    responses={**ok(RetentionResponse, "cohorts, each with its size and its players back on each D+k"), **READ_ERRORS},
)
def retention(name: Name, from_: From = None, to: To = None, group: Group = None):
    return json_response(retention_json(_runtime()[1].retention(name, from_, to, group, _received_ms())))


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
    try:  # a hint for freshness, never a reason to fail the answer: the events are in
        marks.note([s for s, seq in producer.last_sequence.items() if before.get(s) != seq], _received_ms())
    except (BotoCoreError, ClientError) as exc:
        logger.warning("could not note the shards that took records; stale may come late", exc_info=exc)
    return json_response(orjson.dumps(result))


@app.get("/v1/openapi.json", summary="This document", include_in_schema=False)
def openapi():
    return json_response(openapi_document(app))


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


@app.exception_handler(list(ERRORS))
def domainerror_response(exc: Exception) -> Response:
    status, code = next(ERRORS[kind] for kind in type(exc).__mro__ if kind in ERRORS)
    return error_response(status, code, _message(exc))


@app.exception_handler(ClientError)
def store_error(exc: ClientError) -> Response:
    """DynamoDB or Kinesis refusing after the client's retries: throttled or failing is 503 (retry); any other refusal
    (access denied, a missing table) is the deployment's fault, a 500."""
    if exc.response.get("Error", {}).get("Code") in RETRYABLE | {"RequestLimitExceeded", "InternalServerError"}:
        return error_response(503, "store_unavailable", f"the store is busy or failing ({exc}); retry")
    return unexpected_error(exc)


@app.exception_handler(Exception)
def unexpected_error(exc: Exception) -> Response:
    """A bug, not an input (the fuzz finds none): logged with its trace, answered in the envelope, not a bare 502."""
    logger.exception("unexpected error")
    return error_response(500, "internal_error", "the API failed on this request; it is logged")


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
        response = error_response(
            405, "method_not_allowed", f"{method} is not a method of {path}: {', '.join(allowed)}"
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return error_response(404, "not_found", "no such route")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    report_request()
    return app.resolve(event, context)
