"""What the game KPIs add to the fold: write units per 1,000 events and the fold's time, with and without them, in the
same run.

The real fold (`headcount.logic.folding.fold_batch`, in-memory view, the write units DynamoDB would bill) is driven
through one shard's day at a studio's load: requests of 10 events of one player (a session_start in 87 % of them, as
the simulator's mix), `--events-per-s` events a second from `--players` players a day, a batch per batching window.
Only new_players adds items to the fold (a Theta sketch of the day's players per shard, with its recent ids): the
rolling windows, stickiness and retention are computed from sketches at read time. Prints the WRU per 1,000 events,
the added monthly cost at the dated price table's DynamoDB write price, and the fold's time as a ratio.

    make bench-kpi-fold                                   # a whole day: 100 events/s, 500,000 players (~10 min)
    .venv/bin/python -m bench.kpi_fold --hours 2          # the first two hours only (a few minutes)
    .venv/bin/python -m bench.kpi_fold --tiny             # 6 minutes of the day, 5,000 players: that it runs
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import headcount
from headcount.core.catalog import Catalog, Kind, parse_catalog
from headcount.core.deltas import Record
from headcount.cost.prices import DYNAMODB_WRITE_UNITS_PER_MILLION
from headcount.logic.folding import ShardMarks, fold_batch
from headcount.views.realtime import InMemoryRealtimeStore

COMMAND = "make bench-kpi-fold  # = .venv/bin/python -m bench.kpi_fold"
START_MS = 1_796_083_200_000  # 2026-12-01T00:00:00Z: the day the batches' records arrive on
SECONDS_PER_MONTH = 30 * 86_400


@dataclass
class Pass:
    events: int = 0
    write_units: int = 0
    seconds: float = 0.0
    items_written: int = 0


def day_batches(hours: float, window_s: float, events_per_s: float, players: int, seed: int) -> list[list[Record]]:
    """The shard's batches: a record per request of 10 events of one player."""
    rng = random.Random(seed)
    requests_per_window = events_per_s / 10 * window_s
    new_share = players / (events_per_s / 10 * 86_400)
    seen, seq, batches = 0, 0, []
    for b in range(int(hours * 3600 / window_s)):
        at = START_MS + int(b * window_s * 1000)
        n = int(requests_per_window) + (rng.random() < requests_per_window % 1)
        records = []
        for _ in range(n):
            if seen == 0 or rng.random() < new_share:
                player, seen = seen, seen + 1
            else:
                player = rng.randrange(seen)
            pid = f"p-{player:09d}"
            types = ["match_end"] * 5 + ["ad_impression"] * 4
            types.insert(0, "session_start" if rng.random() < 0.87 else "match_end")
            lines = [
                json.dumps({"type": t, "player_id": pid, "ts": at - 500, "attrs": {"country": "DE"}}) for t in types
            ]
            seq += 1
            records.append(Record(("\n".join(lines) + "\n").encode(), seq, at))
        batches.append(records)
    return batches


def run(batches: list[list[Record]], catalog: Catalog, keep_store: bool = False):  # noqa: ANN201 - Pass, or with the store
    """The fold of the batches; `keep_store`: (the Pass, the store the day left)."""
    store, marks, result = InMemoryRealtimeStore(), ShardMarks(), Pass()
    started = time.perf_counter()
    for records in batches:
        report = fold_batch(
            records,
            "shardId-0",
            store,
            catalog,
            "UTC",
            35,
            now_ms=records[-1].arrival_ms if records else None,
            marks=marks,
        )
        assert report.first_failed_sequence_number is None
        result.events += report.valid
        result.write_units += report.write_units
        result.items_written += report.items_written
    result.seconds = time.perf_counter() - started
    return (result, store) if keep_store else result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=24.0, help="hours of the day to fold (default 24)")
    parser.add_argument("--window-s", type=float, default=2.0, help="the batching window (default 2, the AWS default)")
    parser.add_argument("--events-per-s", type=float, default=100.0)
    parser.add_argument("--players", type=int, default=500_000, help="daily players of the shard")
    parser.add_argument("--tiny", action="store_true", help="--hours 0.1 --players 5000: that it runs (the tests')")
    args = parser.parse_args()
    if args.tiny:
        args.hours, args.players = 0.1, 5_000
    print(
        f"reproduce with: {COMMAND} --hours {args.hours:g} --window-s {args.window_s:g} "
        f"--events-per-s {args.events_per_s:g} --players {args.players}"
    )
    # without the sub-day twins (bench/zones.py measures them): what the KPIs add, as before them
    full = parse_catalog(
        json.loads((Path(headcount.__file__).parent / "catalog.json").read_text()) | {"sub_day": "off"}
    )
    before = Catalog(tuple(m for m in full.metrics if m.kind.counted))  # the catalog before the KPIs
    batches = day_batches(args.hours, args.window_s, args.events_per_s, args.players, seed=1)
    print(f"{len(batches):,} batches of {args.window_s:g} s, {sum(map(len, batches)):,} records")
    results = {"without the KPIs": run(batches, before), "with the KPIs": run(batches, full)}
    print(f"\n{'catalog':<18} {'events':>11} {'WRU':>10} {'WRU/1k ev':>10} {'items':>9} {'fold s':>7}")
    for name, r in results.items():
        print(
            f"{name:<18} {r.events:>11,} {r.write_units:>10,} {1000 * r.write_units / r.events:>10.2f} "
            f"{r.items_written:>9,} {r.seconds:>7.1f}"
        )
    a, b = results["without the KPIs"], results["with the KPIs"]
    added = b.write_units - a.write_units
    per_month = added / (args.hours * 3600) * SECONDS_PER_MONTH
    print(
        f"\nadded: {1000 * added / b.events:.2f} WRU per 1,000 events (+{100 * added / a.write_units:.0f} %), "
        f"{per_month / 1e6:.2f} M WRU a month = ${per_month / 1e6 * DYNAMODB_WRITE_UNITS_PER_MILLION:.2f}/month at "
        f"${DYNAMODB_WRITE_UNITS_PER_MILLION}/M WRU; the fold's time x{b.seconds / a.seconds:.2f}"
    )
    news = [m.name for m in full.metrics if m.kind is Kind.NEW]
    print(f"(the KPI items the fold writes: {', '.join(news)}; the rest is computed at read time)")


if __name__ == "__main__":
    main()
