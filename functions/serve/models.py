"""The REST API's contract as Pydantic models: the OpenAPI document (`GET /v1/openapi.json`) is generated from them and
from the routes' parameters, and the tests check every answer against it. Answers are rendered from the logic's
dataclasses by orjson (a year of hourly points is 8,760 of them, and building models for each would cost more than
reading them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from headcount.core.erasure import MAX_IDS_PER_REQUEST
from headcount.core.events import MAX_ID_CHARS

Source = Literal["batch", "realtime", "none"]
DAY_PATTERN = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}|today|yesterday)$"
DAY_HELP = "a day of the reporting time zone: YYYY-MM-DD, `today` or `yesterday`"
AS_OF_HELP = (
    "How fresh the number is (ISO-8601 UTC). A batch point: when its run was published. A real-time point: the "
    "fold's watermark, the oldest across the stream's shards: every event that arrived before it is in."
)


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable: bad_request, forbidden, not_found, unknown_metric, …")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


class MetricInfo(BaseModel):
    name: str
    kind: Literal["distinct", "count", "rolling", "ratio", "new", "retention"]
    event_type: str
    field: str | None = Field(description="the distinct field (player_id), null for counts")
    group_by: str | None = Field(description="the event attribute the metric is grouped by, or null")
    granularity: Literal["day", "hour"]
    of: str | None = Field(None, description="rolling, new: the daily distinct metric; retention: its new metric")
    window_days: int | None = Field(None, description="rolling: distinct players over this many days ending each day")
    numerator: str | None = Field(None, description="ratio: numerator / denominator per day")
    denominator: str | None = None
    returned_after: list[int] | None = Field(None, description="retention: the k of 'active again on D+k'")


class MetricList(BaseModel):
    metrics: list[MetricInfo]


Number = (
    int | float | None
)  # a ratio is a float, null when its denominator is 0; new players in a zone not computed, null
# on a day the real-time layer no longer keeps; every other value an integer


class SeriesPoint(BaseModel):
    bucket: str = Field(
        description="the day (YYYY-MM-DD) or the hour with its offset (YYYY-MM-DDTHH:00+HH:MM), in the answer's "
        "timezone: a DST day has 23 or 25 hours"
    )
    group: str | None = Field(None, description="the group (grouped metrics only)")
    value: Number
    exact: bool = Field(description="true for a published batch value")
    source: Source
    low: Number = Field(description="95 % lower bound (the value when exact)")
    high: Number = Field(description="95 % upper bound (the value when exact)")
    as_of: str | None = Field(description=AS_OF_HELP)
    stale: bool = Field(description="a real-time day whose shards are behind by more than the threshold")
    run_id: str | None = Field(description="the batch run that published the day (batch points)")


class SeriesResponse(BaseModel):
    metric: str
    timezone: str = Field(description="the zone of the days and hours (tz=, or the deployment's)")
    points: list[SeriesPoint]
    note: str | None = Field(
        None,
        description="in a zone the batch layer does not compute (neither the deployment's nor an extra zone): why its "
        "distinct players (or new players) are approximate",
    )


class DistinctResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    metric: str
    from_: str = Field(alias="from")
    to: str
    value: int
    low: int
    high: int
    exact: bool = Field(description="true only for one published day of a daily metric")
    sources: list[Source]
    as_of: str | None = Field(description="the oldest as-of time of the range's days")
    stale: bool
    timezone: str = Field(description="the zone of the range's days (tz=, or the deployment's)")
    note: str | None = Field(
        None,
        description="in a zone the batch layer does not compute (neither the deployment's nor an extra zone): why its "
        "distinct players are approximate",
    )


class RetentionCell(BaseModel):
    value: int | None = Field(
        description="null: the day has not come yet (or, in a zone the batch layer does not compute, its cohort's "
        "days are no longer kept)"
    )
    exact: bool = Field(description="true when the batch layer published it")
    source: Source
    low: int | None = Field(description="95 % lower bound (Theta sketches: the library's)")
    high: int | None
    as_of: str | None = Field(description=AS_OF_HELP)
    stale: bool


class ReturnedCell(RetentionCell):
    k: int
    day: str = Field(description="the cohort's day + k")
    rate: float | None = Field(description="value / the cohort's size")


class RetentionCohort(BaseModel):
    day: str = Field(description="the cohort: players whose first qualifying event fell on this day")
    group: str | None = Field(None, description="the cohort's group (grouped metrics only)")
    size: RetentionCell
    returned: list[ReturnedCell]


class RetentionResponse(BaseModel):
    metric: str
    timezone: str
    returned_after: list[int]
    cohorts: list[RetentionCohort]
    note: str | None = Field(
        None,
        description="in a zone the batch layer does not compute (neither the deployment's nor an extra zone): how its "
        "cells are estimated",
    )


class PostedEvents(BaseModel):
    """What a game sends: up to 500 events, at most 1 MiB (more: 413). Each event is validated on its own (DESIGN
    "Events"): the answer rejects the invalid ones by index, so the schema takes any JSON value as an event."""

    events: list[Any] = Field(description="up to 500 events; more is answered 413 too_large")


class AuthConfig(BaseModel):
    region: str
    userPoolId: str  # noqa: N815 - the names Cognito's clients use
    clientId: str  # noqa: N815
    cognitoEndpoint: str  # noqa: N815
    identityProvider: str | None = Field(  # noqa: N815
        default=None, description="the company's identity provider, offered through signInDomain (null: none)"
    )
    signInDomain: str | None = Field(default=None, description="the user pool's domain (hosted UI)")  # noqa: N815


class IngestKeyModel(BaseModel):
    id: str
    name: str
    enabled: bool = Field(description="false: revoked (API Gateway refuses it within a minute)")
    created: str


class IngestKeyList(BaseModel):
    keys: list[IngestKeyModel]


class NewIngestKey(IngestKeyModel):
    value: str = Field(description="the key, for x-api-key: shown this once, kept by API Gateway only")


class KeyName(BaseModel):
    name: str = Field(description="1-64 letters, digits, '.', '_' or '-': a platform, a build, a server fleet")


class NewChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="1-64 letters, digits, '.', '_' or '-'")
    kind: Literal["slack", "email", "webhook"]
    url: str | None = Field(
        default=None, description="slack: the incoming webhook's URL; webhook: the endpoint (https, a public address)"
    )
    recipients: list[str] = Field(default_factory=list, description="email: the addresses (SES)")


class ChannelModel(BaseModel):
    name: str
    kind: Literal["slack", "email", "webhook"]
    recipients: list[str]
    target: str | None = Field(description="the URL's scheme and host (the URL itself is a secret, never shown)")
    created_at: str | None
    created_by: str | None


class MadeChannel(ChannelModel):
    signing_secret: str | None = Field(
        description="a webhook's HMAC-SHA256 key, shown this once (docs/webhooks.md); null for the others"
    )


class ChannelList(BaseModel):
    channels: list[ChannelModel]


class NewSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    channel: str
    metrics: list[str] = Field(description="metrics and KPIs of the catalog (not retention)")
    groups: list[str] = Field(default_factory=list, description="the groups reported of the grouped metrics")
    when: str = Field(default="closed", description='"closed": once the nightly job published the day; or "HH:MM"')


class SubscriptionModel(NewSubscription):
    created_at: str | None
    created_by: str | None


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionModel]


class NewAlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    channel: str
    metric: str
    group: str | None = None
    scope: Literal["today", "closed"] = "today"
    condition: Literal["above", "below", "change", "band"]
    threshold: float | None = None
    percent: float | None = Field(default=None, description="change: +30 fires at 30 % up, -30 at 30 % down")
    weeks: int = Field(default=4, description="band: the last N same weekdays")
    margin_percent: float = 0.0
    cooldown_minutes: int = 60


class AlertRuleModel(NewAlertRule):
    created_at: str | None
    created_by: str | None
    state: dict[str, Any] = Field(description="firing, since_ms, episode, …")


class AlertRuleList(BaseModel):
    rules: list[AlertRuleModel]


class DeliveryModel(BaseModel):
    id: str
    status: Literal["sending", "sent", "failed"]
    channel: str
    kind: str
    subscription: str | None
    rule: str | None
    day: str | None
    attempts: int
    error: str | None
    created_ms: int
    updated_ms: int
    summary: str


class DeliveryList(BaseModel):
    deliveries: list[DeliveryModel]


ERASURE_ID_ITEMS = {  # how canonical_id (headcount/core/erasure.py) takes an id, as the schema says it
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}, {"type": "integer"}]
}


class NewErasure(BaseModel):
    """A request to forget players (GDPR art. 17): the nightly run erases them from every layer in its next batch."""

    model_config = ConfigDict(extra="forbid")
    # Any here, the ids' rule checked by the logic (one message, whatever the id's type): a JSON string, or an integer
    # taken as its decimal string as the events' player_id is; not a bool
    player_ids: list[Any] = Field(
        description=f"1 to {MAX_IDS_PER_REQUEST:,} player ids (once each) as the game sends them: strings, or integers "
        '(123 and "123" are one player)',
        json_schema_extra={"items": ERASURE_ID_ITEMS, "minItems": 1},
    )
    no_more: bool = Field(
        default=False, strict=True, description="also drop the players' events from now on, at ingest and in the job"
    )


class ErasureReceipt(BaseModel):
    """What a request became. It never holds a player id: one salted SHA-256 per player, so whoever holds an id can
    check that the receipt covered it."""

    receipt: str = Field(description="the receipt's id (GET /v1/admin/erasures/{receipt})")
    state: Literal["pending", "running", "done", "failed"] = Field(
        description="pending until the nightly run's batch takes it; failed: the next batch takes it again"
    )
    requested_at_ms: int
    players: int = Field(description="how many players it names")
    no_more: bool = Field(description="their events are dropped from now on")
    batch: str | None = Field(description="the nightly run that took it")
    steps: dict[str, int] = Field(
        description="when each step of its batch finished (epoch ms): found, raw, lake, published, realtime"
    )
    removed: dict[str, Any] = Field(description="what its batch removed, in all (events, objects, days, items)")
    nothing_found: bool = Field(description="done, and no event of these players was found")
    error: str | None = Field(description="why its batch failed (failed)")
    finished_at_ms: int | None
    salt: str
    hashes: list[str] = Field(description="per player, SHA-256 of the salt, a NUL and the player id (hex)")


class ErasureList(BaseModel):
    receipts: list[ErasureReceipt]


class RejectedEvent(BaseModel):
    index: int
    reason: str = Field(description="a validator reason, or stream_throttled (send it again) / stream_unconfirmed")
    detail: str


class Accepted(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]
    dropped: int = Field(
        0, description='of the accepted, the events of players erased with "no more": taken, never counted'
    )


def error_responses(*statuses: int) -> dict[int, dict]:
    """OpenAPI entries for the error answers a route can give, all in the error envelope."""
    meaning = {
        400: "bad parameters",
        401: "no valid token of the stack's user pool (sign in, or a tool's client credentials)",
        403: "not allowed: no valid ingest key (events), no role (reads), not an admin (admin routes)",
        409: "a key, channel, subscription or rule of that name exists; or the channel is in use",
        404: "unknown metric, or no such key, channel, subscription, rule or erasure receipt",
        405: "a method the route does not have",
        413: "body too large",
        503: "a store or the stream is unavailable, or a day is being republished: retry",
    }
    return {s: {"description": meaning[s], "content": {"application/json": {"model": ErrorResponse}}} for s in statuses}


def ok(model: type[BaseModel], description: str) -> dict[int, dict]:
    return {200: {"description": description, "content": {"application/json": {"model": model}}}}
