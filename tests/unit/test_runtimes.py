"""Every setting reaches the part of each function that uses it.

The functions build their runtimes from HEADCOUNT_* variables (headcount/runtimes.py), on Lambda as in the local
stack, which starts the same handlers with the same variables. Given every setting changed from its default, each
function's runtime, built by its handler, carries the changed value where it is used; a setting added to `Settings`
must say here where it goes.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from unittest import mock

import pytest

from headcount.settings import Settings

CHANGED: dict[str, Any] = {  # every setting, none at its default
    "stream": "events-2",
    "realtime_table": "realtime-2",
    "batch_table": "batch-2",
    "tz": "Asia/Kolkata",
    "extra_zones": "Asia/Tokyo,America/Los_Angeles",
    "catalog_path": None,  # a catalog of one metric: set by the fixture
    "ttl_days": 9,
    "user_pool_id": "us-east-1_Changed2",
    "user_pool_client_id": "client-2",
    "ingest_usage_plan": "plan-2",
    "cognito_endpoint": "http://127.0.0.1:9/",
    "identity_provider": "Company",
    "sign_in_domain": "https://example-2.auth.us-east-1.amazoncognito.com",
    "recent_ids_bytes": 100,
    "watermark_every_s": 7.0,
    "stale_after_s": 11.0,
    "realtime_max_age_s": 0.25,
    "put_mark_every_s": 13.0,
    "batch_at": "03:30",
    "business_every_s": 120.0,
    "notifications_table": "notifications-2",
    "channel_secrets": "stack-2/channels/",
    "delivery_dead_letters": "http://127.0.0.1:9/123456789012/dead-2",
    "email_from": "ops@example-2.com",
    "dashboard_url": "https://dashboard-2.example/",
    "allow_loopback_targets": True,
    "erasures_table": "erasures-2",
    "erasure_every_days": 3,
    "erasure_max_pending": 9,
    "erasure_deadline_days": 5,
}
# The handlers run here without putting metrics (the fold stops at fold_batch, the catalog route puts none)
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
Getter = Callable[[Any], object]
NOW = datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC)


def _metric_names(catalog: Any) -> list[str]:
    return [m.name for m in catalog.listed()]


# Where each setting goes, per function (the runtime its handler builds, or what its handler does with it): "fold,
# folding" is the arguments the fold handler gives fold_batch, "serve, sign-in" what the serve handler tells the dashboard,
# "serve, notifications" what its admin routes of digests and alerts use.
REACHES: dict[str, dict[str, Getter]] = {
    "stream": {
        "serve": lambda rt: rt.service.reads.open_shards.stream,
        "serve, posting": lambda rt: rt.ingest.producer.stream,
        "business": lambda rt: rt.service.reads.open_shards.stream,
    },
    "realtime_table": {
        "fold": lambda rt: rt.store.table,
        "fold, folding": lambda call: call["store"].table,
        "serve": lambda rt: rt.service.reads.realtime.table,
        "serve, posting": lambda rt: rt.ingest.marks.store.table,
        "business": lambda rt: rt.service.reads.realtime.table,
    },
    "batch_table": {
        "serve": lambda rt: rt.service.reads.batch.table,
        "business": lambda rt: rt.service.reads.batch.table,
    },
    "tz": {
        "fold, folding": lambda call: call["tz"],
        "serve": lambda rt: rt.service.tz,
        "business": lambda rt: rt.service.tz,
    },
    "extra_zones": {"serve": lambda rt: ",".join(rt.service.extra_zones)},
    "catalog_path": {
        "fold": lambda rt: _metric_names(rt.catalog),
        "fold, folding": lambda call: _metric_names(call["catalog"]),
        "serve": lambda rt: _metric_names(rt.service.catalog),
        "business": lambda rt: _metric_names(rt.service.catalog),
    },
    "ttl_days": {
        "fold, folding": lambda call: call["ttl_days"],
        "serve": lambda rt: rt.service.reads.ttl_days,
        "business": lambda rt: rt.service.reads.ttl_days,
    },
    "user_pool_id": {"serve, sign-in": lambda answer: answer["userPoolId"]},
    "user_pool_client_id": {"serve, sign-in": lambda answer: answer["clientId"]},
    "ingest_usage_plan": {"serve": lambda rt: rt.ingest_keys.plan_name},
    "cognito_endpoint": {"serve, sign-in": lambda answer: answer["cognitoEndpoint"]},
    "identity_provider": {"serve, sign-in": lambda answer: answer["identityProvider"]},
    "sign_in_domain": {"serve, sign-in": lambda answer: answer["signInDomain"]},
    "recent_ids_bytes": {"fold, folding": lambda call: call["recent_ids_bytes"]},
    "watermark_every_s": {"fold, folding": lambda call: call["marks"].every_ms / 1000},
    "stale_after_s": {
        "serve": lambda rt: rt.service.reads.stale_after_ms / 1000,
        "business": lambda rt: rt.service.reads.stale_after_ms / 1000,
    },
    "realtime_max_age_s": {
        "serve": lambda rt: rt.service.reads.max_age_s,
        "business": lambda rt: rt.service.reads.max_age_s,
    },
    "put_mark_every_s": {"serve, posting": lambda rt: rt.ingest.marks.every_ms / 1000},
    "batch_at": {},  # the local stack's nightly schedule (headcount/local/stack.py); on AWS, a context parameter
    "business_every_s": {},  # the local stack's business schedule; on AWS, EventBridge Scheduler's rate
    "notifications_table": {
        "business": lambda rt: rt.notifier.store.table,
        "serve, notifications": lambda rt: rt.notifier.store.table,
    },
    "channel_secrets": {
        "business": lambda rt: rt.notifier.sender.secrets.prefix,
        "serve, notifications": lambda rt: rt.secrets.prefix,
    },
    "delivery_dead_letters": {
        "business": lambda rt: rt.notifier.dead_letters.url,
        "serve, notifications": lambda rt: rt.notifier.dead_letters.url,
    },
    "email_from": {
        "business": lambda rt: rt.notifier.sender.email_from,
        "serve, notifications": lambda rt: rt.notifier.sender.email_from,
    },
    "dashboard_url": {
        "business": lambda rt: rt.notifier.dashboard_url,
        "serve, notifications": lambda rt: rt.notifier.dashboard_url,
    },
    "allow_loopback_targets": {
        "business": lambda rt: rt.notifier.sender.allow_loopback,
        "serve, notifications": lambda rt: rt.notifier.sender.allow_loopback,
    },
    "erasures_table": {
        "serve": lambda rt: rt.erasures.table,
        "serve, posting": lambda rt: rt.ingest.blocked.store.table,
        "business": lambda rt: rt.erasures.table,
    },
    # the nightly job's (`headcount batch` locally; job arguments on AWS: infra/batch.py)
    "erasure_every_days": {},
    "erasure_max_pending": {},
    "erasure_deadline_days": {"business": lambda rt: rt.settings.erasure_deadline_days},
}


@pytest.fixture
def runtimes(tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """Each function's runtime as its handler builds it, from HEADCOUNT_* variables holding CHANGED."""
    from headcount.functions.business import handler as business
    from headcount.functions.fold import handler as fold
    from headcount.functions.serve import runtime as serve

    doc = json.loads(resources.files("headcount").joinpath("catalog.json").read_text())
    doc["metrics"] = [m for m in doc["metrics"] if m["name"] == "matches_played"]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(doc))
    for name, value in {**CHANGED, "catalog_path": str(catalog)}.items():
        monkeypatch.setenv(f"HEADCOUNT_{name.upper()}", str(value))
    made = [fold.runtime, serve.runtime, business.runtime]
    for runtime in made:
        runtime.cache_clear()
    serving = serve.runtime()
    yield {
        "fold": fold.runtime(),
        "fold, folding": _fold_batch_call(fold),
        "serve": serving,
        "serve, posting": serving,
        "serve, sign-in": _sign_in_settings(),
        "serve, notifications": serving.notify_admin("http://the-request/"),
        "business": business.runtime(),
    }
    for runtime in made:
        runtime.cache_clear()


