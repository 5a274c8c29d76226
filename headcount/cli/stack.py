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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from headcount.local.config import LocalConfig
from headcount.local.shards import wait_caught_up
from headcount.settings import Settings

if TYPE_CHECKING:
    from headcount.local.history import GameHistory
    from headcount.local.simulator import KpiTruth, Simulation

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
    # The demo's answers are checked against the truth of its own simulation: start from an empty stream and lake.
    stale = [path for path in (config.kinesis_dir, config.checkpoint_dir, config.lake_dir) if path.exists()]
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
        print(f"running the nightly job for yesterday, {day} (Spark) ...", flush=True)
        # Its own process, as the scheduler runs it: Spark's JVM does not stay in the stack's process.
        subprocess.run([sys.executable, "-m", "headcount", "batch", "--day", day], check=True, env=_cli_env(config))
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
    from headcount.views.catalog_file import load_catalog

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
    return _send_records(config, sim.records, wait, started)


def _send_records(config: LocalConfig, records: list[tuple[bytes, str]], wait: bool, started: float) -> dict[str, int]:
    from headcount.views.aws import client
    from headcount.views.stream import Producer, send

    producer = Producer(client("kinesis"))
    step = max(1, len(records) // 10)
    marks = iter(range(step, len(records) + step, step))
    next_mark = [next(marks, step)]

    def progress(sent: int) -> None:
        if sent >= next_mark[0]:
            print(f"  sent {sent:,}/{len(records):,} records", flush=True)
            next_mark[0] = next(marks, len(records) + 1)

    send(records, producer, progress=progress)
    took = time.monotonic() - started
    print(f"sent {len(records):,} records in {took:.1f} s", flush=True)
    if wait:
        wait_caught_up(config, producer.last_sequence)
    return producer.last_sequence


class HistoryBatchFailed(RuntimeError):
    """The nightly job over the history days failed (its output says why)."""


@dataclass(frozen=True)
class SimulatedHistory:
    history: GameHistory
    last_sequence: dict[str, int]  # as run_simulate's


def _cli_env(config: LocalConfig) -> dict[str, str]:
    """The environment of a `headcount` subprocess for this stack."""
    return {
        **os.environ,
        "HEADCOUNT_STATE_DIR": str(config.state_dir),
        "HEADCOUNT_MOTO_PORT": str(config.moto_port),
        "HEADCOUNT_KINESIS_PORT": str(config.kinesis_port),
        "HEADCOUNT_API_PORT": str(config.api_port),
        "HEADCOUNT_TZ": Settings().tz,
    }


def run_simulate_history(
    config: LocalConfig,
    now_ms: int,
    history_days: int,
    new_per_day: int,
    seed: int = 7,
    wait: bool = False,
    via_api: bool = False,
) -> SimulatedHistory:
    """A game of `history_days` days before yesterday, yesterday and today until `now_ms` (headcount/local/history.py):
    its truth written; what arrived before yesterday archived in the lake, then the nightly job run once over the
    history days and published (its own process: Spark's JVM does not stay in the caller's); what arrived since sent to
    the stream (or posted to the API), with `wait` until the fold has applied it. The local stack must be up."""
    from headcount.local.history import game_history, write_archive
    from headcount.local.simulator import Simulation, Truth
    from headcount.views.catalog_file import load_catalog
    from headcount.views.lake import raw_uri

    settings = Settings()
    started = time.monotonic()
    print(f"simulating a game of {history_days} days before yesterday, yesterday and today so far ...", flush=True)
    history = game_history(load_catalog(settings.catalog_path), settings.tz, now_ms, history_days, new_per_day, seed)
    game = history.game
    truth = history.truth()
    truth_path = config.state_dir / "truth.json"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(_kpi_truth_json(history, truth)))
    arrived = [p for p in game.events if p.arrival_ms < now_ms]
    players = len({p.event["player_id"] for p in arrived})
    print(
        f"simulated {players:,} players from {game.days[0]} to {game.days[-1]} (about {new_per_day:,} new a day): "
        f"{len(arrived):,} valid events arrived by now ({game.late:,} sessions uploaded late), {game.duplicates:,} "
        f"re-sent duplicates, {game.malformed:,} malformed, in {time.monotonic() - started:.1f} s; "
        f"truth in {truth_path}",
        flush=True,
    )

    archived = history.archived()
    raw = Path(raw_uri(config.lake_dir))
    if raw.exists() and any(raw.iterdir()):
        print(f"  note: {raw} already holds records: a simulation's history is meant for an empty lake", flush=True)
    files = write_archive(config.lake_dir, archived)
    print(
        f"archived the {len(archived):,} records that arrived before yesterday in {len(files):,} hourly files under "
        f"{raw} ({files[0].parent.parent.name} .. {files[-1].parent.parent.name}), as the archiver would have",
        flush=True,
    )
    last_day = history.days[-1]
    print(
        f"running the nightly job once for the {len(history.days)} history days, {history.days[0]} .. {last_day} "
        "(Spark) ...",
        flush=True,
    )
    done = subprocess.run(
        [sys.executable, "-m", "headcount", "batch", "--day", last_day, "--days-back", str(len(history.days) - 1)],
        env=_cli_env(config),
        check=False,
    )
    if done.returncode != 0:
        raise HistoryBatchFailed(f"the nightly job over the history days exited with {done.returncode}")

    records = history.streamed()
    valid = sum(1 for p in game.events if history.since_ms <= p.arrival_ms < now_ms)
    junk = sum(1 for _data, key in records if key.startswith("junk-"))
    print(f"yesterday and today so far: {len(records):,} records to send (late sessions of earlier days included)")
    sim = Simulation(records, Truth(), valid=valid, duplicates=len(records) - junk - valid, malformed=junk)
    if via_api:
        return SimulatedHistory(history, _post_simulation(config, sim, wait))
    return SimulatedHistory(history, _send_records(config, records, wait, started=time.monotonic()))


