"""Digests and alerts: the business function's second use case (functions/business/handler.py), run every few minutes
and right after the nightly job publishes (an EventBridge rule on the job's success, infra/notifications.py).

Each run reads the figures as the API answers them (MetricsService: exact where published, else the real-time view's
estimate with its 95 % bounds and as-of) and:
- sends each subscription's digest of yesterday once it is due (headcount/core/digests.py), then its follow-up or
  correction when the batch's numbers land or change;
- evaluates each alert rule (headcount/core/alerts.py): today so far at every run (recording the value at this slot
  of the day, which later weeks compare with), closed days once each when the nightly job published them.

Every message is claimed in the store before it is sent (headcount/views/notify_store.py): one run sends it, whatever
reruns and overlaps. A send is tried 3 times (backoff 1 s, 4 s); then the delivery is recorded failed and put on the
dead-letter queue, and the run goes on with the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson

from headcount.core import alerts, digests
from headcount.core import buckets as bk
from headcount.core.alerts import AlertRule, Reading, RuleState, Scope
from headcount.core.catalog import Catalog, Granularity, Kind, Metric
from headcount.core.digests import Subscription
from headcount.core.merge import Point, iso_utc
from headcount.core.messages import change
from headcount.core.notices import Channel, Figure, Notice, NoticeKind, format_number, generation
from headcount.logic.serving import MetricsService
from headcount.views.notify_store import CHANNEL, RULE, SUBSCRIPTION, Delivery, NotifyStore, StateChanged

BACKOFF_S = (1.0, 4.0)  # between the 3 attempts of a send
# What a run keeps of its invocation's time when it claims a message: the longest send (3 attempts of 5 s and 5 s of
# backoff) with room to record it
RESERVE_MS = 30_000
SLOTS_PER_DAY = 288  # 5-minute slots: the business function's schedule


class Sender(Protocol):
    """Sends one notice to one channel, once (headcount/views/channels.py Senders); raises on failure, with
    `retryable` saying whether another attempt may succeed."""

    def send(self, channel: Channel, notice: Notice) -> None: ...


class DeadLetters(Protocol):
    def put(self, body: dict[str, Any]) -> None: ...


@dataclass
class RunReport:
    """What a run did: the deliveries it sent and those that failed (their ids), and what it could not evaluate."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: dict[str, Exception] = field(default_factory=dict)  # a subscription's or rule's name -> why