class _Folded(Exception):
    pass


def _fold_batch_call(fold: Any) -> dict[str, object]:
    """The arguments the fold handler gives fold_batch for a batch of one record (stopped there: no store is called)."""
    from headcount.local.esm import LocalLambdaContext, kinesis_event
    from headcount.logic.folding import fold_batch

    calls: list[dict[str, object]] = []

    def recorded(*args: object, **kwargs: object) -> None:
        calls.append(dict(inspect.signature(fold_batch).bind(*args, **kwargs).arguments))
        raise _Folded

    record = {"SequenceNumber": "1", "Data": b"{}\n", "PartitionKey": "p", "ApproximateArrivalTimestamp": NOW}
    event = kinesis_event([record], "shardId-000000000000", "arn:aws:kinesis:us-east-1:123456789012:stream/s")
    with mock.patch.object(fold, "fold_batch", recorded), pytest.raises(_Folded):
        fold.handler(event, LocalLambdaContext("fold", "r-1", "arn:aws:lambda:x"))
    return calls[0]


def _sign_in_settings() -> dict:
    """What the serve handler tells the dashboard of where to sign in (GET /v1/auth/config)."""
    from headcount.functions.serve.handler import handler

    from headcount.local.esm import LocalLambdaContext
    from headcount.local.gateway import proxy_event

    event = proxy_event("GET", "/v1/auth/config", {}, b"", int(NOW.timestamp() * 1000))
    return json.loads(handler(event, LocalLambdaContext("serve", "r-1", "arn:aws:lambda:x"))["body"])


def test_every_setting_says_where_it_goes() -> None:
    assert set(REACHES) == set(Settings.model_fields) == set(CHANGED)
    assert all(Settings.model_fields[name].default != value for name, value in CHANGED.items() if value is not None)


@pytest.mark.parametrize(
    ("setting", "function"),
    [pytest.param(s, f, id=f"{s}-{f}") for s, functions in REACHES.items() for f in functions],
)
def test_a_changed_setting_reaches_the_function_that_uses_it(runtimes, setting: str, function: str) -> None:
    expected = ["matches_played"] if setting == "catalog_path" else CHANGED[setting]
    assert REACHES[setting][function](runtimes[function]) == expected
