"""Digest subscriptions: which figures of a day go to which channel, and when. Pure (the clock is given).

A digest reports a day of the reporting time zone (the day before the one it is sent in): each metric (and group) of
the subscription, with the day before and the same weekday a week before. It is sent either when the day closes (the
first run after the nightly job published every figure of it: all exact) or at a local time (09:00, say: exact where
published, approximate with bounds and as-of otherwise). Once sent, a day's digest is followed up when its exact
numbers land and differ from an approximate figure beyond its interval's half-width, or when a republish changes an
exact figure it sent (a correction); never twice for the same runs (the follow-up's id names them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from headcount.core.notices import Figure, NoticeKind, check_name, generation

CLOSED = "closed"  # `when`: as soon as the day is published
FOLLOW_UP_DAYS = 3  # a digest is compared with the batch's numbers this many days after its day (the job redoes 2)
MAX_FIGURES = 40  # what a message shows well (Slack: 50 blocks a message)


@dataclass(frozen=True)
class Subscription:
    name: str
    channel: str
    metrics: tuple[str, ...]
    groups: tuple[str, ...] = ()  # the groups of the grouped metrics (each one a figure); ungrouped metrics ignore them
    when: str = CLOSED  # "closed", or a local time "HH:MM" of the reporting time zone
    created_at: str | None = None
    created_by: str | None = None

    def __post_init__(self) -> None:
        check_name("subscription", self.name)
        if not self.metrics:
            raise ValueError("a subscription needs at least one metric")
        if self.when != CLOSED:
            try:
                time.fromisoformat(self.when)
            except ValueError:
                raise ValueError(f'`when` is "closed" or a local time HH:MM, not {self.when!r}') from None

    @property
    def at(self) -> time | None:
        """The local time it is sent at, or None: when the day closes."""
        return None if self.when == CLOSED else time.fromisoformat(self.when)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channel": self.channel,
            "metrics": list(self.metrics),
            "groups": list(self.groups),
            "when": self.when,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Subscription:
        return cls(
            name=doc["name"],
            channel=doc["channel"],
            metrics=tuple(doc.get("metrics") or ()),
            groups=tuple(doc.get("groups") or ()),
            when=doc.get("when") or CLOSED,
            created_at=doc.get("created_at"),
            created_by=doc.get("created_by"),
        )


def digest_day(local_now: datetime) -> date:
    """The day a digest sent now reports: yesterday in the reporting zone."""
    return local_now.date() - timedelta(days=1)


def due_at_ms(subscription: Subscription, local_now: datetime, figures: list[Figure]) -> int | None:
    """When yesterday's digest became due, if it is by now (None: not yet): when the day closes, the moment the last
    of its figures was published (all must be exact); at a local time, that time today (whatever the figures are).
    A subscription sends the digests that became due after it was made."""
    if subscription.at is None:
        if not figures or not all(figure.exact and figure.as_of for figure in figures):
            return None
        return max(int(datetime.fromisoformat(str(f.as_of)).timestamp() * 1000) for f in figures)
    at = datetime.combine(local_now.date(), subscription.at, tzinfo=local_now.tzinfo)
    return int(at.timestamp() * 1000) if local_now >= at else None


def digest_id(subscription: Subscription, day: str) -> str:
    return f"digest:{subscription.name}:{generation(subscription.created_at)}:{day}"


def follow_up(sent: list[Figure], now: list[Figure]) -> tuple[NoticeKind, list[Figure]] | None:
    """What to send after a digest that said `sent`, now that the API says `now` (the same figures): the exact figures
    that landed beyond an approximate one's half-width (a follow-up), or changed from an exact one (a correction, when
    a republish changed it). None: nothing worth a message (still approximate, or within the bounds, or unchanged)."""
    before = {(f.metric, f.group): f for f in sent}
    changed: list[Figure] = []
    correction = False
    for figure in now:
        old = before.get((figure.metric, figure.group))
        if old is None or not figure.exact or figure.value is None:
            continue
        if old.exact:
            if old.value != figure.value:
                correction = True
                changed.append(_with_sent(figure, old))
        elif old.value is None or abs(float(figure.value) - float(old.value)) > old.half_width:
            changed.append(_with_sent(figure, old))
    if not changed:
        return None
    return (NoticeKind.CORRECTION if correction else NoticeKind.FOLLOW_UP), changed


def follow_up_id(subscription: Subscription, day: str, figures: list[Figure]) -> str:
    """Names the numbers it sends and the runs that published them: the same numbers never go twice; a republish
    that changes them does (even under the same run id)."""
    said = sorted(f"{f.metric}|{f.group or ''}|{f.value}|{f.run_id or ''}" for f in figures)
    digest = hashlib.sha256("\n".join(said).encode()).hexdigest()[:12]
    return f"follow_up:{subscription.name}:{generation(subscription.created_at)}:{day}:{digest}"


def _with_sent(figure: Figure, old: Figure) -> Figure:
    return replace(figure, sent_value=old.value, sent_exact=old.exact)
