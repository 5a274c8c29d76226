"""What a day sketch's writes cost, measured before choosing how to store it: `make bench-sketch-writes`
(`.venv/bin/python -m bench.sketch_writes`; `--tiny`: small sizes, that it runs).

1. Serialized sizes of HLL_4, HLL_8 and CPC sketches at lg_k 12, 13 and 14 as the day's players grow, with DynamoDB's
   write units per item write (a unit per started KiB; ~120 bytes of key and attributes besides the sketch) and each
   sketch's relative standard error.
2. One shard's `active_players` item (lg_k 14) through a whole day at the reference load (100 events/s in requests of
   10 events of one player, 500,000 daily players arriving evenly), in an idealized model of the fold: the whole sketch
   rewritten by every batch that changes it (HEADCOUNT_RECENT_IDS_BYTES=0), against the recent ids the fold writes by
   default (a small item holding the ids that grew a register since the sketch was last written whole, the sketch
   written again only when they pass 768 bytes). The same simulated day for each batching window. `headcount cost`
   measures the real fold, both ways, on the local stack.
"""

from __future__ import annotations

import argparse
import math
import random
import time

from datasketches import cpc_sketch, hll_sketch, tgt_hll_type

ITEM_OVERHEAD_BYTES = 120  # pk, sk, seq, expires_at and the copies of the key: what an item holds besides the sketch
COMMAND = "make bench-sketch-writes  # = .venv/bin/python -m bench.sketch_writes"


def units(sketch_bytes: int) -> int:
    return max(1, math.ceil((sketch_bytes + ITEM_OVERHEAD_BYTES) / 1024))


def sizes(players: list[int]) -> None:
    print(
        f"{'lg_k':>4} {'players':>10} {'HLL_4 B':>8} {'WRU':>4} {'HLL_8 B':>8} {'WRU':>4} {'CPC B':>7} {'WRU':>4}  RSE HLL / CPC"
    )
    for lg_k in (12, 13, 14):
        for n in players:
            hll4, hll8, cpc = (
                hll_sketch(lg_k, tgt_hll_type.HLL_4),
                hll_sketch(lg_k, tgt_hll_type.HLL_8),
                cpc_sketch(lg_k),
            )
            for i in range(n):
                value = f"p-{i:09d}"
                hll4.update(value)
                hll8.update(value)
                cpc.update(value)
            b4, b8, bc = len(hll4.serialize_compact()), len(hll8.serialize_compact()), len(cpc.serialize())
            rse_hll = abs(hll_sketch.get_rel_err(True, True, lg_k, 1))
            rse_cpc = 0.693 / math.sqrt(2**lg_k)  # CPC's HIP error (the library's documentation)
            print(
                f"{lg_k:>4} {n:>10,} {b4:>8,} {units(b4):>4} {b8:>8,} {units(b8):>4} {bc:>7,} {units(bc):>4}  "
                f"{rse_hll:.2%} / {rse_cpc:.2%}"
            )


def day(window_s: float, players: int, events_per_s: float, recent_limit: int, seed: int) -> tuple[int, int, int]:
    """(batches that changed the sketch, write units as built, write units with recent ids) over one day."""
    rng = random.Random(seed)
    requests_per_s = events_per_s / 10
    new_share = players / (requests_per_s * 86_400)
    view = hll_sketch(14, tgt_hll_type.HLL_4)  # built by updates only: its estimate moves with every register change
    seen = changed_batches = as_built = with_recent = 0
    recent_bytes = 0
    for _ in range(int(86_400 / window_s)):
        expected = requests_per_s * window_s
        n = int(expected) + (rng.random() < expected - int(expected))
        changed = 0
        for _ in range(n):
            if seen == 0 or rng.random() < new_share:
                player, seen = seen, seen + 1
            else:
                player = rng.randrange(seen)
            if rng.random() < 0.87:  # a request of 10 events holds a session_start 87 % of the time (6 in 29 events)
                before = view.get_estimate()
                view.update(f"p-{player:09d}")
                changed += view.get_estimate() != before
        if not changed:
            continue
        changed_batches += 1
        as_built += units(len(view.serialize_compact()))
        recent_bytes += changed * 12  # an id, in a string set
        if recent_bytes > recent_limit:  # the whole sketch instead; the next ids replace the ones it took in
            with_recent += units(len(view.serialize_compact()))
            recent_bytes = 0
        else:
            with_recent += units(recent_bytes)
    return changed_batches, as_built, with_recent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", default="1,2,5,10", help="batching windows in seconds (default 1,2,5,10)")
    parser.add_argument("--players", type=int, default=500_000, help="daily players of the shard (default 500,000)")
    parser.add_argument("--events-per-s", type=float, default=100.0, help="the shard's events/s (default 100)")
    parser.add_argument(
        "--sizes", default="1000,10000,100000,1000000", help="players of the sketches whose size part 1 measures"
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="that it runs (the tests'): --windows 10 --players 5000 --events-per-s 2 --sizes 1000,10000",
    )
    args = parser.parse_args()
    if args.tiny:
        args.windows, args.players, args.events_per_s, args.sizes = "10", 5_000, 2.0, "1000,10000"
    print(
        f"reproduce with: {COMMAND} --windows {args.windows} --players {args.players} --events-per-s {args.events_per_s:g}"
        f" --sizes {args.sizes}"
    )
    started = time.perf_counter()
    sizes([int(n) for n in args.sizes.split(",")])
    print(
        f"\nactive_players (lg_k 14) of one shard through a day: {args.players:,} players, {args.events_per_s:g} events/s"
    )
    print(f"{'window s':>8} {'batches':>8} {'changed':>8} {'WRU whole':>13} {'WRU recent ids':>15} {'ratio':>6}")
    for window in (float(w) for w in args.windows.split(",")):
        changed, as_built, recent = day(window, args.players, args.events_per_s, 768, seed=1)
        print(
            f"{window:>8g} {int(86_400 / window):>8,} {changed:>8,} {as_built:>13,} {recent:>15,} {recent / as_built:>6.2f}"
        )
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
