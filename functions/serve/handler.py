"""Serve Lambda: the REST API behind API Gateway (proxy integration), merging the batch and real-time views; the
dashboard and the API's own documentation.

A thin resolver: the routes are the areas' routers (metrics.py: the read routes; events.py: `POST /v1/events`;
pages.py: health, the API page and the dashboard; admin.py: the ingest keys; notify_routes.py: digests and
alerts; erasure_routes.py: requests to forget players). Every request passes its access check
before anything else (access.py: what API Gateway passed, and the groups), then the parameters' check
(middlewares.py); errors become answers in errors.py. The runtime is built once per container (runtime.py)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from headcount.observability import logger, metrics, report_request, tracer

from . import admin, erasure_routes, events, notify_routes, pages
from . import metrics as metric_routes
from .access import refused
from .errors import answer_errors
from .middlewares import known_parameters_only
from .openapi import openapi_document
from .render import json_response
from .runtime import runtime

app = APIGatewayRestResolver(enable_validation=True)
app.use(middlewares=[known_parameters_only])
for area in (pages, metric_routes, events, admin, notify_routes, erasure_routes):
    app.include_router(area.router)
answer_errors(app)


@app.get("/v1/openapi.json", summary="This document", include_in_schema=False)
def openapi():
    return json_response(openapi_document(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # an answer may hold a new ingest key: never in a trace
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    report_request()
    return refused(event, runtime().settings) or app.resolve(event, context)
