"""The game KPIs through the serving logic on in-memory views: a small game whose earlier days the batch layer has
published (exact) and whose last two days only the fold has seen (approximate, with bounds that hold the truth)."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import pytest

from headcount.core import sketches
from headcount.core.buckets import day_bounds_ms
from headcount.core.deltas import Record
from headcount.logic.errors import BadRequest
from headcount.logic.folding import fold_batch
from headcount.logic.reads import Reads
from headcount.logic.serving import MetricsService
from headcount.views.batch import BatchRow, InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import InMemoryRealtimeStore

TZ = "UTC"
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(40)]
TODAY, YESTERDAY = DAYS[-1], DAYS[-2]
PUBLISHED = DAYS[:-2]
NOW_MS = day_bounds_ms(TODAY, TZ)[0] + 15 * 3_600_000  # 15:00 today
CATALOG = load_catalog()


def game(seed: int = 3) -> dict[date, set[str]]:
    """Players active per day: 200 to 206 new a day, each back d days later with probability 0.35 / d ** 0.5."""
    rng = random.Random(seed)
    active: dict[date, set[str]] = {d: set() for d in DAYS}
    for index, first in enumerate(DAYS):
        for n in range(200 + index % 7):  # cohorts of sizes that few rates divide evenly
            player = f"p-{index:02d}-{n:03d}"
            active[first].add(player)
            for later in DAYS[index + 1 :]:
                if rng.random() < 0.35 / ((later - first).days ** 0.5):
                    active[later].add(player)
    return active


ACTIVE = game()


def first_days() -> dict[str, date]:
    first: dict[str, date] = {}
    for day in DAYS:
        for player in ACTIVE[day]:
            first.setdefault(player, day)
    return first


FIRST = first_days()


def cohort(day: date) -> set[str]:
    return {p for p, d in FIRST.items() if d == day}


def window(day: date, n: int) -> set[str]:
    return set().union(*(ACTIVE[d] for d in DAYS if day - timedelta(days=n - 1) <= d <= day))


@pytest.fixture(scope="module")
def svc() -> MetricsService:
    batch = InMemoryBatchView(clock=lambda: NOW_MS / 1000 - 3600)
    for day in PUBLISHED:
        d = day.isoformat()

        def publish(metric: str, rows: list, union: bytes | None = None, d: str = d) -> None:
            batch.publish(metric, d, [BatchRow(metric, d, b, "", v, s) for b, v, s in rows], "run-1", union=union)

        publish("active_players", [(d, len(ACTIVE[day]), sketches.of_values(ACTIVE[day], 14))])
        publish("weekly_active_players", [(d, len(window(day, 7)), None)])
        publish("monthly_active_players", [(d, len(window(day, 28)), None)])
        seen = {p for p, f in FIRST.items() if f <= day}
        new = cohort(day)
        publish("new_players", [(d, len(new), sketches.theta_of_values(new, 12))], sketches.theta_of_values(seen, 12))
        cells = [
            (f"{d}+{k}", len(new & ACTIVE[day + timedelta(days=k)]), None)
            for k in (1, 7, 30)
            if day + timedelta(days=k) in PUBLISHED
        ]
        publish("retention", cells)
    store = InMemoryRealtimeStore()
    for seq_base, day in enumerate((YESTERDAY, TODAY)):
        start = day_bounds_ms(day, TZ)[0]
        records = [
            Record(
                json.dumps({"type": "session_start", "player_id": p, "ts": start + i * 1000}).encode() + b"\n",
                seq_base * 100_000 + i + 1,
                NOW_MS,
            )
            for i, p in enumerate(sorted(ACTIVE[day]))
        ]
        for chunk in range(0, len(records), 100):
            report = fold_batch(records[chunk : chunk + 100], "shardId-0", store, CATALOG, TZ, 35, now_ms=NOW_MS)
            assert report.first_failed_sequence_number is None
    return MetricsService(Reads(CATALOG, store, batch, TZ))


def by_day(points):  # noqa: ANN001, ANN201
    return {p.bucket: p for p in points}


def brackets(point, truth: int) -> bool:  # noqa: ANN001
    return point.low <= truth <= point.high


def test_rolling_windows_are_exact_on_published_days_and_bracket_the_truth_after(svc: MetricsService) -> None:
    for name, n in (("weekly_active_players", 7), ("monthly_active_players", 28)):
        points = by_day(svc.series(name, DAYS[0].isoformat(), "today", None, NOW_MS).points)
        assert len(points) == len(DAYS)
        for day in PUBLISHED:
            point = points[day.isoformat()]
            assert (point.value, point.exact, point.source) == (len(window(day, n)), True, "batch")
        for day in (YESTERDAY, TODAY):
            point = points[day.isoformat()]
            assert (point.exact, point.source) == (False, "realtime")
            assert brackets(point, len(window(day, n))), (name, day, point)


def test_stickiness_divides_with_its_bounds(svc: MetricsService) -> None:
    points = by_day(svc.series("stickiness", YESTERDAY.isoformat(), "today", None, NOW_MS).points)
    for day in (YESTERDAY, TODAY):
        point, truth = points[day.isoformat()], len(ACTIVE[day]) / len(window(day, 28))
        assert not point.exact and point.low <= truth <= point.high
        assert 0 < point.value < 1
    published = svc.series("stickiness", PUBLISHED[-1].isoformat(), None, None, NOW_MS).points[0]
    day = PUBLISHED[-1]
    # the float quotient, not rounded
    assert published.exact and published.value == len(ACTIVE[day]) / len(window(day, 28))


def test_new_players_subtract_everyone_seen_before(svc: MetricsService) -> None:
    points = by_day(svc.series("new_players", PUBLISHED[-1].isoformat(), "today", None, NOW_MS).points)
    assert (
        points[PUBLISHED[-1].isoformat()].value == len(cohort(PUBLISHED[-1]))
        and points[PUBLISHED[-1].isoformat()].exact
    )
    for day in (YESTERDAY, TODAY):
        point = points[day.isoformat()]
        assert not point.exact and brackets(point, len(cohort(day))), point


def test_the_retention_matrix_is_exact_where_published_and_approximate_for_today(svc: MetricsService) -> None:
    first = TODAY - timedelta(days=35)
    matrix = svc.retention("retention", first.isoformat(), "today", None, NOW_MS)
    assert [c.day for c in matrix.cohorts] == [first + timedelta(days=i) for i in range(36)]
    seen = {"exact": 0, "approximate": 0, "not yet": 0}
    for row in matrix.cohorts:
        truth_size = len(cohort(row.day))
        assert brackets(row.size, truth_size)
        assert row.size.exact is (row.day in PUBLISHED)
        for cell in row.returned:
            if cell.day > TODAY:
                assert cell.cell.value is None and cell.rate is None and cell.cell.source == "none"
                seen["not yet"] += 1
                continue
            truth = len(cohort(row.day) & ACTIVE[cell.day])
            if cell.day in PUBLISHED:
                assert cell.cell.exact and cell.cell.value == truth
                seen["exact"] += 1
            else:
                assert not cell.cell.exact and cell.cell.source == "realtime"
                assert cell.cell.low <= truth <= cell.cell.high, (row.day, cell)
                seen["approximate"] += 1
    assert all(seen.values()), seen


def test_retention_has_its_own_route(svc: MetricsService) -> None:
    with pytest.raises(BadRequest, match="/v1/retention/retention"):
        svc.series("retention", "today", None, None, NOW_MS)
    with pytest.raises(BadRequest, match="retention metrics"):
        svc.retention("active_players", "today", None, None, NOW_MS)


def test_a_finished_cell_of_a_cohort_before_the_games_first_day_is_0_not_not_yet(svc: MetricsService) -> None:
    # Given a game whose first day is DAYS[0], published: the day before it has no cohort in either layer
    before = DAYS[0] - timedelta(days=1)
    # When its cohort is asked for
    (row,) = svc.retention("retention", before.isoformat(), before.isoformat(), None, NOW_MS).cohorts
    # Then it is empty, and each of its cells whose day has passed is 0 (nobody of it came back), not null ("not yet")
    assert (row.size.value, row.size.source) == (0, "none")
    assert [(c.k, c.cell.value, c.rate) for c in row.returned] == [(1, 0, None), (7, 0, None), (30, 0, None)]


def test_an_exact_retention_rate_is_the_float_quotient_not_rounded(svc: MetricsService) -> None:
    day = PUBLISHED[1]  # 201 players
    (row,) = svc.retention("retention", day.isoformat(), day.isoformat(), None, NOW_MS).cohorts
    for cell in row.returned:
        assert cell.cell.exact and cell.rate == len(cohort(day) & ACTIVE[cell.day]) / len(cohort(day))
