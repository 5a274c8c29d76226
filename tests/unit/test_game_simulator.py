"""The multi-day game simulator and the DuckDB recount of the game KPIs, checked against each other without Spark.

The nightly job's KPI exactness test (tests/spark/test_kpi_exactness.py) trusts both: the simulator's truth is plain
Python sets, the recount is SQL over the archived bytes. Here they must agree run after run on a small game archived
as production archives it (by arrival, growing between runs), late sessions and a cohort that changes included, so
that a disagreement with the job later points at the job.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headcount.core.buckets import day_bounds_ms
from headcount.core.events import Rejection, parse_event
from headcount.local.simulator import DAY_MS, ON_TIME_MS, Game, simulate, simulate_game
from headcount.views.catalog_file import load_catalog
from support.kpi_sql import KpiRecount, Run, archive_files, days_of_run, nightly_run_ms
from support.raw_lake import write_raw

TZ = "Europe/Berlin"
FIRST = date(2026, 9, 24)
DAYS = 36  # to 2026-10-29: across the autumn DST change (2026-10-25 has 25 hours in Berlin)
FIRST_RUN = FIRST + timedelta(days=31)  # the first run computes 32 days: a cohort's D+30 included
NIGHTLY = [FIRST + timedelta(days=i) for i in range(32, DAYS)]
PLANTED_DAY = FIRST + timedelta(days=32)  # the planted player's first (offline) day
CATALOG = load_catalog()


def ms(day: date, hour: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


def planted_game() -> Game:
    """A small game, plus a player whose first session (PLANTED_DAY, offline) arrives after the run for the next day,
    which counted them new on that next day: the run after moves their first day back and changes two cohorts."""
    game = simulate_game(CATALOG, TZ, FIRST, DAYS, new_per_day=30, seed=21, late_share=0.05)
    next_day = PLANTED_DAY + timedelta(days=1)
    session = {"type": "session_start", "player_id": "planted-1", "attrs": {"country": "DE", "platform": "pc"}}
    game.play({**session, "event_id": "planted-a", "ts": ms(PLANTED_DAY, 21)}, ms(PLANTED_DAY + timedelta(days=2), 12))
    game.play({**session, "event_id": "planted-b", "ts": ms(next_day, 20)}, ms(next_day, 20) + 30_000)
    return game


@pytest.fixture(scope="module")
def game() -> Game:
    return planted_game()


def row_day(bucket: str) -> str:
    """The day whose computation gives a row: its bucket's day, or for retention `C+k` the day C+k."""
    if "+" not in bucket:
        return bucket
    cohort, k = bucket.split("+")
    return (date.fromisoformat(cohort) + timedelta(days=int(k))).isoformat()


# ------------------------------------------------------------------------------------------------ the simulator


def test_players_come_back_along_the_documented_curve() -> None:
    # Given a game big enough for the averages (no late sessions: every day as played)
    big = simulate_game(CATALOG, TZ, FIRST, 32, new_per_day=150, seed=4, late_share=0)
    truth = big.truth()
    # Then every player is new exactly once, on the day they joined
    assert sum(v for (m, _b, g), v in truth.kpis.items() if m == "new_players" and g == "") == len(big.joined)
    assert Counter(big.joined.values()) == {d: truth.kpis[("new_players", d, "")] for d in big.days}
    # and cohorts come back as documented: 30 % on D+1, 12 % on D+7, 6 % on D+30
    for k, expected, tolerance in ((1, 0.30, 0.025), (7, 0.12, 0.02), (30, 0.06, 0.03)):
        cells = [
            (b.split("+")[0], v) for (m, b, _g), v in truth.kpis.items() if m == "retention" and b.endswith(f"+{k}")
        ]
        rate = sum(v for _c, v in cells) / sum(truth.kpis[("new_players", c, "")] for c, _v in cells)
        assert abs(rate - expected) < tolerance, (k, rate)
    # and most play in the evening (local time)
    hours = Counter(
        datetime.fromtimestamp(p.event["ts"] / 1000, ZoneInfo(TZ)).hour
        for p in big.events
        if p.event["type"] == "session_start"
    )
    assert sum(hours[h] for h in range(18, 23)) > 2 * sum(hours[h] for h in range(3, 8))


