"""Any zone per request: counts exact from the quarter hours, distinct players within their bounds, DST days' hours.

Both layers are the real ones in memory: the fold's items (fold_batch) and the batch view's rows of the published days
(each cell's exact value and its sketch, as the job publishes them). The expected numbers are counted again here, per
zone day, straight from the events' timestamps (zoneinfo), not through the quarter hours.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import headcount
from headcount.core import buckets as bk
from headcount.core import sketches
from headcount.core.catalog import CatalogError, Granularity, Kind, parse_catalog
from headcount.core.deltas import Record
from headcount.core.merge import Point
from headcount.logic.errors import BadRequest, UnknownMetric
from headcount.logic.folding import fold_batch
from headcount.logic.reads import Reads
from headcount.logic.serving import MetricsService, RangeDistinct, Series
from headcount.logic.zone_kpis import zone_kpi_note
from headcount.logic.zones import day_edges, window_unions
from headcount.views.batch import BatchRow, InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import InMemoryRealtimeStore

CATALOG = load_catalog()
ZONES = ["UTC", "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata", "Asia/Kathmandu"]
SHARD = "shardId-000000000000"
# Berlin leaves summer time on 2026-10-25 (a 25-hour day); Los Angeles on 2026-11-01
FIRST_UTC_DAY = date(2026, 10, 23)
UTC_DAYS = 12  # 2026-10-23 .. 2026-11-03
PUBLISHED_UTC_DAYS = 10  # the batch layer has published 10-23 .. 11-01; 11-02 and 11-03 are real-time only
NOW_MS = int(datetime(2026, 11, 3, 23, 0, tzinfo=UTC).timestamp() * 1000)


def ms(day: date, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def game(seed: int, per_day: int = 400) -> list[dict]:
    """Events over the UTC days, many of them in the minutes around each UTC midnight and each half and quarter hour
    (where +5:30 and +5:45 days begin), a player playing on several days."""
    rng = random.Random(seed)
    events = []
    start = ms(FIRST_UTC_DAY)
    for i in range(per_day * UTC_DAYS):
        if rng.random() < 0.3:  # around a UTC midnight, or a zone's midnight at :15, :30, :45
            midnight = start + rng.randrange(1, UTC_DAYS) * 86_400_000 + rng.choice([0, 15, 30, 45]) * 60_000
            ts = midnight + rng.randrange(-20 * 60_000, 20 * 60_000)
        else:
            ts = start + rng.randrange(UTC_DAYS * 86_400_000)
        kind = rng.choice(["session_start", "session_start", "match_end", "ad_impression"])
        player = f"p{rng.randrange(per_day * 3)}" if rng.random() < 0.5 else rng.randrange(10**6)  # int ids too
        events.append(
            {"event_id": f"e{seed}-{i}", "type": kind, "player_id": player, "ts": ts,
             "attrs": {"country": rng.choice(["DE", "IN", "JP", "US"])}}
        )  # fmt: skip
    return events


def stack(events: list[dict], tz: str = "UTC", edges: bool = False) -> MetricsService:
    """The real-time layer folds every event; the batch layer publishes the reporting days that ended in the first
    PUBLISHED_UTC_DAYS UTC days, as the nightly job would: each cell's exact value, and a distinct cell's sketch (and
    with `edges`, a distinct twin's edges, as the publisher adds them)."""
    store = InMemoryRealtimeStore()
    records = [Record(json.dumps(e).encode(), 10**30 + i, e["ts"] + 1000) for i, e in enumerate(events)]
    for i in range(0, len(records), 500):
        fold_batch(records[i : i + 500], SHARD, store, CATALOG, tz, 35, now_ms=NOW_MS)
    cells: dict[tuple[str, str], dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        for metric in CATALOG.counted_for(e["type"]):
            bucket = bk.bucket_of(e["ts"], metric.granularity, tz)
            cells[(metric.name, bucket[:10])][(bucket, metric.group_of(e["attrs"]))].append(str(e["player_id"]))
    batch = InMemoryBatchView(clock=lambda: NOW_MS / 1000 - 3600)
    last_published = ms(FIRST_UTC_DAY + timedelta(days=PUBLISHED_UTC_DAYS))
    for (name, day), by_cell in cells.items():
        metric = CATALOG.get(name)
        assert metric is not None
        if bk.day_bounds_ms(date.fromisoformat(day), tz)[1] > last_published:
            continue
        rows = []
        for (bucket, group), ids in sorted(by_cell.items()):
            if metric.kind is Kind.COUNT:
                rows.append(BatchRow(name, day, bucket, group, len(ids), None))
            else:
                assert metric.lg_k is not None
                rows.append(BatchRow(name, day, bucket, group, len(set(ids)), sketches.of_values(ids, metric.lg_k)))
        cut = edges and metric.sub_day_of is not None and metric.kind is Kind.DISTINCT
        batch.publish(
            name, day, rows, "r1", edges=day_edges(rows, date.fromisoformat(day), tz, metric.lg_k) if cut else None
        )
    # new_players as the KPI job publishes it: the day's new players, and its union row, everyone seen up to the day
    first_seen = first_days(events, tz)
    for n in range(PUBLISHED_UTC_DAYS):
        day = (FIRST_UTC_DAY + timedelta(days=n)).isoformat()
        if bk.day_bounds_ms(date.fromisoformat(day), tz)[1] > last_published:
            continue
        new = [p for p, d in first_seen.items() if d == day]
        seen = sketches.theta_of_values([p for p, d in first_seen.items() if d <= day], 12)
        rows = [BatchRow("new_players", day, day, "", len(new), sketches.theta_of_values(new, 12))]
        batch.publish("new_players", day, rows, "r1", union=seen)
    return MetricsService(Reads(CATALOG, store, batch, tz, max_age_s=0))


def first_days(events: list[dict], zone: str) -> dict[str, str]:
    """Each player's first session's day in `zone` (new_players counts active_players' event type)."""
    first: dict[str, int] = {}
    for e in events:
        if e["type"] == "session_start":
            player = str(e["player_id"])
            first[player] = min(first.get(player, e["ts"]), e["ts"])
    return {p: datetime.fromtimestamp(ts / 1000, ZoneInfo(zone)).date().isoformat() for p, ts in first.items()}


def recount(events: list[dict], event_type: str, zone: str, distinct: bool) -> dict[str, int]:
    """Per local day of `zone`: events, or distinct players, of a type."""
    by_day: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if e["type"] == event_type:
            local = datetime.fromtimestamp(e["ts"] / 1000, ZoneInfo(zone)).date().isoformat()
            by_day[local].append(str(e["player_id"]))
    return {d: len(set(ids)) if distinct else len(ids) for d, ids in by_day.items()}


def zone_range(zone: str) -> tuple[str, str]:
    """The zone's days wholly inside the events' UTC days."""
    first = bk.local_date(ms(FIRST_UTC_DAY) + 86_399_999, zone) + timedelta(days=1)
    last = bk.local_date(ms(FIRST_UTC_DAY + timedelta(days=UTC_DAYS)) - 1, zone) - timedelta(days=1)
    return first.isoformat(), last.isoformat()


@pytest.mark.parametrize("reporting", ["UTC", "Europe/Berlin"])
def test_every_zone_days_counts_equal_a_recount_and_are_exact_where_every_day_they_touch_is_published(reporting):
    # Given a game's events around UTC midnights, quarter hours and two DST changes, in both layers
    events = game(seed=7)
    service = stack(events, reporting)
    for zone in ZONES:
        first, last = zone_range(zone)
        # When matches are asked for in the zone
        answer = service.series("matches_played", first, last, None, NOW_MS, zone)
        # Then each of its days equals the recount of that zone's day
        expected = recount(events, "match_end", zone, distinct=False)
        assert answer.timezone == zone
        assert {p.bucket: p.value for p in answer.points} == {d: expected.get(d, 0) for d in bk_days(first, last)}
        # and is exact when the batch layer published every reporting day it overlaps, not after
        for point in answer.points:
            start, end = bk.day_bounds_ms(date.fromisoformat(point.bucket), zone)
            published = bk.day_bounds_ms(bk.local_date(end - 1, reporting), reporting)[1] <= ms(
                FIRST_UTC_DAY + timedelta(days=PUBLISHED_UTC_DAYS)
            )
            assert point.exact is published, (zone, point)
            assert point.source == ("batch" if published else "realtime")
        # and the hourly ad impressions of the zone's days sum to the same recount, hour by hour
        hours = service.series("ad_impressions", first, last, None, NOW_MS, zone)
        per_day = defaultdict(int)
        for p in hours.points:
            per_day[p.bucket[:10]] += p.value
        assert dict(per_day) == {d: n for d, n in recount(events, "ad_impression", zone, False).items() if first <= d <= last} | {
            d: 0 for d in bk_days(first, last) if d not in recount(events, "ad_impression", zone, False)
        }  # fmt: skip


def bk_days(first: str, last: str) -> list[str]:
    return [d.isoformat() for d in bk.days(date.fromisoformat(first), date.fromisoformat(last))]


def test_distinct_players_of_other_zones_lie_within_their_bounds_in_at_least_95_percent_of_seeded_trials():
    inside = total = 0
    for seed in range(6):
        # Given a game (each trial its own players and times), reported in UTC
        events = game(seed, per_day=300)
        service = stack(events)
        for zone in ZONES[1:]:
            first, last = zone_range(zone)
            expected = recount(events, "session_start", zone, distinct=True)
            # When a zone's active players are asked for, day by day and over the whole range
            answer = service.series("active_players", first, last, None, NOW_MS, zone)
            whole = service.distinct("active_players", first, last, None, NOW_MS, zone)
            # Then none is called exact, the answer says why, and the truth lies within the bounds
            assert answer.note and "not computed exactly in " + zone in answer.note and whole.note
            assert not any(p.exact for p in answer.points) and not whole.exact
            for p in answer.points:
                total += 1
                inside += p.low <= expected.get(p.bucket, 0) <= p.high
            truth = len({str(e["player_id"]) for e in events if e["type"] == "session_start"
                         and first <= bk.bucket_of(e["ts"], CATALOG.get("active_players").granularity, zone) <= last})  # fmt: skip
            total += 1
            inside += whole.low <= truth <= whole.high
    assert total > 250 and inside / total >= 0.95, (inside, total)


def test_new_players_and_retention_of_other_zones_lie_within_their_bounds_in_at_least_95_percent_of_seeded_trials():
    inside = total = 0
    for seed in range(3):
        # Given a game of more players than a Theta sketch keeps (4,096 at lg_k 12: estimates, not exact counts)
        events = game(100 + seed, per_day=1200)
        service = stack(events)
        for zone in ZONES[1:]:
            first, last = zone_range(zone)
            first_day = first_days(events, zone)
            active: dict[str, set[str]] = defaultdict(set)
            for e in events:
                if e["type"] == "session_start":
                    active[bk.bucket_of(e["ts"], Granularity.DAY, zone)].add(str(e["player_id"]))
            # When the zone's new players and retention are asked for
            new = service.series("new_players", first, last, None, NOW_MS, zone)
            matrix = service.retention("retention", first, last, None, NOW_MS, zone)
            # Then none is called exact, both say why, and the truth lies within the bounds
            assert new.note == matrix.note == zone_kpi_note(zone, 35)
            assert not any(p.exact for p in new.points)
            for p in new.points:
                total += 1
                inside += p.low <= sum(d == p.bucket for d in first_day.values()) <= p.high
            for cohort in matrix.cohorts:
                players = {p for p, d in first_day.items() if d == cohort.day.isoformat()}
                assert cohort.size.low <= len(players) <= cohort.size.high
                for returned in cohort.returned:
                    if returned.day > bk.local_date(NOW_MS, zone):
                        assert returned.cell.value is None  # the day has not come yet
                        continue
                    truth = len(players & active[returned.day.isoformat()])
                    total += 1
                    inside += returned.cell.low <= truth <= returned.cell.high and not returned.cell.exact
    assert total > 150 and inside / total >= 0.95, (inside, total)


def test_another_zones_new_players_are_kept_until_the_real_time_days_under_them_change(monkeypatch):
    events = game(seed=7)
    service = stack(events)
    zone = "Asia/Kolkata"

    def ask() -> dict[str, Point]:
        answer = service.series("new_players", "2026-10-30", "2026-11-03", None, NOW_MS, zone)
        return {p.bucket: p for p in answer.points}

    before = ask()
    # Asked again: no Theta sketch is unioned
    unions = []
    union = sketches.theta_union_of
    monkeypatch.setattr(sketches, "theta_union_of", lambda s, lg_k: unions.append(1) or union(s, lg_k))
    assert ask() == before and unions == []
    # When 300 players never seen before play at 10:00 UTC on 11-03 (Kolkata's 11-03)
    at = ms(date(2026, 11, 3), 10)
    late = [
        Record(json.dumps({"event_id": f"n{i}", "type": "session_start", "player_id": f"newcomer-{i}", "ts": at}).encode(), 10**31 + i, at)
        for i in range(300)
    ]  # fmt: skip
    fold_batch(late, SHARD, service.reads.realtime, CATALOG, "UTC", 35, now_ms=NOW_MS)
    # Then Kolkata's 11-03 has about 300 more, and only the days over UTC's 11-03 are unioned again
    after = ask()
    assert 290 <= after["2026-11-03"].value - before["2026-11-03"].value <= 310
    assert {d: p.value for d, p in after.items() if d != "2026-11-03"} == {
        d: p.value for d, p in before.items() if d != "2026-11-03"
    }
    assert 0 < len(unions) <= 2 * 2  # Kolkata's 11-03 (and 11-04, not asked): its players, everyone before it


def test_new_players_of_another_zone_have_no_value_once_the_real_time_layer_no_longer_holds_their_days():
    events = game(seed=5)
    service = stack(events)
    # Given a day 40 days after the game's: Kolkata's days from 11-02 are more than 35 days before it
    later = NOW_MS + 40 * 86_400_000
    new = service.series("new_players", "2026-10-30", "2026-11-03", None, later, "Asia/Kolkata").points
    matrix = service.retention("retention", "2026-10-30", "2026-10-30", None, later, "Asia/Kolkata")
    # Then those days have no value (not 0), and no cohort of them a size
    assert [p.value for p in new] == [None] * 5 and {p.source for p in new} == {"none"}
    assert matrix.cohorts[0].size.value is None and all(r.cell.value is None for r in matrix.cohorts[0].returned)


def test_an_extra_zones_new_players_the_job_has_not_computed_yet_are_the_twins_estimates_without_a_note():
    plain = stack(game(seed=8))
    extra = MetricsService(plain.reads, ["Asia/Tokyo"])  # an extra zone whose copies the job has not published yet
    ours = extra.series("new_players", "2026-11-01", "2026-11-04", None, NOW_MS, "Asia/Tokyo")
    theirs = plain.series("new_players", "2026-11-01", "2026-11-04", None, NOW_MS, "Asia/Tokyo")
    assert ours.note is None and theirs.note == zone_kpi_note("Asia/Tokyo", 35)
    assert ours.points == theirs.points and any(p.value for p in ours.points)


def test_cohorts_to_come_in_another_zone_are_empty_as_in_the_reporting_zone():
    service = stack(game(seed=6))
    # Given today (11-03 in UTC at 23:00, 11-04 in Kolkata) and 11-05 asked for
    for zone in ("UTC", "Asia/Kolkata"):
        matrix = service.retention("retention", "2026-11-04", "2026-11-05", None, NOW_MS, zone)
        tomorrow = matrix.cohorts[-1]
        # Then tomorrow's cohort has nobody yet and none of its days has come
        assert (tomorrow.day, tomorrow.size.value) == (date(2026, 11, 5), 0)
        assert all(r.cell.value is None for r in tomorrow.returned)


def test_a_zone_with_the_reporting_zones_days_is_answered_exactly_by_the_reporting_zone():
    # Given the batch layer's published UTC days
    service = stack(game(seed=3))
    # When active players are asked for in Etc/UTC, and in London in winter (UTC+0 there)
    for zone in ("Etc/UTC", "Europe/London"):
        answer = service.series("active_players", "2026-10-26", "2026-10-28", None, NOW_MS, zone)
        # Then they are the reporting zone's exact numbers, without a note
        assert answer.note is None and all(p.exact for p in answer.points), zone
    # but London's summer days (to 10-24, +01:00) are not UTC's
    assert service.series("active_players", "2026-10-24", "2026-10-24", None, NOW_MS, "Europe/London").note


def test_a_dst_day_has_23_or_25_hours_in_its_zone():
    service = stack(game(seed=5))
    for zone, day, hours in [
        ("Europe/Berlin", "2026-10-25", 25),
        ("America/Los_Angeles", "2026-11-01", 25),
        ("Asia/Kolkata", "2026-10-25", 24),
        ("Europe/Berlin", "2026-10-24", 24),
    ]:
        points = service.series("ad_impressions", day, day, None, NOW_MS, zone).points
        assert len(points) == hours, (zone, day)
        assert len({bk.bucket_start_ms(p.bucket) for p in points}) == hours  # each hour its own instant
    # and a spring-forward day, reported in Berlin, asked for in Los Angeles (its change is two weeks earlier)
    spring = stack([], "Europe/Berlin")
    assert len(spring.series("ad_impressions", "2027-03-28", None, None, NOW_MS, "Europe/Berlin").points) == 23
    assert len(spring.series("ad_impressions", "2027-03-14", None, None, NOW_MS, "America/Los_Angeles").points) == 23


def test_today_at_half_past_midnight_local_is_the_local_day():
    # Given 00:30 in Kolkata on 11-03 (19:00 UTC on 11-02)
    now = ms(date(2026, 11, 2), 19, 0)
    service = stack(game(seed=2))
    # When today and yesterday are asked for in Kolkata
    today = service.series("matches_played", "today", None, None, now, "Asia/Kolkata")
    yesterday = service.distinct("active_players", "yesterday", None, None, now, "Asia/Kolkata")
    # Then they are Kolkata's days, not UTC's
    assert [p.bucket for p in today.points] == ["2026-11-03"]
    assert (yesterday.first, yesterday.timezone) == (date(2026, 11, 2), "Asia/Kolkata")
    assert [p.bucket for p in service.series("matches_played", "today", None, None, now).points] == ["2026-11-02"]


def test_an_unknown_zone_is_a_bad_request_naming_it_and_every_metric_is_answered_in_other_zones():
    service = stack([])
    for bad in ("Mars/Olympus_Mons", "Asia", "../etc/passwd", ""):
        with pytest.raises(BadRequest, match="is not a time zone"):
            service.series("matches_played", "2026-11-01", None, None, NOW_MS, bad)
    new = service.series("new_players", "2026-11-01", None, None, NOW_MS, "Asia/Tokyo")
    assert new.note == zone_kpi_note("Asia/Tokyo", 35) and [p.value for p in new.points] == [0]
    # the rolling windows and the ratios are (approximate, as their days' players are)
    stickiness = service.series("stickiness", "2026-11-01", None, None, NOW_MS, "Asia/Tokyo")
    assert stickiness.note and [p.bucket for p in stickiness.points] == ["2026-11-01"]


def test_a_finished_zone_days_union_is_kept_until_a_republish_names_another_run():
    # Given Kolkata's active players of three finished days, asked for once
    service = stack(game(seed=11))
    batch = service.reads.batch
    read_days: list[str] = []  # the reporting days whose quarter hours' sketches are read
    row_sketches = batch.row_sketches
    batch.row_sketches = lambda m, pubs, g: row_sketches(m, [p for p in pubs if not read_days.append(p.day)], g)
    ask = lambda: service.series("active_players", "2026-10-26", "2026-10-28", None, NOW_MS, "Asia/Kolkata")  # noqa: E731
    before = ask()
    assert read_days == ["2026-10-25", "2026-10-26", "2026-10-27", "2026-10-28"]  # (Kolkata's days begin at 18:30Z)
    # When asked again: the same answer, from the unions it kept (no sketch read)
    read_days.clear()
    assert ask() == before and read_days == []
    # When the batch layer republishes UTC's 10-27 with 500 more players in its first quarter hour (Kolkata's 10-27)
    twin = "active_players~quarter"
    newcomers = sketches.decode(sketches.of_values([f"late-{i}" for i in range(500)], 14))
    rows = [
        BatchRow(twin, "2026-10-27", r.bucket, r.group, r.count, r.sketch)
        if r.bucket != "2026-10-27T00:00+00:00"
        else BatchRow(twin, "2026-10-27", r.bucket, r.group, r.count + 500,
                      sketches.encode(sketches.union([sketches.decode(r.sketch), newcomers], 14)))
        for r in batch.day_rows(twin, "2026-10-27")
    ]  # fmt: skip
    assert any(r.bucket == "2026-10-27T00:00+00:00" for r in rows)
    batch.publish(twin, "2026-10-27", rows, "r2")
    # Then Kolkata's 10-27 and 10-28 (both overlap UTC's 10-27) are read again, not its 10-26
    after = {p.bucket: p for p in ask().points}
    assert read_days == [
        "2026-10-26",
        "2026-10-27",
        "2026-10-28",
    ]  # 10-27's two Kolkata days, 10-26 and 10-28 with them
    was = {p.bucket: p for p in before.points}
    # with the new players on Kolkata's 10-27 only
    assert after["2026-10-26"] == was["2026-10-26"]
    assert 480 <= after["2026-10-27"].value - was["2026-10-27"].value <= 520
    assert after["2026-10-28"].value == was["2026-10-28"].value


def test_day_edges_are_the_unions_of_the_quarter_hours_before_and_from_each_cut_where_a_zones_day_begins():
    # Given a UTC day's quarter hours of two groups, player q<i> in quarter i
    day = date(2026, 10, 25)
    quarters = bk.buckets_of_day(day, Granularity.QUARTER, "Europe/Berlin")
    assert len(quarters) == 100  # Berlin's 25-hour day
    rows = [BatchRow("t", day.isoformat(), q, g, 1, sketches.of_values([f"q{i}{g}"], 12))
            for i, q in enumerate(quarters) if i % 3 for g in ("DE", "IN")]  # fmt: skip
    # When its edges are cut
    edges = day_edges(rows, day, "Europe/Berlin", 12)
    # Then they are at each quarter hour where some zone's day begins: Kolkata's at 19:30 (+01:00), Kathmandu's at
    # 19:15, UTC's at 02:00 (+02:00, the first of the repeated hours)
    cuts = bk.zone_day_cuts(day, "Europe/Berlin")
    assert {"2026-10-25T19:30+01:00", "2026-10-25T19:15+01:00", "2026-10-25T02:00+02:00"} <= set(cuts)
    assert "2026-10-25T19:20+01:00" not in cuts and 30 <= len(cuts) <= 40
    assert set(edges) == {f"<{c}" for c in cuts} | {f">{c}" for c in cuts}
    # each the union of every group's quarter hours before it, or from it on
    for cut in cuts:
        at = quarters.index(cut)
        for edge, part in ((f"<{cut}", range(at)), (f">{cut}", range(at, len(quarters)))):
            members = [f"q{i}{g}" for i in part if i % 3 for g in ("DE", "IN")]
            expected = sketches.estimate(sketches.decode(sketches.of_values(members, 12))) if members else None
            got = sketches.estimate(sketches.decode(edges[edge])) if edges[edge] else None
            assert got == expected, edge
    # and a row that is not one of the day's quarter hours cuts nothing
    assert (
        day_edges([*rows, BatchRow("t", "2026-10-25", "2026-10-25T02:10+01:00", "", 1, None)], day, "Europe/Berlin", 12)
        == {}
    )


@pytest.mark.parametrize("reporting", ["UTC", "Europe/Berlin"])
def test_zone_days_over_published_days_are_read_from_their_edges_with_the_answers_of_their_quarter_hours(reporting):
    # Given the same game in two batch views: one with the twins' quarter hours only, one with their edges too
    events = game(seed=5)
    quarters, edged = stack(events, reporting), stack(events, reporting, edges=True)
    read_rows: list[str] = []  # the reporting days whose quarter hours' sketches the edged one reads
    read_edges: list[str] = []
    batch = edged.reads.batch
    row_sketches, edge_sketches = batch.row_sketches, batch.edge_sketches
    batch.row_sketches = lambda m, pubs, g: row_sketches(m, [p for p in pubs if not read_rows.append(p.day)], g)
    batch.edge_sketches = lambda m, wanted: edge_sketches(m, [w for w in wanted if not read_edges.append(w[1])])
    for zone in [z for z in ZONES if z != reporting]:
        first, last = zone_range(zone)
        week = (date.fromisoformat(first) + timedelta(days=6)).isoformat()
        asks = [
            ("series", "active_players", first),
            ("distinct", "active_players", first),
            ("series", "weekly_active_players", week),
            ("distinct", "active_players_by_country", first),
            ("series", "active_players_by_country", first),  # by group: from quarter hours
        ]
        for route, name, start in asks:
            # When asked in a zone: the same answers, point for point
            read_rows.clear()
            read_edges.clear()
            answers = [getattr(s, route)(name, start, last, None, NOW_MS, zone) for s in (edged, quarters)]
            assert alike(*answers), (zone, name)
        # Then a zone's day over published days is two or three sketches (a day's suffix, the next one's prefix)
        published = [d for d in bk_days(first, last) if all_published(d, zone, reporting)]
        assert len(published) >= 7
        edged.zones._finished.clear()  # noqa: SLF001 - the unions kept: read again
        read_rows.clear()
        read_edges.clear()
        edged.distinct("active_players", published[0], published[-1], None, NOW_MS, zone)
        assert read_rows == [] and len(published) <= len(read_edges) <= 2 * len(published) + 1, (zone, read_edges)
        assert {e[0] for e in read_edges} <= {"<", ">", "*"}


def alike(a: Series | RangeDistinct, b: Series | RangeDistinct) -> bool:
    """The same answer; its estimates within a tenth of their 95 % bounds' width of each other (the library's estimate
    of a union of unions depends a little on the order of the merges: the same players, not the same estimator
    state)."""
    pairs = list(zip(a.points, b.points, strict=True)) if isinstance(a, Series) else [(a, b)]
    for x, y in pairs:
        slack = (y.high - y.low) / 10
        assert abs(x.value - y.value) <= slack and abs(x.low - y.low) <= slack and abs(x.high - y.high) <= slack, (x, y)
    drop = {"points": []} if isinstance(a, Series) else {"value": 0, "low": 0, "high": 0}
    return dataclasses.replace(a, **drop) == dataclasses.replace(b, **drop) and all(
        dataclasses.replace(x, value=0, low=0, high=0) == dataclasses.replace(y, value=0, low=0, high=0)
        for x, y in pairs
    )


def all_published(day: str, zone: str, reporting: str) -> bool:
    end = bk.day_bounds_ms(date.fromisoformat(day), zone)[1]
    last = bk.day_bounds_ms(bk.local_date(end - 1, reporting), reporting)[1]
    return last <= ms(FIRST_UTC_DAY + timedelta(days=PUBLISHED_UTC_DAYS))


def test_finished_zone_days_counts_and_windows_are_kept_until_a_republish_names_another_run():
    # Given Kolkata's matches and weekly active players over finished days, asked for once
    events = game(seed=12)
    service = stack(events, edges=True)
    batch = service.reads.batch
    zone, first, last = "Asia/Kolkata", "2026-10-26", "2026-10-30"
    matches = lambda: service.series("matches_played", first, last, None, NOW_MS, zone)  # noqa: E731
    weekly = lambda: service.series("weekly_active_players", "2026-10-30", "2026-11-01", None, NOW_MS, zone)  # noqa: E731
    before_matches, before_weekly = matches(), weekly()
    assert before_matches.points[0].value == recount(events, "match_end", zone, distinct=False)[first]
    # When asked again: the same answers, without a cell of the published days summed or a sketch unioned again
    unions = []
    union = sketches.union
    sketches.union = lambda s, lg_k: unions.append(1) or union(s, lg_k)
    try:
        assert (matches(), weekly()) == (before_matches, before_weekly) and unions == []
    finally:
        sketches.union = union
    # A range whose first windows hold days before the first published one (and whose last ones hold today): asked
    # again, only those windows are estimated again, not the finished ones between them (Kolkata's 10-24 .. 11-01)
    service.series("weekly_active_players", "2026-10-20", "2026-11-03", None, NOW_MS, zone)
    estimated = []
    estimate = sketches.estimate
    sketches.estimate = lambda s: estimated.append(1) or estimate(s)
    try:
        service.series("weekly_active_players", "2026-10-20", "2026-11-03", None, NOW_MS, zone)
    finally:
        sketches.estimate = estimate
    # of the 15 windows, those ending 10-30, 10-31 and 11-01 hold finished days only, and those ending 10-20, 10-21 and
    # 10-22 nobody (the game's first events are on Kolkata's 10-23): an empty window has no estimate to make
    assert len(estimated) == 15 - 3 - 3
    # When the batch layer republishes UTC's 10-27 (Kolkata's 10-27 from 00:00 UTC on) with 7 more matches and 500 more
    # players in its first quarter hour
    newcomers = sketches.decode(sketches.of_values([f"late-{i}" for i in range(500)], 14))
    for twin in ("matches_played~quarter", "active_players~quarter"):
        rows = []
        for p in batch.day_rows(twin, "2026-10-27"):
            first_quarter = p.bucket == "2026-10-27T00:00+00:00"
            sketch = p.sketch
            if first_quarter and sketch:
                sketch = sketches.encode(sketches.union([sketches.decode(sketch), newcomers], 14))
            rows.append(BatchRow(twin, "2026-10-27", p.bucket, p.group, p.count + 7 * first_quarter, sketch))
        assert any(r.bucket == "2026-10-27T00:00+00:00" for r in rows)
        edges = day_edges(rows, date(2026, 10, 27), "UTC", 14) if twin.startswith("active") else None
        batch.publish(twin, "2026-10-27", rows, "r2", edges=edges)
    # Then the zone day it is under has the 7 matches more, the others as they were
    after = {p.bucket: p.value for p in matches().points}
    was = {p.bucket: p.value for p in before_matches.points}
    assert after == {**was, "2026-10-27": was["2026-10-27"] + 7}
    # and every week holding Kolkata's 10-27 about 500 players more
    for old, new in zip(before_weekly.points, weekly().points, strict=True):
        assert 470 <= new.value - old.value <= 530, (old, new)


def test_the_catalogs_sub_day_choice_decides_which_zones_are_answered():
    doc = json.loads((Path(headcount.__file__).parent / "catalog.json").read_text())
    # Given the twins kept in whole hours: a whole-hour zone is answered, Kolkata's :30 days are refused, saying why
    hourly = parse_catalog(doc | {"sub_day": "hour"})
    assert hourly.sub_day(hourly.get("matches_played")).name == "matches_played~hour"
    service = MetricsService(Reads(hourly, InMemoryRealtimeStore(), InMemoryBatchView(), "UTC", max_age_s=0))
    assert service.series("matches_played", "2026-11-01", None, None, NOW_MS, "Asia/Tokyo").points[0].value == 0
    with pytest.raises(BadRequest, match="Asia/Kolkata's days do not begin on"):
        service.series("matches_played", "2026-11-01", None, None, NOW_MS, "Asia/Kolkata")
    with pytest.raises(BadRequest, match="Asia/Kolkata's days do not begin on"):  # new players' twin too
        service.retention("retention", "2026-11-01", None, None, NOW_MS, "Asia/Kolkata")
    assert service.series("new_players", "2026-11-01", None, None, NOW_MS, "Asia/Tokyo").points[0].value == 0
    # The new metric's twin is the fold's only: not a KPI of the nightly job, not listed
    new = hourly.sub_day(hourly.get("new_players"))
    assert (new.name, new.kind, new.granularity) == ("new_players~hour", Kind.NEW, Granularity.HOUR)
    for kpis in (hourly.kpis(), hourly.stored_kpis(), hourly.new_metrics(), hourly.activity_metrics(), hourly.listed()):
        assert new not in kpis
    assert new in hourly.for_event_type("session_start")
    # Given no twins: only the reporting zone's days
    off = parse_catalog(doc | {"sub_day": "off"})
    assert [m.name for m in off.metrics] == [m.name for m in off.listed()]
    service = MetricsService(Reads(off, InMemoryRealtimeStore(), InMemoryBatchView(), "UTC", max_age_s=0))
    with pytest.raises(BadRequest, match="sub_day is off"):
        service.series("matches_played", "2026-11-01", None, None, NOW_MS, "Asia/Tokyo")
    assert service.series("matches_played", "2026-11-01", None, None, NOW_MS, "Etc/UTC").points[0].value == 0
    with pytest.raises(CatalogError, match="sub_day is 'quarter', 'hour', 'off', not 'minute'"):
        parse_catalog(doc | {"sub_day": "minute"})
    with pytest.raises(CatalogError, match="granularity is day or hour"):
        parse_catalog({"metrics": [{"name": "m", "kind": "count", "event_type": "x", "granularity": "quarter"}]})


def test_window_unions_are_the_unions_of_every_window_however_the_blocks_fall():
    rng = random.Random(4)
    days = [
        None if rng.random() < 0.2 else sketches.decode(sketches.of_values({f"p{rng.randrange(900)}" for _ in range(60)}, 12))
        for _ in range(23)
    ]  # fmt: skip
    for window in (1, 2, 7, 10, 23):
        got = window_unions(days, window, 12)
        assert len(got) == len(days) - window + 1
        for end, union in enumerate(got, start=window - 1):
            parts = [d for d in days[end - window + 1 : end + 1] if d is not None]
            if not parts:
                assert union is None
                continue
            # the same registers, but a union of unions keeps other estimator state (HIP's accumulator), so its
            # estimate may be a percent or so off; a day too many or too few is ~15 % (60 players of ~400)
            expected, value = sketches.estimate(sketches.union(parts, 12)).value, sketches.estimate(union).value
            assert abs(value - expected) <= 0.02 * expected, (window, end, value, expected)


def test_a_rolling_window_in_another_zone_holds_its_zone_days_players():
    events = game(seed=9)
    service = stack(events)
    first, last = zone_range("Asia/Kathmandu")
    first = (date.fromisoformat(first) + timedelta(days=6)).isoformat()  # whole windows of the events' days
    answer = service.series("weekly_active_players", first, last, None, NOW_MS, "Asia/Kathmandu")
    assert answer.note and [p.bucket for p in answer.points] == bk_days(first, last)
    for p in answer.points:
        end = date.fromisoformat(p.bucket)
        window = {(end - timedelta(days=i)).isoformat() for i in range(7)}
        truth = {str(e["player_id"]) for e in events if e["type"] == "session_start"
                 and datetime.fromtimestamp(e["ts"] / 1000, ZoneInfo("Asia/Kathmandu")).date().isoformat() in window}  # fmt: skip
        assert p.low <= len(truth) <= p.high and not p.exact, (p, len(truth))


def test_a_zone_day_half_published_and_half_empty_says_it_comes_from_the_batch_layer_not_exact():
    # Given events up to the end of UTC's 11-01 (published); nothing since
    events = [e for e in game(seed=13) if e["ts"] < ms(date(2026, 11, 2))]
    service = stack(events)
    # When Los Angeles' 11-01 is asked for (07:00Z 11-01 .. 08:00Z 11-02: its end is in UTC's unpublished 11-02)
    [point] = service.series("matches_played", "2026-11-01", None, None, NOW_MS, "America/Los_Angeles").points
    whole = service.distinct("active_players", "2026-11-01", None, None, NOW_MS, "America/Los_Angeles")
    # Then its number is the batch layer's, not exact (the rest of its day may still come), and says so
    assert point.value == recount(events, "match_end", "America/Los_Angeles", False)["2026-11-01"] > 0
    assert (point.source, point.exact) == ("batch", False)
    assert (whole.sources, whole.exact) == (["batch"], False)


def test_a_zone_is_the_reporting_zones_only_where_every_day_the_answer_reads_is():
    service = stack(game(seed=3))
    # London is UTC from 10-25 on: its active players of 10-26 are UTC's, exact
    assert service.series("active_players", "2026-10-26", None, None, NOW_MS, "Europe/London").note is None
    # but its weekly players of 10-26 reach back to 10-20, in summer time: approximate, from the twins
    weekly = service.series("weekly_active_players", "2026-10-26", None, None, NOW_MS, "Europe/London")
    assert weekly.note and not weekly.points[0].exact
    # and so does a ratio built on a window
    assert service.series("stickiness", "2026-10-26", None, None, NOW_MS, "Europe/London").note


def test_hour_twins_answer_only_zones_whose_days_begin_on_the_reporting_zones_hours():
    doc = json.loads((Path(headcount.__file__).parent / "catalog.json").read_text())
    hourly = parse_catalog(doc | {"sub_day": "hour"})
    # Given a deployment reporting in Kolkata (+5:30), its twins in Kolkata's hours (:30 in UTC)
    service = MetricsService(Reads(hourly, InMemoryRealtimeStore(), InMemoryBatchView(), "Asia/Kolkata", max_age_s=0))
    # Then UTC's days, which begin at :00, are refused; Yangon's (+6:30) are answered, from the twins
    with pytest.raises(BadRequest, match="whole hours of Asia/Kolkata"):
        service.series("matches_played", "2026-11-01", None, None, NOW_MS, "UTC")
    assert service.series("matches_played", "2026-11-01", None, None, NOW_MS, "Asia/Yangon").note
    # (and Colombo's, +5:30 as Kolkata, are Kolkata's own)
    assert service.series("matches_played", "2026-11-01", None, None, NOW_MS, "Asia/Colombo").note is None
    # and the twins are no metric of the API's
    with pytest.raises(UnknownMetric):
        service.series("matches_played~hour", "2026-11-01", None, None, NOW_MS)
