"""Drive the local stack at a studio's load and meter what it spends (headcount/local/meter.py): `headcount cost`.

One run per batching window. Each run starts a fresh local stack with one shard (the shard of a deployed stream this
run stands for: shards are independent, each folds its own players, so a stream of S shards spends S times what one
does), and measures three moments of the day. Before each, the shard's day sketches are filled with the players the
shard has seen by then (the day's players arrive evenly through the day: a sixth, a half and five sixths of them),
so the sketches have the size and the fill they have at that load's real cardinality; then events go through
`POST /v1/events` at the shard's steady rate, from game clients sending `events_per_request` each, while analysts'
dashboards poll the API as the page does (tiles every 15 s, charts every minute).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from headcount import names
from headcount.core import sketches
from headcount.core.buckets import bucket_of, local_date
from headcount.core.catalog import NO_GROUP, UNKNOWN_GROUP, Catalog, Granularity, Kind
from headcount.local.access import DEMO_KEY, tools_headers
from headcount.local.config import LocalConfig
from headcount.local.simulator import COUNTRIES
from headcount.views.batch import BatchRow, DynamoBatchView
from headcount.views.realtime import DynamoRealtimeStore, ItemKey, RealtimeItem

PORTS = {"moto_port": 61566, "kinesis_port": 61567, "api_port": 61080}
DAY_FRACTIONS = (1 / 6, 1 / 2, 5 / 6)  # the moments of the day measured: the middles of its thirds
# The simulator's game (headcount/local/simulator.py): a session is a session_start, 1.83 match_end and 2 ad_impression
# on average: of 29 events, 6 start a session, 11 end a match, 12 show an ad.
EVENT_MIX = (("session_start", 6), ("match_end", 11), ("ad_impression", 12))
NO_COUNTRY_SHARE = 0.01  # events without a country attribute (the simulator's share)
LAMBDA_READ_INTERVAL_S = 1.0  # how often Lambda's event-source mapping reads a shard that is not behind
CLIENT_THREADS = 4  # game clients sending at once (a request takes tens of milliseconds locally)
PUBLISHED_DAYS = 30
NIGHTLY_COPIES = 20  # the nightly job is timed over the archive and over this many copies of it  # finished days in the batch view, for the dashboards' 30-day charts to read


@dataclass(frozen=True)
class Load:
    name: str
    events_per_s: float
    daily_players: int
    shards: int  # of the deployed stream
    events_per_request: int = 10  # how many events a game client sends per POST /v1/events
    dashboards: int = 5  # analysts' dashboards open ...
    dashboard_hours: float = 8  # ... this many hours a day

    @property
    def shard_events_per_s(self) -> float:
        return self.events_per_s / self.shards

    @property
    def shard_players(self) -> int:
        return self.daily_players // self.shards

    @property
    def events_per_day(self) -> float:
        return self.events_per_s * 86_400


LOADS = {
    # The AWS game analytics guidance's reference rate: 100 events/s, here from 500,000 daily players; one shard holds it
    "guidance": Load("guidance", 100.0, 500_000, shards=1),
    # 200 million events a day from 20 million daily players: 2,315 events/s on average, 8 shards for the peaks
    "large": Load("large", 200e6 / 86_400, 20_000_000, shards=8),
}


@dataclass
class Phase:
    fraction: float  # of the day's players the shard had seen at its end
    started: float
    traffic_s: float  # how long events were sent (the phase's usage is per second of it)
    ended: float  # once the fold had caught up
    events: int


@dataclass
class Measurement:
    """One run: what the meter wrote (its folder), the phases' time windows, and what the stack left on disk."""

    load: Load
    window_s: float
    state_dir: Path
    phases: list[Phase] = field(default_factory=list)
    requests_refused: int = 0
    nightly: dict | None = None
    realtime_bytes: int = 0  # the real-time table's items at the end (the shard's day at its last moment)

    @property
    def meter_dir(self) -> Path:
        return self.state_dir / "meter"


