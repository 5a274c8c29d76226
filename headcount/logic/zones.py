"""Answers in a time zone other than the reporting one, from the metrics' sub-day twins (`<name>~quarter`).

Both layers keep every distinct and count metric also in quarter hours of the reporting zone (the catalog's sub-day
twins). Every UTC offset in use is a multiple of 15 minutes, so another zone's day or hour is a whole number of quarter
hours, which lie in one or two (at most three) of the reporting zone's days:
- a count is the sum of its quarter hours: exact when the batch layer has published every reporting day it overlaps;
- distinct players are the union of the quarter hours' sketches (HLL) of both layers: approximate, with the sketch
  library's 95 % bounds, even on published days (the job counts players per reporting day), and said so
  (`zone_note`). A published day also keeps, at each quarter hour where some zone's day begins, the union of its
  quarter hours before it and of those from it on (`day_edges`), so the players of a zone's day over published days
  are two or three sketches (a day's suffix and the next one's prefix), not 96: a year of days reads 800, not 38,400;
- a rolling window is the union of its days' unions, as approximate.
A zone whose days are the reporting zone's over every day an answer reads (`Etc/UTC` for `UTC`, London in winter for
UTC) is answered by the reporting zone's own answers, exact where those are (serving.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from headcount.core import buckets as bk
from headcount.core import keys, sketches
from headcount.core.catalog import Catalog, Granularity, Kind, Metric
from headcount.core.merge import Partial, Point, Stamp
from headcount.logic.errors import BadRequest
from headcount.logic.reads import RangeRead, Reads
from headcount.views.batch import BatchRow, Publication


def zone_note(zone: str) -> str:
    """What an answer in another zone says about its distinct players."""
    return (
        f"distinct players are not computed exactly in {zone}: they are the union of quarter-hour sketches "
        "(approximate, with 95 % bounds); counts are exact on the days the batch layer has published"
    )


def same_days(first: date, last: date, zone: str, tz: str) -> bool:
    """`zone`'s days and hours are `tz`'s over the range: the same instants, the same offsets."""
    return all(
        bk.day_bounds_ms(d, zone) == bk.day_bounds_ms(d, tz)
        and bk.buckets_of_day(d, Granularity.HOUR, zone) == bk.buckets_of_day(d, Granularity.HOUR, tz)
        for d in bk.days(first, last)
    )


class NoTwins(BadRequest):
    """The catalog keeps no sub-day twins that can serve the zone (`sub_day` is off, or hours of another offset)."""


@dataclass
class ZoneDay:
    """One day of the zone: its sub-day pieces by the zone's bucket and group, and how exact and fresh they are."""

    pieces: dict[tuple[str, str], list[Partial]] = field(default_factory=lambda: defaultdict(list))
    published: bool = True  # every reporting day it overlaps is published
    batch: bool = False  # a piece came from the batch layer
    realtime: bool = False  # a piece came from the real-time layer
    stamps: list[Stamp] = field(default_factory=list)
    finished: tuple | None = None  # what its pieces depend on (ZoneAnswers._key) once every reporting day is published

    @property
    def source(self) -> str:
        """`batch` when every reporting day under it is published; else `realtime` when a piece is the real-time
        layer's, `batch` when the pieces are all the batch layer's (a day half published, its other half empty so
        far), `none` without any."""
        if self.published:
            return "batch"
        return "realtime" if self.realtime else "batch" if self.batch else "none"

    def stamp(self) -> Stamp:
        """The oldest as-of of its reporting days (unknown when one of them cannot say), stale when one is, and the
        run when they were all published by one."""
        known = [s.as_of_ms for s in self.stamps]
        as_of = None if None in known or not known else min(k for k in known if k is not None)
        runs = {s.run_id for s in self.stamps}
        return Stamp(as_of, any(s.stale for s in self.stamps), runs.pop() if len(runs) == 1 else None)


