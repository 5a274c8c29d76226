"""Answers in a time zone other than the reporting one, from the metrics' sub-day twins (`<name>~quarter`).

Both layers keep every distinct and count metric also in quarter hours of the reporting zone (the catalog's sub-day
twins). Every UTC offset in use is a multiple of 15 minutes, so another zone's day or hour is a whole number of quarter
hours, which lie in one or two (at most three) of the reporting zone's days:
- a count is the sum of its quarter hours: exact when the batch layer has published every reporting day it overlaps;
- distinct players are the union of the quarter hours' sketches (HLL) of both layers: approximate, with the sketch
  library's 95 % bounds, even on published days (the job counts players per reporting day), and said so
  (`ZONE_NOTE`);
- a rolling window is the union of its days' unions, as approximate.
A zone whose days are the reporting zone's over the whole range (`Etc/UTC` for `UTC`, London in winter for UTC) is
answered by the reporting zone's own answers, exact where those are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from headcount.core import buckets as bk
from headcount.core import sketches
from headcount.core.catalog import Granularity, Kind, Metric
from headcount.core.merge import Partial, Point, Stamp
from headcount.logic.errors import BadRequest
from headcount.logic.reads import RangeRead, Reads


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


@dataclass
class ZoneDay:
    """One day of the zone: its sub-day pieces by the zone's bucket and group, and how exact and fresh they are."""

    pieces: dict[tuple[str, str], list[Partial]] = field(default_factory=lambda: defaultdict(list))
    published: bool = True  # every reporting day it overlaps is published
    realtime: bool = False  # a piece came from the real-time layer
    stamps: list[Stamp] = field(default_factory=list)

    def stamp(self) -> Stamp:
        """The oldest as-of of its reporting days (unknown when one of them cannot say), stale when one is, and the
        run when they were all published by one."""
        known = [s.as_of_ms for s in self.stamps]
        as_of = None if None in known or not known else min(k for k in known if k is not None)
        runs = {s.run_id for s in self.stamps}
        return Stamp(as_of, any(s.stale for s in self.stamps), runs.pop() if len(runs) == 1 else None)


class ZoneAnswers:
    """Series, range-distinct and rolling answers of plain and rolling metrics in `zone`, over `reads` (whose zone
    is the reporting one)."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    def zone_days(
        self, metric: Metric, first: date, last: date, group: str | None, zone: str, now_ms: int
    ) -> dict[date, ZoneDay]:
        """The zone's days `first`..`last` of a distinct or count metric, from its sub-day twin in both layers."""
        sub = self.reads.catalog.sub_day(metric)
        if sub is None:
            raise BadRequest(f"{metric.name} is not kept in quarter hours: it is answered in {self.reads.tz} only")
        tz = self.reads.tz
        start_ms, end_ms = bk.day_bounds_ms(first, zone)[0], bk.day_bounds_ms(last, zone)[1]
        r_first, r_last = bk.local_date(start_ms, tz), bk.local_date(end_ms - 1, tz)
        sketched = metric.kind is Kind.DISTINCT

        def attempt() -> tuple[RangeRead, dict[str, list[Partial]]]:
            read = self.reads.read(sub, r_first, r_last, now_ms)
            if sketched:
                return read, self.reads.row_sketches(sub.name, read.publications.values(), group)
            return read, {d: list(p.cells) for d, p in read.publications.items()}

        read, published = self.reads.retrying(sub.name, attempt)
        days = {d: ZoneDay() for d in bk.days(first, last)}
        for r_day in bk.days(r_first, r_last):
            key = r_day.isoformat()
            in_batch = key in read.publications
            pieces: Iterable[Partial] = published[key] if in_batch else read.realtime.get(key, [])
            r_start, r_end = bk.day_bounds_ms(r_day, tz)
            for day in self._overlapping(days, r_start, r_end, zone):
                days[day].published &= in_batch
                days[day].stamps.append(read.stamp(r_day, tz))
            for piece in pieces:
                if group is not None and piece.group != group:
                    continue
                at = bk.bucket_start_ms(piece.bucket)
                if not start_ms <= at < end_ms:
                    continue
                day = date.fromisoformat(bk.bucket_of(at, Granularity.DAY, zone))
                days[day].pieces[(bk.bucket_of(at, metric.granularity, zone), piece.group)].append(piece)
                days[day].realtime |= not in_batch
        return days

    @staticmethod
    def _overlapping(days: dict[date, ZoneDay], start_ms: int, end_ms: int, zone: str) -> list[date]:
        first = bk.local_date(start_ms, zone)
        last = bk.local_date(end_ms - 1, zone)
        return [d for d in bk.days(first, last) if d in days]

    def points(self, metric: Metric, first: date, last: date, group: str | None, zone: str, now_ms: int) -> list[Point]:
        """Every bucket of the zone's days (23 or 25 hours on its DST days), as `merge_day` answers them."""
        grouped = metric.group_by is not None
        points: list[Point] = []
        for day, zone_day in self.zone_days(metric, first, last, group, zone, now_ms).items():
            exact = zone_day.published and metric.kind is Kind.COUNT
            source = "batch" if zone_day.published else "realtime" if zone_day.realtime else "none"
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
        days = self.zone_days(metric, first, last, group, zone, now_ms)
        pieces = [p for d in days.values() for ps in d.pieces.values() for p in ps]
        sources = {"batch" if d.published else "realtime" for d in days.values() if d.pieces}
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
        days = self.zone_days(base, start, last, group, zone, now_ms)
        groups = sorted({g for d in days.values() for (_, g) in d.pieces}) if metric.group_by is not None else [None]
        if group is not None:
            groups = [group]
        # per day and group: one sketch of the day (the union of its quarter hours)
        day_unions: dict[tuple[date, str | None], sketches.hll_sketch] = {}
        for day, zone_day in days.items():
            for g in groups:
                chosen = [p for (_, pg), ps in zone_day.pieces.items() if g in (None, pg) for p in ps]
                if chosen:
                    day_unions[(day, g)] = sketches.union(_decoded(chosen), base.lg_k)
        points: list[Point] = []
        for day in bk.days(first, last):
            window = [day - timedelta(days=i) for i in range(metric.window_days)]
            stamp = ZoneDay(stamps=[s for d in window for s in days[d].stamps]).stamp()
            sourced = [days[d] for d in window if days[d].pieces]
            source = "none" if not sourced else "batch" if all(d.published for d in sourced) else "realtime"
            for g in groups:
                parts = [day_unions[(d, g)] for d in window if (d, g) in day_unions]
                if not parts and g is not None and group is None:
                    continue
                est = sketches.estimate(sketches.union(parts, base.lg_k)) if parts else sketches.Estimate(0, 0, 0)
                points.append(Point(day.isoformat(), g, est.value, False, source, est.low, est.high, stamp))
        return points


def _decoded(pieces: Iterable[Partial]) -> Iterable[sketches.hll_sketch]:
    return (sketches.decode(p.sketch) for p in pieces if p.sketch)


def _union(metric: Metric, pieces: list[Partial]) -> sketches.Estimate:
    assert metric.lg_k is not None
    return sketches.estimate(sketches.union(_decoded(pieces), metric.lg_k))


def _combine(metric: Metric, pieces: list[Partial]) -> tuple[int, int, int]:
    if metric.kind is Kind.COUNT:
        total = sum(p.count or 0 for p in pieces)
        return total, total, total
    est = _union(metric, pieces)
    return est.value, est.low, est.high
