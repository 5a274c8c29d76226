"""What a request reads from the two views, shared by the requests of one moment and read ahead of the next.

A range costs a few queries, not a few per day: the batch view's publications of the range (values, no sketches) in one
Query, the shards' statuses in another (both at once), then the real-time items of only the unpublished days that hold
any (usually today, and yesterday until the nightly job). Requests share these reads for `max_age_s` (1 s), and the
next second's are read ahead, so under steady traffic a request waits for none of them (another zone's new players read
the 35 days the real-time layer keeps: those that ended a while ago, which only late events change, are read again
every five minutes, in the background: `settled_after_ms`). Sketches are read only where a
union needs them (`union_sketches`), and a finished day's are kept by the batch view until a republish names another
run; a republish under a read is retried here (`retrying`), once for every caller.

The series and distinct answers (`serving.py`) and the KPIs (`kpis.py`) take a `Reads` as their collaborator.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from headcount.core import buckets as bk
from headcount.core import sketches
from headcount.core.catalog import Catalog, Kind, Metric
from headcount.core.freshness import Freshness, ShardStatus, freshness
from headcount.core.merge import Partial, Stamp
from headcount.views.batch import BatchView, Publication, PublishInProgress, RunReplaced
from headcount.views.realtime import RealtimeStore

READS_AT_ONCE = 8
# A settled day (`read`'s settled_after_ms) is read again every SETTLED_MAX_AGE_S, not every moment
SETTLED_MAX_AGE_S = 300.0
SETTLED_DAYS_KEPT = 256  # (metric, day) item reads kept
ATTEMPTS = 3  # reads of a range a republish may replace before the answer is 503 `republishing`
ReadKey = tuple[str, str, date] | tuple[str, str, date, date]  # what a moment reads: see Moment.reads
T = TypeVar("T")


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
    # each real-time day's version: a hash of its items' keys and sequence numbers, which every write changes (what a
    # result computed from the day's items is kept under: zone_kpis.py)
    versions: dict[str, int] = field(default_factory=dict)

    def stamp(self, day: date, tz: str) -> Stamp:
        publication = self.publications.get(day.isoformat())
        if publication is not None:
            return Stamp(publication.published_ms, False, publication.run_id)
        day_end = bk.day_bounds_ms(day, tz)[1]
        if day_end < self.retained_from_ms:  # neither layer holds it (the batch never ran for it): nobody can say
            return Stamp(None)
        return Stamp(self.fresh.as_of_ms, self.fresh.stale(day_end))


class Reads:
    """The views as a function's requests read them: `read` a range, `union_sketches` of its publications, and
    `retrying` a read that a republish may replace."""

    def __init__(
        self,
        catalog: Catalog,
        realtime: RealtimeStore,
        batch: BatchView,
        tz: str,
        open_shards: Callable[[], Collection[str] | None] = lambda: None,
        stale_after_ms: int = 60_000,
        monotonic: Callable[[], float] = time.monotonic,
        max_age_s: float = 1.0,
        ttl_days: int = 35,
    ) -> None:
        self.catalog, self.realtime, self.batch, self.tz = catalog, realtime, batch, tz
        self.open_shards, self.stale_after_ms, self.monotonic = open_shards, stale_after_ms, monotonic
        self.max_age_s, self.ttl_days = max_age_s, ttl_days
        self._pool = ThreadPoolExecutor(READS_AT_ONCE, thread_name_prefix="reads")
        self._moment: Moment | None = None
        self._ahead: Moment | None = None  # the next moment, read ahead
        self._moment_lock = threading.Lock()
        # settled days' item reads (_day_items): when the latest was made, it, and the last one that answered
        self._settled: dict[tuple[str, date], tuple[float, Future, Future | None]] = {}

    def in_zone(self, catalog: Catalog, tz: str) -> Reads:
        """The same views read as another catalog in another zone (an extra zone's copies of the metrics)."""
        return Reads(
            catalog,
            self.realtime,
            self.batch,
            tz,
            self.open_shards,
            self.stale_after_ms,
            self.monotonic,
            self.max_age_s,
            self.ttl_days,
        )

    def read(
        self, metric: Metric, first: date, last: date, now_ms: int, settled_after_ms: int | None = None
    ) -> RangeRead:
        """Publications and shard statuses at once; then the real-time items of the unpublished days that have any
        (of a metric the fold keeps: rolling, ratio and retention metrics have publications only). Today is read in
        the first round too when it is in the range (the batch layer never publishes it). `settled_after_ms`: the
        items of a day that ended at least this long ago are read again every `SETTLED_MAX_AGE_S` (None: every
        moment, as an answer's `as_of` promises)."""
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
        settled_ms = None if settled_after_ms is None else now_ms - settled_after_ms
        late = {day: self._day_items(moment, metric, day, settled_ms) for day in wanted}
        days = {day.isoformat(): future.result() for day, future in {**early, **late}.items()}
        realtime = {day: items for day, (items, _) in days.items() if day in fresh.days}
        versions = {day: version for day, (_, version) in days.items() if day in fresh.days}
        return RangeRead(published, fresh, realtime, now_ms - self.ttl_days * 86_400_000, versions)

    def publications(self, metric: Metric, first: date, last: date) -> dict[str, Publication]:
        """The batch view's publications of a range, shared as `read`'s are, without any real-time items."""
        return self._shared(self._current_moment(), ("publications", metric.name, first, last)).result()

    def union_sketches(
        self, metric: str, publications: Iterable[Publication], group: str | None
    ) -> dict[str, bytes | None]:
        """Each publication's day union sketch (or `group`'s); raises `RunReplaced` when a republish replaced a run
        under the read (`retrying` reads again)."""
        return self.batch.union_sketches(metric, publications, group)

    def row_sketches(
        self, metric: str, publications: Iterable[Publication], group: str | None
    ) -> dict[str, list[Partial]]:
        """Each publication's rows with their sketches (or `group`'s); raises `RunReplaced` as `union_sketches` does."""
        return self.batch.row_sketches(metric, publications, group)

    def edge_sketches(
        self, metric: str, wanted: Iterable[tuple[Publication, str]]
    ) -> dict[tuple[str, str], bytes | None]:
        """Published days' edges or unions (a sub-day twin's: zones.py), by (day, bucket); raises `RunReplaced` as
        `union_sketches` does."""
        return self.batch.edge_sketches(metric, wanted)

    def retrying(self, metric: str, attempt: Callable[[], T]) -> T:
        """`attempt()`, read again when a republish replaced a run of `metric` while its sketches were read."""
        for _ in range(ATTEMPTS):
            try:
                return attempt()
            except RunReplaced:
                self._forget_publications(metric)
        raise PublishInProgress(f"{metric} is being republished under every read")

    def _day_items(self, moment: Moment, metric: Metric, day: date, settled_ms: int | None) -> Future:
        """The moment's read of a day's real-time items; of a day settled (ended by `settled_ms`), a read shared for
        `SETTLED_MAX_AGE_S`, then read again in the background: requests keep the last read until the next one has
        answered."""
        if self.max_age_s <= 0 or settled_ms is None or bk.day_bounds_ms(day, self.tz)[1] > settled_ms:
            return self._shared(moment, ("items", metric.name, day))
        with self._moment_lock:
            now, key = self.monotonic(), (metric.name, day)
            started, latest, answered = self._settled.pop(key, (now, None, None))
            if latest is None or (latest.done() and latest.exception() is not None):
                started, latest = now, self._pool.submit(self._read_realtime_day, metric, day, moment.statuses)
            elif latest.done() and now - started >= SETTLED_MAX_AGE_S:
                answered, started = latest, now
                latest = self._pool.submit(self._read_realtime_day, metric, day, moment.statuses)
            if latest.done():
                answered = latest
            self._settled[key] = (started, latest, answered)  # the most recently used last
            while len(self._settled) > SETTLED_DAYS_KEPT:
                del self._settled[next(iter(self._settled))]
            return answered if answered is not None else latest

    def _current_moment(self) -> Moment:
        """The moment to read from. Halfway through a moment's life, the next one is read ahead, in the background,
        of what requests asked this one for: under steady traffic no request waits for a read it made within the last
        second, and none is served reads older than `max_age_s`. Not while this moment's own reads are still out: a
        store slower than half a moment would get more reads than requests."""
        with self._moment_lock:
            now, max_age = self.monotonic(), self.max_age_s
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
            if known is None or failed or self.max_age_s <= 0:
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

    def _forget_publications(self, metric: str) -> None:
        """A republish replaced a run of `metric` under a read: its publications are read again."""
        with self._moment_lock:
            for moment in (m for m in (self._moment, self._ahead) if m is not None):
                moment.reads = {k: v for k, v in moment.reads.items() if k[:2] != ("publications", metric)}

    def _read_realtime_day(
        self, metric: Metric, day: date, statuses: Future[list[ShardStatus]]
    ) -> tuple[list[Partial], int]:
        """The day's items as pieces, and the day's version (`RangeRead.versions`)."""
        statuses.result()  # the items are read after the statuses (queued before them): they hold what those promise
        items = self.realtime.day_items(metric.name, day.isoformat())
        assert metric.lg_k is not None or all(not i.ids for i in items)
        of_ids = sketches.theta_of_values if metric.kind is Kind.NEW else sketches.of_values
        pieces = [
            Partial(i.key.bucket, i.key.group, i.count, of_ids(i.ids, metric.lg_k) if i.ids else i.sketch)  # type: ignore[arg-type]
            for i in items
        ]
        return pieces, hash(
            tuple(sorted((i.key.bucket, i.key.group, i.key.shard_id, i.sequence_number) for i in items))
        )
