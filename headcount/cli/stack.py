"""`headcount up`, `demo`, `simulate`, `replay` and `report`: the local stack's commands."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from headcount.local.access import DEMO_KEY, DEMO_KEY_NAME, DEMO_PASSWORD, DEMO_USER
from headcount.local.config import LocalConfig
from headcount.local.feed import HistoryBatchFailed, cli_env, run_simulate, run_simulate_history
from headcount.local.notifications import (
    DEMO_CHANNEL,
    DEMO_RECIPIENT,
    DEMO_SUBSCRIPTION,
    add_demo_subscription,
    local_admin,
    sink_url,
)
from headcount.local.report import report_lines
from headcount.local.shards import wait_caught_up

DEMO_HISTORY_DAYS = 35  # the 28 days of the monthly players and a D+30 retention cell of the oldest cohorts
NEW_PER_DAY = 700  # about 3,000 players a day after a month, 23,000 a month
_NEW_PER_DAY_HELP = f"with --history-days: players joining each day, ±20 %% (default {NEW_PER_DAY})"
DEFAULT_EVENTS = 100_000


def add_commands(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser("up", help="run the whole pipeline on this machine until Ctrl-C")
    up.add_argument("--shards", type=int, default=None, help="stream shards (default 4)")
    up.set_defaults(run=lambda args, config: run_up(dataclasses.replace(config, shards=args.shards or config.shards)))
    demo = commands.add_parser(
        "demo", help="up + simulate a game's history, yesterday and today + print the answers, then keep serving"
    )
    demo.add_argument(
        "--history-days",
        type=int,
        default=DEMO_HISTORY_DAYS,
        help=f"days of play before yesterday, archived and computed by one nightly run (default {DEMO_HISTORY_DAYS}; "
        "0: only yesterday and today, --events of them)",
    )
    demo.add_argument("--new-per-day", type=int, default=NEW_PER_DAY, help=_NEW_PER_DAY_HELP)
    demo.add_argument("--events", type=int, default=None, help="with --history-days 0: events (default 100,000)")
    demo.add_argument("--no-serve", action="store_true", help="stop after printing the answers")
    demo.set_defaults(run=lambda args, config: demo_command(config, args))
    sim = commands.add_parser("simulate", help="send a simulated game (yesterday and today so far) to the stream")
    sim.add_argument("--events", type=int, default=None, help="events of yesterday and today (default 100,000)")
    sim.add_argument(
        "--history-days",
        type=int,
        default=0,
        help="instead, a game with this many days of play before yesterday: those go straight into the raw archive "
        "and one run of the nightly job computes and publishes them; yesterday and today so far go to the stream",
    )
    sim.add_argument("--new-per-day", type=int, default=NEW_PER_DAY, help=_NEW_PER_DAY_HELP)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--wait", action="store_true", help="wait until the fold has applied everything sent")
    sim.add_argument(
        "--via-api", action="store_true", help="post the events to the local API (POST /v1/events) as a game would"
    )
    sim.set_defaults(run=lambda args, config: simulate_args_command(config, args))
    replay = commands.add_parser(
        "replay", help="give the real-time view back the batches the fold gave up (the on-failure queue)"
    )
    replay.set_defaults(run=lambda args, config: replay_command(config))
    report = commands.add_parser("report", help="print today's and yesterday's answers from the local API")
    report.set_defaults(run=lambda args, config: print_report(config) or 0)


def replay_command(config: LocalConfig) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from headcount import names
    from headcount.local.replay import forget, given_up_batches, request_rebuild
    from headcount.views.aws import client

    config.apply_aws_environment()
    try:
        queue_url = client("sqs").get_queue_url(QueueName=names.ON_FAILURE_QUEUE)["QueueUrl"]
        batches = given_up_batches(queue_url)
    except (BotoCoreError, ClientError) as exc:
        print(
            f"headcount replay: cannot read the on-failure queue ({exc}); is `headcount up` running?", file=sys.stderr
        )
        return 1
    if not batches:
        print("no batch was given up (the on-failure queue is empty): the real-time view misses nothing")
        return 0
    print(f"{len(batches)} batch{'es' if len(batches) > 1 else ''} given up by the fold:")
    for b in batches:
        print(f"  {b.shard_id} {b.first} .. {b.last}: {b.size} records, {b.condition}, arrived {b.first_arrival:%F %T}")
    print("rebuilding the real-time view from the stream (the fold reads it again from its start) ...", flush=True)
    request_rebuild(config)
    now = datetime.now(UTC)
    for day in sorted({b.first_arrival.date() for b in batches if not b.still_in_stream(now)}):
        print(
            f"records that arrived on {day} have left the stream: the nightly job counts them from the raw archive "
            f"(`headcount batch --day {day}`, and the day before for late events)"
        )
    forget(queue_url, batches)
    print("replayed; the on-failure queue is empty")
    return 0


def _events_of(args: argparse.Namespace) -> int | None:
    """--events, None when --history-days asks for the game with a history instead; a usage error for both."""
    if args.history_days < 0:
        raise _UsageError("--history-days must be 0 or more")
    if args.history_days and args.events is not None:
        raise _UsageError("--events is for the two-day game; with --history-days, --new-per-day sizes the game")
    return None if args.history_days else (args.events if args.events is not None else DEFAULT_EVENTS)


class _UsageError(ValueError):
    pass


def simulate_args_command(config: LocalConfig, args: argparse.Namespace) -> int:
    try:
        events = _events_of(args)
    except _UsageError as exc:
        print(f"headcount simulate: {exc}", file=sys.stderr)
        return 2
    if events is not None:
        return simulate_command(config, events, args.seed, args.wait, args.via_api)
    return simulate_history_command(config, args.history_days, args.new_per_day, args.seed, args.wait, args.via_api)


def demo_command(config: LocalConfig, args: argparse.Namespace) -> int:
    try:
        events = _events_of(args)
    except _UsageError as exc:
        print(f"headcount demo: {exc}", file=sys.stderr)
        return 2
    return run_demo(
        config,
        events or DEFAULT_EVENTS,
        serve=not args.no_serve,
        history_days=args.history_days,
        new_per_day=args.new_per_day,
    )


def simulate_history_command(
    config: LocalConfig, history_days: int, new_per_day: int, seed: int, wait: bool, via_api: bool = False
) -> int:
    from headcount.local.api_client import ApiError

    config.apply_aws_environment()
    now_ms = int(time.time() * 1000)  # the command's one reading of the clock: what yesterday and today so far are
    try:
        run_simulate_history(config, now_ms, history_days, new_per_day, seed, wait=wait, via_api=via_api)
    except (ApiError, HistoryBatchFailed) as exc:
        print(f"headcount simulate: {exc}", file=sys.stderr)
        return 1
    return 0


def simulate_command(config: LocalConfig, events: int, seed: int, wait: bool, via_api: bool = False) -> int:
    from headcount.local.api_client import ApiError

    config.apply_aws_environment()
    try:
        run_simulate(config, events, seed, wait=wait, via_api=via_api)
    except ApiError as exc:
        print(f"headcount simulate: {exc}", file=sys.stderr)
        return 1
    return 0


def _stack(config: LocalConfig):  # noqa: ANN202
    from headcount.local.stack import LocalStack
    from headcount.local.workers import WorkerSettings

    env = {k: v for k, v in os.environ.items() if k.startswith("HEADCOUNT_") or k.startswith("POWERTOOLS_")}
    return LocalStack(WorkerSettings(config, environment=env))


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, a CI timeout) stops the stack like Ctrl-C, at any moment, start-up included: the
    emulators run in sessions of their own and would outlive an abrupt exit."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _wait_for_signal() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def run_up(config: LocalConfig) -> int:
    from headcount.local.processes import StartError

    _stop_on_sigterm()
    try:
        with _stack(config) as stack:
            _print_up(config, stack)
            _wait_for_signal()
            print("stopping ...", flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    except StartError as exc:
        print(f"headcount up: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_up(config: LocalConfig, stack) -> None:  # noqa: ANN001 - LocalStack, imported lazily
    endpoints = stack.endpoints()
    print(f"headcount is up: API {endpoints['api']}")
    print(f"  dashboard {endpoints['api']}/ (sign in as {DEMO_USER!r}, password {DEMO_PASSWORD!r}: an admin)")
    print(f"  ingest key {DEMO_KEY_NAME!r} for POST /v1/events (x-api-key): {DEMO_KEY}")
    print(f"  API documentation {endpoints['api']}/v1/docs; more keys: headcount keys create NAME")
    print(f"  Kinesis {endpoints['kinesis']} stream {endpoints['stream']}; DynamoDB and SQS {endpoints['aws']}")
    if stack.republished.days:
        days = len(stack.republished.days)
        print(f"  batch view: {days} day{'s' if days != 1 else ''} published again from {endpoints['lake']}/counts")
    if stack.republished.kpis:
        metrics = len({metric for metric, _ in stack.republished.kpis})
        print(
            f"  batch view: {len(stack.republished.kpis)} KPI day(s) of {metrics} metric(s) published again "
            f"from {endpoints['lake']}/kpis"
        )
    for zone, again in stack.republished.zones.items():
        if again.days or again.kpis:
            print(
                f"  batch view: {len(again.days)} day(s) and {len(again.kpis)} KPI day(s) of {zone} (an extra zone) "
                f"published again from {endpoints['lake']}/zones/"
            )
    for day, why in stack.republished.failed.items():
        print(f"  batch view: {day} not published again ({why}); it is answered from the real-time view", flush=True)
    print(
        f"  digests and alerts: headcount channels|subscriptions|alerts|deliveries; the local sink (what Slack and "
        f"webhooks would get) {endpoints['sink']}/"
    )
    print(f"  raw archive {endpoints['lake']}; logs {config.log_dir}. Ctrl-C stops everything.", flush=True)


def run_demo(
    config: LocalConfig, events: int, serve: bool, history_days: int = 0, new_per_day: int = NEW_PER_DAY
) -> int:
    from headcount.local.processes import StartError

    _stop_on_sigterm()
    try:
        return _demo(config, events, serve, history_days, new_per_day)
    except HistoryBatchFailed as exc:
        print(f"headcount demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 130
    except StartError as exc:
        print(f"headcount demo: {exc}", file=sys.stderr)
        return 1


def _demo(config: LocalConfig, events: int, serve: bool, history_days: int, new_per_day: int) -> int:
    # The demo's answers are checked against the truth of its own simulation: start from an empty stream and lake (and
    # the local sink shows this demo's messages only).
    folders = (config.kinesis_dir, config.checkpoint_dir, config.lake_dir, config.s3_dir, config.sink_path.parent)
    stale = [p for p in folders if p.exists()]
    if stale:
        print(f"demo: starting from an empty stream and lake (removing {', '.join(str(p) for p in stale)})")
        for path in stale:
            shutil.rmtree(path)
    with _stack(config) as stack:
        print(f"local stack up: API {stack.endpoints()['api']}", flush=True)
        if history_days:
            simulated = run_simulate_history(
                config, int(time.time() * 1000), history_days, new_per_day, seed=7, wait=True
            )
            sent, day = simulated.last_sequence, str(simulated.history.yesterday)  # named: midnight may pass meanwhile
        else:
            sent, day = run_simulate(config, events, seed=7, wait=True), "yesterday"
        wait_caught_up(config, sent, consumer="archive")
        admin = local_admin(config)
        add_demo_subscription(admin, config, int(time.time() * 1000))
        print(f"running the nightly job for yesterday, {day} (Spark) ...", flush=True)
        # Its own process, as the scheduler runs it: Spark's JVM does not stay in the stack's process.
        subprocess.run([sys.executable, "-m", "headcount", "batch", "--day", day], check=True, env=cli_env(config))
        print_report(config)
        print_digests(admin, config)
        if serve:
            print("\nserving until Ctrl-C:", flush=True)
            _print_up(config, stack)
            _wait_for_signal()
    return 0


def print_digests(admin, config: LocalConfig, wait_s: float = 60.0) -> None:  # noqa: ANN001 - NotifyAdmin
    """The demo's digests, sent by the business function once the nightly job published (or why not)."""
    wanted = {DEMO_SUBSCRIPTION, f"{DEMO_SUBSCRIPTION}-mail"}
    deadline = time.monotonic() + wait_s
    while True:
        done = [d for d in admin.deliveries() if d.subscription in wanted and d.status != "sending"]
        if len(done) >= len(wanted) or time.monotonic() > deadline:
            break
        time.sleep(1)
    print("\ndigests, sent when the nightly job published the day:")
    for delivery in sorted(done, key=lambda d: d.channel):
        where = (
            f"to Slack (the local sink, {sink_url(config)}/)"
            if delivery.channel == DEMO_CHANNEL
            else f"by email to {DEMO_RECIPIENT} (moto's SES)"
        )
        print(f"  {delivery.status} {where}: {delivery.summary}{f' ({delivery.error})' if delivery.error else ''}")
    if not done:
        print("  none yet: see headcount deliveries, and the business function's log")


def print_report(config: LocalConfig) -> None:
    for line in report_lines(config):
        print(line, flush=True)
