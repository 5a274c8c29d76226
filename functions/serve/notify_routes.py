"""The admin routes of digests and alerts (the `admin` group only: access.py): channels, subscriptions, alert rules,
the deliveries' record and a test message now (headcount/logic/notify_admin.py)."""

from __future__ import annotations

import base64
from typing import TypeVar

import orjson
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ValidationError

from headcount.logic.errors import BadRequest
from headcount.logic.notify_admin import NotifyAdmin

from .models import (
    AlertRuleList,
    AlertRuleModel,
    ChannelList,
    ChannelModel,
    DeliveryList,
    DeliveryModel,
    MadeChannel,
    NewAlertRule,
    NewChannel,
    NewSubscription,
    SubscriptionList,
    SubscriptionModel,
    error_responses,
    ok,
)
from .render import json_response
from .runtime import received_ms, runtime

router = Router()
ERRORS = error_responses(401, 403)
Body = TypeVar("Body", bound=BaseModel)


def _admin() -> NotifyAdmin:
    return runtime().notify_admin(_dashboard_url())


def _dashboard_url() -> str:
    """The dashboard's address as the caller reached the API (its root: the stage's on API Gateway)."""
    event = router.current_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    host = headers.get("host") or (event.get("requestContext") or {}).get("domainName") or "localhost"
    scheme = headers.get("x-forwarded-proto", "https")
    stage = (event.get("requestContext") or {}).get("stage")
    on_stage = stage and host.endswith("amazonaws.com")  # a custom domain maps the stage away
    return f"{scheme}://{host}/{stage}/" if on_stage else f"{scheme}://{host}/"


def _by() -> str | None:
    claims = ((router.current_event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    return claims.get("username") or claims.get("cognito:username")


def _body(model: type[Body]) -> Body:
    # The body's bytes parsed here, whatever their Content-Type says (as POST /v1/events does): any bytes get a 400
    event = router.current_event
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}") from None


def _created(doc: dict) -> Response:
    return Response(201, content_types.APPLICATION_JSON, orjson.dumps(doc).decode())


# channels -------------------------------------------------------------------------------------------------------------
@router.get(
    "/v1/admin/channels",
    summary="The channels",
    responses={**ok(ChannelList, "every channel (never a URL)"), **ERRORS},
    tags=["notifications"],
)
def list_channels():
    return json_response(orjson.dumps({"channels": [c.to_json() for c in _admin().channels()]}))


@router.post(
    "/v1/admin/channels",
    summary="Make a channel",
    description="A Slack incoming webhook, email recipients (SES) or an HTTPS webhook signed with HMAC-SHA256. A "
    "URL is kept in Secrets Manager and never shown again; a webhook's signing secret is in this answer only.",
    responses={
        201: {"description": "the channel", "content": {"application/json": {"model": MadeChannel}}},
        **error_responses(400, 401, 403, 409),
    },
    tags=["notifications"],
)
def create_channel():
    body = _body(NewChannel)
    channel, signing_secret = _admin().create_channel(
        body.name, body.kind, url=body.url, recipients=body.recipients, by=_by(), now_ms=received_ms(router)
    )
    return _created({**channel.to_json(), "signing_secret": signing_secret})


@router.delete(
    "/v1/admin/channels/<name>",
    summary="Delete a channel",
    description="Refused (409) while a subscription or rule uses it; its secret is deleted too.",
    responses={**ok(ChannelModel, "the channel, deleted"), **error_responses(401, 403, 404, 409)},
    tags=["notifications"],
)
def delete_channel(name: str):
    return json_response(orjson.dumps(_admin().delete_channel(name).to_json()))


# subscriptions --------------------------------------------------------------------------------------------------------
@router.get(
    "/v1/admin/subscriptions",
    summary="The digest subscriptions",
    responses={**ok(SubscriptionList, "every subscription"), **ERRORS},
    tags=["notifications"],
)
def list_subscriptions():
    return json_response(orjson.dumps({"subscriptions": [s.to_json() for s in _admin().subscriptions()]}))


@router.post(
    "/v1/admin/subscriptions",
    summary="Subscribe a channel to a daily digest",
    responses={
        201: {"description": "the subscription", "content": {"application/json": {"model": SubscriptionModel}}},
        **error_responses(400, 401, 403, 404, 409),
    },
    tags=["notifications"],
)
def create_subscription():
    body = _body(NewSubscription)
    made = _admin().create_subscription(body.model_dump(), by=_by(), now_ms=received_ms(router))
    return _created(made.to_json())


@router.delete(
    "/v1/admin/subscriptions/<name>",
    summary="Delete a subscription",
    responses={**ok(SubscriptionModel, "the subscription, deleted"), **error_responses(401, 403, 404)},
    tags=["notifications"],
)
def delete_subscription(name: str):
    return json_response(orjson.dumps(_admin().delete_subscription(name).to_json()))


@router.post(
    "/v1/admin/subscriptions/<name>/test",
    summary="Send a sample of the digest now",
    description="Yesterday's digest as the API answers it now, to the subscription's channel; recorded as a delivery.",
    responses={**ok(DeliveryModel, "the delivery (sent or failed, with why)"), **error_responses(401, 403, 404)},
    tags=["notifications"],
)
def test_subscription(name: str):
    return json_response(orjson.dumps(_admin().test_subscription(name, received_ms(router)).to_json()))


# alert rules ----------------------------------------------------------------------------------------------------------
@router.get(
    "/v1/admin/alerts",
    summary="The alert rules",
    responses={**ok(AlertRuleList, "every rule, with its state"), **ERRORS},
    tags=["notifications"],
)
def list_rules():
    rules = [{**rule.to_json(), "state": state} for rule, state in _admin().rules()]
    return json_response(orjson.dumps({"rules": rules}))


@router.post(
    "/v1/admin/alerts",
    summary="Make an alert rule",
    responses={
        201: {"description": "the rule", "content": {"application/json": {"model": AlertRuleModel}}},
        **error_responses(400, 401, 403, 404, 409),
    },
    tags=["notifications"],
)
def create_rule():
    body = _body(NewAlertRule)
    made = _admin().create_rule(body.model_dump(), by=_by(), now_ms=received_ms(router))
    return _created({**made.to_json(), "state": {}})


@router.delete(
    "/v1/admin/alerts/<name>",
    summary="Delete an alert rule",
    responses={**ok(AlertRuleModel, "the rule, deleted"), **error_responses(401, 403, 404)},
    tags=["notifications"],
)
def delete_rule(name: str):
    return json_response(orjson.dumps({**_admin().delete_rule(name).to_json(), "state": {}}))


# deliveries -----------------------------------------------------------------------------------------------------------
@router.get(
    "/v1/admin/deliveries",
    summary="What was sent, and what failed",
    description="The last 100 deliveries, newest first (kept 90 days). A failed one was retried, then dead-lettered.",
    responses={**ok(DeliveryList, "the deliveries"), **ERRORS},
    tags=["notifications"],
)
def list_deliveries():
    return json_response(orjson.dumps({"deliveries": [d.to_json() for d in _admin().deliveries()]}))
