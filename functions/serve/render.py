"""The answers' JSON, rendered from the logic's dataclasses (the shapes of functions/serve/models.py)."""

from __future__ import annotations

import orjson
from aws_lambda_powertools.event_handler import Response, content_types

from headcount.logic.kpis import RetentionMatrix
from headcount.logic.serving import RangeDistinct, Series


def series_json(answer: Series) -> bytes:
    as_of: dict[int, str | None] = {}  # one formatting per day's stamp, not per point
    points = []
    for point in answer.points:
        key = id(point.stamp)
        if key not in as_of:
            as_of[key] = point.stamp.as_of
        points.append(point.to_json(as_of[key]))
    doc = {"metric": answer.metric, "timezone": answer.timezone, "points": points}
    return orjson.dumps(doc | {"note": answer.note} if answer.note else doc)


def distinct_json(answer: RangeDistinct) -> bytes:
    return orjson.dumps(
        {
            "metric": answer.metric,
            "from": answer.first.isoformat(),
            "to": answer.last.isoformat(),
            "value": answer.value,
            "low": answer.low,
            "high": answer.high,
            "exact": answer.exact,
            "sources": answer.sources,
            "as_of": answer.stamp.as_of,
            "stale": answer.stamp.stale,
            "timezone": answer.timezone,
        }
        | ({"note": answer.note} if answer.note else {})
    )


def retention_json(answer: RetentionMatrix) -> bytes:
    cohorts = []
    for cohort in answer.cohorts:
        doc: dict[str, object] = {"day": cohort.day.isoformat()}
        if cohort.group is not None:
            doc["group"] = cohort.group
        doc["size"] = cohort.size.to_json()
        doc["returned"] = [
            {"k": r.k, "day": r.day.isoformat(), **r.cell.to_json(), "rate": r.rate} for r in cohort.returned
        ]
        cohorts.append(doc)
    return orjson.dumps(
        {
            "metric": answer.metric,
            "timezone": answer.timezone,
            "returned_after": list(answer.returned_after),
            "cohorts": cohorts,
        }
        | ({"note": answer.note} if answer.note else {})
    )


def json_response(body: bytes) -> Response:
    return Response(200, content_types.APPLICATION_JSON, body.decode())


def error_response(status: int, code: str, message: str) -> Response:
    """Every error, in one envelope."""
    return Response(status, content_types.APPLICATION_JSON, {"error": {"code": code, "message": message}})
