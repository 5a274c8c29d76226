"""The time of an erasure batch (headcount/batch/erasure.py) on the demo's 35-day history, and how it grows with the
players erased and the days they played: next to the nightly run of one day on the same lake, in one process.

    make bench-erasure                                    # 35 days, ~700 new a day, 5 cases (~5 min on 2 idle cores)
    .venv/bin/python -m bench.erasure --cases ac          # the 1-day and the most-days player only
    .venv/bin/python -m bench.erasure --stages            # and every message of each batch, timed
    .venv/bin/python -m bench.erasure --tiny              # 3 days of 20 new players, case (d): that it runs (the tests')

The lake is `headcount demo`'s history (`headcount.local.history.game_history` with the demo's 35 days, ~700 new
players a day and seed 7, UTC, as of a fixed night): the raw archive of what arrived before "yesterday", written as
`write_archive` files it, then one nightly run over every history day (the setup: printed, not measured). The players
are real players of that archive, picked from the lake's activity table (`activity/metric=active_players/`):
(a) one player active on 1 day, (b) one active on ~5 days, (c) the one active on the most days, (d) 10 and (e) 100
players spread over the cohorts (every n-th player by first day), one request each. Each case runs on a copy of the
set-up lake (the same state each time): `run_batch` for the last history day (days_back 0) with a forced erasure batch
(`ErasureSetup(force=True)`, the clock the night after the last day), as the nightly job runs it on Glue; its time is
the batch's own (`ErasureResult.seconds`, the nightly run before it excluded). The baseline is the nightly run of the
last day alone (days_back 0, no erasure: the job and its publish), timed around `run_batch` on a copy of the same lake,
before the cases and after them (the first Spark work, the setup, warmed the session); the best of the two is the
ratio's. The stages come from the receipts' step stamps (the clock advances with the wall clock from the fixed night).
Checks (exit 1 otherwise): every receipt done, the events removed = the players' lines in the archive, and the
players' index holds none of them after the batch.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

COMMAND = "make bench-erasure  # = .venv/bin/python -m bench.erasure"
TZ = "UTC"  # the demo's default zone (Settings.tz)
DEMO_SEED = 7  # `headcount demo`'s
NOW = datetime(2026, 10, 8, 12, 0, tzinfo=UTC)  # the history's "now": fixed, so each run is the same lake
NIGHT_HOURS = 3  # the nightly run (and its erasure batch): this long after the last day's night ends
STEPS = ("found", "raw", "lake", "published", "realtime")
CASES = "abcde"
START = re.compile(r"^erasure \S+: \d+ requests, \d+ players$")  # the batch's first message: its start


@dataclass
class Case:
    key: str
    label: str
    players: list[str]
    active_days: int  # the days the players were active on (the activity table), together


@dataclass
class Outcome:
    case: Case
    seconds: float  # ErasureResult.seconds
    nightly_seconds: float  # the nightly run before it, in the same run_batch (job + publish)
    days_touched: int
    objects: int  # raw objects rewritten (or deleted, left empty)
    events: int
    days_recomputed: int
    kpi_days: int
    stages: dict[str, float] = field(default_factory=dict)  # step -> seconds
    recompute_seconds: float = 0.0  # of the lake step: the nightly job's code over the days
    problems: list[str] = field(default_factory=list)


def player_days(lake: Path) -> dict[str, set[str]]:
    """player -> the days of activity/metric=active_players/ (the days the player started a session on)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from headcount.views.lake import activity_uri, data_files, lake_filesystem, partition_uri

    folder = partition_uri(activity_uri(lake), "active_players")
    fs, base = lake_filesystem(folder)
    partitioning = ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive")
    dataset = ds.dataset(
        data_files(folder, ".parquet"),
        filesystem=fs,
        format="parquet",
        partitioning=partitioning,
        partition_base_dir=base,
    )
    table = dataset.to_table(columns=["player_id", "day"])
    days: dict[str, set[str]] = {}
    for player, day in zip(table.column("player_id").to_pylist(), table.column("day").to_pylist(), strict=True):
        days.setdefault(player, set()).add(day)
    return days


