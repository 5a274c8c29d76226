"""`headcount up`, `demo`, `simulate`, `replay` and `report`: the local stack's commands."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from headcount.local.config import LocalConfig
from headcount.local.shards import wait_caught_up
from headcount.settings import Settings

if TYPE_CHECKING:
    from headcount.local.simulator import Simulation


def add_commands(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser("up", help="run the whole pipeline on this machine until Ctrl-C")
    up.add_argument("--shards", type=int, default=None, help="stream shards (default 4)")
    up.set_defaults(run=lambda args, config: run_up(dataclasses.replace(config, shards=args.shards or config.shards)))
    demo = commands.add_parser("demo", help="up + simulate yesterday and today + print the answers, then keep serving")
    demo.add_argument("--events", type=int, default=100_000)
    demo.add_argument("--no-serve", action="store_true", help="stop after printing the answers")
    demo.set_defaults(run=lambda args, config: run_demo(config, args.events, serve=not args.no_serve))
    sim = commands.add_parser("simulate", help="send a simulated game (yesterday and today so far) to the stream")
    sim.add_argument("--events", type=int, default=100_000)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--wait", action="store_true", help="wait until the fold has applied everything sent")
    sim.add_argument(
        "--via-api", action="store_true", help="post the events to the local API (POST /v1/events) as a game would"
    )
    sim.set_defaults(run=lambda args, config: simulate_command(config, args.events, args.seed, args.wait, args.via_api))
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
    print(f"headcount is up: API {endpoints['api']} (x-api-key: {Settings().api_key})")
    print(f"  dashboard {endpoints['api']}/   API documentation {endpoints['api']}/v1/docs")
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
    for day, why in stack.republished.failed.items():
        print(f"  batch view: {day} not published again ({why}); it is answered from the real-time view", flush=True)
    print(f"  raw archive {endpoints['lake']}; logs {config.log_dir}. Ctrl-C stops everything.", flush=True)


def run_demo(config: LocalConfig, events: int, serve: bool) -> int:
    from headcount.local.processes import StartError

    _stop_on_sigterm()
    try:
        return _demo(config, events, serve)
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 130
    except StartError as exc:
        print(f"headcount demo: {exc}", file=sys.stderr)
        return 1


def _demo(config: LocalConfig, events: int, serve: bool) -> int:
    # The demo's answers are checked against the truth of its own simulation: start from an empty stream and lake.
    stale = [path for path in (config.kinesis_dir, config.checkpoint_dir, config.lake_dir) if path.exists()]
    if stale:
        print(f"demo: starting from an empty stream and lake (removing {', '.join(str(p) for p in stale)})")
        for path in stale:
            shutil.rmtree(path)
    with _stack(config) as stack:
        print(f"local stack up: API {stack.endpoints()['api']}", flush=True)
        sent = run_simulate(config, events, seed=7, wait=True)
        wait_caught_up(config, sent, consumer="archive")
        print("running the nightly job for yesterday (Spark) ...", flush=True)
        # Its own process, as the scheduler runs it: Spark's JVM does not stay in the stack's process.
        subprocess.run([sys.executable, "-m", "headcount", "batch", "--day", "yesterday"], check=True)
        print_report(config)
        if serve:
            print(
                f"\nserving on {stack.endpoints()['api']} until Ctrl-C, e.g.\n  curl -H 'x-api-key: "
                f"{Settings().api_key}' "
                f"'{stack.endpoints()['api']}/v1/metrics/active_players?from=yesterday&to=today'",
                flush=True,
            )
            _wait_for_signal()
    return 0


def run_simulate(config: LocalConfig, events: int, seed: int, wait: bool, via_api: bool = False) -> dict[str, int]:
    """Simulate, write the truth, send the records to the stream (or post them to the API); with `wait`, until the
    fold has applied them. The last sequence number each shard took (through the API: the shards' ends after the
    last answer, known only with `wait`)."""
    from headcount.core.buckets import day_bounds_ms, local_date
    from headcount.local.simulator import simulate
    from headcount.settings import Settings
    from headcount.views.aws import client
    from headcount.views.catalog_file import load_catalog
    from headcount.views.stream import Producer, send

    settings = Settings()
    now_ms = int(time.time() * 1000)
    yesterday_start, _ = day_bounds_ms(local_date(now_ms, settings.tz) - timedelta(days=1), settings.tz)
    started = time.monotonic()
    sim = simulate(load_catalog(settings.catalog_path), settings.tz, yesterday_start, now_ms, events, seed=seed)
    truth_path = config.state_dir / "truth.json"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(sim.truth.to_json()))
    print(
        f"simulated {sim.valid} valid events ({sim.late} late), {sim.duplicates} re-sent duplicates, "
        f"{sim.malformed} malformed; truth in {truth_path}",
        flush=True,
    )

    if via_api:
        return _post_simulation(config, sim, wait)
    producer = Producer(client("kinesis"))
    step = max(1, len(sim.records) // 10)
    marks = iter(range(step, len(sim.records) + step, step))
    next_mark = [next(marks)]

    def progress(sent: int) -> None:
        if sent >= next_mark[0]:
            print(f"  sent {sent:,}/{len(sim.records):,} records", flush=True)
            next_mark[0] = next(marks, len(sim.records) + 1)

    send(sim.records, producer, progress=progress)
    took = time.monotonic() - started
    print(f"sent {len(sim.records):,} records in {took:.1f} s", flush=True)
    if wait:
        wait_caught_up(config, producer.last_sequence)
    return producer.last_sequence


def _post_simulation(config: LocalConfig, sim: Simulation, wait: bool) -> dict[str, int]:
    """The simulated records through the front door, `POST /v1/events`, as game clients send them."""
    from headcount import names
    from headcount.local.api_client import ApiUnavailable, EventSender, api_events
    from headcount.local.shards import CheckpointStore, stream_ends

    base_url = f"http://127.0.0.1:{config.api_port}"
    try:
        urllib.request.urlopen(f"{base_url}/v1/health", timeout=10).close()  # noqa: S310 - 127.0.0.1 only
    except OSError as exc:
        raise ApiUnavailable(f"no API on {base_url} ({exc}): is `headcount up` running?") from None
    events = api_events(sim.records)
    total = len(events.values)
    print(
        f"posting {total:,} events to {base_url}/v1/events (the {events.as_strings} malformed records that are not JSON "
        "go as JSON strings, which the API rejects as not_object)",
        flush=True,
    )
    step = max(1, total // 10)
    next_mark = [step]

    def progress(done: int) -> None:  # called under the sender's lock
        if done >= next_mark[0]:
            print(f"  posted {done:,}/{total:,} events", flush=True)
            next_mark[0] = (done // step + 1) * step

    report = EventSender(base_url, Settings().api_key, progress=progress).send(events.values)
    print(report.summary(), flush=True)
    if report.accepted != sim.valid + sim.duplicates:
        print(
            f"  note: the API accepted {report.accepted:,} of the simulation's {sim.valid + sim.duplicates:,} valid "
            f"events (re-sent duplicates included; {report.unconfirmed:,} unconfirmed): the real-time numbers may "
            f"differ from {config.state_dir / 'truth.json'}",
            flush=True,
        )
    if not wait:
        return {}
    # The answers hold no sequence numbers: every accepted event is in the stream once its answer came, so wait for
    # each shard's last record now (read from where the fold is to the end).
    ends = stream_ends(names.STREAM, CheckpointStore(config.checkpoint_dir, "fold").positions())
    wait_caught_up(config, ends)
    return ends


def api_get(config: LocalConfig, path: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{config.api_port}{path}",
        headers={"x-api-key": Settings().api_key},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def print_report(config: LocalConfig) -> None:
    def one(metric: str, day: str) -> dict:
        return api_get(config, f"/v1/metrics/{metric}?from={day}&to={day}")["points"][0]

    def describe(point: dict) -> str:
        fresh = f"as of {point['as_of']}" if point.get("as_of") else "freshness unknown"
        fresh += ", BEHIND: a shard's fold lags" if point.get("stale") else ""
        if point["exact"]:
            return f"{point['value']:,} (exact, {point['source']} run {point.get('run_id')}, {fresh})"
        if point["low"] == point["high"]:
            return f"{point['value']:,} ({point['source']}, {fresh})"
        return f"{point['value']:,} (95 % between {point['low']:,} and {point['high']:,}, {point['source']}, {fresh})"

    print()
    print(f"unique players yesterday: {describe(one('active_players', 'yesterday'))}")
    print(f"unique players today so far: {describe(one('active_players', 'today'))}")
    print(f"matches played today: {describe(one('matches_played', 'today'))}")
    countries = api_get(config, "/v1/metrics/active_players_by_country?from=today&to=today")["points"]
    top = sorted(countries, key=lambda p: -p["value"])[:5]
    print("top countries today: " + ", ".join(f"{p.get('group')} {p['value']:,}" for p in top))
    week = api_get(config, "/v1/metrics/active_players/distinct?from=yesterday&to=today")
    print(
        f"unique players yesterday and today together: {week['value']:,} "
        f"(95 % between {week['low']:,} and {week['high']:,})"
    )
    print(f"weekly active players (7 days to today): {describe(one('weekly_active_players', 'today'))}")
    print(f"monthly active players (28 days to today): {describe(one('monthly_active_players', 'today'))}")
    sticky = one("stickiness", "today")
    if sticky["value"] is not None:
        bounds = "exact" if sticky["exact"] else f"95 % between {sticky['low']:.1%} and {sticky['high']:.1%}"
        print(f"stickiness today (DAU / MAU): {sticky['value']:.1%} ({bounds})")
    print(f"new players yesterday: {describe(one('new_players', 'yesterday'))}")
    print(f"new players today so far: {describe(one('new_players', 'today'))}")
    (cohort,) = api_get(config, "/v1/retention/retention?from=yesterday&to=yesterday")["cohorts"]
    back = cohort["returned"][0]
    if back["value"] is not None and cohort["size"]["value"]:
        bounds = "exact" if back["exact"] else f"95 % between {back['low']:,} and {back['high']:,}"
        print(
            f"of yesterday's new players, back today (D+{back['k']}): {back['value']:,} = {back['rate']:.0%} ({bounds})"
        )
    base = f"http://127.0.0.1:{config.api_port}"
    print(f"dashboard: {base}/   API: {base}/v1/metrics (header x-api-key), documented at {base}/v1/docs")
