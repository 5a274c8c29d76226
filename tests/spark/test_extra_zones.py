"""Extra zones the nightly job computes exactly (`JobOptions.extra_zones`, HEADCOUNT_EXTRA_ZONES): over the same raw
archive as the reporting zone (UTC), the job computes every metric again in Asia/Kolkata (+5:30) and in
America/Los_Angeles (across its 25-hour day, 2026-11-01), as the catalog's copies `<name>@<zone>` in the zone's own
tables, and publishes them.

Everything published in a zone must equal the simulator's truth recounted in that zone's days (plain Python sets over
the events' timestamps): counts, distinct players by day and by country, hourly ad impressions, rolling windows, new
players (with the Theta sketches holding exactly them) and retention. The serving layer answers those days in the
zone exactly (`exact: true`, no note) for series, range-distinct of one day, KPIs and the retention matrix; a day the
job has not computed in the zone yet is answered from the sub-day twins, approximate (as the reporting zone's days not
published yet); a zone not configured stays approximate, its answers with the note saying so."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from headcount.core import buckets as bk
from headcount.core import sketches
from headcount.core.catalog import Kind, in_zone_name
from headcount.local.batch import BatchSummary, run_batch
from headcount.local.simulator import Game, simulate_game
from headcount.logic.errors import BadRequest
from headcount.logic.reads import Reads
from headcount.logic.serving import MetricsService
from headcount.logic.zone_kpis import zone_kpi_note
from headcount.logic.zones import zone_note
from headcount.views.batch import InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import zone_lake
from headcount.views.realtime import InMemoryRealtimeStore
from support.raw_lake import write_raw

TZ = "UTC"
KOLKATA, LOS_ANGELES = "Asia/Kolkata", "America/Los_Angeles"
ZONES = (KOLKATA, LOS_ANGELES)
FIRST = date(2026, 10, 24)
DAYS = 10  # 2026-10-24 .. 2026-11-02: Los Angeles' 25-hour day among them
LAST = FIRST + timedelta(days=DAYS - 1)
CATALOG = load_catalog()
# The zones' days the run computes: those that have ended when UTC's LAST has (Kolkata's LAST, Los Angeles' day
# before), back to the first with an arrival day of its own (the job's rule: Los Angeles' 10-23, its first 7 hours of
# the game, has none, and is left uncomputed)
ZONE_DAYS = {
    KOLKATA: [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)],
    LOS_ANGELES: [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS - 1)],
}
NOW_MS = bk.day_bounds_ms(LAST + timedelta(days=1), TZ)[0] + 3 * 3_600_000  # 03:00 UTC the day after LAST


@pytest.fixture(scope="module")
def computed(spark, tmp_path_factory) -> tuple[Game, str, InMemoryBatchView, BatchSummary]:
    """A 10-day game (no late uploads: every event in the arrival days the job reads for any zone), archived, one run
    for LAST computing every day in UTC and in both extra zones, published into a batch view."""
    game = simulate_game(CATALOG, TZ, FIRST, DAYS, new_per_day=60, seed=24, late_share=0.0)
    lake = str(tmp_path_factory.mktemp("zones-lake"))
    write_raw(lake, game.arrived(0, 2**62))
    view = InMemoryBatchView(clock=lambda: NOW_MS / 1000 - 600)
    summary = run_batch(
        lake, LAST, TZ, "zones-run", batch_view=view, spark=spark, days_back=DAYS - 1, extra_zones=ZONES
    )
    return game, lake, view, summary


def truth_in(game: Game, zone: str):
    """The simulator's truth recounted in the zone's days."""
    return replace(game, tz=zone, days=ZONE_DAYS[zone]).truth()


def test_the_run_computes_each_zone_days_that_have_ended_there_into_its_own_tables(computed) -> None:
    _game, lake, view, summary = computed
    assert {zone: run.days for zone, run in summary.job.zones.items()} == ZONE_DAYS
    assert summary.job.days == [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)]
    for zone in ZONES:
        assert zone_lake(lake, zone).endswith(f"/zones/{zone.replace('/', '.')}")
        copies = {name for name, _day in view.days if name.endswith("@" + zone.replace("/", "."))}
        # every listed metric but the ratio (divided at read time) is published in the zone, no sub-day twin
        assert copies == {in_zone_name(m.name, zone) for m in CATALOG.listed() if m.kind is not Kind.RATIO}


@pytest.mark.parametrize("zone", ZONES)
def test_every_count_and_kpi_published_in_a_zone_equals_the_recount_in_its_days(computed, zone: str) -> None:
    game, _lake, view, _summary = computed
    truth = truth_in(game, zone)
    checked = 0
    for metric in CATALOG.listed():
        if metric.kind is Kind.RATIO:
            continue
        copy = in_zone_name(metric.name, zone)
        for day in ZONE_DAYS[zone]:
            rows = view.day_rows(copy, day)
            if rows is None and metric.kind is Kind.RETENTION:  # a cohort without a D+k computed yet has no cell
                assert not any(m == metric.name and b.startswith(day) for m, b, _g in truth.kpis), f"{copy} {day}"
                continue
            assert rows is not None, f"{copy} {day} is not published"
            published = {(p.bucket, p.group): p.count for p in rows if p.count}
            if metric.kind.counted:
                expected = {
                    (b, g): v for (m, b, g), v in truth.counts.items() if m == metric.name and b[:10] == day and v
                }
            else:
                expected = {
                    (b, g): v
                    for (m, b, g), v in truth.kpis.items()
                    if m == metric.name and b.split("+")[0] == day and g is not None and v
                }
            assert published == expected, f"{copy} {day}"
            checked += len(expected)
            if metric.kind is Kind.NEW:  # the Theta sketch of the day's new players holds exactly them
                [row] = [p for p in rows if p.group == ""] or [None]
                players = truth.new_players[(metric.name, day, "")]
                if players:
                    assert row is not None and row.sketch is not None
                    assert sketches.theta_estimate(sketches.theta_decode(row.sketch)).value == len(players)
    assert checked > 300


def test_a_zone_25_hour_day_has_25_hourly_buckets(computed) -> None:
    _game, _lake, view, _summary = computed
    rows = view.day_rows(in_zone_name("ad_impressions", LOS_ANGELES), "2026-11-01")
    assert rows is not None
    assert len({p.bucket for p in rows}) == 25
    assert {p.bucket for p in rows} == set(bk.buckets_of_day(date(2026, 11, 1), bk.Granularity.HOUR, LOS_ANGELES))


def service(view: InMemoryBatchView, extra: tuple[str, ...] = ZONES) -> MetricsService:
    return MetricsService(Reads(CATALOG, InMemoryRealtimeStore(), view, TZ, max_age_s=0), extra)


@pytest.mark.parametrize("zone", ZONES)
def test_the_api_answers_a_computed_zone_exactly_on_the_days_the_job_published(computed, zone: str) -> None:
    game, _lake, view, _summary = computed
    truth = truth_in(game, zone)
    api = service(view)
    first, last = ZONE_DAYS[zone][0], ZONE_DAYS[zone][-1]
    for name in ("active_players", "matches_played", "weekly_active_players", "new_players"):
        series = api.series(name, first, last, None, NOW_MS, zone)
        assert series.note is None and series.timezone == zone
        assert all(p.exact and p.source == "batch" for p in series.points), name
        got = {p.bucket: p.value for p in series.points}
        table = truth.counts if CATALOG.get(name).kind.counted else truth.kpis  # type: ignore[union-attr]
        assert got == {d: table.get((name, d, ""), 0) for d in ZONE_DAYS[zone]}, name
    by_country = api.series("active_players_by_country", first, last, "DE", NOW_MS, zone)
    assert [p.value for p in by_country.points] == [
        truth.counts.get(("active_players_by_country", d, "DE"), 0) for d in ZONE_DAYS[zone]
    ]
    ratio = api.series("stickiness", last, last, None, NOW_MS, zone)
    assert ratio.points[0].exact and ratio.points[0].value == pytest.approx(truth.ratios[("stickiness", last)])
    one_day = api.distinct("active_players", last, last, None, NOW_MS, zone)
    assert one_day.exact and one_day.value == truth.counts[("active_players", last, "")] and one_day.note is None
    matrix = api.retention("retention", first, last, None, NOW_MS, zone)
    cells = {(c.day.isoformat(), r.k): r.cell for c in matrix.cohorts for r in c.returned}
    expected = {(b.split("+")[0], int(b.split("+")[1])): v for (m, b, _g), v in truth.kpis.items() if m == "retention"}
    assert expected and all(cells[key].exact and cells[key].value == v for key, v in expected.items())
    with pytest.raises(BadRequest, match=r"^retention is a retention metric: GET /v1/retention/retention answers"):
        api.series("retention", first, last, None, NOW_MS, zone)
    sizes = {c.day.isoformat(): c.size for c in matrix.cohorts}
    assert all(sizes[d].exact and sizes[d].value == truth.kpis[("new_players", d, "")] for d in ZONE_DAYS[zone])


def test_a_day_not_computed_yet_in_a_computed_zone_comes_from_the_twins(computed) -> None:
    """Kolkata's LAST+1 began at 18:30 UTC on LAST: published in the twins (UTC's LAST), not computed in Kolkata."""
    game, _lake, view, _summary = computed
    api = service(view)
    day = (LAST + timedelta(days=1)).isoformat()
    series = api.series("active_players", ZONE_DAYS[KOLKATA][-1], day, None, NOW_MS, KOLKATA)
    assert series.note is None  # approximate as the reporting zone's days not published yet: the points say so
    computed_point, twin_point = series.points
    assert computed_point.exact and not twin_point.exact
    assert twin_point.low <= len(_players_between(game, day, KOLKATA)) <= twin_point.high
    counted = api.series("matches_played", day, day, None, NOW_MS, KOLKATA).points[0]
    assert not counted.exact  # Kolkata's LAST+1 reaches into UTC's LAST+1, not published
    both = api.distinct("active_players", ZONE_DAYS[KOLKATA][-1], day, None, NOW_MS, KOLKATA)
    assert not both.exact and both.note is None and both.low <= both.value <= both.high


def test_a_zone_not_configured_stays_approximate(computed) -> None:
    _game, _lake, view, _summary = computed
    series = service(view, extra=()).series("active_players", ZONE_DAYS[KOLKATA][1], str(LAST), None, NOW_MS, KOLKATA)
    assert series.note == zone_note(KOLKATA) and not any(p.exact for p in series.points)
    # new players in a zone not configured: estimated from the real-time layer's quarter hours (none here), saying so
    new = service(view).series("new_players", str(FIRST), str(LAST), None, NOW_MS, "Asia/Tokyo")
    assert new.note == zone_kpi_note("Asia/Tokyo", 35) and not any(p.exact for p in new.points)


def _players_between(game: Game, day: str, zone: str) -> set[str]:
    start, end = bk.day_bounds_ms(date.fromisoformat(day), zone)
    return {
        p.event["player_id"] for p in game.events if p.event["type"] == "session_start" and start <= p.event["ts"] < end
    }
