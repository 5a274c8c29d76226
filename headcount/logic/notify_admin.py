"""Managing the notifications (admins only): channels, digest subscriptions, alert rules, the deliveries' record, and
a test message now. `headcount channels|subscriptions|alerts` and the admin routes (functions/serve/notify_routes.py)
both go through this.

A Slack or webhook channel's URL goes into Secrets Manager (its name `<prefix>/channels/<channel>`) and nowhere else:
the table holds the secret's id and the target's scheme and host. It is checked against server-side request forgery
when the channel is made (https, a public address), and again before each send (headcount/views/channels.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

from headcount.core import buckets as bk
from headcount.core.alerts import AlertRule
from headcount.core.catalog import Catalog, Granularity, Kind, Metric
from headcount.core.digests import MAX_FIGURES, Subscription
from headcount.core.merge import iso_utc
from headcount.core.notices import Channel, ChannelKind, NoticeKind, check_name
from headcount.logic.errors import BadRequest, Conflict, NotFound, UnknownMetric
from headcount.logic.notify import Notifier
from headcount.views.notify_store import CHANNEL, RULE, RULE_STATE, SUBSCRIPTION, AlreadyExists, Delivery

EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
MAX_RECIPIENTS = 50  # SES: 50 recipients a message


class ChannelSecrets(Protocol):
    def put(self, name: str, value: dict[str, Any]) -> str: ...
    def delete(self, secret_id: str) -> None: ...


class NotifyAdmin:
    def __init__(
        self,
        notifier: Notifier,
        secrets: ChannelSecrets,
        check_target: Callable[[str], str],
        new_signing_secret: Callable[[], str],
    ) -> None:
        self.notifier, self.store, self.secrets = notifier, notifier.store, secrets
        self.check_target, self.new_signing_secret = check_target, new_signing_secret

    @property
    def catalog(self) -> Catalog:
        return self.notifier.catalog

    # channels ---------------------------------------------------------------------------------------------------
    def create_channel(
        self, name: str, kind: str, *, url: str | None, recipients: list[str], by: str | None, now_ms: int
    ) -> tuple[Channel, str | None]:
        """The channel, and a webhook's signing secret (shown this once: the receiver verifies with it)."""
        try:
            check_name("channel", name)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        try:
            channel_kind = ChannelKind(kind)
        except ValueError:
            raise BadRequest(f"channel kind {kind!r}: one of {', '.join(k.value for k in ChannelKind)}") from None
        channel = Channel(name, channel_kind, created_at=iso_utc(now_ms), created_by=by)
        signing_secret = None
        if channel_kind is ChannelKind.EMAIL:
            if url:
                raise BadRequest("an email channel takes `recipients`, not a URL")
            if not 1 <= len(recipients) <= MAX_RECIPIENTS or not all(EMAIL.fullmatch(r) for r in recipients):
                raise BadRequest(f"`recipients`: 1 to {MAX_RECIPIENTS} email addresses")
            channel = replace(channel, recipients=tuple(recipients))
        else:
            if not url or recipients:
                raise BadRequest(f"a {channel_kind.value} channel takes `url` (and no recipients)")
            try:
                target = self.check_target(url)
            except ValueError as exc:
                raise BadRequest(f"`url`: {exc}") from None
            channel = replace(channel, target=target)
        # The name first (a conditional write), then the secret: two admins making one name cannot overwrite the
        # secret of the channel that won
        self._create(CHANNEL, name, {**channel.to_json(), "secret_id": None})
        if channel.kind is not ChannelKind.EMAIL:
            secret: dict[str, Any] = {"url": url}
            if channel_kind is ChannelKind.WEBHOOK:
                signing_secret = secret["signing_secret"] = self.new_signing_secret()
            try:
                channel = replace(channel, secret_id=self.secrets.put(name, secret))
            except Exception:
                self.store.delete(CHANNEL, name)  # no channel without its secret
                raise
            self.store.put(CHANNEL, name, {**channel.to_json(), "secret_id": channel.secret_id})
        return channel, signing_secret

    def channels(self) -> list[Channel]:
        return [Channel.from_json(doc) for doc in self.store.list(CHANNEL)]

    def delete_channel(self, name: str) -> Channel:
        doc = self.store.get(CHANNEL, name)
        if doc is None:
            raise NotFound(f"no channel {name!r}")
        users = [s["name"] for s in self.store.list(SUBSCRIPTION) if s["channel"] == name]
        users += [r["name"] for r in self.store.list(RULE) if r["channel"] == name]
        if users:
            raise Conflict(f"channel {name!r} is used by {', '.join(sorted(users))}: delete them first")
        channel = Channel.from_json(doc)
        self.store.delete(CHANNEL, name)
        if channel.secret_id:
            self.secrets.delete(channel.secret_id)
        return channel

    # subscriptions ----------------------------------------------------------------------------------------------
    def create_subscription(self, doc: dict[str, Any], *, by: str | None, now_ms: int) -> Subscription:
        try:
            subscription = Subscription.from_json({**doc, "created_at": iso_utc(now_ms), "created_by": by})
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"subscription: {_reason(exc)}") from None
        metrics = [self._metric(name) for name in subscription.metrics]
        grouped = [m for m in metrics if m.group_by]
        if grouped and not subscription.groups:
            raise BadRequest(f"{grouped[0].name} is grouped by {grouped[0].group_by}: name the `groups` to report")
        if subscription.groups and not grouped:
            raise BadRequest("`groups` is for grouped metrics, and none of these is")
        figures = len(metrics) - len(grouped) + len(grouped) * len(subscription.groups)
        if figures > MAX_FIGURES:
            raise BadRequest(f"{figures} figures: a digest holds {MAX_FIGURES} at most")
        self._channel(subscription.channel)
        self._create(SUBSCRIPTION, subscription.name, subscription.to_json())
        return subscription

    def subscriptions(self) -> list[Subscription]:
        return [Subscription.from_json(doc) for doc in self.store.list(SUBSCRIPTION)]

    def delete_subscription(self, name: str) -> Subscription:
        doc = self.store.get(SUBSCRIPTION, name)
        if doc is None or not self.store.delete(SUBSCRIPTION, name):
            raise NotFound(f"no subscription {name!r}")
        return Subscription.from_json(doc)

    def test_subscription(self, name: str, now_ms: int) -> Delivery:
        """A sample of the subscription's digest (yesterday, as the API answers it now) sent to its channel now."""
        doc = self.store.get(SUBSCRIPTION, name)
        if doc is None:
            raise NotFound(f"no subscription {name!r}")
        subscription = Subscription.from_json(doc)
        day = bk.local_date(now_ms, self.notifier.tz) - timedelta(days=1)
        notice = self.notifier.digest(subscription, day, now_ms, NoticeKind.TEST)
        notice = replace(notice, id=f"test:{name}:{now_ms}")
        # One attempt, no backoff: the person waits for the answer (and API Gateway for 29 s at most)
        replace(self.notifier, backoff_s=()).deliver(notice, subscription.channel, now_ms)
        delivery = self.store.delivery(notice.id)
        assert delivery is not None
        return delivery

    # alert rules ------------------------------------------------------------------------------------------------
    def create_rule(self, doc: dict[str, Any], *, by: str | None, now_ms: int) -> AlertRule:
        try:
            rule = AlertRule.from_json({**doc, "created_at": iso_utc(now_ms), "created_by": by})
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"alert rule: {_reason(exc)}") from None
        metric = self._metric(rule.metric)
        if metric.group_by and not rule.group:
            raise BadRequest(f"{metric.name} is grouped by {metric.group_by}: name the rule's `group`")
        if rule.group and not metric.group_by:
            raise BadRequest(f"{metric.name} has no groups")
        self._channel(rule.channel)
        self._create(RULE, rule.name, rule.to_json())
        return rule

    def rules(self) -> list[tuple[AlertRule, dict[str, Any]]]:
        """Each rule with its state (firing or not, since when)."""
        return [(AlertRule.from_json(doc), self.store.rule_state(doc["name"])[0]) for doc in self.store.list(RULE)]

    def delete_rule(self, name: str) -> AlertRule:
        doc = self.store.get(RULE, name)
        if doc is None or not self.store.delete(RULE, name):
            raise NotFound(f"no alert rule {name!r}")
        self.store.delete(RULE_STATE, name)
        return AlertRule.from_json(doc)

    def deliveries(self, limit: int = 100) -> list[Delivery]:
        return self.store.deliveries()[:limit]

    # ------------------------------------------------------------------------------------------------------------
    def _metric(self, name: str) -> Metric:
        metric = self.catalog.get(name)
        if metric is None or metric.sub_day_of is not None:  # a sub-day twin is a storage detail, not a figure
            raise UnknownMetric(f"no metric {name!r} in the catalog")
        if metric.kind is Kind.RETENTION:
            raise BadRequest(f"{name} is a retention metric: its cells are cohorts', not a day's figure")
        if metric.granularity is Granularity.HOUR and metric.kind is not Kind.COUNT:
            raise BadRequest(f"{name}: the day of an hourly {metric.kind.value} metric is never exact; use a daily one")
        return metric

    def _channel(self, name: str) -> None:
        if self.store.get(CHANNEL, name) is None:
            raise BadRequest(f"no channel {name!r}: make it first")

    def _create(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        try:
            self.store.create(kind, name, doc)
        except AlreadyExists:
            raise Conflict(f"a {kind} {name!r} exists") from None


def _reason(exc: Exception) -> str:
    return f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