# A distinct metric's quarter hours read at once for another zone (BatchGetItem, the function's memory): 400 days of an
# ungrouped metric (38,400); a grouped one's every group over long ranges is refused, one group (group=) is not.
MAX_SKETCH_ROWS = 40_000


class Span:
    """A range of a zone's days, and the reporting zone's days under it."""

    def __init__(self, first: date, last: date, zone: str, tz: str) -> None:
        self.zone, self.tz = zone, tz
        self.start_ms, self.end_ms = bk.day_bounds_ms(first, zone)[0], bk.day_bounds_ms(last, zone)[1]
        self.r_first, self.r_last = bk.local_date(self.start_ms, tz), bk.local_date(self.end_ms - 1, tz)
        self.covering = {d: _covering(d, zone, tz) for d in bk.days(first, last)}  # zone day -> its reporting days


def twin_of(catalog: Catalog, metric: Metric, span: Span) -> Metric:
    """The metric's sub-day twin, if its buckets begin where each of the span's days does."""
    sub = catalog.sub_day(metric)
    if sub is None:
        raise NoTwins(f"{metric.name} is kept in {span.tz}'s days only (the catalog's sub_day is off)")
    edges = (edge for d in span.covering for edge in bk.day_bounds_ms(d, span.zone))
    if sub.granularity is Granularity.HOUR and not all(_on_bucket(at, sub, span.tz) for at in edges):
        raise NoTwins(
            f"{metric.name} is kept in whole hours of {span.tz} (the catalog's sub_day is hour): "
            f"{span.zone}'s days do not begin on one, so they are not answered"
        )
    return sub


