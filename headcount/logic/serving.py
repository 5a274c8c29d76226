"""What the REST API answers: series and range-distinct values of a metric, merged from both views."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from headcount.core import buckets as bk
from headcount.core.catalog import Catalog, Granularity, Kind, Metric
from headcount.core.merge import Partial, Point, distinct_over, merge_day
from headcount.logic.errors import BadRequest, UnknownMetric
from headcount.views.batch import BatchView
from headcount.views.realtime import RealtimeStore

MAX_RANGE_DAYS = 400


@dataclass(frozen=True)
class Series:
    """Every bucket of a metric over a range of days, each point saying where it came from."""

    metric: str
    timezone: str
    points: list[Point]


@dataclass(frozen=True)
class RangeDistinct:
    """Unique players over a whole range of days, with its 95 % bounds (equal to the value when exact)."""

    metric: str
    first: date
    last: date
    value: int
    low: int
    high: int
    exact: bool
    sources: list[str]  # "batch", "realtime", or ["none"] without data


class MetricsService:
    def __init__(self, catalog: Catalog, realtime: RealtimeStore, batch: BatchView, tz: str) -> None:
        self.catalog, self.realtime, self.batch, self.tz = catalog, realtime, batch, tz

    def list_metrics(self) -> list[Metric]:
        return list(self.catalog.metrics)

    def series(self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int) -> Series:
        metric = self._metric(name, group)
        first, last = self._range(start, end, now_ms)
        points = []
        for day, (batch, realtime) in self._days(metric, first, last):
            points += merge_day(metric, bk.buckets_of_day(day, metric.granularity, self.tz), batch, realtime, group)
        return Series(name, self.tz, points)

    def distinct(self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int) -> RangeDistinct:
        metric = self._metric(name, group)
        if metric.kind is not Kind.DISTINCT:
            raise BadRequest(f"{name} is a count metric; /distinct is for distinct metrics")
        first, last = self._range(start, end, now_ms)
        pieces: list[Partial] = []
        sources: set[str] = set()
        for _day, (batch, realtime) in self._days(metric, first, last):
            chosen = batch if batch is not None else realtime
            chosen = [p for p in chosen if group is None or p.group == group]
            if chosen:
                sources.add("batch" if batch is not None else "realtime")
            pieces += chosen
        estimate = distinct_over(metric, pieces)
        # Exact only when the answer is one exact batch cell: one day of a daily metric, ungrouped or for one group.
        # Anything wider (several days, hours or groups, where one player can appear in several cells) is the union of
        # the sketches.
        one_cell = first == last and metric.granularity is Granularity.DAY and (metric.group_by is None or group)
        if one_cell and sources == {"batch"} and len(pieces) == 1:
            value = pieces[0].count or 0
            exact, low, high = True, value, value
        else:
            value, exact, low, high = estimate.value, False, estimate.low, estimate.high
        return RangeDistinct(name, first, last, value, low, high, exact, sorted(sources) or ["none"])

    def _metric(self, name: str, group: str | None) -> Metric:
        metric = self.catalog.get(name)
        if metric is None:
            raise UnknownMetric(f"no metric named {name!r}")
        if group is not None and metric.group_by is None:
            # Not an empty answer: zeros would read as "nobody", and as exact ones on a published day.
            raise BadRequest(f"{name} has no groups; group= is for metrics with a group_by attribute")
        return metric

    def _range(self, start: str | None, end: str | None, now_ms: int) -> tuple[date, date]:
        try:
            first = bk.resolve_day(start or "today", now_ms, self.tz)
            last = bk.resolve_day(end or start or "today", now_ms, self.tz)
        except bk.BadDate as exc:
            raise BadRequest(str(exc)) from None
        if first > last:
            raise BadRequest(f"from ({first}) is after to ({last})")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise BadRequest(f"the range spans more than {MAX_RANGE_DAYS} days")
        return first, last

    def _days(
        self, metric: Metric, first: date, last: date
    ) -> list[tuple[date, tuple[list[Partial] | None, list[Partial]]]]:
        """Each day's stored pieces, read concurrently: a long range is many independent DynamoDB queries."""
        days = bk.days(first, last)
        if len(days) == 1:
            return [(days[0], self._day(metric, days[0]))]
        with ThreadPoolExecutor(min(8, len(days))) as pool:
            return list(zip(days, pool.map(lambda day: self._day(metric, day), days), strict=True))

    def _day(self, metric: Metric, day: date) -> tuple[list[Partial] | None, list[Partial]]:
        batch = self.batch.day_rows(metric.name, day.isoformat())
        if batch is not None:
            return batch, []
        items = self.realtime.day_items(metric.name, day.isoformat())
        return None, [Partial(i.key.bucket, i.key.group, i.count, i.sketch) for i in items]
