"""The read routes: the catalog, a metric's series and range-distinct value, a retention metric's cohorts."""

from __future__ import annotations

from typing import Annotated

import orjson
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from .models import (
    DAY_HELP,
    DAY_PATTERN,
    DistinctResponse,
    MetricList,
    RetentionResponse,
    SeriesResponse,
    error_responses,
    ok,
)
from .render import distinct_json, json_response, retention_json, series_json
from .runtime import received_ms, runtime

router = Router()
From = Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN, description=f"first day: {DAY_HELP}")]
To = Annotated[str | None, Query(pattern=DAY_PATTERN, description=f"last day (default: from): {DAY_HELP}")]
Group = Annotated[str | None, Query(max_length=64, description="one group of a grouped metric")]
Tz = Annotated[
    str | None,
    Query(
        max_length=64,
        description="the time zone of the days and hours, today and yesterday: any IANA name (Asia/Kolkata, "
        "America/Los_Angeles; default: the deployment's, which the answer's `timezone` names). Counts are exact in "
        "every zone once the batch layer has published the days under it. The deployment's zone and its extra zones "
        "(computed by the nightly job) are exact on published days; in any other zone distinct players, rolling "
        "windows and ratios are approximate (the answer's `note` says so), and new players and retention are "
        "estimated from the real-time layer's quarter-hour sketches, for the days it keeps (35 by default; older "
        "days are null)",
    ),
]
Name = Annotated[str, Path(description="a metric of the catalog (GET /v1/metrics)")]
READ_ERRORS = error_responses(400, 401, 403, 404, 503)


# Routes without a return annotation: their answers are rendered by orjson (render.py), not validated again.
@router.get("/v1/metrics", summary="The catalog's metrics", responses={**ok(MetricList, "the catalog"), **READ_ERRORS})
def list_metrics():
    return json_response(orjson.dumps({"metrics": [m.describe() for m in runtime().service.list_metrics()]}))


@router.get(
    "/v1/metrics/<name>",
    summary="Every bucket of a metric over a range of days",
    description="Batch values are exact; real-time ones carry 95 % bounds. Every point says how fresh it is.",
    responses={**ok(SeriesResponse, "the points, bucket by bucket"), **READ_ERRORS},
)
def series(name: Name, from_: From = None, to: To = None, group: Group = None, tz: Tz = None):
    return json_response(series_json(runtime().service.series(name, from_, to, group, received_ms(router), tz)))


@router.get(
    "/v1/metrics/<name>/distinct",
    summary="Unique count over a whole range of days (distinct metrics)",
    responses={**ok(DistinctResponse, "the union of the range's days"), **READ_ERRORS},
)
def distinct(name: Name, from_: From = None, to: To = None, group: Group = None, tz: Tz = None):
    return json_response(distinct_json(runtime().service.distinct(name, from_, to, group, received_ms(router), tz)))


@router.get(
    "/v1/retention/<name>",
    summary="The cohort matrix of a retention metric",
    description="Cohort days from..to × each k of the metric's returned_after: how many of the players new on D "
    "were active again on D+k. Exact where the batch layer published the cell; otherwise Theta-sketch estimates with "
    "95 % bounds; a cell whose day has not come yet is null.",
    responses={**ok(RetentionResponse, "cohorts, each with its size and its players back on each D+k"), **READ_ERRORS},
)
def retention(name: Name, from_: From = None, to: To = None, group: Group = None, tz: Tz = None):
    return json_response(retention_json(runtime().service.retention(name, from_, to, group, received_ms(router), tz)))