class ZoneAnswers:
    """Series, range-distinct and rolling answers of plain and rolling metrics in `zone`, over `reads` (whose zone
    is the reporting one). A zone day whose reporting days are all published does not change until a republish: its
    quarter hours' union per bucket and group is kept in memory, keyed by their runs, so a range reads and unions the
    quarter hours of each such day once (up to `CACHED_BYTES`)."""

    CACHED_BYTES = 64 * 2**20  # the finished zone days' unions kept (a union per bucket and group: 0.1-8 KiB each)
    WINDOWS_KEPT = 100_000  # finished rolling windows' estimates kept (a year of MAU in a zone: 400)

    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self._finished: OrderedDict[tuple, dict[tuple[str, str], list[Partial]]] = OrderedDict()
        self._finished_bytes = 0
        self._windows: OrderedDict[tuple, sketches.Estimate | None] = OrderedDict()
        self._lock = threading.Lock()

    def zone_days(
        self, metric: Metric, first: date, last: date, group: str | None, zone: str, now_ms: int, whole: bool = False
    ) -> dict[date, ZoneDay]:
        """The zone's days `first`..`last` of a distinct or count metric, from its sub-day twin in both layers.
        `whole`: only each day's union of every group matters (one piece a day, keyed by the day and group ""), so a
        distinct metric's published days are read from their edges."""
        span = Span(first, last, zone, self.reads.tz)
        sub = twin_of(self.reads.catalog, metric, span)
        read, published, kept = self.reads.retrying(sub.name, lambda: self._read(sub, span, group, now_ms, whole))
        days = {d: ZoneDay() for d in bk.days(first, last)}
        for day, r_days in span.covering.items():
            for r_day in r_days:
                days[day].published &= r_day in read.publications
                days[day].stamps.append(read.stamp(date.fromisoformat(r_day), span.tz))
            days[day].finished = self._key(sub, span, day, group, read, whole)
            if day in kept:
                days[day].pieces.update(kept[day])
                days[day].batch = bool(kept[day])
        needed = {r for day, r_days in span.covering.items() if day not in kept for r in r_days}
        for r_day in bk.days(span.r_first, span.r_last):
            key = r_day.isoformat()
            if key not in needed:  # every zone day it is under is kept
                continue
            in_batch = key in read.publications
            for piece in published.get(key, []) if in_batch else read.realtime.get(key, []):
                at = bk.bucket_start_ms(piece.bucket)
                if (group is not None and piece.group != group) or not span.start_ms <= at < span.end_ms:
                    continue
                day = date.fromisoformat(bk.bucket_of(at, Granularity.DAY, zone))
                if day not in kept:
                    days[day].pieces[(bk.bucket_of(at, metric.granularity, zone), piece.group)].append(piece)
                    days[day].realtime |= not in_batch
                    days[day].batch |= in_batch
        for day, zone_day in days.items():
            if zone_day.finished is not None and day not in kept:
                zone_day.pieces = self._remember(zone_day.finished, zone_day.pieces, metric)
        return days

    def _read(
        self, sub: Metric, span: Span, group: str | None, now_ms: int, whole: bool
    ) -> tuple[RangeRead, dict[str, list[Partial]], dict[date, dict[tuple[str, str], list[Partial]]]]:
        """The twin's range in both layers; of a distinct metric, the finished zone days kept or made of their edges
        (`whole`), and the rows with sketches of the published days the others need."""
        read = self.reads.read(sub, span.r_first, span.r_last, now_ms)
        kept = {}
        if sub.kind is not Kind.DISTINCT:
            for day in span.covering:
                key = self._key(sub, span, day, group, read, whole)
                if key is not None and (found := self._recall(key)) is not None:
                    kept[day] = found
            return read, {d: list(p.cells) for d, p in read.publications.items()}, kept
        wanted: set[str] = set()
        edged: dict[date, list[tuple[Publication, str]]] = {}
        for day, r_days in span.covering.items():
            key = self._key(sub, span, day, group, read, whole)
            found = self._recall(key) if key is not None else None
            if found is not None:
                kept[day] = found
            elif key is not None and whole and (edges := _edges_of(span, day, read)) is not None:
                edged[day] = edges
            else:
                wanted |= {r for r in r_days if r in read.publications}
        if edged:
            got = self.reads.edge_sketches(sub.name, [edge for edges in edged.values() for edge in edges])
            for day, edges in edged.items():
                found = [Partial(day.isoformat(), "", None, got[(p.day, b)]) for p, b in edges if got[(p.day, b)]]
                key = self._key(sub, span, day, group, read, whole)
                assert key is not None
                kept[day] = self._remember(key, {(day.isoformat(), ""): found} if found else {}, sub)
        publications = [read.publications[r] for r in sorted(wanted)]
        rows = sum(1 for p in publications for c in p.cells if c.count and group in (None, c.group))
        if rows > MAX_SKETCH_ROWS:
            raise BadRequest(
                f"{sub.sub_day_of} in {span.zone} over this range reads {rows:,} quarter-hour sketches, more than "
                f"{MAX_SKETCH_ROWS:,} at once: ask for fewer days, or one group (group=)"
            )
        return read, self.reads.row_sketches(sub.name, publications, group), kept

    @staticmethod
    def _key(sub: Metric, span: Span, day: date, group: str | None, read: RangeRead, whole: bool) -> tuple | None:
        """What a finished zone day's union depends on: its reporting days and their runs (None: one is not
        published), and whether it is kept by group or `whole`."""
        r_days = span.covering[day]
        runs = tuple(read.publications[r].run_id if r in read.publications else None for r in r_days)
        return None if None in runs else (sub.name, span.zone, span.tz, day, group, whole, r_days[0], runs)

    def _recall(self, key: tuple) -> dict[tuple[str, str], list[Partial]] | None:
        with self._lock:
            found = self._finished.get(key)
            if found is not None:
                self._finished.move_to_end(key)
            return found

    def _remember(
        self, key: tuple, pieces: dict[tuple[str, str], list[Partial]], metric: Metric
    ) -> dict[tuple[str, str], list[Partial]]:
        """One piece per bucket and group: the union of its quarter hours (a count: their sum)."""
        if metric.kind is Kind.COUNT:
            merged = {cell: [Partial(cell[0], cell[1], sum(p.count or 0 for p in ps))] for cell, ps in pieces.items()}
        else:
            assert metric.lg_k is not None
            merged = {
                cell: [Partial(cell[0], cell[1], sketch=sketches.encode(sketches.union(_decoded(ps), metric.lg_k)))]
                for cell, ps in pieces.items()
            }
        with self._lock:
            if key not in self._finished:
                self._finished[key] = merged
                self._finished_bytes += _size(merged)
            while self._finished_bytes > self.CACHED_BYTES:
                self._finished_bytes -= _size(self._finished.popitem(last=False)[1])
        return merged

    def points(self, metric: Metric, first: date, last: date, group: str | None, zone: str, now_ms: int) -> list[Point]:
        """Every bucket of the zone's days (23 or 25 hours on its DST days), as `merge_day` answers them."""
        grouped = metric.group_by is not None
        whole = not grouped and metric.granularity is Granularity.DAY
        points: list[Point] = []
        for day, zone_day in self.zone_days(metric, first, last, group, zone, now_ms, whole).items():
            exact = zone_day.published and metric.kind is Kind.COUNT
            source = zone_day.source
            stamp = zone_day.stamp()
            by_bucket: dict[str, dict[str, list[Partial]]] = defaultdict(dict)
            for (bucket, cell_group), pieces in zone_day.pieces.items():
                by_bucket[bucket][cell_group] = pieces
            for bucket in bk.buckets_of_day(day, metric.granularity, zone):
                cells = by_bucket.get(bucket)
                if not cells:
                    empty_source = source if zone_day.published else "none"
                    points.append(Point(bucket, group if grouped else None, 0, exact, empty_source, 0, 0, stamp))
                    continue
                for cell_group in sorted(cells):
                    value, low, high = _combine(metric, cells[cell_group])
                    points.append(
                        Point(bucket, cell_group if grouped else None, value, exact, source, low, high, stamp)
                    )
        return points

    def distinct(
        self, metric: Metric, first: date, last: date, group: str | None, zone: str, now_ms: int
    ) -> tuple[sketches.Estimate, list[str], Stamp]:
        """Unique players over the zone's days: the union of every quarter hour's sketch in them."""
        days = self.zone_days(metric, first, last, group, zone, now_ms, whole=group is None)
        pieces = [p for d in days.values() for ps in d.pieces.values() for p in ps]
        sources = {
            layer for d in days.values() for layer, used in (("batch", d.batch), ("realtime", d.realtime)) if used
        }
        stamps = [d.stamp() for d in days.values()]
        known = [s.as_of_ms for s in stamps]
        as_of = None if None in known else min(k for k in known if k is not None)
        return _union(metric, pieces), sorted(sources) or ["none"], Stamp(as_of, any(s.stale for s in stamps))

    def rolling_points(
        self, metric: Metric, first: date, last: date, group: str | None, zone: str, now_ms: int
    ) -> list[Point]:
        """Each day's window (`window_days` ending at it) as the union of its days' unions in the zone."""
        base = self.reads.catalog.base(metric)
        assert metric.window_days is not None and base.lg_k is not None
        start = first - timedelta(days=metric.window_days - 1)
        days = self.zone_days(base, start, last, group, zone, now_ms, whole=metric.group_by is None)
        groups = sorted({g for d in days.values() for (_, g) in d.pieces}) if metric.group_by is not None else [None]
        if group is not None:
            groups = [group]
        # per group, each day's sketch (the union of its quarter hours), then each window's union; a window of finished
        # days is estimated once, until a republish names another run for one of them
        span = list(days)
        windows: dict[str | None, list] = {}  # per group, each window's estimate (None: nobody in it)
        for g in groups:
            window_keys = [
                _window_key(metric.name, g, [days[d].finished for d in span[n : n + metric.window_days]])
                for n in range(len(span) - metric.window_days + 1)
            ]
            with self._lock:
                found = [self._windows.get(k, _UNKNOWN) if k is not None else _UNKNOWN for k in window_keys]
            missing = [n for n, est in enumerate(found) if est is _UNKNOWN]
            # each run of windows not known (those holding today, usually; those before the first published day)
            for low, last_window in _runs(missing):
                per_day = []
                for zone_day in (days[d] for d in span[low : last_window + metric.window_days]):
                    chosen = [p for (_, pg), ps in zone_day.pieces.items() if g in (None, pg) for p in ps]
                    per_day.append(sketches.union(_decoded(chosen), base.lg_k) if chosen else None)
                unions = window_unions(per_day, metric.window_days, base.lg_k)
                for n, union in enumerate(unions, start=low):
                    found[n] = sketches.estimate(union) if union is not None else None
            if missing:
                with self._lock:
                    self._windows.update((window_keys[n], found[n]) for n in missing if window_keys[n] is not None)
                    while len(self._windows) > self.WINDOWS_KEPT:
                        self._windows.popitem(last=False)
            windows[g] = found
        points: list[Point] = []
        for n, day in enumerate(span[metric.window_days - 1 :]):
            window = span[n : n + metric.window_days]
            stamp = ZoneDay(stamps=[s for d in window for s in days[d].stamps]).stamp()
            sources = {days[d].source for d in window} - {"none"}
            source = "realtime" if "realtime" in sources else "batch" if sources else "none"
            for g in groups:
                window_est = windows[g][n]
                if window_est is None and g is not None and group is None:
                    continue
                est = window_est or sketches.Estimate(0, 0, 0)
                points.append(Point(day.isoformat(), g, est.value, False, source, est.low, est.high, stamp))
        return points