def measure(
    load: Load,
    window_s: float,
    seconds_per_phase: float,
    catalog: Catalog,
    *,
    nightly: bool = False,
    progress: Callable[[str], None] = print,
    ports: dict[str, int] = PORTS,
) -> Measurement:
    """Start a one-shard local stack with this batching window, drive it through the day's three moments, stop it."""
    from headcount.local.esm import MappingSettings
    from headcount.local.meter import METER_DIR_ENV, uninstall
    from headcount.local.stack import LocalStack
    from headcount.local.workers import FOLD, WorkerSettings

    state = Path(tempfile.mkdtemp(prefix="headcount-cost-"))
    config = LocalConfig(state_dir=state, shards=1, **ports)
    run = Measurement(load, window_s, state)
    env = {
        "HEADCOUNT_TZ": "UTC",
        "HEADCOUNT_BATCH_AT": "off",
        "HEADCOUNT_BUSINESS_EVERY_S": "0",
        METER_DIR_ENV: str(run.meter_dir),
    }
    saved = dict(os.environ)  # the stack points this process's AWS SDK at its emulators: put everything back after
    os.environ.update(env)
    try:
        settings = WorkerSettings(
            config,
            mapping=MappingSettings(batching_window_s=window_s, min_read_interval_s=LAMBDA_READ_INTERVAL_S),
            environment=env,
        )
        with LocalStack(settings) as stack:
            ddb = boto3.session.Session().client("dynamodb")  # not metered: the set-up is not the pipeline's
            kinesis = boto3.session.Session().client("kinesis")
            (shard,) = kinesis.list_shards(StreamName=names.STREAM)["Shards"]
            now = datetime.now(UTC)
            today = local_date(int(now.timestamp() * 1000), "UTC").isoformat()
            _publish_days(ddb, catalog, now)
            traffic = Traffic(load, catalog, seed=int(window_s * 1000))
            for fraction in DAY_FRACTIONS:
                seen = traffic.fill_to(fraction)
                # while the fold is stopped: it remembers what it wrote, and the shard's items have one writer
                stack.supervisor.restart(  # type: ignore[union-attr]
                    FOLD, meanwhile=lambda seen=seen: _prefill(ddb, catalog, shard["ShardId"], today, traffic, seen)
                )
                progress(
                    f"  {load.name} window {window_s:g} s, {fraction * 24:04.1f} h into the day: {seen:,} players "
                    f"seen by the shard, {load.shard_events_per_s:,.0f} events/s for {seconds_per_phase:.0f} s ..."
                )
                run.phases.append(_drive(config, load, traffic, seconds_per_phase, run, kinesis))
            run.realtime_bytes = _table_bytes(ddb, names.REALTIME_TABLE)
            if nightly:
                run.nightly = _nightly(config, today, progress)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        uninstall()
    return run


def cleanup(run: Measurement) -> None:
    shutil.rmtree(run.state_dir, ignore_errors=True)


class Traffic:
    """The day's players as the shard sees them, numbered in order of their first event today. A request is one game
    client's: `events_per_request` events of one player, of the game's mix. It comes from a player new today with the
    share that makes every daily player appear (players / requests a day, evenly through the day), else from one
    already seen."""

    def __init__(self, load: Load, catalog: Catalog, seed: int) -> None:
        self.load, self.catalog = load, catalog
        self.rng = random.Random(seed)
        self.seen = 0
        requests_per_day = load.shard_events_per_s * 86_400 / load.events_per_request
        self.new_share = min(1.0, load.shard_players / requests_per_day)
        self.types = [t for t, _ in EVENT_MIX]
        self.weights = [w for _, w in EVENT_MIX]
        self.countries, self.country_weights = list(COUNTRIES), list(COUNTRIES.values())
        self.sent = 0

    def fill_to(self, fraction: float) -> int:
        self.seen = max(self.seen, int(self.load.shard_players * fraction))
        return self.seen

    def country(self, player: int) -> str | None:
        if random.Random(player).random() < NO_COUNTRY_SHARE:
            return None
        return random.Random(player * 7919).choices(self.countries, self.country_weights)[0]

    def player_id(self, player: int) -> str:
        return f"p-{player:09d}"

    def request(self, now_ms: int) -> list[dict]:
        if self.seen == 0 or self.rng.random() < self.new_share:
            player, self.seen = self.seen, self.seen + 1
        else:
            player = self.rng.randrange(self.seen)
        types = self.rng.choices(self.types, self.weights, k=self.load.events_per_request)
        return [self.event(now_ms, player, event_type) for event_type in types]

    def event(self, now_ms: int, player: int, event_type: str) -> dict:
        self.sent += 1
        country = self.country(player)
        return {
            "event_id": f"{now_ms:x}-{self.sent:x}-{self.rng.getrandbits(32):08x}",
            "type": event_type,
            "player_id": self.player_id(player),
            "ts": now_ms,
            "attrs": {"platform": "ios", **({"country": country} if country else {})},
        }