def _kpi_truth_json(history: GameHistory, truth: KpiTruth) -> dict:
    counts: dict = {}
    for (metric, bucket, group), value in sorted(truth.counts.items()):
        counts.setdefault(metric, {}).setdefault(bucket, {})[group] = value
    kpis: dict = {}
    for (metric, bucket, group), value in sorted(truth.kpis.items(), key=str):
        if group == "":  # a new-players metric's row None (everyone seen up to the day) is left out
            kpis.setdefault(metric, {})[bucket] = value
    ratios: dict = {}
    for (metric, day), ratio in sorted(truth.ratios.items()):
        ratios.setdefault(metric, {})[day] = ratio
    return {
        "what": "every count and KPI of the game as of `now`, deduplicated: the batch layer's value of every day up "
        "to yesterday once the nightly job for yesterday has run",
        "now": datetime.fromtimestamp(history.now_ms / 1000, UTC).isoformat(),
        "days": history.game.days,
        "counts": counts,
        "kpis": kpis,
        "ratios": ratios,
    }


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
        print(f"stickiness today so far (DAU / MAU): {sticky['value']:.1%} ({bounds})")
    month = one("monthly_active_players", "yesterday")
    if month["exact"]:  # the nightly job has published the days before yesterday: a month of play is known exactly
        print(f"monthly active players (28 days to yesterday): {describe(month)}")
        sticky = one("stickiness", "yesterday")
        if sticky["value"] is not None and sticky["exact"]:
            print(f"stickiness yesterday (DAU / MAU): {sticky['value']:.1%} (exact)")
    print(f"new players yesterday: {describe(one('new_players', 'yesterday'))}")
    print(f"new players today so far: {describe(one('new_players', 'today'))}")
    answer = api_get(config, "/v1/retention/retention?from=yesterday&to=yesterday")
    (cohort,) = answer["cohorts"]
    back = cohort["returned"][0]
    if back["value"] is not None and cohort["size"]["value"]:
        bounds = "exact" if back["exact"] else f"95 % between {back['low']:,} and {back['high']:,}"
        print(
            f"of yesterday's new players, back today (D+{back['k']}): {back['value']:,} = {back['rate']:.0%} ({bounds})"
        )
    for line in _retention_of_earlier_cohorts(config, date.fromisoformat(cohort["day"]), answer["returned_after"]):
        print(line)
    base = f"http://127.0.0.1:{config.api_port}"
    print(f"dashboard: {base}/   API: {base}/v1/metrics (header x-api-key), documented at {base}/v1/docs")


def _retention_of_earlier_cohorts(config: LocalConfig, yesterday: date, returned_after: list[int]) -> list[str]:
    """For each k, the D+k cell of the latest cohort that has it exact: the one that joined k days before yesterday
    (none before the nightly job has published those days)."""
    first, last = (yesterday - timedelta(days=k) for k in (max(returned_after), min(returned_after)))
    cohorts = {c["day"]: c for c in api_get(config, f"/v1/retention/retention?from={first}&to={last}")["cohorts"]}
    lines = []
    for k in returned_after:
        cohort = cohorts.get(str(yesterday - timedelta(days=k)))
        cell = next((r for r in cohort["returned"] if r["k"] == k), None) if cohort else None
        if cell and cell["exact"] and cell["value"] is not None and cohort["size"]["exact"] and cohort["size"]["value"]:
            lines.append(
                f"of the {cohort['size']['value']:,} new players of {cohort['day']}, back on D+{k}: "
                f"{cell['value']:,} = {cell['rate']:.0%} (exact)"
            )
    return lines
