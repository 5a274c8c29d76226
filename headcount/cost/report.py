"""`headcount cost`: measure the pipeline at a load for each batching window, and print the bill and the curve."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import replace

from headcount.cost import prices
from headcount.cost.bill import FOLD_LAYER, Bill, Usage, bill, measure_disk, read_lines, usage_between
from headcount.cost.run import LOADS, Load, Measurement, cleanup, measure
from headcount.views.catalog_file import load_catalog


def usage_of(run: Measurement) -> Usage:
    """The run's phases together: units over the time traffic was sent (each phase a third of the day)."""
    lines = read_lines(run.meter_dir)
    windows = [(phase.started, phase.ended) for phase in run.phases]  # each until the fold caught up
    events, seconds = sum(phase.events for phase in run.phases), sum(phase.traffic_s for phase in run.phases)
    if run.nightly:
        published = usage_between(lines, [(run.nightly["started"], run.nightly["ended"])], 0, 0.0)
        run.nightly["wru"] = sum(v for k, v in published.wru.items() if k.startswith("batch/"))
    return usage_between(lines, windows, events, seconds)


def bill_of(run: Measurement, shards: int | str) -> Bill:
    usage = usage_of(run)
    disk = measure_disk(run, int(usage.fold_invocations), int(usage.serve_requests), run.realtime_bytes)
    return bill(run, usage, disk, shards)


def print_bill(b: Bill, say: Callable[[str], None]) -> None:
    load = b.load
    say(
        f"\n{load.name}: {load.events_per_s:,.0f} events/s ({b.events_per_month / 1e6:,.0f} M events a month) from "
        f"{load.daily_players:,} daily players; stream {b.shards if b.shards == 'on-demand' else f'{b.shards} shard(s)'}"
        f", batching window {b.window_s:g} s; game clients send {load.events_per_request} events per request; "
        f"{load.dashboards} dashboards open {load.dashboard_hours:g} h a day"
    )
    say(f"{'layer':<14} {'service':<16} {'what':<42} {'units a month':>16} {'$ a month':>10}")
    for line in b.lines:
        units = (
            f"{line.monthly_units:,.0f} {line.unit}"
            if line.monthly_units >= 10
            else f"{line.monthly_units:.3g} {line.unit}"
        )
        say(f"{line.layer:<14} {line.service:<16} {line.what:<42} {units:>16} {line.dollars:>10,.2f}")
    for layer in dict.fromkeys(line.layer for line in b.lines):
        say(f"{'':<14} {'total ' + layer:<59} {'':>16} {b.total(layer):>10,.2f}")
    say(f"{'':<14} {'total':<59} {'':>16} {b.total():>10,.2f}")
    services: dict[str, float] = {}
    for line in b.lines:
        services[line.service] = services.get(line.service, 0.0) + line.dollars
    say(
        "by service: "
        + ", ".join(f"{name} ${dollars:,.2f}" for name, dollars in sorted(services.items(), key=lambda kv: -kv[1]))
    )
    say(
        f"real-time layer: ${b.total(FOLD_LAYER):,.2f} a month, ${b.per_million_events(FOLD_LAYER):.3f} per million "
        f"events; freshness (arrival in the stream to folded) p50 {b.freshness_p50_s:.1f} s, p95 "
        f"{b.freshness_p95_s:.1f} s; whole stack ${b.per_million_events():.3f} per million events"
    )
    for note in b.notes:
        say(f"note: {note}")
    if b.front_doors:
        ingest = b.front_doors[0].dollars
        say("\nthe ingest's front door, priced from this run (the dashboards' requests are the same in each):")
        say(f"{'':<4}{'front door':<64} {'requests a month':>17} {'$ a month':>10} {'whole stack':>12}")
        for door in b.front_doors:
            say(
                f"{'':<4}{door.name:<64} {door.requests:>17,.0f} {door.dollars:>10,.2f} "
                f"{b.total() - ingest + door.dollars:>12,.2f}"
            )
            say(f"{'':<8}checks: {door.checks}")


def print_curve(bills: list[Bill], say: Callable[[str], None]) -> None:
    say(
        f"\n{'window s':>9} {'real-time $/month':>18} {'fold WRU/month':>15} {'$/M events':>11} {'fresh p50 s':>12} {'p95 s':>7}"
    )
    for b in bills:
        wru = sum(line.monthly_units for line in b.lines if line.what == "real-time table writes (fold)")
        say(
            f"{b.window_s:>9g} {b.total(FOLD_LAYER):>18,.2f} {wru:>15,.0f} {b.per_million_events(FOLD_LAYER):>11.3f} "
            f"{b.freshness_p50_s:>12.1f} {b.freshness_p95_s:>7.1f}"
        )


def run_cost(
    loads: list[Load],
    windows: list[float],
    window: float,
    seconds_per_phase: float,
    shards: int | str | None,
    nightly: bool,
    reproduce: str,
    say: Callable[[str], None] = print,
) -> list[Bill]:
    catalog = load_catalog()
    say(f"reproduce with: {reproduce}")
    say(f"prices: {prices.REGION}, {prices.PRICES_AS_OF} (headcount/cost/prices.py)")
    results: list[Bill] = []
    for load in loads:
        curve: list[Bill] = []
        for w in sorted({*windows, window}):
            run = measure(load, w, seconds_per_phase, catalog, nightly=nightly and w == window, progress=say)
            try:
                b = bill_of(run, shards if shards is not None else load.shards)
            finally:
                cleanup(run)
            curve.append(b)
            if w == window:
                chosen = b
        print_bill(chosen, say)
        say(f"\n{load.name}: the real-time layer against the batching window (the same load, each window measured)")
        print_curve(curve, say)
        results += curve
    return results


def command_line(args: list[str]) -> str:
    return "headcount cost " + " ".join(shlex.quote(a) for a in args)


def pick_loads(name: str, events_per_request: int, dashboards: int) -> list[Load]:
    chosen = list(LOADS.values()) if name == "all" else [LOADS[name]]
    return [replace(load, events_per_request=events_per_request, dashboards=dashboards) for load in chosen]