def _prefill(ddb: object, catalog: Catalog, shard_id: str, day: str, traffic: Traffic, seen: int) -> None:
    """The shard's sketches of the day as they are once `seen` players have played: each distinct (HLL) and new
    players (Theta) metric's items hold those players (written over what the fold wrote, keeping its sequence number:
    the fold goes on from there)."""
    store = DynamoRealtimeStore(names.REALTIME_TABLE, ddb=ddb)
    store.add_days(shard_id, {day}, set())
    now_ms = int(time.time() * 1000)
    # A sub-day twin's current bucket holds the players of that quarter hour (or hour) so far: on average half of a
    # bucket's requests, nearly all of them different players (the latest seen)
    requests_per_s = traffic.load.shard_events_per_s / traffic.load.events_per_request
    for metric in catalog.metrics:
        if not metric.kind.sketched or (metric.granularity is Granularity.HOUR and metric.sub_day_of is None):
            continue
        assert metric.lg_k is not None
        bucket, first = day, 0
        if metric.sub_day_of is not None:
            bucket = bucket_of(now_ms, metric.granularity, "UTC")
            seconds = 900 if metric.granularity is Granularity.QUARTER else 3600
            first = max(0, seen - int(requests_per_s * seconds / 2))
        players: dict[str, list[str]] = {}
        for player in range(first, seen):
            country = traffic.country(player) if metric.group_by == "country" else None
            group = NO_GROUP if metric.group_by is None else country if country is not None else UNKNOWN_GROUP
            players.setdefault(group, []).append(traffic.player_id(player))
        if metric.kind is Kind.NEW:
            stored = {g: sketches.theta_of_values(ids, metric.lg_k) for g, ids in players.items()}
        else:
            stored = {g: sketches.of_values(ids, metric.lg_k) for g, ids in players.items()}
        _overwrite(
            store, [RealtimeItem(ItemKey(metric.name, bucket, g, shard_id), 0, sketch=b) for g, b in stored.items()]
        )


def _overwrite(store: DynamoRealtimeStore, items: list[RealtimeItem]) -> None:
    """Write the items' sketches over the stored ones, keeping each stored item's sequence number."""
    stored = store.read([i.key for i in items])
    for item in items:
        current = stored.get(item.key)
        sequence = current.sequence_number if current else 0
        kept = RealtimeItem(item.key, sequence, sketch=item.sketch)
        store.write(kept, current.sequence_number if current else None, int(time.time()) + 86_400 * 36)


def _publish_days(ddb: object, catalog: Catalog, now: datetime) -> None:
    """Finished days in the batch view, as a run publishes them, for the dashboards' range reads (not metered)."""
    view = DynamoBatchView(names.BATCH_TABLE)
    view.ddb = ddb
    requests: list[dict] = []
    cohort = sketches.theta_of_values((f"b-{i}" for i in range(2_000)), 12)
    seen = sketches.theta_of_values((f"b-{i}" for i in range(200_000)), 12)
    for n in range(1, PUBLISHED_DAYS + 1):
        day = (now - timedelta(days=n)).date().isoformat()
        for metric in catalog.listed():  # (the dashboards read no sub-day twin: they ask in the API's zone)
            union = None
            if metric.kind is Kind.RATIO:
                continue  # the serving layer divides: nothing published
            if metric.kind is Kind.NEW:
                rows, union = [BatchRow(metric.name, day, day, NO_GROUP, 2_000, cohort)], seen
            elif metric.kind is Kind.RETENTION:
                rows = [BatchRow(metric.name, day, f"{day}+{k}", NO_GROUP, 600, None) for k in metric.returned_after]
            elif metric.kind is Kind.DISTINCT:
                assert metric.lg_k is not None
                sketch = sketches.new_sketch(metric.lg_k)
                sketches.update_all(sketch, (f"b-{i}" for i in range(20_000)))
                groups = [NO_GROUP] if metric.group_by is None else list(COUNTRIES)
                rows = [BatchRow(metric.name, day, day, g, 20_000, sketches.encode(sketch)) for g in groups]
            elif metric.granularity == "hour":
                rows = [BatchRow(metric.name, day, f"{day}T{h:02d}:00+00:00", NO_GROUP, 1000, None) for h in range(24)]
            else:
                rows = [BatchRow(metric.name, day, day, NO_GROUP, 40_000, None)]
            items, publication = view.run_items(metric.name, day, rows, f"cost-{day}", union)
            requests += [{"PutRequest": {"Item": item}} for item in [*items, publication]]
    view._batch_write(requests)  # noqa: SLF001 - the set-up writes in bulk what publish() writes a day at a time
    for metric in {r["PutRequest"]["Item"]["pk"]["S"] for r in requests if "cells" in r["PutRequest"]["Item"]}:
        view.mark_published(metric)