def test_every_record_carries_its_arrival_and_the_mishaps_are_there(game: Game) -> None:
    assert game.late and game.duplicates and game.malformed
    assert [r.arrival_ms for r in game.records] == sorted(r.arrival_ms for r in game.records)
    # A valid event arrives within 2 minutes of its ts, or 1 to 2 days after (a session played offline)
    delays = [p.arrival_ms - p.event["ts"] for p in game.events]
    assert all(0 <= d <= ON_TIME_MS or DAY_MS <= d <= 2 * DAY_MS for d in delays)
    assert sum(d >= DAY_MS for d in delays) > game.late  # every event of a late session
    # The validator keeps every event and every re-sent copy, and rejects every junk record, for several reasons
    verdicts = [parse_event(r.data, r.arrival_ms - r.arrival_ms % 3_600_000, r.arrival_ms) for r in game.records]
    rejected = Counter(v.reason.value for v in verdicts if isinstance(v, Rejection))
    assert sum(rejected.values()) == game.malformed and len(rejected) >= 5
    assert len(verdicts) - game.malformed == len(game.events) + game.duplicates
    ids = Counter(
        json.loads(r.data)["event_id"]
        for r, v in zip(game.records, verdicts, strict=True)
        if not isinstance(v, Rejection)
    )
    assert sum(n - 1 for n in ids.values()) == game.duplicates and len(ids) == len(game.events)


def test_a_seed_gives_the_same_game() -> None:
    a = simulate_game(CATALOG, "UTC", FIRST, 3, new_per_day=20, seed=5)
    b = simulate_game(CATALOG, "UTC", FIRST, 3, new_per_day=20, seed=5)
    assert a.records == b.records and a.truth() == b.truth()
    assert simulate_game(CATALOG, "UTC", FIRST, 3, new_per_day=20, seed=6).records != a.records


def test_the_short_simulation_keeps_its_truth() -> None:
    start, end = day_bounds_ms(FIRST, "UTC")
    sim = simulate(CATALOG, "UTC", start, end, 500, seed=2)
    assert sim.valid == 500
    assert set(sim.truth.deduplicated) == {m.name for m in CATALOG.metrics if m.kind.counted}


# --------------------------------------------------------------------------------------- the recount, run by run


def test_the_recount_equals_the_truth_after_every_nightly_run(game: Game, tmp_path: Path) -> None:
    # Given the archive growing between runs (each run sees what had arrived when it started): one run computing the
    # first 32 days, then a nightly run a day, each recomputing the 2 days before
    recount = KpiRecount(CATALOG, TZ)
    last_run: dict[str, int] = {}
    new_players: list[dict[str, int]] = []
    since = 0
    for i, (day, back) in enumerate([(FIRST_RUN, 31), *((d, 2) for d in NIGHTLY)]):
        at = nightly_run_ms(day, TZ)
        write_raw(tmp_path, game.arrived(since, at), name=f"arrived-{i}")
        since = at
        files = archive_files(tmp_path)
        days = days_of_run(day, back, files)
        assert days == tuple((day - timedelta(days=n)).isoformat() for n in range(back, -1, -1))
        # When the run happens
        recount.add_run(Run(days, files))
        last_run |= dict.fromkeys(days, at)
        # Then every row the batch layer holds equals the truth of what had arrived when each day was last computed
        truth = game.truth(known_by=lambda d, known=dict(last_run): known.get(d, 0))
        rows = recount.rows()
        assert rows == {key: v for key, v in truth.kpis.items() if row_day(key[1]) in last_run}
        assert recount.ratios() == {key: v for key, v in truth.ratios.items() if key[1] in last_run}
        new_players.append({b: v for (m, b, g), v in rows.items() if m == "new_players" and g == ""})

    # The planted player was new on the day after PLANTED_DAY until the run after that moved them back a day
    after, planted = (PLANTED_DAY + timedelta(days=1)).isoformat(), PLANTED_DAY.isoformat()
    i = 1 + NIGHTLY.index(PLANTED_DAY + timedelta(days=1))
    assert new_players[i + 1][after] < new_players[i][after]
    assert new_players[i + 1][planted] > new_players[i][planted]
    # And what the batch layer knows is not the whole truth: sessions of the last days arrived after the last run
    assert game.truth().kpis != game.truth(known_by=lambda d: last_run[d]).kpis


def test_one_run_after_everything_arrived_sees_the_whole_truth(game: Game, tmp_path: Path) -> None:
    write_raw(tmp_path, game.arrived(0, 2**62), name="everything")
    recount = KpiRecount(CATALOG, TZ)
    files = archive_files(tmp_path)
    recount.add_run(Run(days_of_run(FIRST + timedelta(days=DAYS - 1), DAYS - 1, files), files))
    truth = game.truth()
    assert recount.rows() == truth.kpis
    assert recount.ratios() == truth.ratios
