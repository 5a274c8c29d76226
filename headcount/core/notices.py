"""What headcount sends to people (a digest of a day, an alert, its follow-ups), as channel-free models.

A `Notice` is built by the notifications' use case (headcount/logic/notify.py) from the serving layer's answers, and
rendered for each channel by headcount/core/messages.py (Slack Block Kit, an email's HTML and text parts, the webhook's
JSON): every figure in every channel says whether it is exact, and an approximate one carries its 95 % bounds and as-of.
Pure: no clock, no AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # a channel's, subscription's or alert rule's


def check_name(what: str, name: str) -> None:
    if not NAME.fullmatch(name or ""):
        raise ValueError(f"{what} name {name!r}: 1 to 64 letters, digits, '.', '_' or '-'")


def generation(created_at: str | None) -> str:
    """A definition's generation (when it was made, epoch ms): the ids of its messages carry it, so a subscription or
    rule deleted and made again under its name is not taken for the one before (whose deliveries are kept 90 days)."""
    return str(int(datetime.fromisoformat(created_at).timestamp() * 1000)) if created_at else "0"


class NoticeKind(StrEnum):
    DIGEST = "digest"  # a subscription's day
    FOLLOW_UP = "follow_up"  # the exact numbers of a day a digest sent approximate, which differ beyond its bounds
    CORRECTION = "correction"  # a republished day changed an exact number a digest sent
    ALERT = "alert"  # an alert rule's episode began
    RESOLVED = "resolved"  # ... and ended
    TEST = "test"  # `headcount subscriptions test NAME`: a sample, sent now


class ChannelKind(StrEnum):
    SLACK = "slack"  # an incoming webhook's URL (a secret)
    EMAIL = "email"  # SES, to the channel's recipients
    WEBHOOK = "webhook"  # any HTTPS endpoint (a secret), JSON signed with HMAC-SHA256


@dataclass(frozen=True)
class Channel:
    """Where notices go. A Slack or webhook channel's URL is a secret: it lives in Secrets Manager (`secret_id`, the
    secret's JSON `{"url": ..., "signing_secret": ...}`, the signing secret a webhook's only), never in the table, a log
    or an answer; `target` is what people may see of it (the scheme and host)."""

    name: str
    kind: ChannelKind
    recipients: tuple[str, ...] = ()  # an email channel's addresses
    secret_id: str | None = None  # a Slack or webhook channel's secret
    target: str | None = None  # "https://hooks.slack.com", never the path (Slack's token is in it)
    created_at: str | None = None  # ISO-8601 UTC
    created_by: str | None = None  # the admin who made it (a user name)

    def to_json(self) -> dict[str, Any]:
        """What people may see of it (not the secret's id)."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "recipients": list(self.recipients),
            "target": self.target,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Channel:
        return cls(
            name=doc["name"],
            kind=ChannelKind(doc["kind"]),
            recipients=tuple(doc.get("recipients") or ()),
            secret_id=doc.get("secret_id"),
            target=doc.get("target"),
            created_at=doc.get("created_at"),
            created_by=doc.get("created_by"),
        )


@dataclass(frozen=True)
class Figure:
    """One number of a notice: a metric's (and group's) value for a day, or for today so far, as the API answers it."""

    metric: str
    label: str  # how people read it: "active_players", "active_players_by_country · DE"
    group: str | None
    day: str  # the figure's day, ISO (the reporting zone's)
    value: int | float | None  # None: no value (a ratio with a zero denominator)
    exact: bool
    low: int | float | None  # the 95 % bounds (equal to the value when exact)
    high: int | float | None
    as_of: str | None  # ISO-8601 UTC: when the batch published it, or the real-time view's watermark
    run_id: str | None  # the nightly run that published it (exact figures)
    link: str  # the dashboard's view of this metric and range
    ratio: bool = False  # a ratio KPI (stickiness): a fraction, shown as a percentage
    stale: bool = False  # a real-time figure whose fold is behind the stream: lower than it will be
    # The comparisons of a digest's figure: the day before, and the same weekday a week before (None: no value)
    previous: int | float | None = None
    week_ago: int | float | None = None
    # An alert's figure: what it was compared with, and how
    threshold: int | float | None = None
    baseline: str | None = None  # "above 100", "+30 % against Sat 28 Nov at 14:05", "outside 80–120 (last 4 Saturdays)"
    # A follow-up's or correction's figure: what the earlier notice said
    sent_value: int | float | None = None
    sent_exact: bool | None = None

    @property
    def half_width(self) -> float:
        """Half the 95 % interval: 0 for an exact figure."""
        if self.exact or self.low is None or self.high is None:
            return 0.0
        return (float(self.high) - float(self.low)) / 2

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "metric": self.metric,
            "label": self.label,
            "group": self.group,
            "day": self.day,
            "value": self.value,
            "exact": self.exact,
            "low": self.low,
            "high": self.high,
            "as_of": self.as_of,
            "run_id": self.run_id,
            "link": self.link,
            "ratio": self.ratio,
            "stale": self.stale,
        }
        for name in ("previous", "week_ago", "threshold", "baseline", "sent_value", "sent_exact"):
            if getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Figure:
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Notice:
    """One message, the same for every channel; `id` is its delivery's idempotency key (a subscription's day and kind,
    or an alert rule's episode), which the webhook's receiver sees too (`X-Headcount-Delivery`)."""

    id: str
    kind: NoticeKind
    title: str  # "Yesterday, Sat 5 Dec 2026", "active_players above 1,000"
    summary: str  # one line: what happened, in words (Slack's notification text, the email's subject)
    timezone: str  # the reporting zone the days are in
    sent_at: str  # ISO-8601 UTC
    dashboard: str  # the dashboard's address
    figures: tuple[Figure, ...] = ()
    subscription: str | None = None
    rule: str | None = None
    day: str | None = None  # the digest's day, or the day an alert looked at
    notes: tuple[str, ...] = field(default_factory=tuple)  # lines under the figures (why an alert fired, say)

    @property
    def exact(self) -> bool:
        """Every figure exact."""
        return all(figure.exact for figure in self.figures)

    def to_json(self) -> dict[str, Any]:
        """The webhook's body (its JSON Schema: docs/webhook.schema.json)."""
        return {
            "version": 1,
            "id": self.id,
            "kind": self.kind.value,
            "title": self.title,
            "summary": self.summary,
            "timezone": self.timezone,
            "sent_at": self.sent_at,
            "dashboard": self.dashboard,
            "subscription": self.subscription,
            "rule": self.rule,
            "day": self.day,
            "exact": self.exact,
            "figures": [figure.to_json() for figure in self.figures],
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Notice:
        """A notice again from its webhook body (a receiver's, or a test's)."""
        fields = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(
            **{
                **fields,
                "kind": NoticeKind(doc["kind"]),
                "figures": tuple(Figure.from_json(f) for f in doc["figures"]),
                "notes": tuple(doc.get("notes") or ()),
            }
        )


def format_number(value: int | float | None, *, ratio: bool = False) -> str:
    """How every channel writes a figure's number: counts with thousands separators, a ratio as a percentage with one
    decimal, no value as a dash."""
    if value is None:
        return "—"
    if ratio:
        return f"{float(value) * 100:.1f} %"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"
