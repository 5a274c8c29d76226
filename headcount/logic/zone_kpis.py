"""New players and retention in a zone the nightly job does not compute (neither the reporting zone nor an extra one),
estimated from the new metric's sub-day twin (`new_players~quarter`), which the fold keeps: per shard, a Theta sketch
of each quarter hour's players. Every UTC offset in use is a multiple of 15 minutes, so a zone's day is a whole number
of quarter hours, as for the other metrics (zones.py):
- a zone day's new players are its quarter hours' players minus everyone seen before it: the batch layer's players
  seen up to its last published day before the zone's day (the new metric's union row) and the twin's quarter hours
  since (a set difference, which Theta sketches can do and HLL cannot);
- a cohort's players back on D+k are its sketch intersected with the players of D+k's quarter hours.
All of it is approximate, with the library's 95 % bounds. The twin lives only in the real-time layer, which keeps a day
`ttl_days` (35): an older day (or one whose players before it are gone) has no value, and the answer's note says so.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from headcount.core import buckets as bk
from headcount.core import kpis as core_kpis
from headcount.core.catalog import Kind, Metric
from headcount.core.kpis import Cell
from headcount.core.merge import Point
from headcount.logic.kpis import LOOKBACK_DAYS, Cohort, RetentionMatrix, Returned
from headcount.logic.reads import Reads
from headcount.logic.zones import NoTwins, ZoneDay


def zone_kpi_note(zone: str, ttl_days: int) -> str:
    """What an answer of new players or retention in another zone says."""
    return (
        f"new players and retention are not computed in {zone}: they are estimated from the real-time layer's "
        f"quarter-hour Theta sketches (approximate, with 95 % bounds), kept {ttl_days} days; older days have no value"
    )


@dataclass(frozen=True, slots=True)
class _Piece:
    start_ms: int  # its quarter hour's
    group: str
    sketch: bytes


class ZonePlayers:
    """The quarter hours of a new metric's twin over a stretch of a zone's days, and for each day, who was seen before
    it; read once for a request (`ZoneKpis`)."""

    def __init__(self, reads: Reads, metric: Metric, first: date, last: date, zone: str, now_ms: int) -> None:
        twin = reads.catalog.sub_day(metric)
        if twin is None:
            raise NoTwins(f"{metric.name} is kept in {reads.tz}'s days only (the catalog's sub_day is off)")
        assert metric.lg_k is not None
        self.metric, self.zone, self.tz, self.lg_k = metric, zone, reads.tz, metric.lg_k
        self.days = {d: bk.day_bounds_ms(d, zone) for d in bk.days(first, last)}
        starts = {d: bk.local_date(start, reads.tz) for d, (start, _) in self.days.items()}  # the reporting day of each
        r_last = bk.local_date(self.days[last][1] - 1, reads.tz)
        published = reads.publications(metric, min(starts.values()) - timedelta(days=LOOKBACK_DAYS), r_last)
        # each zone day's last published reporting day before the one it begins in: its players seen up to it
        ordered = sorted(published)
        self.latest = {d: _last_before(ordered, r.isoformat()) for d, r in starts.items()}
        lows = [date.fromisoformat(p) + timedelta(days=1) for p in self.latest.values() if p is not None]
        lows += [r for d, r in starts.items() if self.latest[d] is None]
        twin_read = reads.read(twin, min(lows), r_last, now_ms)
        self.retained_from_ms = twin_read.retained_from_ms
        self.stamps = {
            d: ZoneDay(
                stamps=[twin_read.stamp(r, reads.tz) for r in bk.days(starts[d], bk.local_date(end - 1, self.tz))]
            ).stamp()
            for d, (_, end) in self.days.items()
        }
        pieces = [
            _Piece(bk.bucket_start_ms(p.bucket), p.group, p.sketch)
            for items in twin_read.realtime.values()
            for p in items
            if p.sketch
        ]
        self.pieces = sorted(pieces, key=lambda p: p.start_ms)
        self._starts = [p.start_ms for p in self.pieces]
        pubs = [published[p] for p in set(self.latest.values()) if p is not None]
        self.seen_up_to = (
            reads.retrying(metric.name, lambda: reads.union_sketches(metric.name, pubs, None)) if pubs else {}
        )

    def kept(self, day: date) -> bool:
        """The real-time layer still holds the day's quarter hours and those since the players seen before it."""
        latest = self.latest[day]
        since = date.fromisoformat(latest) + timedelta(days=1) if latest else bk.local_date(self.days[day][0], self.tz)
        return bk.day_bounds_ms(since, self.tz)[1] > self.retained_from_ms

    def between(self, start_ms: int, end_ms: int, group: str | None = None) -> list[bytes]:
        """The sketches of the quarter hours from `start_ms` to `end_ms` (of `group`; None: every group)."""
        low, high = bisect_left(self._starts, start_ms), bisect_left(self._starts, end_ms)
        return [p.sketch for p in self.pieces[low:high] if group is None or p.group == group]

    def groups(self, day: date) -> list[str]:
        return sorted({p.group for p in self.pieces[self._slice(day)]})

    def seen_before(self, day: date) -> list[bytes | None]:
        """Everyone seen before the zone's day: the batch layer's players up to its last published day before it, and
        the quarter hours since."""
        latest = self.latest[day]
        if latest is None:
            return list(self.between(0, self.days[day][0]))
        since = bk.day_bounds_ms(date.fromisoformat(latest), self.tz)[1]
        return [self.seen_up_to.get(latest), *self.between(since, self.days[day][0])]

    def players(self, day: date, group: str | None = None) -> list[bytes]:
        return self.between(*self.days[day], group)

    def _slice(self, day: date) -> slice:
        start, end = self.days[day]
        return slice(bisect_left(self._starts, start), bisect_left(self._starts, end))


