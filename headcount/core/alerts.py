"""Alert rules on the catalog's metrics, and how a rule's episodes go: pure (the clock and the values are given).

A rule looks at one metric (and group) either today so far (every run of the business function) or on closed days
(the last day the nightly job published). Its condition is a threshold (above/below), a change against the same
weekday a week before (today so far: at the same elapsed part of the day, not against a whole day), or a band (outside
the lowest and highest of the last N same weekdays, at the same elapsed part of the day for today so far).

An approximate value is past its condition only when its whole 95 % interval is: the low bound above an upper limit,
the high bound below a lower one. While the interval straddles a limit the rule keeps its state (it neither fires nor
resolves): a rule fires once when an episode begins, says so again only when it resolves (the value is wholly back),
and a new episode within the cooldown of the last message that fired is not sent (nor is its end).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from headcount.core.notices import check_name, format_number

DEFAULT_COOLDOWN_MINUTES = 60
DEFAULT_BAND_WEEKS = 4
MAX_BAND_WEEKS = 8  # the observations are kept 9 weeks (headcount/views/notify_store.py)


class Scope(StrEnum):
    TODAY = "today"  # today so far, at every run
    CLOSED = "closed"  # each day the nightly job publishes (exact)


class Condition(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    CHANGE = "change"  # against the same weekday a week before: `percent` (+30: up 30 % or more; -30: down 30 %)
    BAND = "band"  # outside the lowest–highest of the last `weeks` same weekdays, widened by `margin_percent`


class Verdict(StrEnum):
    PAST = "past"  # the whole interval is past the condition's limit
    BACK = "back"  # the whole interval is on the quiet side
    UNSURE = "unsure"  # the interval straddles a limit, or nothing to compare with yet


@dataclass(frozen=True)
class AlertRule:
    name: str
    channel: str
    metric: str
    condition: Condition
    scope: Scope = Scope.TODAY
    group: str | None = None
    threshold: float | None = None  # above, below
    percent: float | None = None  # change
    weeks: int = DEFAULT_BAND_WEEKS  # band
    margin_percent: float = 0.0  # band
    cooldown_minutes: int = DEFAULT_COOLDOWN_MINUTES
    created_at: str | None = None
    created_by: str | None = None

    def __post_init__(self) -> None:
        check_name("rule", self.name)
        if self.scope is Scope.TODAY and self.condition is Condition.BELOW:
            raise ValueError(
                "today so far only grows through the day, so a rule below a threshold would fire every night: use a "
                "change or band rule (compared at the same time of day), or a rule on closed days"
            )
        if self.condition in (Condition.ABOVE, Condition.BELOW) and self.threshold is None:
            raise ValueError(f"a rule {self.condition.value} a threshold needs `threshold`")
        if self.condition is Condition.CHANGE and not self.percent:
            raise ValueError("a change rule needs `percent`, not 0 (+30: up 30 % or more; -30: down 30 % or more)")
        if self.condition is Condition.BAND and not 1 <= self.weeks <= MAX_BAND_WEEKS:
            raise ValueError(f"a band rule's `weeks` is 1 to {MAX_BAND_WEEKS}")
        if self.margin_percent < 0 or self.cooldown_minutes < 0:
            raise ValueError("`margin_percent` and `cooldown_minutes` are not negative")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channel": self.channel,
            "metric": self.metric,
            "group": self.group,
            "scope": self.scope.value,
            "condition": self.condition.value,
            "threshold": self.threshold,
            "percent": self.percent,
            "weeks": self.weeks,
            "margin_percent": self.margin_percent,
            "cooldown_minutes": self.cooldown_minutes,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AlertRule:
        fields = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__ and v is not None}
        fields["condition"] = Condition(fields["condition"])
        fields["scope"] = Scope(fields.get("scope", Scope.TODAY.value))
        for name in ("threshold", "percent", "margin_percent"):
            if name in fields:
                fields[name] = float(fields[name])
        for name in ("weeks", "cooldown_minutes"):
            if name in fields:
                fields[name] = int(fields[name])
        return cls(**fields)

    def describe(self) -> str:
        """The condition in words: "above 1,000", "up 30 % or more against the same weekday a week before"."""
        if self.condition is Condition.ABOVE:
            return f"above {format_number(self.threshold)}"
        if self.condition is Condition.BELOW:
            return f"below {format_number(self.threshold)}"
        if self.condition is Condition.CHANGE:
            assert self.percent is not None
            way = "up" if self.percent > 0 else "down"
            return f"{way} {format_number(abs(self.percent))} % or more against the same weekday a week before"
        margin = f" widened by {format_number(self.margin_percent)} %" if self.margin_percent else ""
        return f"outside the range of the last {self.weeks} same weekdays{margin}"


@dataclass(frozen=True)
class Reading:
    """A value as the API answered it (exact: low = high = value)."""

    value: float
    low: float
    high: float
    exact: bool


@dataclass(frozen=True)
class Limits:
    """What a reading is compared with: past `upper` (or below `lower`) is the alert's side."""

    lower: float | None = None
    upper: float | None = None
    baseline: str = ""  # the limit in words, for the message


