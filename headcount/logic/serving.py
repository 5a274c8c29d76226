"""What the REST API answers: series and range-distinct values of a metric, merged from both views, each number saying
how fresh it is.

A range costs a few queries, not a few per day: the batch view's publications of the range (values, no sketches) in one
Query, the shards' statuses in another (both at once), then the real-time items of only the unpublished days that hold
any (usually today, and yesterday until the nightly job). Requests share these reads for `realtime_max_age_s` (1 s), and
the next second's are read ahead, so under steady traffic a request waits for none of them. Sketches are read only where
a union needs them, and a finished day's are kept in memory until a republish names another run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from headcount.core import buckets as bk
from headcount.core import sketches
from headcount.core.catalog import Catalog, Granularity, Kind, Metric
from headcount.core.freshness import Freshness, ShardStatus, freshness
from headcount.core.kpis import ratio_points
from headcount.core.merge import Partial, Point, Stamp, distinct_over, merge_day
from headcount.logic import kpis
from headcount.logic.errors import BadRequest, UnknownMetric
from headcount.views.batch import BatchView, Publication, PublishInProgress, RunReplaced
from headcount.views.realtime import RealtimeStore

MAX_RANGE_DAYS = 400
READS_AT_ONCE = 8
ReadKey = tuple[str, str, date] | tuple[str, str, date, date]  # what a moment reads: see Moment.reads


@dataclass(frozen=True)
class Series:
    """Every bucket of a metric over a range of days, each point saying where it came from and how fresh it is."""

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
    stamp: Stamp  # the oldest of its days' as-of times; stale when a real-time day in it is


@dataclass
class Moment:
    """The reads requests share for up to `max_age_s` (a dashboard asks for several metrics and ranges at once, each
    needing today): the shards' statuses, the items of each (metric, day) read since, never before them, so the items
    hold at least what the statuses' watermarks promise, and the batch view's publications of each range asked for."""

    started: float
    statuses: Future[list[ShardStatus]]
    # ("items", metric, day): a day's real-time items, read after the statuses;
    # ("publications", metric, first, last): the batch view's publications of a range
    reads: dict[ReadKey, Future] = field(default_factory=dict)
    used: set[ReadKey] = field(default_factory=set)  # what requests asked this moment for

    def expired(self, now: float, max_age_s: float) -> bool:
        failed = self.statuses.done() and self.statuses.exception() is not None
        return failed or now - self.started >= max_age_s

    def settled(self) -> bool:
        """Every read of this moment has answered: reads made ahead never pile up on a store slower than the moment."""
        return self.statuses.done() and all(read.done() for read in self.reads.values())


@dataclass(frozen=True)
class RangeRead:
    """What the views hold for a range of days."""

    publications: dict[str, Publication]
    fresh: Freshness
    realtime: dict[str, list[Partial]]  # unpublished days with real-time items

    retained_from_ms: int  # real-time items of days that ended before this have expired (TTL)

    def stamp(self, day: date, tz: str) -> Stamp:
        publication = self.publications.get(day.isoformat())
        if publication is not None:
            return Stamp(publication.published_ms, False, publication.run_id)
        day_end = bk.day_bounds_ms(day, tz)[1]
        if day_end < self.retained_from_ms:  # neither layer holds it (the batch never ran for it): nobody can say
            return Stamp(None)
        return Stamp(self.fresh.as_of_ms, self.fresh.stale(day_end))


class MetricsService:
    def __init__(
        self,
        catalog: Catalog,
        realtime: RealtimeStore,
        batch: BatchView,
        tz: str,
        open_shards: Callable[[], Collection[str] | None] = lambda: None,
        stale_after_ms: int = 60_000,
        monotonic: Callable[[], float] = time.monotonic,
        realtime_max_age_s: float = 1.0,
        ttl_days: int = 35,
    ) -> None:
        self.catalog, self.realtime, self.batch, self.tz = catalog, realtime, batch, tz
        self.open_shards, self.stale_after_ms, self.monotonic = open_shards, stale_after_ms, monotonic
        self.realtime_max_age_s, self.ttl_days = realtime_max_age_s, ttl_days
        self._pool = ThreadPoolExecutor(READS_AT_ONCE, thread_name_prefix="reads")
        self._moment: Moment | None = None
        self._ahead: Moment | None = None  # the next moment, read ahead
        self._moment_lock = threading.Lock()

    def list_metrics(self) -> list[Metric]:
        return list(self.catalog.metrics)

    def series(self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int) -> Series:
        metric = self._metric(name, group)
        first, last = self._range(start, end, now_ms)
        return Series(name, self.tz, self._points(metric, first, last, group, now_ms))

    def retention(
        self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int
    ) -> kpis.RetentionMatrix:
        """The cohort matrix of a retention metric: cohort days `start`..`end` × each k of its `returned_after`."""
        metric = self._metric(name, group)
        kpis.check_retention(metric)
        first, last = self._range(start, end, now_ms)
        return kpis.retention_matrix(self, metric, first, last, group, now_ms)

    def _points(self, metric: Metric, first: date, last: date, group: str | None, now_ms: int) -> list[Point]:
        if metric.kind is Kind.ROLLING:
            return kpis.rolling_points(self, metric, first, last, group, now_ms)
        if metric.kind is Kind.NEW:
            return kpis.new_points(self, metric, first, last, group, now_ms)
        if metric.kind is Kind.RATIO:
            numerator, denominator = (self.catalog.get(n or "") for n in (metric.numerator, metric.denominator))
            assert numerator is not None and denominator is not None  # the catalog checks it
            part_group = group if denominator.group_by is not None else None
            return ratio_points(
                self._points(numerator, first, last, group, now_ms),
                self._points(denominator, first, last, part_group, now_ms),
            )
        if metric.kind is Kind.RETENTION:
            raise BadRequest(
                f"{metric.name} is a retention metric: GET /v1/retention/{metric.name} answers its cohorts"
            )
        read = self.read(metric, first, last, now_ms)
        points: list[Point] = []
        for day in bk.days(first, last):
            publication = read.publications.get(day.isoformat())
            points += merge_day(
                metric,
                bk.buckets_of_day(day, metric.granularity, self.tz),
                publication.cells if publication is not None else None,
                read.realtime.get(day.isoformat(), []),
                read.stamp(day, self.tz),
                group,
            )
        return points

    def distinct(self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int) -> RangeDistinct:
        metric = self._metric(name, group)
        if metric.kind is not Kind.DISTINCT:
            raise BadRequest(f"{name} is a {metric.kind.value} metric; /distinct is for distinct metrics")
        first, last = self._range(start, end, now_ms)
        # Exact only when the answer is one exact batch cell: one day of a daily metric, ungrouped or for one group.
        # Anything wider (several days, hours or groups, where one player can appear in several cells) is the union of
        # the sketches.
        one_cell = first == last and metric.granularity is Granularity.DAY and (metric.group_by is None or group)
        for _ in range(3):
            read = self.read(metric, first, last, now_ms)
            publication = read.publications.get(first.isoformat())
            if one_cell and publication is not None:  # no sketch needed
                value = sum(c.count or 0 for c in publication.cells if group is None or c.group == group)
                return RangeDistinct(
                    name, first, last, value, value, value, True, ["batch"], read.stamp(first, self.tz)
                )
            try:
                day_sketches = self.batch.union_sketches(metric.name, read.publications.values(), group)
                break
            except RunReplaced:
                self.forget_publications(metric.name)
                continue  # a republish replaced a run under this read: read the publications again
        else:
            raise PublishInProgress(f"{name} is being republished under every read")
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

    def read(self, metric: Metric, first: date, last: date, now_ms: int) -> RangeRead:
        """Publications and shard statuses at once; then the real-time items of the unpublished days that have any
        (of a metric the fold keeps: rolling, ratio and retention metrics have publications only). Today is read in
        the first round too when it is in the range (the batch layer never publishes it)."""
        today = bk.local_date(now_ms, self.tz)
        folded = metric.kind.folded
        moment = self._current_moment()
        publications: Future[dict[str, Publication]] = self._shared(moment, ("publications", metric.name, first, last))
        early = (
            {today: self._shared(moment, ("items", metric.name, today))} if folded and first <= today <= last else {}
        )
        published = publications.result()
        fresh = freshness(moment.statuses.result(), self.open_shards(), self.stale_after_ms, now_ms)
        wanted = [
            d
            for d in bk.days(first, last)
            if folded and d.isoformat() not in published and d.isoformat() in fresh.days and d not in early
        ]
        late = {day: self._shared(moment, ("items", metric.name, day)) for day in wanted}
        realtime = {
            day.isoformat(): future.result()
            for day, future in {**early, **late}.items()
            if day.isoformat() in fresh.days
        }
        return RangeRead(published, fresh, realtime, now_ms - self.ttl_days * 86_400_000)

    def _current_moment(self) -> Moment:
        """The moment to read from. Halfway through a moment's life, the next one is read ahead, in the background,
        of what requests asked this one for: under steady traffic no request waits for a read it made within the last
        second, and none is served reads older than `realtime_max_age_s`. Not while this moment's own reads are still
        out: a store slower than half a moment would get more reads than requests."""
        with self._moment_lock:
            now, max_age = self.monotonic(), self.realtime_max_age_s
            current, ahead = self._moment, self._ahead
            if current is None or current.expired(now, max_age):
                if ahead is not None and not ahead.expired(now, max_age):
                    current = ahead
                else:
                    current = Moment(now, self._pool.submit(self.realtime.shard_statuses))
                self._moment, self._ahead = current, None
            elif ahead is None and max_age > 0 and now - current.started >= max_age / 2 and current.settled():
                self._ahead = Moment(now, self._pool.submit(self.realtime.shard_statuses))
                for key in current.used:
                    self._submit(self._ahead, key)
            return current

    def _shared(self, moment: Moment, key: ReadKey) -> Future:
        """The moment's read of `key`, made now if no request made it yet (or it failed)."""
        with self._moment_lock:
            moment.used.add(key)
            known = moment.reads.get(key)
            failed = known is not None and known.done() and known.exception() is not None
            if known is None or failed or self.realtime_max_age_s <= 0:
                self._submit(moment, key)
            return moment.reads[key]

    def _submit(self, moment: Moment, key: ReadKey) -> None:
        if key[0] == "items":  # ("items", metric, day)
            metric = self.catalog.get(key[1])
            assert metric is not None
            moment.reads[key] = self._pool.submit(self._read_realtime_day, metric, key[2], moment.statuses)
        else:  # ("publications", metric, first, last)
            first, last = key[2].isoformat(), key[-1].isoformat()
            moment.reads[key] = self._pool.submit(self.batch.publications, key[1], first, last)

    def forget_publications(self, metric: str) -> None:
        """A republish replaced a run of `metric` under a read: its publications are read again."""
        with self._moment_lock:
            for moment in (m for m in (self._moment, self._ahead) if m is not None):
                moment.reads = {k: v for k, v in moment.reads.items() if k[:2] != ("publications", metric)}

    def _read_realtime_day(self, metric: Metric, day: date, statuses: Future[list[ShardStatus]]) -> list[Partial]:
        statuses.result()  # the items are read after the statuses (queued before them): they hold what those promise
        items = self.realtime.day_items(metric.name, day.isoformat())
        assert metric.lg_k is not None or all(not i.ids for i in items)
        of_ids = sketches.theta_of_values if metric.kind is Kind.NEW else sketches.of_values
        return [
            Partial(i.key.bucket, i.key.group, i.count, of_ids(i.ids, metric.lg_k) if i.ids else i.sketch)  # type: ignore[arg-type]
            for i in items
        ]

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