def day_edges(rows: Iterable[BatchRow], day: date, tz: str, lg_k: int) -> dict[str, bytes | None]:
    """A distinct sub-day twin's day of `tz`: at each quarter hour where some zone's day begins (`zone_day_cuts`), the
    union of every group's quarter hours before it and of those from it on, by edge bucket (`keys.edge_bucket`;
    None: nobody). Empty when a row is not one of the day's quarter hours, or when nobody played that day."""
    quarters = bk.buckets_of_day(day, Granularity.QUARTER, tz)
    index = {q: i for i, q in enumerate(quarters)}
    parts: list[list[sketches.hll_sketch]] = [[] for _ in quarters]
    for row in rows:
        if row.bucket not in index:
            return {}
        if row.sketch:
            parts[index[row.bucket]].append(sketches.decode(row.sketch))
    if not any(parts):  # nobody that day: nothing to cut (a zone's day reads the day as empty)
        return {}
    at = [index[cut] for cut in bk.zone_day_cuts(day, tz)]
    before = sketches.unions_before(parts, at, lg_k)
    after = sketches.unions_before(parts[::-1], [len(parts) - i for i in at], lg_k)
    return {keys.edge_bucket(True, quarters[i]): before[i] for i in at} | {
        keys.edge_bucket(False, quarters[i]): after[len(parts) - i] for i in at
    }