class ZoneKpis:
    """New players' series and the retention matrix in a zone the job does not compute, over `reads` (whose zone is
    the reporting one)."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    def new_points(
        self, metric: Metric, first: date, last: date, group: str | None, zone: str, now_ms: int
    ) -> list[Point]:
        players = ZonePlayers(self.reads, metric, first, last, zone, now_ms)
        grouped = metric.group_by is not None
        points: list[Point] = []
        for day in players.days:
            stamp = players.stamps[day]
            if not players.kept(day):
                points.append(
                    Point(day.isoformat(), group if grouped else None, None, False, "none", None, None, stamp)
                )
                continue
            for g, cell in self._new_cells(players, day, group).items():
                points.append(Point(day.isoformat(), g, cell.value, False, cell.source, cell.low, cell.high, stamp))
        return points

    def retention_matrix(
        self, metric: Metric, first: date, last: date, group: str | None, zone: str, now_ms: int
    ) -> RetentionMatrix:
        """Cohorts `first`..`last` × each k: the cohort's Theta sketch (its day's players minus everyone seen before)
        intersected with the players of D+k; a cell whose day has not come yet is empty, as is every cell of a cohort
        the real-time layer no longer holds."""
        new = self.reads.catalog.get(metric.of or "")
        assert new is not None and new.kind is Kind.NEW and metric.lg_k is not None
        today = bk.local_date(now_ms, zone)
        top = max(first, min(today, last + timedelta(days=max(metric.returned_after))))
        players = ZonePlayers(self.reads, new, first, top, zone, now_ms)
        grouped = metric.group_by is not None
        cohorts: list[Cohort] = []
        for day in bk.days(first, last):
            if not players.kept(day):
                gone = Cell(None, False, "none", None, None, players.stamps[day])
                returned = [Returned(k, day + timedelta(days=k), gone, None) for k in metric.returned_after]
                cohorts.append(Cohort(day, group if grouped else None, gone, returned))
                continue
            before = players.seen_before(day)
            for g, size in self._new_cells(players, day, group).items():
                cohort = core_kpis.new_players_sketch(players.players(day, g if grouped else None), before, new.lg_k)  # type: ignore[arg-type]
                returned = []
                for k in metric.returned_after:
                    back = day + timedelta(days=k)
                    if back > today:
                        cell = Cell.not_yet()
                    else:
                        active = players.players(back)  # active in any group
                        estimate = core_kpis.returned(cohort, active, metric.lg_k)
                        cell = Cell.of_estimate(estimate, "realtime" if active else "none", players.stamps[back])
                    rate = cell.value / size.value if size.value and cell.value is not None else None
                    returned.append(Returned(k, back, cell, rate))
                cohorts.append(Cohort(day, g, size, returned))
        return RetentionMatrix(metric.name, zone, metric.returned_after, cohorts)

    @staticmethod
    def _new_cells(players: ZonePlayers, day: date, group: str | None) -> dict[str | None, Cell]:
        """The zone day's new players, per group (None: an ungrouped metric)."""
        metric = players.metric
        assert metric.lg_k is not None
        groups: Iterable[str | None]
        if metric.group_by is None:
            groups = [None]
        else:
            groups = [group] if group is not None else players.groups(day)
        before = players.seen_before(day)
        stamp = players.stamps[day]
        cells: dict[str | None, Cell] = {}
        for g in groups:
            pieces = players.players(day, g)
            estimate = core_kpis.new_players(pieces, before, metric.lg_k)
            cells[g] = Cell.of_estimate(estimate, "realtime" if pieces else "none", stamp)
        return cells


def _last_before(ordered: list[str], day: str) -> str | None:
    at = bisect_left(ordered, day)
    return ordered[at - 1] if at else None
