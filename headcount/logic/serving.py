"""What the REST API answers: series and range-distinct values of a metric and the retention matrix, merged from both
views, each number saying how exact and how fresh it is.

A request reads through a `Reads` (reads.py: a range's publications, shard statuses and real-time items, shared by the
requests of a moment); the KPIs' arithmetic over those reads is kpis.py's. One series request: `series` resolves the
range, `_points` picks the metric kind's answer (a plain metric merges each day here: a published day wins, exact;
a KPI goes to kpis.py; a ratio divides two series), each reading its range once through `Reads.read`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from headcount.core import buckets as bk
from headcount.core.catalog import Granularity, Kind, Metric, in_zone_name
from headcount.core.kpis import ratio_points
from headcount.core.merge import Partial, Point, Stamp, distinct_over, merge_day
from headcount.logic import kpis
from headcount.logic.errors import BadRequest, UnknownMetric
from headcount.logic.reads import RangeRead, Reads
from headcount.logic.zone_kpis import ZoneKpis, zone_kpi_note
from headcount.logic.zones import NoTwins, ZoneAnswers, same_days, zone_note
from headcount.views.batch import Publication

MAX_RANGE_DAYS = 400
# Points of published days kept (a published day's points change only with a republish, which names another run): a
# 400-day series of 30 groups is 12,000 points; a point and its bucket string are about 170 bytes, so about 34 MB
PUBLISHED_POINTS_KEPT = 200_000


@dataclass(frozen=True)
class Series:
    """Every bucket of a metric over a range of days, each point saying where it came from and how fresh it is."""

    metric: str
    timezone: str
    points: list[Point]
    note: str | None = None  # why its distinct players are approximate in this zone (logic/zones.py)


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
    stamp: Stamp  # the oldest of its days' as-of times; stale when a real-time day in it is
    timezone: str = ""  # the zone of its days: `distinct` sets it
    note: str | None = None  # as Series.note


class MetricsService:
    """The answers of the read routes, over `reads` (the catalog and reporting zone are its)."""

    def __init__(self, reads: Reads, extra_zones: Sequence[str] = ()) -> None:
        """`extra_zones`: the zones the nightly job computes exactly too (`Catalog.in_zone`)."""
        self.reads, self.catalog, self.tz = reads, reads.catalog, reads.tz
        self.zones = ZoneAnswers(reads)
        self.zone_kpis = ZoneKpis(reads)
        self.extra_zones = tuple(extra_zones)
        self._computed: dict[str, MetricsService] = {}
        self._computed_lock = threading.Lock()
        # (metric, day, group, run, published_ms) -> the day's points, the least recently used first
        self._published: OrderedDict[tuple[str, str, str | None, str, int], list[Point]] = OrderedDict()
        self._published_size = 0
        self._published_lock = threading.Lock()

    def list_metrics(self) -> list[Metric]:
        return list(self.catalog.listed())

    def series(
        self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int, zone: str | None = None
    ) -> Series:
        """`zone`: the days' and hours' time zone (default: the reporting one)."""
        metric = self._metric(name, group)
        if metric.kind is Kind.RETENTION:
            raise BadRequest(f"{name} is a retention metric: GET /v1/retention/{name} answers its cohorts")
        zone = self._zone(zone)
        first, last = self._range(start, end, now_ms, zone)
        if self._reporting(metric, first, last, zone):
            return Series(name, zone, self._points(metric, first, last, group, now_ms))
        if zone in self.extra_zones:
            return self._computed_series(metric, first, last, group, now_ms, zone)
        note = zone_kpi_note(zone, self.reads.ttl_days) if metric.kind is Kind.NEW else zone_note(zone)
        return Series(name, zone, self._zone_points(metric, first, last, group, now_ms, zone), note)

    def _copy(self, metric: Metric, zone: str) -> tuple[MetricsService, Metric]:
        """An extra zone's answers (of the catalog's copies of the metrics in it, in its days), and the metric's copy."""
        with self._computed_lock:
            if zone not in self._computed:
                self._computed[zone] = MetricsService(self.reads.in_zone(self.catalog.in_zone(zone), zone))
            computed = self._computed[zone]
        copy = computed.catalog.get(in_zone_name(metric.name, zone))
        assert copy is not None  # every listed metric has one
        return computed, copy

    def _computed_series(
        self, metric: Metric, first: date, last: date, group: str | None, now_ms: int, zone: str
    ) -> Series:
        """The zone's copy where the job published it (exact); the days it has not (today, yesterday before the job,
        days before the zone was added), of a metric with sub-day twins, from them: approximate, as the reporting
        zone's days not published yet are, and no note (the zone is computed)."""
        computed, copy = self._copy(metric, zone)
        points = computed._points(copy, first, last, group, now_ms)
        pending = sorted({p.bucket[:10] for p in points if not p.exact})
        if not pending or not self._has_twins(metric):
            return Series(metric.name, zone, points)
        twins: list[Point] = []
        try:
            for start, end in _runs([date.fromisoformat(d) for d in pending]):  # each stretch of days on its own
                twins += self._zone_points(metric, start, end, group, now_ms, zone)
        except NoTwins:  # the catalog's twins cannot serve the zone (hours of another offset): the copy's own points
            return Series(metric.name, zone, points)
        kept = [p for p in points if p.bucket[:10] not in pending]
        merged = sorted(kept + twins, key=lambda p: p.bucket[:10])  # stable: each day's points in their own order
        return Series(metric.name, zone, merged)  # as the reporting zone's days not published yet: no note

    def _has_twins(self, metric: Metric) -> bool:
        """Its days in another zone can be answered from sub-day twins (of it, its base, or a ratio's parts)."""
        if metric.kind is Kind.RATIO:
            parts = (self.catalog.get(n or "") for n in (metric.numerator, metric.denominator))
            return all(p is not None and self._has_twins(p) for p in parts)
        if metric.kind is Kind.ROLLING:
            metric = self.catalog.base(metric)
        return metric.kind.folded and self.catalog.sub_day(metric) is not None

    def retention(
        self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int, zone: str | None = None
    ) -> kpis.RetentionMatrix:
        """The cohort matrix of a retention metric: cohort days `start`..`end` × each k of its `returned_after`."""
        metric = self._metric(name, group)
        kpis.check_retention(metric)
        zone = self._zone(zone)
        first, last = self._range(start, end, now_ms, zone)
        if self._reporting(metric, first, last, zone):
            matrix = kpis.retention_matrix(self.reads, metric, first, last, group, now_ms)
        elif zone in self.extra_zones:
            computed, copy = self._copy(metric, zone)
            matrix = kpis.retention_matrix(computed.reads, copy, first, last, group, now_ms)
        else:
            matrix = self.zone_kpis.retention_matrix(metric, first, last, group, zone, now_ms)
            note = zone_kpi_note(zone, self.reads.ttl_days)
            return kpis.RetentionMatrix(metric.name, zone, matrix.returned_after, matrix.cohorts, note)
        return kpis.RetentionMatrix(metric.name, zone, matrix.returned_after, matrix.cohorts)

    def _reporting(self, metric: Metric, first: date, last: date, zone: str) -> bool:
        """The reporting zone's answers serve `zone`: it is that zone, or has the same days and hours over every day
        the answer reads (a rolling window's days before the range, a cohort's D+k after it)."""
        if zone == self.tz:
            return True
        before, after = self._reach(metric)
        return same_days(first - timedelta(days=before), last + timedelta(days=after), zone, self.tz)

    def _reach(self, metric: Metric) -> tuple[int, int]:
        """How many days before and after its range a metric's answer reads."""
        if metric.kind is Kind.ROLLING:
            assert metric.window_days is not None
            return metric.window_days - 1, 0
        if metric.kind is Kind.NEW:  # everyone seen before the day: the last publication before it, the days since
            return kpis.LOOKBACK_DAYS, 0
        if metric.kind is Kind.RETENTION:
            return kpis.LOOKBACK_DAYS, max(metric.returned_after)
        if metric.kind is Kind.RATIO:
            parts = [self._reach(self.catalog.get(n or "")) for n in (metric.numerator, metric.denominator)]  # type: ignore[arg-type]
            return max(b for b, _ in parts), max(a for _, a in parts)
        return 0, 0

    def _zone_points(
        self, metric: Metric, first: date, last: date, group: str | None, now_ms: int, zone: str
    ) -> list[Point]:
        if metric.kind in (Kind.DISTINCT, Kind.COUNT):
            return self.zones.points(metric, first, last, group, zone, now_ms)
        if metric.kind is Kind.ROLLING:
            return self.zones.rolling_points(metric, first, last, group, zone, now_ms)
        if metric.kind is Kind.NEW:
            return self.zone_kpis.new_points(metric, first, last, group, zone, now_ms)
        assert metric.kind is Kind.RATIO  # a retention metric has no series (series() says so)
        numerator, denominator = (self.catalog.get(n or "") for n in (metric.numerator, metric.denominator))
        assert numerator is not None and denominator is not None  # the catalog checks it
        part_group = group if denominator.group_by is not None else None
        return ratio_points(
            self._zone_points(numerator, first, last, group, now_ms, zone),
            self._zone_points(denominator, first, last, part_group, now_ms, zone),
        )

    def _points(self, metric: Metric, first: date, last: date, group: str | None, now_ms: int) -> list[Point]:
        if metric.kind is Kind.ROLLING:
            return kpis.rolling_points(self.reads, metric, first, last, group, now_ms)
        if metric.kind is Kind.NEW:
            return kpis.new_points(self.reads, metric, first, last, group, now_ms)
        if metric.kind is Kind.RATIO:
            numerator, denominator = (self.catalog.get(n or "") for n in (metric.numerator, metric.denominator))
            assert numerator is not None and denominator is not None  # the catalog checks it
            part_group = group if denominator.group_by is not None else None
            return ratio_points(
                self._points(numerator, first, last, group, now_ms),
                self._points(denominator, first, last, part_group, now_ms),
            )
        read = self.reads.read(metric, first, last, now_ms)
        points: list[Point] = []
        for day in bk.days(first, last):
            publication = read.publications.get(day.isoformat())
            if publication is not None:
                points += self._published_points(metric, day, publication, read.stamp(day, self.tz), group)
                continue
            buckets = bk.buckets_of_day(day, metric.granularity, self.tz)
            points += merge_day(
                metric, buckets, None, read.realtime.get(day.isoformat(), []), read.stamp(day, self.tz), group
            )
        return points

    def _published_points(
        self, metric: Metric, day: date, publication: Publication, stamp: Stamp, group: str | None
    ) -> list[Point]:
        """A published day's points (exact, its run's stamp), merged once per run: a 400-day series merges only the
        days not published since the last request."""
        key = (metric.name, publication.day, group, publication.run_id, publication.published_ms)
        with self._published_lock:
            kept = self._published.get(key)
            if kept is not None:
                self._published.move_to_end(key)
                return kept
        buckets = bk.buckets_of_day(day, metric.granularity, self.tz)
        points = merge_day(metric, buckets, publication.cells, (), stamp, group)
        with self._published_lock:
            if key not in self._published:
                self._published[key] = points
                self._published_size += len(points)
            while self._published_size > PUBLISHED_POINTS_KEPT:
                self._published_size -= len(self._published.popitem(last=False)[1])
        return points

    def distinct(
        self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int, zone: str | None = None
    ) -> RangeDistinct:
        metric = self._metric(name, group)
        if metric.kind is not Kind.DISTINCT:
            raise BadRequest(f"{name} is a {metric.kind.value} metric; /distinct is for distinct metrics")
        zone = self._zone(zone)
        first, last = self._range(start, end, now_ms, zone)
        if not self._reporting(metric, first, last, zone):
            if zone in self.extra_zones:  # its copy's, when the job has computed every day of the range there
                computed, copy = self._copy(metric, zone)
                published = computed.reads.read(copy, first, last, now_ms).publications
                if all(d.isoformat() in published for d in bk.days(first, last)):
                    answer = computed._reporting_distinct(copy, first, last, group, now_ms)
                    return replace(answer, metric=name, timezone=zone)
            estimate, sources, stamp = self.zones.distinct(metric, first, last, group, zone, now_ms)
            value, low, high = estimate.value, estimate.low, estimate.high
            note = None if zone in self.extra_zones else zone_note(zone)
            return RangeDistinct(name, first, last, value, low, high, False, sources, stamp, zone, note)
        answer = self._reporting_distinct(metric, first, last, group, now_ms)
        return replace(answer, timezone=zone)

    def _reporting_distinct(
        self, metric: Metric, first: date, last: date, group: str | None, now_ms: int
    ) -> RangeDistinct:
        name = metric.name
        # Exact only when the answer is one exact batch cell: one day of a daily metric, ungrouped or for one group.
        # Anything wider (several days, hours or groups, where one player can appear in several cells) is the union of
        # the sketches.
        one_cell = first == last and metric.granularity is Granularity.DAY and (metric.group_by is None or group)

        def attempt() -> tuple[RangeRead, dict[str, bytes | None] | None]:
            read = self.reads.read(metric, first, last, now_ms)
            if one_cell and first.isoformat() in read.publications:  # no sketch needed
                return read, None
            return read, self.reads.union_sketches(metric.name, read.publications.values(), group)

        read, day_sketches = self.reads.retrying(metric.name, attempt)
        if day_sketches is None:
            publication = read.publications[first.isoformat()]
            value = sum(c.count or 0 for c in publication.cells if group is None or c.group == group)
            return RangeDistinct(name, first, last, value, value, value, True, ["batch"], read.stamp(first, self.tz))
        pieces = [Partial(day, group or "", sketch=sketch) for day, sketch in day_sketches.items() if sketch]
        sources = {"batch"} if pieces else set()
        for items in read.realtime.values():
            chosen = [p for p in items if group is None or p.group == group]
            pieces += chosen
            sources |= {"realtime"} if chosen else set()
        stamps = [read.stamp(day, self.tz) for day in bk.days(first, last)]
        known = [s.as_of_ms for s in stamps if s.as_of_ms is not None]
        oldest = min(known) if len(known) == len(stamps) else None  # a day that cannot say makes the whole unknown
        estimate = distinct_over(metric, pieces)
        return RangeDistinct(
            name,
            first,
            last,
            estimate.value,
            estimate.low,
            estimate.high,
            False,
            sorted(sources) or ["none"],
            Stamp(oldest, any(s.stale for s in stamps)),
        )

    def _metric(self, name: str, group: str | None) -> Metric:
        metric = self.catalog.get(name)
        if metric is None or metric.sub_day_of is not None:
            raise UnknownMetric(f"no metric named {name!r}")
        if group is not None and metric.group_by is None:
            # Not an empty answer: zeros would read as "nobody", and as exact ones on a published day.
            raise BadRequest(f"{name} has no groups; group= is for metrics with a group_by attribute")
        return metric

    def _zone(self, zone: str | None) -> str:
        if zone is None:
            return self.tz
        try:
            return bk.check_zone(zone)
        except bk.BadZone as exc:
            raise BadRequest(str(exc)) from None

    def _range(self, start: str | None, end: str | None, now_ms: int, zone: str) -> tuple[date, date]:
        try:
            first = bk.resolve_day(start or "today", now_ms, zone)
            last = bk.resolve_day(end or start or "today", now_ms, zone)
        except bk.BadDate as exc:
            raise BadRequest(str(exc)) from None
        if first > last:
            raise BadRequest(f"from ({first}) is after to ({last})")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise BadRequest(f"the range spans more than {MAX_RANGE_DAYS} days")
        return first, last


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) stretches: [11-01, 11-02, 11-05] -> [(11-01, 11-02), (11-05, 11-05)]."""
    stretches: list[tuple[date, date]] = []
    for day in sorted(days):
        if stretches and day - stretches[-1][1] == timedelta(days=1):
            stretches[-1] = (stretches[-1][0], day)
        else:
            stretches.append((day, day))
    return stretches