def limits(rule: AlertRule, history: list[float]) -> Limits | None:
    """The rule's limits, from the values it compares with: the same weekday a week before (change: one value), or the
    last `weeks` same weekdays (band). None when there is nothing to compare with yet."""
    if rule.condition is Condition.ABOVE:
        return Limits(upper=rule.threshold, baseline=f"above {format_number(rule.threshold)}")
    if rule.condition is Condition.BELOW:
        return Limits(lower=rule.threshold, baseline=f"below {format_number(rule.threshold)}")
    if rule.condition is Condition.CHANGE:
        if not history:
            return None
        assert rule.percent is not None
        limit = history[0] * (1 + rule.percent / 100)
        words = f"{'+' if rule.percent > 0 else '−'}{format_number(abs(rule.percent))} % of {format_number(history[0])} a week before"
        return Limits(upper=limit, baseline=words) if rule.percent > 0 else Limits(lower=limit, baseline=words)
    if len(history) < rule.weeks:
        return None
    margin = rule.margin_percent / 100
    low, high = min(history) * (1 - margin), max(history) * (1 + margin)
    return Limits(lower=low, upper=high, baseline=f"outside {format_number(low)}–{format_number(high)}")


def verdict(reading: Reading, bounds: Limits | None) -> Verdict:
    """Past only when the whole 95 % interval is past a limit; back only when the whole interval is inside."""
    if bounds is None:
        return Verdict.UNSURE
    if (bounds.upper is not None and reading.low > bounds.upper) or (
        bounds.lower is not None and reading.high < bounds.lower
    ):
        return Verdict.PAST
    if (bounds.upper is None or reading.high <= bounds.upper) and (bounds.lower is None or reading.low >= bounds.lower):
        return Verdict.BACK
    return Verdict.UNSURE


class Action(StrEnum):
    FIRE = "fire"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class RuleState:
    """Where a rule's episodes stand (one item per rule)."""

    firing: bool = False
    episode: int = 0  # counts the episodes begun
    since_ms: int | None = None  # when the current episode began (or ended)
    notified: bool = False  # the current episode's beginning was sent (so its end is too)
    last_fired_ms: int | None = None  # when a message last said an episode began (the cooldown's start)
    last_day: str | None = None  # a closed-days rule: the last day it looked at

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RuleState:
        fields = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        for name in ("episode", "since_ms", "last_fired_ms"):
            if fields.get(name) is not None:
                fields[name] = int(fields[name])
        return cls(**fields)


def step(state: RuleState, seen: Verdict, now_ms: int, cooldown_minutes: int) -> tuple[RuleState, Action | None]:
    """The rule's next state, and the message to send (None: none). An episode begins on PAST and ends on BACK; UNSURE
    changes nothing. A beginning within the cooldown of the last one sent is kept quiet, and so is its end."""
    if seen is Verdict.PAST and not state.firing:
        quiet = state.last_fired_ms is not None and now_ms - state.last_fired_ms < cooldown_minutes * 60_000
        began = replace(state, firing=True, episode=state.episode + 1, since_ms=now_ms, notified=not quiet)
        if quiet:
            return began, None
        return replace(began, last_fired_ms=now_ms), Action.FIRE
    if seen is Verdict.BACK and state.firing:
        ended = replace(state, firing=False, since_ms=now_ms, notified=False)
        return ended, Action.RESOLVE if state.notified else None
    return state, None
