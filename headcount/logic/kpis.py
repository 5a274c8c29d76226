"""The game KPIs' answers: rolling windows, new players and the retention matrix (ratios divide two series:
`headcount.core.kpis.ratio_points`).

A day the batch layer has published is exact, read from its publication. Any other day (today, and yesterday until the
nightly job) is computed from sketches of both layers, with the library's bounds:
- rolling (players over the N days ending at a day): the union of the base metric's day sketches (HLL) of the window,
  the batch layer's union rows for its published days and the real-time items for the others;
- new players of a day: the day's players (the fold's Theta items) minus everyone seen before it: the batch layer's
  players up to its last published day (the union row of that day's publication) and the real-time days since;
- retention: a cohort (the batch layer's Theta sketch of the day's new players, or the real-time estimate above)
  intersected with the players of day D+k.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from headcount.core import buckets as bk
from headcount.core import kpis
from headcount.core.catalog import Kind, Metric
from headcount.core.kpis import Cell
from headcount.core.merge import Partial, Point, distinct_over, merge_day
from headcount.logic.errors import BadRequest
from headcount.logic.reads import RangeRead, Reads
from headcount.views.batch import Publication

# How far before a day new players look for the batch layer's last published day: past the real-time view's retention
# (35 days), the real-time days are all there would be to subtract.
LOOKBACK_DAYS = 40


@dataclass(frozen=True)
class Returned:
    k: int
    day: date
    cell: Cell
    rate: float | None  # cell / cohort size


@dataclass(frozen=True)
class Cohort:
    day: date
    group: str | None  # grouped metrics only
    size: Cell
    returned: list[Returned]


@dataclass(frozen=True)
class RetentionMatrix:
    metric: str
    timezone: str
    returned_after: tuple[int, ...]
    cohorts: list[Cohort]
    note: str | None = None  # in a zone the job does not compute: how its cells are estimated (zone_kpis.py)


def rolling_points(
    reads: Reads, metric: Metric, first: date, last: date, group: str | None, now_ms: int
) -> list[Point]:
    """Published days from the rolling metric's publications; the others as the union of its window's sketches."""
    base = reads.catalog.base(metric)
    assert metric.window_days is not None
    own = reads.read(metric, first, last, now_ms)
    unpublished = [d for d in bk.days(first, last) if d.isoformat() not in own.publications]
    estimated: dict[str, list[Point]] = {}
    if unpublished:
        start = unpublished[0] - timedelta(days=metric.window_days - 1)

        def attempt() -> tuple[RangeRead, dict[str | None, dict[str, bytes | None]]]:
            read = reads.read(base, start, unpublished[-1], now_ms)
            groups = _groups(base, group, read)
            pubs = read.publications.values()
            return read, {g: reads.union_sketches(base.name, pubs, g) for g in groups}

        read, day_sketches = reads.retrying(base.name, attempt)
        span = [d.isoformat() for d in bk.days(start, unpublished[-1])]  # every day of every window, in order
        # per group and day of the span: its published union sketch, and its real-time items
        published = {g: [Partial(d, g or "", sketch=by_day.get(d)) for d in span] for g, by_day in day_sketches.items()}
        live_by_group = {
            g: [[p for p in read.realtime.get(d, []) if g is None or p.group == g] for d in span] for g in day_sketches
        }
        for day in unpublished:
            at = (day - start).days  # the day's place in the span: its window is the window_days up to it
            window = slice(at - metric.window_days + 1, at + 1)
            points = estimated[day.isoformat()] = []
            for g in day_sketches:
                batch_pieces = [p for p in published[g][window] if p.sketch]
                live = [p for items in live_by_group[g][window] for p in items]
                estimate = distinct_over(base, batch_pieces + live)
                source = "realtime" if live else "batch" if batch_pieces else "none"
                points.append(
                    Point(
                        day.isoformat(),
                        g if metric.group_by is not None else None,
                        estimate.value,
                        False,
                        source,
                        estimate.low,
                        estimate.high,
                        read.stamp(day, reads.tz),
                    )
                )
    points: list[Point] = []
    for day in bk.days(first, last):
        publication = own.publications.get(day.isoformat())
        if publication is not None:
            points += merge_day(metric, [day.isoformat()], publication.cells, [], own.stamp(day, reads.tz), group)
        else:
            points += estimated[day.isoformat()]
    return points


def new_points(reads: Reads, metric: Metric, first: date, last: date, group: str | None, now_ms: int) -> list[Point]:
    """Published days from the publications; the others as the day's players minus everyone seen before."""
    read, before = _new_players_read(reads, metric, first, last, now_ms)
    points: list[Point] = []
    for day in bk.days(first, last):
        publication = read.publications.get(day.isoformat())
        stamp = read.stamp(day, reads.tz)
        if publication is not None:
            points += merge_day(metric, [day.isoformat()], publication.cells, [], stamp, group)
            continue
        for g, cell in _new_cells(metric, read, before, day, group, reads.tz).items():
            value = cell.value or 0
            low, high = cell.low or 0, cell.high or 0
            points.append(Point(day.isoformat(), g, value, False, cell.source, low, high, stamp))
    return points


