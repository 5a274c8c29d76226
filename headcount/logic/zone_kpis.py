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
A zone day's cohort and players are kept in memory under what they are made of (the runs and the real-time days'
versions), so a request unions again only the days whose items changed since (today's, usually).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from headcount.core import buckets as bk
from headcount.core import kpis as core_kpis
from headcount.core import sketches
from headcount.core.catalog import Kind, Metric
from headcount.core.kpis import Cell
from headcount.core.merge import Point
from headcount.logic.kpis import LOOKBACK_DAYS, Cohort, RetentionMatrix, Returned
from headcount.logic.reads import Reads
from headcount.logic.zones import Span, ZoneDay, twin_of
from headcount.views.batch import Publication


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


T = TypeVar("T")
# The twin's days that ended this long ago are read again every 5 minutes (reads.py SETTLED_MAX_AGE_S), not each
# second: up to 35 days of quarter hours, of which only today's change by more than a late event
TWIN_SETTLED_AFTER_MS = 3_600_000


class ZonePlayers:
    """The quarter hours of a new metric's twin over a stretch of a zone's days, and for each day, who was seen before
    it and what that is made of; read once for a request (`ZoneKpis`)."""

    def __init__(self, reads: Reads, metric: Metric, first: date, last: date, zone: str, now_ms: int) -> None:
        twin = twin_of(reads.catalog, metric, Span(first, last, zone, reads.tz))
        assert metric.lg_k is not None
        self.metric, self.zone, self.tz, self.lg_k = metric, zone, reads.tz, metric.lg_k
        self.days = {d: bk.day_bounds_ms(d, zone) for d in bk.days(first, last)}
        # the reporting days each zone day is over
        self.under = {
            d: list(bk.days(bk.local_date(s, self.tz), bk.local_date(e - 1, self.tz)))
            for d, (s, e) in self.days.items()
        }
        r_last = self.under[last][-1]

        def attempt() -> tuple[dict[str, Publication], dict[str, bytes | None]]:
            """The new metric's publications, and the union rows (everyone seen up to the day) of those seen before a
            zone day; read again when a republish replaced one of them."""
            published = reads.publications(metric, self.under[first][0] - timedelta(days=LOOKBACK_DAYS), r_last)
            ordered = sorted(published)
            latest = {_last_before(ordered, under[0].isoformat()) for under in self.under.values()} - {None}
            pubs = [published[p] for p in latest if p is not None]
            return published, reads.union_sketches(metric.name, pubs, None) if pubs else {}

        published, self.seen_up_to = reads.retrying(metric.name, attempt)
        # each zone day's last published reporting day before the one it begins in: its players seen up to it
        ordered = sorted(published)
        self.latest = {d: _last_before(ordered, under[0].isoformat()) for d, under in self.under.items()}
        self.runs = {day: p.run_id for day, p in published.items()}
        self.r_first = min(self._since(d) for d in self.days)
        self._read = reads.read(twin, self.r_first, r_last, now_ms, settled_after_ms=TWIN_SETTLED_AFTER_MS)
        self.stamps = {
            d: ZoneDay(stamps=[self._read.stamp(r, self.tz) for r in under]).stamp() for d, under in self.under.items()
        }
        self._by_day: dict[str, tuple[list[_Piece], list[int]]] = {}  # _day_pieces

    def kept(self, day: date) -> bool:
        """The real-time layer still holds the day's quarter hours and those since the players seen before it."""
        return bk.day_bounds_ms(self._since(day), self.tz)[1] > self._read.retained_from_ms

    def inputs(self, day: date) -> tuple:
        """What the day's new players are made of: the run seen before it, and the real-time days since."""
        latest = self.latest[day]
        since = self._since(day) if latest else self.r_first
        versions = tuple(self._read.versions.get(r.isoformat()) for r in bk.days(since, self.under[day][-1]))
        return (self.metric.name, self.zone, day, latest, self.runs.get(latest or ""), versions)

    def day_inputs(self, day: date) -> tuple:
        """What the day's players are made of: the real-time days under it."""
        return (
            self.metric.name,
            self.zone,
            day,
            tuple(self._read.versions.get(r.isoformat()) for r in self.under[day]),
        )

    def groups(self, day: date) -> list[str]:
        return sorted({p.group for p in self._pieces_between(*self.days[day])})

    def seen_before(self, day: date) -> list[bytes | None]:
        """Everyone seen before the zone's day: the batch layer's players up to its last published day before it, and
        the quarter hours since."""
        latest = self.latest[day]
        if latest is None:
            return list(self._between(0, self.days[day][0]))
        since = bk.day_bounds_ms(date.fromisoformat(latest), self.tz)[1]
        return [self.seen_up_to.get(latest), *self._between(since, self.days[day][0])]

    def players(self, day: date, group: str | None = None) -> list[bytes]:
        return self._between(*self.days[day], group)

    def _since(self, day: date) -> date:
        """The first reporting day whose quarter hours the day's new players read."""
        latest = self.latest[day]
        return date.fromisoformat(latest) + timedelta(days=1) if latest else self.under[day][0]

    def _between(self, start_ms: int, end_ms: int, group: str | None = None) -> list[bytes]:
        """The sketches of the quarter hours from `start_ms` to `end_ms` (of `group`; None: every group)."""
        return [p.sketch for p in self._pieces_between(start_ms, end_ms) if group is None or p.group == group]

    def _pieces_between(self, start_ms: int, end_ms: int) -> list[_Piece]:
        first = bk.local_date(max(start_ms, bk.day_bounds_ms(self.r_first, self.tz)[0]), self.tz)
        found: list[_Piece] = []
        for r_day in bk.days(first, bk.local_date(end_ms - 1, self.tz)) if end_ms > start_ms else ():
            pieces, starts = self._day_pieces(r_day.isoformat())
            found += pieces[bisect_left(starts, start_ms) : bisect_left(starts, end_ms)]
        return found

    def _day_pieces(self, r_day: str) -> tuple[list[_Piece], list[int]]:
        """A reporting day's pieces in time order, and their starts: made only when a zone day's answer is not kept
        (`ZoneKpis`)."""
        if r_day not in self._by_day:
            items = self._read.realtime.get(r_day, [])
            pieces = sorted(
                (_Piece(bk.bucket_start_ms(p.bucket), p.group, p.sketch) for p in items if p.sketch),
                key=lambda p: p.start_ms,
            )
            self._by_day[r_day] = (pieces, [p.start_ms for p in pieces])
        return self._by_day[r_day]


class ZoneKpis:
    """New players' series and the retention matrix in a zone the job does not compute, over `reads` (whose zone is
    the reporting one)."""

    KEPT = 2048  # zone days' cohorts, players and cells kept (a compact Theta sketch: at most 32 KiB at lg_k 12)

    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self._kept: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

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
        top = max(last, min(today, last + timedelta(days=max(metric.returned_after))))  # cohorts to come: empty
        players = ZonePlayers(self.reads, new, first, top, zone, now_ms)
        grouped = metric.group_by is not None
        cohorts: list[Cohort] = []
        for day in bk.days(first, last):
            if not players.kept(day):
                gone = Cell(None, False, "none", None, None, players.stamps[day])
                returned = [Returned(k, day + timedelta(days=k), gone, None) for k in metric.returned_after]
                cohorts.append(Cohort(day, group if grouped else None, gone, returned))
                continue
            for g, size in self._new_cells(players, day, group).items():
                cohort, _ = self._cohort(players, day, g)
                returned = []
                for k in metric.returned_after:
                    back = day + timedelta(days=k)
                    if back > today:
                        cell = Cell.not_yet()
                    else:
                        active, present = self._players(players, back)
                        estimate = self._returned(players, day, g, cohort, back, active)
                        cell = Cell.of_estimate(estimate, "realtime" if present else "none", players.stamps[back])
                    rate = cell.value / size.value if size.value and cell.value is not None else None
                    returned.append(Returned(k, back, cell, rate))
                cohorts.append(Cohort(day, g, size, returned))
        return RetentionMatrix(metric.name, zone, metric.returned_after, cohorts)

    def _new_cells(self, players: ZonePlayers, day: date, group: str | None) -> dict[str | None, Cell]:
        """The zone day's new players, per group (None: an ungrouped metric)."""
        groups: Iterable[str | None]
        if players.metric.group_by is None:
            groups = [None]
        else:
            groups = [group] if group is not None else players.groups(day)
        cells: dict[str | None, Cell] = {}
        for g in groups:
            cohort, present = self._cohort(players, day, g)
            estimate = sketches.theta_estimate(cohort)  # a compact sketch's: no union
            cells[g] = Cell.of_estimate(estimate, "realtime" if present else "none", players.stamps[day])
        return cells

    def _returned(
        self,
        players: ZonePlayers,
        day: date,
        group: str | None,
        cohort: sketches.compact_theta_sketch,
        back: date,
        active: sketches.compact_theta_sketch,
    ) -> sketches.Estimate:
        """How many of the cohort (day, group) played on `back`: the intersection of its sketch with that day's."""

        def compute() -> sketches.Estimate:
            return sketches.theta_estimate(sketches.theta_intersect(cohort, active))

        return self._memo(("returned", players.inputs(day), group, players.day_inputs(back)), compute)

    def _cohort(self, players: ZonePlayers, day: date, group: str | None) -> tuple[sketches.compact_theta_sketch, bool]:
        """The zone day's new players (of `group`): its players minus everyone seen before it; and whether it had
        any piece."""

        def compute() -> tuple[sketches.compact_theta_sketch, bool]:
            pieces = players.players(day, group)
            return core_kpis.new_players_sketch(pieces, players.seen_before(day), players.lg_k), bool(pieces)

        return self._memo(("cohort", players.inputs(day), group), compute)

    def _players(self, players: ZonePlayers, day: date) -> tuple[sketches.compact_theta_sketch, bool]:
        """The zone day's players (every group); and whether it had any piece."""

        def compute() -> tuple[sketches.compact_theta_sketch, bool]:
            pieces = players.players(day)
            return core_kpis.theta_of_pieces(pieces, players.lg_k), bool(pieces)

        return self._memo(("players", players.day_inputs(day)), compute)

    def _memo(self, key: tuple, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._kept[key] = value
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        return value


def _last_before(ordered: list[str], day: str) -> str | None:
    at = bisect_left(ordered, day)
    return ordered[at - 1] if at else None
