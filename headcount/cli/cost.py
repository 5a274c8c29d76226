"""`headcount cost`: what the pipeline costs on AWS at a studio's load, measured on the local stack."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from headcount.local.config import LocalConfig


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    cost = subparsers.add_parser(
        "cost",
        help="measure what the pipeline spends at a load (local stack, metered) and print the monthly AWS bill",
        description="For each batching window: starts a one-shard local stack (ports 61566, 61567, 61080), fills the "
        "shard's day sketches to the load's cardinality at three moments of the day, sends events through POST "
        "/v1/events at the shard's rate while dashboards poll the API, and meters every DynamoDB and Kinesis call and "
        "every invocation. Prints the bill per service at us-east-1 list prices (headcount/cost/prices.py) for "
        "--window, and the real-time layer's cost and freshness against the window. About (3 x phase + 25 s) per "
        "window and load, plus a minute for the nightly job.",
    )
    cost.add_argument("--load", choices=("guidance", "large", "all"), default="guidance",
                      help="guidance: 100 events/s from 500,000 daily players, 1 shard; large: 200 M events a day "
                      "from 20 M daily players, 8 shards; all: both (default guidance)")  # fmt: skip
    cost.add_argument("--window", type=float, default=2.0, help="the batching window the bill is for (default 2 s)")
    cost.add_argument(
        "--windows", default="0,1,2,5,10", help="the windows of the curve, in seconds (default 0,1,2,5,10)"
    )
    cost.add_argument(
        "--phase-s", type=float, default=60.0, help="seconds of traffic per moment of the day (default 60)"
    )
    cost.add_argument(
        "--shards", default=None, help="the stream's shards: a number, or on-demand (default: the load's)"
    )
    cost.add_argument("--events-per-request", type=int, default=10, help="events per POST /v1/events (default 10)")
    cost.add_argument("--dashboards", type=int, default=5, help="dashboards open 8 h a day (default 5)")
    cost.add_argument("--no-nightly", action="store_true", help="skip the nightly job (Glue) part")
    cost.set_defaults(run=run_cost_command)


def run_cost_command(args: argparse.Namespace, config: LocalConfig) -> int:
    from headcount.cost.report import command_line, pick_loads, run_cost

    try:
        windows = [float(w) for w in args.windows.split(",") if w.strip()]
    except ValueError:
        print(f"headcount cost: --windows {args.windows!r}: seconds separated by commas, e.g. 0,1,2,5", file=sys.stderr)
        return 2
    if any(not 0 <= w <= 300 for w in [*windows, args.window]):
        print("headcount cost: a batching window is 0 to 300 s (Lambda's range)", file=sys.stderr)
        return 2
    shards: int | str | None = None
    if args.shards is not None:
        if args.shards == "on-demand":
            shards = "on-demand"
        elif args.shards.isdigit() and int(args.shards) > 0:
            shards = int(args.shards)
        else:
            print(f"headcount cost: --shards {args.shards!r}: a positive number or on-demand", file=sys.stderr)
            return 2
    loads = pick_loads(args.load, args.events_per_request, args.dashboards)
    if isinstance(shards, int):
        loads = [replace(load, shards=shards) for load in loads]
    run_cost(loads, windows, args.window, args.phase_s, shards, not args.no_nightly, command_line(sys.argv[2:]))
    return 0
