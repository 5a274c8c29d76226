"""How exact the real-time KPIs are, by cohort size: the measured error of retention (a cohort's Theta sketch
intersected with today's players) at D+1 (30 % back) and D+30 (5 % back), and of new players (today's players minus
everyone seen before), over seeded trials, next to the library's 95 % bounds.

The Theta sketches are lg_k 12 (the catalog's new_players), built as both layers build them. A set operation keeps
only the hashes below the smaller theta of its inputs, so its error grows with the larger input over the result:
a small cohort against a big day, or a few new players against a long history.

    make bench-kpi-accuracy                                 # = .venv/bin/python -m bench.kpi_accuracy: a few minutes
    .venv/bin/python -m bench.kpi_accuracy --trials 20      # quicker, rougher
    .venv/bin/python -m bench.kpi_accuracy --tiny           # every size / 10, 2 trials: that it runs (the tests')
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from headcount.core import kpis, sketches

COMMAND = "make bench-kpi-accuracy  # = .venv/bin/python -m bench.kpi_accuracy"


def ids(rng: random.Random, n: int) -> list[str]:
    return list(dict.fromkeys(f"p-{rng.getrandbits(48):012x}" for _ in range(n)))


def retention_row(
    cohort_size: int, day_players: int, rate: float, trials: int, lg_k: int
) -> tuple[float, float, float]:
    """(RMS relative error, mean half-width of the 95 % bounds relative to the truth, coverage)."""
    errors, widths, held = [], [], 0
    for seed in range(trials):
        rng = random.Random(seed)
        cohort = ids(rng, cohort_size)
        back = [p for p in cohort if rng.random() < rate]
        day = back + ids(rng, max(0, day_players - len(back)))
        estimate = kpis.returned(
            sketches.theta_decode(sketches.theta_of_values(cohort, lg_k)), [sketches.theta_of_values(day, lg_k)], lg_k
        )
        truth = len(back)
        errors.append((estimate.value - truth) / truth)
        widths.append((estimate.high - estimate.low) / 2 / truth)
        held += estimate.low <= truth <= estimate.high
    return (statistics.fmean(e * e for e in errors) ** 0.5, statistics.fmean(widths), held / trials)


def new_row(new: int, day_players: int, seen: int, trials: int, lg_k: int) -> tuple[float, float, float]:
    errors, widths, held = [], [], 0
    for seed in range(trials):
        rng = random.Random(seed)
        before = ids(rng, seen)
        fresh = ids(rng, new)
        day = fresh + rng.sample(before, min(seen, day_players - new))
        estimate = kpis.new_players(
            [sketches.theta_of_values(day, lg_k)], [sketches.theta_of_values(before, lg_k)], lg_k
        )
        errors.append((estimate.value - new) / new)
        widths.append((estimate.high - estimate.low) / 2 / new)
        held += estimate.low <= new <= estimate.high
    return (statistics.fmean(e * e for e in errors) ** 0.5, statistics.fmean(widths), held / trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--lg-k", type=int, default=12)
    parser.add_argument("--scale", type=float, default=1.0, help="every cohort, day and history size times this")
    parser.add_argument("--tiny", action="store_true", help="--trials 2 --scale 0.1: that it runs (the tests')")
    args = parser.parse_args()
    if args.tiny:
        args.trials, args.scale = 2, 0.1
    print(f"reproduce with: {COMMAND} --trials {args.trials} --lg-k {args.lg_k} --scale {args.scale:g}")

    def scaled(n: int) -> int:
        return max(100, int(n * args.scale))

    started = time.perf_counter()
    print(f"\nretention in real time (Theta lg_k {args.lg_k}): a cohort against a day of 10x its size")
    print(
        f"{'cohort':>8} {'day':>9} {'back':>5} {'returned':>9} {'RMS error':>10} {'95% half-width':>15} {'coverage':>9}"
    )
    for cohort in map(scaled, (1_000, 10_000, 100_000)):
        for rate in (0.30, 0.05):
            error, width, coverage = retention_row(cohort, 10 * cohort, rate, args.trials, args.lg_k)
            print(
                f"{cohort:>8,} {10 * cohort:>9,} {rate:>5.0%} {int(rate * cohort):>9,} {error:>10.1%} "
                f"{width:>15.1%} {coverage:>9.0%}"
            )
    print("\nnew players in real time: today's players minus everyone seen before (new = 10 % of the day)")
    print(f"{'new':>8} {'day':>9} {'seen before':>12} {'RMS error':>10} {'95% half-width':>15} {'coverage':>9}")
    for day, seen in (
        (scaled(a), scaled(b)) for a, b in ((10_000, 100_000), (10_000, 1_000_000), (100_000, 1_000_000))
    ):
        error, width, coverage = new_row(day // 10, day, seen, max(min(10, args.trials), args.trials // 3), args.lg_k)
        print(f"{day // 10:>8,} {day:>9,} {seen:>12,} {error:>10.1%} {width:>15.1%} {coverage:>9.0%}")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