def _edges_of(span: Span, day: date, read: RangeRead) -> list[tuple[Publication, str]] | None:
    """What a zone day over published days is made of: per reporting day under it, its union when the zone's day holds
    it whole, else its edge at the cut (a day with nobody: nothing); None when a reporting day lacks that edge (published
    before edges were, or a zone's day strictly inside one of the reporting zone's)."""
    start_ms, end_ms = bk.day_bounds_ms(day, span.zone)
    wanted: list[tuple[Publication, str]] = []
    for r_day in span.covering[day]:
        publication = read.publications[r_day]
        if not any(c.count for c in publication.cells):
            continue
        r_start, r_end = bk.day_bounds_ms(date.fromisoformat(r_day), span.tz)
        low, high = max(start_ms, r_start), min(end_ms, r_end)
        if (low, high) == (r_start, r_end) and publication.has_union:
            wanted.append((publication, keys.UNION_BUCKET))
            continue
        before = low == r_start  # the zone's day ends inside this one: its quarter hours before the cut
        cut = bk.bucket_of(high if before else low, Granularity.QUARTER, span.tz)
        if (before or high == r_end) and cut in publication.cuts:
            wanted.append((publication, keys.edge_bucket(before, cut)))
        else:
            return None
    return wanted


def window_unions(days: list[sketches.hll_sketch | None], window: int, lg_k: int) -> list[sketches.hll_sketch | None]:
    """The union of each `window` consecutive days (None: no sketch in it), the first ending at `days[window - 1]`.
    In blocks of `window` days every window is a suffix of one block and a prefix of the next (van Herk / Gil-Werman):
    three unions a day, not `window` (a year of MAU in another zone is 1,200 unions instead of 11,200)."""

    def union(a: sketches.hll_sketch | None, b: sketches.hll_sketch | None) -> sketches.hll_sketch | None:
        return a if b is None else b if a is None else sketches.union((a, b), lg_k)

    prefix: list[sketches.hll_sketch | None] = [None] * len(days)
    suffix: list[sketches.hll_sketch | None] = [None] * len(days)
    for start in range(0, len(days), window):
        end = min(start + window, len(days))
        acc = None
        for i in range(start, end):
            prefix[i] = acc = union(acc, days[i])
        acc = None
        for i in range(end - 1, start - 1, -1):
            suffix[i] = acc = union(acc, days[i])
    return [
        prefix[i] if (i - window + 1) % window == 0 else union(suffix[i - window + 1], prefix[i])
        for i in range(window - 1, len(days))
    ]