def retention_matrix(
    reads: Reads, metric: Metric, first: date, last: date, group: str | None, now_ms: int
) -> RetentionMatrix:
    """Cohorts `first`..`last` × each k: exact where the batch layer published the cell, otherwise the cohort's Theta
    sketch intersected with the players of D+k; a cell whose day has not come yet is empty."""
    new = reads.catalog.get(metric.of or "")
    assert new is not None and new.lg_k is not None and new.kind is Kind.NEW
    today = bk.local_date(now_ms, reads.tz)
    own = reads.read(metric, first, last, now_ms)
    top = max(first, min(today, last + timedelta(days=max(metric.returned_after))))
    read, before = _new_players_read(reads, new, first, top, now_ms)
    grouped = metric.group_by is not None

    wanted: list[tuple[date, str]] = []  # published cohorts whose sketch an approximate cell needs
    plan: list[tuple[date, dict[str, Cell]]] = []
    for day in bk.days(first, last):
        publication = read.publications.get(day.isoformat())
        if publication is not None:
            stamp = read.stamp(day, reads.tz)
            groups = [group] if group is not None else sorted({c.group for c in publication.cells})
            sizes = {c.group: c.count or 0 for c in publication.cells}
            cells = {g: Cell.exactly(sizes.get(g, 0), stamp) for g in groups}
        else:
            cells = {g or "": c for g, c in _new_cells(new, read, before, day, group, reads.tz).items()}
        plan.append((day, cells))
        if publication is not None:
            for k in metric.returned_after:
                back = day + timedelta(days=k)
                if back <= today and back.isoformat() not in read.publications:
                    wanted += [(day, g) for g in cells if _published_cell(own, day, k, g) is None]

    def cohort_sketches() -> dict[str, dict[str, bytes | None]]:
        by_group: dict[str, list[Publication]] = {}
        for day, g in set(wanted):
            by_group.setdefault(g, []).append(read.publications[day.isoformat()])
        return {g: reads.union_sketches(new.name, pubs, g) for g, pubs in by_group.items()}

    matrix_reads = _RetentionReads(
        own, read, before, reads.retrying(new.name, cohort_sketches) if wanted else {}, reads.tz
    )
    cohorts = []
    for day, cells in plan:
        for g, size in cells.items():
            returned = []
            for k in metric.returned_after:
                back = day + timedelta(days=k)
                cell = _returned_cell(matrix_reads, metric, day, g, size, back, today)
                rate = cell.value / size.value if size.value and cell.value is not None else None
                returned.append(Returned(k, back, cell, rate))
            cohorts.append(Cohort(day, g if grouped else None, size, returned))
    return RetentionMatrix(metric.name, reads.tz, metric.returned_after, cohorts)


@dataclass(frozen=True)
class _RetentionReads:
    """What a retention matrix reads: the retention metric's publications (`own`), its new metric's publications and
    real-time Theta items (`new`), everyone seen before a day (`before`), and the published cohorts' Theta sketches
    its approximate cells need (`cohorts`: by group, then day)."""

    own: RangeRead
    new: RangeRead
    before: Callable[[date], list[bytes | None]]
    cohorts: dict[str, dict[str, bytes | None]]
    tz: str