def pick_cases(days_of: dict[str, set[str]], keys: str, seed: int) -> list[Case]:
    import random

    players = sorted(days_of)
    most = max(len(d) for d in days_of.values())

    def one(target: int) -> str:
        """A player active on `target` days, or on the nearest number there is (the same whichever cases run)."""
        nearest = min(abs(len(days_of[p]) - target) for p in players)
        return random.Random(f"{seed}:{target}").choice(
            [p for p in players if abs(len(days_of[p]) - target) == nearest]
        )

    def spread(n: int) -> list[str]:
        """Every k-th player by first active day: n players over the cohorts."""
        by_first = sorted(players, key=lambda p: (min(days_of[p]), p))
        n = min(n, len(by_first))
        return [by_first[i * len(by_first) // n] for i in range(n)]

    chosen = {
        "a": ("1 player, 1 day", lambda: [one(1)]),
        "b": ("1 player, ~5 days", lambda: [one(5)]),
        "c": ("1 player, most days", lambda: [one(most)]),
        "d": ("10 players", lambda: spread(10)),
        "e": ("100 players", lambda: spread(100)),
    }
    cases = []
    for key in keys:
        label, pick = chosen[key]
        ids = pick()
        cases.append(Case(key, label, ids, len(set().union(*(days_of[p] for p in ids)))))
    return cases


def archived_lines(records: list[tuple[bytes, int]], ids: set[str]) -> dict[str, int]:
    """player -> the archive's lines naming the player (the lines an erasure must remove), for these players."""
    from headcount.core.erasure import line_player_ids

    found: dict[str, int] = {}
    for data, _arrival in records:
        for line in data.split(b"\n"):
            if b"player_id" in line or b"\\" in line:
                named = [p for p in line_player_ids(line) if p in ids]
                if named:
                    found[named[0]] = found.get(named[0], 0) + 1
    return found


def copy_lake(source: Path, target: Path) -> Path:
    """The lake as it is, file times kept (a raw object's time is its arrival's bound)."""
    shutil.copytree(source, target, copy_function=shutil.copy2)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=35, help="history days (the demo's: 35)")
    parser.add_argument("--new-per-day", type=int, default=700, help="players joining each day (the demo's: 700)")
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help="the game's seed (the demo's: 7)")
    parser.add_argument("--cases", default=CASES, help=f"which cases, of {CASES} (default all)")
    parser.add_argument("--stages", action="store_true", help="print every message of each batch, timed")
    parser.add_argument(
        "--tiny", action="store_true", help="--days 3 --new-per-day 20 --cases d, no second baseline: that it runs"
    )
    args = parser.parse_args()
    if args.tiny:
        args.days, args.new_per_day, args.cases = 3, 20, "d"
    if not args.cases or set(args.cases) - set(CASES):
        parser.error(f"--cases: letters of {CASES}")
    print(
        f"reproduce with: {COMMAND} --days {args.days} --new-per-day {args.new_per_day} --seed {args.seed} "
        f"--cases {args.cases}",
        flush=True,
    )

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from headcount.batch.session import local_spark
    from headcount.core.buckets import day_bounds_ms
    from headcount.core.erasure import ARCHIVE_SETTLE_MS
    from headcount.local.batch import run_batch
    from headcount.local.history import game_history, write_archive
    from headcount.views.batch import InMemoryBatchView
    from headcount.views.catalog_file import load_catalog

    catalog = load_catalog()
    work = Path(tempfile.mkdtemp(prefix="headcount-erasure-"))
    try:
        started = time.monotonic()
        history = game_history(catalog, TZ, int(NOW.timestamp() * 1000), args.days, args.new_per_day, args.seed)
        days = history.days
        last = date.fromisoformat(days[-1])
        records = history.archived()
        setup_lake = work / "setup"
        files = write_archive(setup_lake, records)
        size = sum(f.stat().st_size for f in (setup_lake / "raw").rglob("*.gz"))
        print(
            f"history: {len(records):,} records over {len(days)} days {days[0]} .. {days[-1]} ({TZ}), {len(files):,} "
            f"hourly raw objects, {size / 2**20:,.1f} MiB of gzip; made in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        night_ms = day_bounds_ms(last, TZ)[1] + NIGHT_HOURS * 3_600_000  # the night after the last day
        requested_ms = night_ms - ARCHIVE_SETTLE_MS - 3_600_000  # an hour before the batch may take it

        spark = local_spark()
        try:
            started = time.monotonic()
            view = InMemoryBatchView()
            setup = run_batch(setup_lake, last, TZ, "history", batch_view=view, spark=spark, days_back=len(days) - 1)
            lake_size = sum(f.stat().st_size for f in setup_lake.rglob("*") if f.is_file())
            print(
                f"setup (not measured): the nightly run over the {len(setup.job.days)} days in "
                f"{time.monotonic() - started:.1f} s (Spark warmed up); lake {lake_size / 2**20:,.1f} MiB",
                flush=True,
            )
            days_of = player_days(setup_lake)
            cases = pick_cases(days_of, args.cases, args.seed)
            lines = archived_lines(records, {p for c in cases for p in c.players})
            print(
                f"players: {len(days_of):,} active in the history; picked from activity/metric=active_players/",
                flush=True,
            )

            def baseline(n: int) -> float:
                lake = copy_lake(setup_lake, work / f"baseline-{n}")
                started = time.monotonic()
                run_batch(lake, last, TZ, f"baseline-{n}", batch_view=copy.deepcopy(view), spark=spark, days_back=0)
                seconds = time.monotonic() - started
                shutil.rmtree(lake, ignore_errors=True)
                return seconds

            baselines = [baseline(1)]
            print(f"baseline: the nightly run of {last} alone (days_back 0, job + publish): {baselines[0]:.1f} s")

            outcomes = []
            for case in cases:
                outcome = run_case(
                    case, setup_lake, work, view, spark, last, night_ms, requested_ms, lines, args.stages
                )
                outcomes.append(outcome)
                print(
                    f"({case.key}) {case.label}: {outcome.seconds:.1f} s, {outcome.days_recomputed} days recomputed"
                    + (f"; PROBLEM: {'; '.join(outcome.problems)}" if outcome.problems else ""),
                    flush=True,
                )
            if not args.tiny:
                baselines.append(baseline(2))
        finally:
            spark.stop()
        best = min(baselines)
        print(
            f"baseline: the nightly run of one day ({last}, days_back 0, job + publish): {best:.1f} s "
            f"(best of {', '.join(f'{s:.1f}' for s in baselines)} s: before the cases{', after them' * (len(baselines) > 1)})"
        )
        print_tables(outcomes, best)
        problems = [f"({o.case.key}) {p}" for o in outcomes for p in o.problems]
        print(f"checks: {'all passed' if not problems else 'FAILED: ' + '; '.join(problems)}")
        if problems:
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_case(
    case: Case,
    setup_lake: Path,
    work: Path,
    view: object,
    spark: object,
    last: date,
    night_ms: int,
    requested_ms: int,
    lines: dict[str, int],
    stages: bool,
) -> Outcome:
    """One erasure batch, on a copy of the set-up lake: each player's request, then the night's run_batch with a
    forced batch."""
    from headcount.batch.erasure import _indexed_hours
    from headcount.core.erasure import State
    from headcount.local.batch import ErasureSetup, run_batch
    from headcount.logic.erasure import request_erasure
    from headcount.views.erasure_store import MemoryErasureStore
    from headcount.views.realtime import InMemoryRealtimeStore

    lake = copy_lake(setup_lake, work / f"case-{case.key}")
    store = MemoryErasureStore()
    receipts = [request_erasure(store, [player], requested_ms) for player in case.players]
    t0 = time.monotonic()

    def clock() -> int:  # the fixed night, advancing with the wall clock (the receipts' step stamps)
        return night_ms + int((time.monotonic() - t0) * 1000)

    messages: list[tuple[int, str]] = []

    def say(message: str) -> None:
        messages.append((clock(), message))
        if stages:
            print(f"    {time.monotonic() - t0:6.1f} s  {message[:110]}", flush=True)

    setup = ErasureSetup(store, InMemoryRealtimeStore(), force=True, clock=clock)
    summary = run_batch(
        lake,
        last,
        TZ,
        f"erase-{case.key}",
        batch_view=copy.deepcopy(view),  # type: ignore[arg-type]
        spark=spark,  # type: ignore[arg-type]
        days_back=0,
        progress=say,
        erasure=setup,
    )
    result = summary.erasure
    problems = []
    if result is None:
        shutil.rmtree(lake, ignore_errors=True)
        return Outcome(case, 0.0, 0.0, 0, 0, 0, 0, 0, problems=["no erasure batch ran"])
    done = [store.receipt(r.id) for r in receipts]
    if any(r is None or r.state is not State.DONE for r in done):
        problems.append("a receipt is not done")
    expected = sum(lines.get(p, 0) for p in case.players)
    if result.events != expected:
        problems.append(f"{result.events} events removed, the archive held {expected} lines of the players")
    left = _indexed_hours(str(lake), frozenset(case.players))
    if left:
        problems.append(f"the players' index still names {len(left)} archive hours")
    touched: set[str] = set()
    for receipt in done:
        if receipt is not None:
            touched |= {*receipt.removed.get("days_recomputed", []), *receipt.removed.get("realtime_days_left", [])}
    job = result.job
    outcome = Outcome(
        case,
        result.seconds,
        summary.job.seconds + summary.publish_seconds,
        len(touched),
        result.objects_rewritten + result.objects_deleted,
        result.events,
        len(job.days) if job else 0,
        sum(len(d) for d in job.kpi_days.values()) if job else 0,
        recompute_seconds=job.seconds if job else 0.0,
        problems=problems,
    )
    stamped = done[0]
    start = next((at for at, message in messages if START.match(message)), None)
    if stamped is not None and start is not None:
        previous = start
        for step in STEPS:
            at = stamped.steps.get(step)
            if at is not None:
                outcome.stages[step] = (at - previous) / 1000
                previous = at
    shutil.rmtree(lake, ignore_errors=True)
    return outcome


def print_tables(outcomes: list[Outcome], baseline: float) -> None:
    print()
    print(
        f"{'case':<26} {'players':>7} {'active':>6} {'days':>6} {'raw':>7} {'events':>7} {'days':>6} {'KPI':>6} "
        f"{'erasure':>8} {'x one':>6}"
    )
    print(
        f"{'':<26} {'':>7} {'days':>6} {'touchd':>6} {'objects':>7} {'removed':>7} {'recomp':>6} {'days':>6} "
        f"{'s':>8} {'night':>6}"
    )
    for o in outcomes:
        print(
            f"({o.case.key}) {o.case.label:<22} {len(o.case.players):>7,} {o.case.active_days:>6,} "
            f"{o.days_touched:>6,} {o.objects:>7,} {o.events:>7,} {o.days_recomputed:>6,} {o.kpi_days:>6,} "
            f"{o.seconds:>8.1f} {o.seconds / baseline:>5.1f}x"
        )
    print()
    print("where the batch's time goes (s, from the receipts' step stamps; lake = the recompute + the players tables):")
    print(
        f"{'case':<26} {'found':>7} {'raw':>7} {'lake':>7} {'(recomp)':>8} {'publish':>7} {'realtm':>7} "
        f"{'total':>7} {'night':>7}"
    )
    for o in outcomes:
        cells = [f"{o.stages[s]:>7.1f}" if s in o.stages else f"{'-':>7}" for s in STEPS]
        print(
            f"({o.case.key}) {o.case.label:<22} {cells[0]} {cells[1]} {cells[2]} {o.recompute_seconds:>8.1f} "
            f"{cells[3]} {cells[4]} {o.seconds:>7.1f} {o.nightly_seconds:>7.1f}"
        )
    print("(night: the nightly run of the same run_batch before its batch, job + publish; x one night: / the baseline)")


if __name__ == "__main__":
    main()