_UNKNOWN = object()  # a window not estimated yet (None: estimated, nobody in it)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Consecutive indices as (first, last) of each run: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for n in indices:
        if runs and runs[-1][1] == n - 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _window_key(metric: str, group: str | None, days: list[tuple | None]) -> tuple | None:
    """What a window's estimate depends on: its days' finished keys (None: one of them is not finished)."""
    return None if None in days else (metric, group, tuple(days))


def _size(pieces: dict[tuple[str, str], list[Partial]]) -> int:
    return sum(len(p.sketch or b"") + 100 for ps in pieces.values() for p in ps)


def _on_bucket(at_ms: int, sub: Metric, tz: str) -> bool:
    """An instant is where one of the twin's buckets begins (an hour twin in Kolkata's reporting zone begins at :30 UTC)."""
    return bk.bucket_start_ms(bk.bucket_of(at_ms, sub.granularity, tz)) == at_ms


def _covering(day: date, zone: str, tz: str) -> list[str]:
    """The reporting zone's days a day of `zone` overlaps (one to three)."""
    start_ms, end_ms = bk.day_bounds_ms(day, zone)
    return [d.isoformat() for d in bk.days(bk.local_date(start_ms, tz), bk.local_date(end_ms - 1, tz))]


def _decoded(pieces: Iterable[Partial]) -> Iterable[sketches.hll_sketch]:
    return (sketches.decode(p.sketch) for p in pieces if p.sketch)


def _union(metric: Metric, pieces: list[Partial]) -> sketches.Estimate:
    assert metric.lg_k is not None
    if len(pieces) == 1 and pieces[0].sketch:  # a finished day's union, kept: estimated once
        return _estimate_of(pieces[0].sketch, metric.lg_k)
    return sketches.estimate(sketches.union(_decoded(pieces), metric.lg_k))


@lru_cache(maxsize=2048)  # by a kept union's bytes (hashed once): a year of days of a few metrics, 16 MiB at most
def _estimate_of(sketch: bytes, lg_k: int) -> sketches.Estimate:
    return sketches.estimate(sketches.union([sketches.decode(sketch)], lg_k))


def _combine(metric: Metric, pieces: list[Partial]) -> tuple[int, int, int]:
    if metric.kind is Kind.COUNT:
        total = sum(p.count or 0 for p in pieces)
        return total, total, total
    est = _union(metric, pieces)
    return est.value, est.low, est.high