def _returned_cell(
    reads: _RetentionReads, metric: Metric, day: date, group: str, size: Cell, back: date, today: date
) -> Cell:
    """The cohort (day, group)'s players back on `back` (= day + k); `size` is the cohort's."""
    if back > today:
        return Cell.not_yet()
    own, new, tz = reads.own, reads.new, reads.tz
    value = _published_cell(own, day, (back - day).days, group)
    if value is not None:
        return Cell.exactly(value, own.stamp(day, tz))
    if back.isoformat() in new.publications:  # a finished day D+k, yet no cell
        if day.isoformat() in own.publications:  # the cohort had no such group: none of it came back
            return Cell.exactly(0, own.stamp(day, tz))
        if size.value == 0:  # an empty cohort (a day before the game's first, say): none of it came back, as sure
            # as its size is (a day neither layer holds any more is empty, as_of unknown, as the series answer it)
            return Cell(0, size.exact, size.source, 0, size.high, size.stamp)
        return Cell(None, False, "none", None, None, new.stamp(back, tz))  # the cohort's day never published
    assert metric.lg_k is not None
    if day.isoformat() in new.publications:
        cohort = kpis.theta_of_pieces([reads.cohorts.get(group, {}).get(day.isoformat())], metric.lg_k)
    else:
        pieces = [p.sketch for p in new.realtime.get(day.isoformat(), []) if _in_group(metric, p.group, group)]
        cohort = kpis.new_players_sketch(pieces, reads.before(day), metric.lg_k)
    active = [p.sketch for p in new.realtime.get(back.isoformat(), [])]  # active in any group
    estimate = kpis.returned(cohort, active, metric.lg_k)
    return Cell.of_estimate(estimate, "realtime" if active else "none", new.stamp(back, tz))


def _published_cell(own: RangeRead, day: date, k: int, group: str) -> int | None:
    publication = own.publications.get(day.isoformat())
    if publication is None:
        return None
    bucket = f"{day.isoformat()}+{k}"
    return next((c.count or 0 for c in publication.cells if c.bucket == bucket and c.group == group), None)


def _new_players_read(
    reads: Reads, metric: Metric, first: date, last: date, now_ms: int
) -> tuple[RangeRead, Callable[[date], list[bytes | None]]]:
    """The new metric's publications and real-time Theta items from `LOOKBACK_DAYS` before `first` to `last`, and for
    a day, the pieces of everyone seen before it: the last published day's union row (players seen up to it) and the
    real-time days since."""

    def attempt() -> tuple[RangeRead, dict[str, bytes | None]]:
        read = reads.read(metric, first - timedelta(days=LOOKBACK_DAYS), last, now_ms)
        unpublished = [d for d in bk.days(first, last) if d.isoformat() not in read.publications]
        latest = {_latest_before(read, d) for d in unpublished} - {None}
        pubs = [read.publications[d] for d in latest if d is not None]
        return read, reads.union_sketches(metric.name, pubs, None) if pubs else {}

    read, seen_up_to = reads.retrying(metric.name, attempt)

    def before(day: date) -> list[bytes | None]:
        latest = _latest_before(read, day)
        pieces = [seen_up_to.get(latest)] if latest is not None else []
        for d, items in read.realtime.items():
            if (latest is None or d > latest) and d < day.isoformat():
                pieces += [p.sketch for p in items]
        return pieces

    return read, before


def _new_cells(
    metric: Metric,
    read: RangeRead,
    before: Callable[[date], list[bytes | None]],
    day: date,
    group: str | None,
    tz: str,
) -> dict[str | None, Cell]:
    """An unpublished day's new players, per group (None: an ungrouped metric)."""
    assert metric.lg_k is not None
    items = read.realtime.get(day.isoformat(), [])
    if metric.group_by is None:
        groups: list[str | None] = [None]
    else:
        groups = [group] if group is not None else sorted({p.group for p in items})
    stamp = read.stamp(day, tz)
    cells: dict[str | None, Cell] = {}
    previous = before(day)
    for g in groups:
        pieces = [p.sketch for p in items if _in_group(metric, p.group, g)]
        estimate = kpis.new_players(pieces, previous, metric.lg_k)
        cells[g] = Cell.of_estimate(estimate, "realtime" if pieces else "none", stamp)
    return cells


def _in_group(metric: Metric, piece_group: str, group: str | None) -> bool:
    """A real-time piece counts in a group's cell: every piece of an ungrouped metric, or of "every group" (None)."""
    return metric.group_by is None or group is None or piece_group == group


def _latest_before(read: RangeRead, day: date) -> str | None:
    earlier = [d for d in read.publications if d < day.isoformat()]
    return max(earlier) if earlier else None


def _groups(base: Metric, group: str | None, read: RangeRead) -> list[str | None]:
    """The groups a rolling answer has: None for an ungrouped base (the day's union row), else the one asked for or
    every group seen in the window."""
    if base.group_by is None:
        return [None]
    if group is not None:
        return [group]
    seen = {c.group for p in read.publications.values() for c in p.cells}
    seen |= {p.group for items in read.realtime.values() for p in items}
    return sorted(seen)


def check_retention(metric: Metric) -> None:
    if metric.kind is not Kind.RETENTION:
        raise BadRequest(f"{metric.name} is a {metric.kind.value} metric; /v1/retention is for retention metrics")