@dataclass
class Notifier:
    service: MetricsService
    store: NotifyStore
    sender: Sender
    dashboard_url: str
    dead_letters: DeadLetters | None = None
    sleep: Callable[[float], None] = time.sleep
    backoff_s: Sequence[float] = BACKOFF_S

    @property
    def catalog(self) -> Catalog:
        return self.service.catalog

    @property
    def tz(self) -> str:
        return self.service.tz

    def run(self, now_ms: int, remaining_ms: Callable[[], int] | None = None) -> RunReport:
        """Every subscription, then every rule, each on its own (one's failure is reported, the others go on). With
        `remaining_ms` (the invocation's time left), it stops claiming messages when less than RESERVE_MS is left:
        the next run takes up what this one left, and no claim is left half-sent by a timeout."""
        report = RunReport()
        work = [
            (f"subscription {d['name']}", self._subscription, Subscription.from_json(d))
            for d in self.store.list(SUBSCRIPTION)
        ]
        work += [(f"rule {d['name']}", self._rule, AlertRule.from_json(d)) for d in self.store.list(RULE)]
        for name, evaluate, definition in work:
            if remaining_ms is not None and remaining_ms() < RESERVE_MS:
                report.errors[name] = TimeoutError("left for the next run: this one is out of time")
                continue
            try:
                evaluate(definition, now_ms, report)
            except Exception as exc:  # noqa: BLE001 - one's failure must not keep the others from going
                report.errors[name] = exc
        return report

    # digests ----------------------------------------------------------------------------------------------------
    def digest(
        self, subscription: Subscription, day: date, now_ms: int, kind: NoticeKind = NoticeKind.DIGEST
    ) -> Notice:
        figures = [
            self._digest_figure(metric, group, day, now_ms)
            for metric, group in self._cells(subscription.metrics, subscription.groups)
        ]
        return self._digest_notice(subscription, day, figures, now_ms, kind)

    def _subscription(self, subscription: Subscription, now_ms: int, report: RunReport) -> None:
        local_now = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(self.tz))
        yesterday = digests.digest_day(local_now)
        for day in self._digest_days(subscription, yesterday, local_now):
            if not self.store.unsent(digests.digest_id(subscription, day.isoformat()), now_ms):
                continue
            notice = self.digest(subscription, day, now_ms)
            due_ms = digests.due_at_ms(subscription, local_now, list(notice.figures))
            if due_ms is not None and self._made_before(subscription, due_ms):
                self.deliver(notice, subscription.channel, now_ms, report)
        for back in range(digests.FOLLOW_UP_DAYS):
            self._follow_up(subscription, yesterday - timedelta(days=back), now_ms, report)

    def _digest_days(self, subscription: Subscription, yesterday: date, local_now: datetime) -> list[date]:
        """The days whose digest may go now: yesterday's at its local time (not before: nothing to read); when the day
        closes, yesterday's and the days before it a late nightly run published late (a job rerun the next day), but
        not days that ended more than a day before the subscription was made (their digests were never its)."""
        if subscription.at is not None:
            return [yesterday] if local_now.time() >= subscription.at else []
        made_ms = datetime.fromisoformat(subscription.created_at).timestamp() * 1000 if subscription.created_at else 0
        days = [yesterday - timedelta(days=back) for back in range(digests.FOLLOW_UP_DAYS)]
        return [d for d in days if bk.day_bounds_ms(d, self.tz)[1] > made_ms - 86_400_000]

    @staticmethod
    def _made_before(subscription: Subscription, due_ms: int) -> bool:
        """A subscription sends the digests that became due after it was made, not those of the days before it."""
        if subscription.created_at is None:
            return True
        return datetime.fromisoformat(subscription.created_at).timestamp() * 1000 < due_ms

    def _follow_up(self, subscription: Subscription, day: date, now_ms: int, report: RunReport) -> None:
        sent = self.store.delivery(digests.digest_id(subscription, day.isoformat()))
        if sent is None or sent.status != "sent" or not sent.figures:
            return
        before = [Figure.from_json(doc) for doc in sent.figures]
        now = [self._digest_figure(f.metric, f.group, day, now_ms) for f in before]
        found = digests.follow_up(before, now)
        if found is None:
            return
        kind, changed = found
        notice = replace(
            self._digest_notice(subscription, day, changed, now_ms, kind),
            id=digests.follow_up_id(subscription, day.isoformat(), changed),
        )
        if self.deliver(notice, subscription.channel, now_ms, report) == "sent":
            # the digest's record now says what people were last told: a later change is compared with that
            latest = {(f.metric, f.group): f for f in changed}
            figures = [latest.get((f.metric, f.group), f) for f in before]
            self.store.record(replace(sent, figures=[f.to_json() for f in figures], updated_ms=now_ms))

    def _cells(self, names: Sequence[str], groups: Sequence[str]) -> list[tuple[Metric, str | None]]:
        cells: list[tuple[Metric, str | None]] = []
        for name in names:
            metric = self.catalog.get(name)
            if metric is None:
                raise LookupError(f"{name} is no longer in the catalog")
            cells += [(metric, group) for group in groups] if metric.group_by else [(metric, None)]
        return cells

    def _digest_figure(self, metric: Metric | str, group: str | None, day: date, now_ms: int) -> Figure:
        """The day's figure with the day before and the same weekday a week before: one read of the 8 days."""
        metric = self.catalog.get(metric) if isinstance(metric, str) else metric
        assert metric is not None
        week = self.figures(metric, group, day - timedelta(days=7), day, now_ms)
        figure = week[day]
        return replace(
            figure, previous=week[day - timedelta(days=1)].value, week_ago=week[day - timedelta(days=7)].value
        )

    def _digest_notice(
        self, subscription: Subscription, day: date, figures: list[Figure], now_ms: int, kind: NoticeKind
    ) -> Notice:
        when = day.strftime("%a %-d %b %Y")
        first = figures[0] if figures else None
        headline = "no figures"
        if first is not None:
            moved = change(first.value, first.previous, ratio=first.ratio)
            moved = "" if moved == format_number(None) else moved  # no day before to compare with
            headline = (
                f"{first.label} {format_number(first.value, ratio=first.ratio)}"
                f" ({'exact' if first.exact else 'approximate'}{f', {moved} vs the day before' if moved else ''})"
            )
        words = {
            NoticeKind.DIGEST: f"{when}: {headline}",
            NoticeKind.TEST: f"Test of {subscription.name}, {when}: {headline}",
            NoticeKind.FOLLOW_UP: f"The exact numbers of {when} differ from the digest's estimate: {headline}",
            NoticeKind.CORRECTION: f"{when} was republished with different numbers: {headline}",
        }
        notes = []
        if kind is NoticeKind.DIGEST and not all(f.exact for f in figures):
            notes.append(
                "Approximate figures are the real-time view's estimates, with their 95 % bounds: the nightly job has "
                "not published the day yet. A follow-up comes if its exact numbers fall outside them."
            )
        return Notice(
            id=digests.digest_id(subscription, day.isoformat()),
            kind=kind,
            title={
                NoticeKind.FOLLOW_UP: f"Exact numbers for {when}",
                NoticeKind.CORRECTION: f"Corrected numbers for {when}",
                NoticeKind.TEST: f"Test: the digest {subscription.name} of {when}",
            }.get(kind, f"Daily digest · {when}"),
            summary=words.get(kind, headline),
            timezone=self.tz,
            sent_at=iso_utc(now_ms),
            dashboard=self.dashboard_url,
            figures=tuple(figures),
            subscription=subscription.name,
            day=day.isoformat(),
            notes=tuple(notes),
        )

    # figures ----------------------------------------------------------------------------------------------------
    def figure(self, metric: Metric, group: str | None, day: date, now_ms: int) -> Figure:
        """A metric's (and group's) value for a whole day, or today so far, as the API answers it."""
        return self.figures(metric, group, day, day, now_ms)[day]

    def figures(self, metric: Metric, group: str | None, first: date, last: date, now_ms: int) -> dict[date, Figure]:
        """Each day's figure of a range, from one read of the range (an hourly count's day is the sum of its hours)."""
        if metric.granularity is Granularity.HOUR and metric.kind is not Kind.COUNT:
            raise ValueError(f"{metric.name}: an hourly {metric.kind.value} metric has no exact day")
        series = self.service.series(metric.name, first.isoformat(), last.isoformat(), group, now_ms)
        by_day: dict[str, list[Point]] = {}
        for point in series.points:
            if point.group == group:
                by_day.setdefault(point.bucket[:10], []).append(point)
        figures = {}
        for day in bk.days(first, last):
            points = by_day.get(day.isoformat(), [])
            if not points or (metric.granularity is Granularity.DAY and len(points) != 1):
                raise ValueError(f"{metric.name} {group or ''}: {len(points)} points for {day}, expected one a bucket")
            figures[day] = self._figure_of(metric, group, day, points)
        return figures

    def _figure_of(self, metric: Metric, group: str | None, day: date, points: list[Point]) -> Figure:
        if len(points) == 1:
            value, low, high = points[0].value, points[0].low, points[0].high
        else:  # an hourly count's hours
            value, low, high = (sum(getattr(p, part) or 0 for p in points) for part in ("value", "low", "high"))
        stamp = min((p.stamp for p in points), key=lambda s: s.as_of_ms or 0)  # the stalest hour's
        return Figure(
            metric=metric.name,
            label=f"{metric.name} · {group}" if group else metric.name,
            group=group,
            day=day.isoformat(),
            value=value,
            exact=all(p.exact for p in points),
            low=low,
            high=high,
            as_of=stamp.as_of,
            run_id=stamp.run_id,
            link=self.link(metric.name, group, day - timedelta(days=7), day),
            ratio=metric.kind is Kind.RATIO,
            stale=stamp.stale,
        )

    def link(self, metric: str, group: str | None, first: date, last: date) -> str:
        """The dashboard's view of a metric over a range (the dashboard reads it from the address' fragment)."""
        query = {"metric": metric, "from": first.isoformat(), "to": last.isoformat()}
        if group:
            query["group"] = group
        return f"{self.dashboard_url}#{urlencode(query)}"

    # alert rules ------------------------------------------------------------------------------------------------
    def _rule(self, rule: AlertRule, now_ms: int, report: RunReport) -> None:
        metric = self.catalog.get(rule.metric)
        if metric is None:
            raise LookupError(f"{rule.metric} is no longer in the catalog")
        doc, version = self.store.rule_state(rule.name)
        state = RuleState.from_json(doc)
        today = bk.local_date(now_ms, self.tz)
        if rule.scope is Scope.TODAY:
            figure = self.figure(metric, rule.group, today, now_ms)
            slot = self._slot(today, now_ms)
            reading = _reading(figure)
            self.store.observe(
                rule.metric, rule.group, today.isoformat(), slot, orjson.loads(orjson.dumps(reading.__dict__)), now_ms
            )
            history = self._observed(rule, today, slot)
        else:
            day = today - timedelta(days=1)
            if state.last_day == day.isoformat():
                return  # looked at already
            figure = self.figure(metric, rule.group, day, now_ms)
            if not figure.exact:
                return  # not published yet
            reading = _reading(figure)
            weeks = 1 if rule.condition is alerts.Condition.CHANGE else rule.weeks
            past = self.figures(metric, rule.group, day - timedelta(days=7 * weeks), day, now_ms)
            history = [
                float(v) for k in range(1, weeks + 1) if (v := past[day - timedelta(days=7 * k)].value) is not None
            ]
            state = replace(state, last_day=day.isoformat())
        limits = alerts.limits(rule, history)
        # a stale estimate (the fold is behind the stream) is lower than it will be: it says nothing either way
        seen = alerts.Verdict.UNSURE if figure.stale else alerts.verdict(reading, limits)
        state, action = alerts.step(state, seen, now_ms, rule.cooldown_minutes)
        if action is not None:
            assert limits is not None
            notice = self._alert_notice(rule, figure, limits, state, action, now_ms)
            if self.deliver(notice, rule.channel, now_ms, report) is None:
                return  # another run is sending it (its state goes with it), or died doing so: taken over when stale
        try:
            self.store.put_rule_state(rule.name, state.to_json(), version)
        except StateChanged:
            return  # another run evaluated it meanwhile, and wrote what it saw: this run's view is older

    def _slot(self, today: date, now_ms: int) -> int:
        """The 5-minute slot of the day now is in, by the elapsed part of the day (a 23- or 25-hour day has 288 too)."""
        start, end = bk.day_bounds_ms(today, self.tz)
        return min(SLOTS_PER_DAY - 1, (now_ms - start) * SLOTS_PER_DAY // (end - start))

    def _observed(self, rule: AlertRule, today: date, slot: int) -> list[float]:
        """The values a today-so-far rule compares with: at the same elapsed part of the same weekday, 1 week back
        (change) or each of the last `weeks` (band); a week without an observation at this slot (or the 2 before
        it: a run missed) leaves it out."""
        if rule.condition in (alerts.Condition.ABOVE, alerts.Condition.BELOW):
            return []
        weeks = 1 if rule.condition is alerts.Condition.CHANGE else rule.weeks
        values: list[float] = []
        for k in range(1, weeks + 1):
            seen = self.store.observations(rule.metric, rule.group, (today - timedelta(days=7 * k)).isoformat())
            near = [seen[s] for s in (slot, slot - 1, slot - 2) if s in seen]
            if near:
                values.append(float(near[0]["value"]))
        return values

    def _alert_notice(
        self,
        rule: AlertRule,
        figure: Figure,
        limits: alerts.Limits,
        state: RuleState,
        action: alerts.Action,
        now_ms: int,
    ) -> Notice:
        fired = action is alerts.Action.FIRE
        when = "today so far" if rule.scope is Scope.TODAY else f"on {figure.day}"
        value = format_number(figure.value, ratio=figure.ratio)
        notes = []
        if not figure.exact:
            notes.append(
                f"Approximate: {value} is the real-time view's estimate; its whole 95 % interval "
                f"({format_number(figure.low, ratio=figure.ratio)}–{format_number(figure.high, ratio=figure.ratio)}) "
                + ("is past the limit, so it fired." if fired else "is back within the limit, so it resolved.")
            )
        notes.append(f"Rule {rule.name}: {figure.label} {rule.describe()} ({rule.scope.value}).")
        summary = (
            f"{figure.label} {value} {when}: {limits.baseline}"
            if fired
            else f"Resolved: {figure.label} {value} {when} is no longer {limits.baseline}"
        )
        return Notice(
            id=f"{'alert' if fired else 'resolved'}:{rule.name}:{generation(rule.created_at)}:{state.episode}",
            kind=NoticeKind.ALERT if fired else NoticeKind.RESOLVED,
            title=f"{figure.label} {rule.describe()}" if fired else f"Resolved: {figure.label} {rule.describe()}",
            summary=summary,
            timezone=self.tz,
            sent_at=iso_utc(now_ms),
            dashboard=self.dashboard_url,
            figures=(
                replace(
                    figure,
                    threshold=limits.upper if limits.upper is not None else limits.lower,
                    baseline=limits.baseline,
                ),
            ),
            rule=rule.name,
            day=figure.day,
            notes=tuple(notes),
        )

    # delivery ---------------------------------------------------------------------------------------------------
    def deliver(self, notice: Notice, channel_name: str, now_ms: int, report: RunReport | None = None) -> str | None:
        """Send `notice` to the channel, once: None when it was sent (or is being sent) already, else "sent" or
        "failed" (after its retries: recorded, and put on the dead-letter queue)."""
        delivery = Delivery(
            id=notice.id,
            status="sending",
            channel=channel_name,
            kind=notice.kind.value,
            subscription=notice.subscription,
            rule=notice.rule,
            day=notice.day,
            attempts=0,
            error=None,
            created_ms=now_ms,
            updated_ms=now_ms,
            figures=[f.to_json() for f in notice.figures],
            summary=notice.summary,
        )
        if not self.store.claim(delivery, now_ms):
            return None
        attempts, error = self._send(notice, channel_name)
        status = "sent" if error is None else "failed"
        self.store.record(replace(delivery, status=status, attempts=attempts, error=error, updated_ms=now_ms))
        if report is not None:
            (report.sent if error is None else report.failed).append(notice.id)
        if error is not None and self.dead_letters is not None:
            self.dead_letters.put(
                {"delivery": notice.id, "channel": channel_name, "error": error, "notice": notice.to_json()}
            )
        return status

    def _send(self, notice: Notice, channel_name: str) -> tuple[int, str | None]:
        """(attempts made, None or the last error). An error's text never holds a channel's URL (channels.py)."""
        doc = self.store.get(CHANNEL, channel_name)
        if doc is None:
            return 0, f"no channel {channel_name!r}"
        channel = Channel.from_json(doc)
        for attempts, wait in enumerate((*self.backoff_s, None), start=1):
            try:
                self.sender.send(channel, notice)
                return attempts, None
            except Exception as exc:  # noqa: BLE001 - every failure is recorded; retried only when it may pass
                error = f"{type(exc).__name__}: {exc}"
                if wait is None or not getattr(exc, "retryable", False):
                    return attempts, error
                self.sleep(wait)
        raise AssertionError("unreachable")


def _reading(figure: Figure) -> Reading:
    value = float(figure.value or 0)
    return Reading(
        value,
        float(figure.low) if figure.low is not None else value,
        float(figure.high) if figure.high is not None else value,
        figure.exact,
    )
