"""A simulated game into the local stack, as its sources would send it: records into the stream (or events posted to
`POST /v1/events`), a history's older days straight into the raw archive with one nightly run over them, and the
simulation's truth beside the state folder. `headcount simulate` and `headcount demo` (headcount/cli/stack.py) run
these, and print nothing else; these print their progress, since a history takes minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from headcount.local.access import DEMO_KEY
from headcount.local.config import LocalConfig
from headcount.local.shards import wait_caught_up
from headcount.settings import Settings

if TYPE_CHECKING:
    from headcount.local.history import GameHistory
    from headcount.local.simulator import KpiTruth, Simulation


def run_simulate(config: LocalConfig, events: int, seed: int, wait: bool, via_api: bool = False) -> dict[str, int]:
    """Simulate, write the truth, send the records to the stream (or post them to the API); with `wait`, until the
    fold has applied them. The last sequence number each shard took (through the API: the shards' ends after the
    last answer, known only with `wait`)."""
    from headcount.core.buckets import day_bounds_ms, local_date
    from headcount.local.simulator import simulate
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


def cli_env(config: LocalConfig) -> dict[str, str]:
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
    from headcount.views.lake import data_files, raw_uri

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
    raw = raw_uri(config.lake)
    if data_files(raw, ".gz"):
        print(f"  note: {raw} already holds records: a simulation's history is meant for an empty lake", flush=True)
    files = write_archive(config.lake, archived)
    print(
        f"archived the {len(archived):,} records that arrived before yesterday in {len(files):,} hourly files under "
        f"{raw} ({files[0].split('/')[-3]} .. {files[-1].split('/')[-3]}), as the archiver would have",
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
        env=cli_env(config),
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

    report = EventSender(base_url, DEMO_KEY, progress=progress).send(events.values)  # the local demo's ingest key
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