def _drive(
    config: LocalConfig, load: Load, traffic: Traffic, seconds: float, run: Measurement, kinesis: object
) -> Phase:
    """Game clients at the shard's rate and the dashboards' polling for `seconds`; then until the fold has caught up."""
    port = config.api_port
    stop = threading.Event()
    started = time.time()
    sent = [0]

    lock = threading.Lock()

    def clients() -> None:  # one of CLIENT_THREADS, each sending its share of the requests on time
        interval = load.events_per_request / load.shard_events_per_s * CLIENT_THREADS
        due = time.monotonic()
        while not stop.is_set():
            with lock:
                events = traffic.request(int(time.time() * 1000))
            answer = _post(port, events)
            with lock:
                sent[0] += len(events) - len(answer.get("rejected", []))
                run.requests_refused += len(answer.get("rejected", []))
            due += interval
            stop.wait(max(0.0, due - time.monotonic()))

    def dashboards() -> None:
        tick = 0
        while not stop.wait(15.0 / load.dashboards):
            tick += 1
            today = "today"
            for metric in ("active_players", "matches_played", "ad_impressions"):
                _get(port, f"/v1/metrics/{metric}?from={today}&to={today}")
            if tick % 4 == 0:  # the charts, every minute
                first = (datetime.now(UTC) - timedelta(days=29)).date().isoformat()
                for metric in ("active_players", "matches_played", "ad_impressions", "active_players_by_country"):
                    _get(port, f"/v1/metrics/{metric}?from={first}&to=today")
                _get(port, f"/v1/metrics/active_players/distinct?from={first}&to=today")

    threads = [threading.Thread(target=clients, daemon=True) for _ in range(CLIENT_THREADS)]
    if load.dashboards:
        threads.append(threading.Thread(target=dashboards, daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    traffic_s = time.time() - started
    for thread in threads:
        thread.join(timeout=60)
    _wait_folded(kinesis, config, traffic)
    return Phase(traffic.seen / max(1, load.shard_players), started, traffic_s, time.time(), sent[0])


def _wait_folded(kinesis: object, config: LocalConfig, traffic: Traffic, timeout: float = 120) -> None:
    """Until the fold has applied a marker record put after the traffic (an event of a player already counted)."""
    from headcount.local.shards import wait_caught_up

    marker = traffic.event(int(time.time() * 1000), 0, "match_end")
    answer = kinesis.put_record(  # type: ignore[attr-defined]
        StreamName=names.STREAM, Data=json.dumps(marker).encode() + b"\n", PartitionKey=marker["player_id"]
    )
    wait_caught_up(config, {answer["ShardId"]: int(answer["SequenceNumber"])}, "fold", timeout=timeout)


def _nightly(config: LocalConfig, day: str, progress: Callable[[str], None]) -> dict:
    """The nightly job over what the run archived (its publish metered, by this process's meter), then on the same
    Spark session again over it (warm, the baseline) and over that archive copied 20 times (the job reads and dedups
    every copy): the difference is what more events cost the job, apart from what a run costs whatever its size."""
    from datetime import date

    from headcount.batch.session import local_spark
    from headcount.local.batch import run_batch

    lake_dir = config.lake_dir
    time.sleep(12)  # the local archiver flushes every 10 s
    spark = local_spark()
    runs = []
    try:
        for copies in (1, 1, NIGHTLY_COPIES):
            if copies > 1:
                for original in list((lake_dir / names.RAW_PREFIX).rglob("*.json.gz")):
                    for n in range(1, copies):
                        shutil.copyfile(original, original.with_name(f"copy{n}-{original.name}"))
            started = time.time()
            run_batch(lake_dir, date.fromisoformat(day), "UTC", f"cost-{int(started)}-{len(runs)}", spark=spark,
                      days_back=0)  # fmt: skip
            runs.append((started, time.time()))
            progress(f"  nightly job over the run's archive x{copies}: {runs[-1][1] - started:.1f} s")
    finally:
        spark.stop()
    (first_started, first_ended), warm, copied = runs
    return {
        "started": first_started,
        "ended": first_ended,
        "seconds": warm[1] - warm[0],
        "copies_seconds": copied[1] - copied[0],
        "copies": NIGHTLY_COPIES,
    }


def _table_bytes(ddb: object, table: str) -> int:
    from headcount.local.meter import item_size

    pages = ddb.get_paginator("scan").paginate(TableName=table)  # type: ignore[attr-defined]
    return sum(item_size(item) for page in pages for item in page["Items"])


def _post(port: int, events: list[dict]) -> dict:
    body = json.dumps({"events": events}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/events",
        data=body,
        method="POST",
        headers={"x-api-key": DEMO_KEY, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return {"rejected": events, "status": error.code}


def _get(port: int, path: str) -> None:
    base = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(f"{base}{path}", headers=tools_headers(base))  # noqa: S310 - 127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
            response.read()
    except urllib.error.HTTPError:
        pass  # counted by the meter like any request
