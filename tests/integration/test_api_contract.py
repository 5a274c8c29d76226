"""The API's contract as its OpenAPI document states it: the document itself, every answer checked against its models,
and schemathesis fuzzing every operation from the served document (no 500, no answer outside the schema)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import schemathesis
from headcount.functions.serve.models import (
    Accepted,
    DistinctResponse,
    ErrorResponse,
    MetricList,
    RetentionResponse,
    SeriesResponse,
)
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from werkzeug.test import Client

from headcount.core import sketches
from headcount.core.buckets import bucket_of, local_date
from headcount.core.catalog import Granularity
from headcount.local.access import create_access
from headcount.settings import Settings
from headcount.views.batch import BatchRow, DynamoBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import DynamoRealtimeStore, ItemKey, RealtimeItem
from support.api_wsgi import NOW_MS, serve_app

CREDENTIALS = {"Authorization": "Bearer a-token", "x-api-key": "an-ingest-key"}  # checked by the gateway, not here
CATALOG = [m.name for m in load_catalog(None).listed()]


def _with_credentials(environ: dict, start_response):  # noqa: ANN202 - WSGI
    """The app, every request carrying both credential headers (as a signed-in reader's and a game's would)."""
    for name, value in CREDENTIALS.items():
        environ.setdefault("HTTP_" + name.upper().replace("-", "_"), value)
    return serve_app(environ, start_response)


@pytest.fixture
def api(aws):
    """The serve function in-process over moto, holding a published day (yesterday) and real-time items (today)."""
    from headcount.functions.serve import runtime as module

    module.runtime.cache_clear()
    create_access()  # the ingest keys' usage plan (the admin routes') and the user pool, in this test's moto
    tz = Settings().tz
    today = local_date(NOW_MS, tz).isoformat()
    yesterday = local_date(NOW_MS - 86_400_000, tz).isoformat()
    sketch = sketches.new_sketch(12)
    sketches.update_all(sketch, (f"p-{i}" for i in range(50)))
    batch = DynamoBatchView(Settings().batch_table, clock=lambda: NOW_MS / 1000 - 3600)
    for name in ("active_players", "active_players_by_country"):
        rows = [BatchRow(name, yesterday, yesterday, g, 50, sketches.encode(sketch)) for g in ("DE", "FR")]
        batch.publish(name, yesterday, rows if name.endswith("country") else rows[:1], "run-7")
    store = DynamoRealtimeStore(Settings().realtime_table)
    store.add_days("shardId-0", {today}, set())
    store.advance("shardId-0", NOW_MS - 2_000, 1_000)
    store.write(RealtimeItem(ItemKey("matches_played", today, "", "shardId-0"), 3, count=3), None, 0)
    hour = bucket_of(NOW_MS, Granularity.HOUR, tz)
    store.write(RealtimeItem(ItemKey("ad_impressions", hour, "", "shardId-0"), 4, count=4), None, 0)
    store.write(
        RealtimeItem(ItemKey("active_players", today, "", "shardId-0"), 5, sketch=sketches.encode(sketch)), None, 0
    )
    yield Client(_with_credentials)
    module.runtime.cache_clear()


def test_the_document_is_served_to_anyone_and_describes_every_route_its_credential_and_error(api) -> None:
    response = api.get("/v1/openapi.json")
    doc = json.loads(response.data)
    assert response.status_code == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/v1/health",
        "/v1/metrics",
        "/v1/metrics/{name}",
        "/v1/metrics/{name}/distinct",
        "/v1/retention/{name}",
        "/v1/events",
        "/v1/auth/config",
        "/v1/admin/keys",
        "/v1/admin/keys/{name}",
        "/v1/admin/channels",
        "/v1/admin/channels/{name}",
        "/v1/admin/subscriptions",
        "/v1/admin/subscriptions/{name}",
        "/v1/admin/subscriptions/{name}/test",
        "/v1/admin/alerts",
        "/v1/admin/alerts/{name}",
        "/v1/admin/erasures",
        "/v1/admin/erasures/{receipt}",
        "/v1/admin/deliveries",
    }
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ingestKey"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "",
    }
    assert schemes["userPool"]["scheme"] == "bearer" and doc["security"] == [{"userPool": []}]
    assert doc["paths"]["/v1/events"]["post"]["security"] == [{"ingestKey": []}]
    for public in ("/v1/health", "/v1/auth/config"):
        assert doc["paths"][public]["get"]["security"] == []
    errors = {
        ("/v1/metrics/{name}", "get"): {"400", "401", "403", "404", "503"},
        ("/v1/metrics/{name}/distinct", "get"): {"400", "401", "403", "404", "503"},
        ("/v1/retention/{name}", "get"): {"400", "401", "403", "404", "503"},
        ("/v1/events", "post"): {"400", "403", "413", "503"},
        ("/v1/admin/keys", "post"): {"400", "401", "403", "409"},
        ("/v1/admin/channels", "post"): {"400", "401", "403", "409"},
        ("/v1/admin/channels/{name}", "delete"): {"401", "403", "404", "409"},
        ("/v1/admin/subscriptions", "post"): {"400", "401", "403", "404", "409"},
        ("/v1/admin/subscriptions/{name}/test", "post"): {"401", "403", "404"},
        ("/v1/admin/alerts", "post"): {"400", "401", "403", "404", "409"},
        ("/v1/admin/erasures", "post"): {"400", "401", "403"},
    }
    for (path, method), statuses in errors.items():
        responses = doc["paths"][path][method]["responses"]
        assert set(responses) - {"200", "201", "202"} == {"500"} | statuses
        for status in statuses | {"500"}:
            assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    for path in (
        "/v1/events",
        "/v1/admin/keys",
        "/v1/admin/channels",
        "/v1/admin/subscriptions",
        "/v1/admin/alerts",
        "/v1/admin/erasures",
    ):
        assert doc["paths"][path]["post"]["requestBody"]["required"] is True
    point = doc["components"]["schemas"]["SeriesPoint"]["properties"]
    assert {"as_of", "stale", "run_id", "exact", "source", "low", "high"} <= set(point)


def test_the_docs_page_and_the_dashboard_load_only_what_we_serve(api) -> None:
    for path in ("/v1/docs", "/"):
        response = api.get(path)
        assert response.status_code == 200 and response.content_type.startswith("text/html")
        page = response.get_data(as_text=True)
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no asset from another host"
        for asset in re.findall(r"""(?:src|href)=["']([^"'#?]+\.(?:js|css))""", page):
            relative = asset.removeprefix("./")
            url = f"/v1/{relative}" if path == "/v1/docs" else f"/{relative}"
            url = re.sub(r"/v1/\.\./", "/", url)
            assert api.get(url).status_code == 200, f"{path} loads {asset}, which is not served"


def test_every_answer_has_the_documented_shape(api) -> None:
    def body(path: str, model: type, status: int = 200):  # noqa: ANN202
        response = api.get(path)
        assert response.status_code == status, response.data
        return model.model_validate_json(response.data)

    assert [m.name for m in body("/v1/metrics", MetricList).metrics] == CATALOG
    series = body("/v1/metrics/active_players?from=yesterday&to=today", SeriesResponse)
    assert [(p.source, p.exact, p.run_id) for p in series.points] == [
        ("batch", True, "run-7"),
        ("realtime", False, None),
    ]
    assert series.points[0].as_of == "2026-11-18T10:06:40Z" and series.points[1].as_of == "2026-11-18T11:06:38Z"
    distinct = body("/v1/metrics/active_players/distinct?from=yesterday&to=today", DistinctResponse)
    assert distinct.sources == ["batch", "realtime"] and distinct.low <= 50 <= distinct.high
    weekly = body("/v1/metrics/weekly_active_players?from=yesterday&to=today", SeriesResponse)
    assert [(p.source, p.exact) for p in weekly.points] == [("batch", False), ("realtime", False)]
    assert weekly.points[0].value == 50 and weekly.points[1].low <= 50 <= weekly.points[1].high
    stickiness = body("/v1/metrics/stickiness?from=yesterday&to=today", SeriesResponse)
    assert all(isinstance(p.value, float) and p.low <= p.value <= p.high for p in stickiness.points)
    matrix = body("/v1/retention/retention?from=yesterday&to=today", RetentionResponse)
    assert [c.day for c in matrix.cohorts] == [p.bucket for p in series.points]
    assert [r.k for r in matrix.cohorts[0].returned] == matrix.returned_after == [1, 7, 30]
    assert matrix.cohorts[1].returned[0].value is None and matrix.cohorts[1].returned[0].source == "none"
    # in a zone the job does not compute: new players and retention estimated, saying how
    zoned = body("/v1/retention/retention?from=yesterday&to=today&tz=Asia/Kolkata", RetentionResponse)
    assert zoned.note and "Asia/Kolkata" in zoned.note and not zoned.cohorts[0].size.exact
    new = body("/v1/metrics/new_players?from=yesterday&to=today&tz=Asia/Kolkata", SeriesResponse)
    assert new.note == zoned.note and not any(p.exact for p in new.points)
    body("/v1/retention/active_players", ErrorResponse, 400)
    body("/v1/metrics/retention", ErrorResponse, 400)
    body("/v1/metrics/active_players?from=someday", ErrorResponse, 400)
    body("/v1/metrics/nope", ErrorResponse, 404)
    posted = api.post("/v1/events", data=b'{"events": [{"type": "x"}]}')
    assert Accepted.model_validate_json(posted.data).rejected[0].reason == "bad_player_id"


def test_a_parameter_outside_the_schema_is_a_400_in_the_envelope_naming_it(api) -> None:
    response = api.get("/v1/metrics/active_players?from=last-week")
    error = ErrorResponse.model_validate_json(response.data).error
    assert response.status_code == 400 and error.code == "bad_request" and error.message.startswith("from:")
    response = api.get(f"/v1/metrics/active_players_by_country?group={'x' * 65}")
    assert response.status_code == 400 and "group" in json.loads(response.data)["error"]["message"]
    # A parameter the route does not take is named, not ignored (a typo would otherwise answer today)
    response = api.get("/v1/metrics/active_players?form=yesterday")
    assert response.status_code == 400 and json.loads(response.data)["error"]["message"] == (
        "unknown parameter 'form' for /v1/metrics/active_players: it takes from, to, group, tz"
    )


schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", serve_app)


@schema.hook("map_path_parameters")
def catalog_names_half_the_time(ctx, path_parameters):  # noqa: ANN001, ANN201 - schemathesis' hook signature
    """Random names are all unknown metrics: half of them become catalog names, chosen by the name's hash (so a
    failing example shrinks the same way every run)."""
    if path_parameters and "name" in path_parameters:
        digest = hashlib.sha256(str(path_parameters["name"]).encode()).digest()
        if digest[0] % 2 == 0:
            path_parameters["name"] = CATALOG[digest[1] % len(CATALOG)]
    return path_parameters


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzing_every_operation_finds_no_500_and_no_answer_outside_the_schema(case, api) -> None:
    # Every check but "a schema-valid request is accepted": the schema cannot say that 2026-02-30 is no day, that
    # `from` comes before `to` or that a range spans at most 400 days; those are 400s in the envelope, as documented.
    # The credentials unless this case is about leaving them out (a negative header: then the gateway's 401 or 403 is
    # the answer to expect). Their values are the gateway's to check, not this stand-in's (`ignored_auth` would send
    # wrong ones): every kind of credential on every route is tests/integration/test_access.py's, through the local
    # gateway.
    without = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    case.call_and_validate(
        headers={} if without else CREDENTIALS, excluded_checks=[positive_data_acceptance, ignored_auth]
    )


def test_a_bug_is_answered_in_the_envelope_not_as_a_bare_gateway_error(api, monkeypatch) -> None:
    from headcount.logic.serving import MetricsService

    def broken(*_args, **_kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(MetricsService, "series", broken)
    response = api.get("/v1/metrics/active_players")
    assert (
        response.status_code == 500 and ErrorResponse.model_validate_json(response.data).error.code == "internal_error"
    )


def test_a_throttled_store_is_a_503_to_retry(api, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    from headcount.logic.serving import MetricsService

    def throttled(*_args, **_kwargs):
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "Query"
        )

    monkeypatch.setattr(MetricsService, "series", throttled)
    response = api.get("/v1/metrics/active_players")
    assert response.status_code == 503 and json.loads(response.data)["error"]["code"] == "store_unavailable"
