"""End to end through the local stack and its HTTP API: a simulated game in, the truth out (real-time layer)."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from datetime import timedelta

import pytest

from headcount.core import sketches
from headcount.core.buckets import day_bounds_ms, local_date
from headcount.core.catalog import Kind
from headcount.local.processes import recorded_pid
from headcount.local.shards import CheckpointStore, wait_caught_up
from headcount.local.simulator import simulate
from headcount.local.workers import FOLD
from headcount.views.aws import client
from headcount.views.catalog_file import load_catalog
from headcount.views.stream import Producer, send
from support.stack_process import ingest_headers, read_headers

pytestmark = pytest.mark.e2e
CATALOG = load_catalog()
EVENTS = 50_000


def api(config, path):
    request = urllib.request.Request(f"http://127.0.0.1:{config.api_port}{path}", headers=read_headers(config))
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


FRESHNESS = ("as_of", "stale")  # how fresh a point is may change when nothing else does (a redelivery's watermark)


def snapshot(config, truth):
    """Every point of every metric over the days the truth covers: its numbers and where they come from."""
    days = sorted({b[:10] for buckets in truth.values() for b in buckets})
    return {
        m.name: [
            {k: v for k, v in p.items() if k not in FRESHNESS}
            for p in api(config, f"/v1/metrics/{m.name}?from={days[0]}&to={days[-1]}")["points"]
        ]
        for m in CATALOG.listed()
        if m.kind is not Kind.RETENTION  # a matrix, not a series (its own route)
    }


def assert_real_time_is(truth, numbers):
    """Every bucket of the truth is a real-time point: counts exactly, distinct counts within their bounds, and those
    bounds no wider than the sketch's error."""
    for metric in (m for m in CATALOG.listed() if m.kind.counted):  # what the simulator's truth counts
        points = {(p["bucket"], p.get("group", "")): p for p in numbers[metric.name]}
        for bucket, groups in truth[metric.name].items():
            for group, expected in groups.items():
                point = points[(bucket, group)]
                assert point["source"] == "realtime" and point["exact"] is False
                if metric.kind is Kind.COUNT:
                    assert point["value"] == point["low"] == point["high"] == expected, (metric.name, bucket, group)
                else:
                    assert point["low"] <= expected <= point["high"], (metric.name, bucket, group, point, expected)
                    allowed = 2 * sketches.relative_standard_error(metric.lg_k) * point["value"] + 1
                    assert point["high"] - point["value"] <= allowed and point["value"] - point["low"] <= allowed


def kill_fold_worker(config, shard_id):
    pid = recorded_pid(config.pid_dir / f"{FOLD}-{shard_id}.pid")
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_restarted(config, shard_id, old_pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if recorded_pid(config.pid_dir / f"{FOLD}-{shard_id}.pid") != old_pid:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{shard_id}'s fold worker was not restarted")


def rejected_records(config):
    """Records the fold logged as rejected, by (shard, sequence number): a batch redelivered after a kill logs its
    rejections again, the same records."""
    rejected = set()
    for log in config.log_dir.glob("fold-*.log"):
        for line in log.read_text().splitlines():
            if '"event rejected"' in line:
                entry = json.loads(line)
                rejected.add((entry["shard_id"], entry["sequence_number"]))
    return rejected


def test_the_real_time_layer_matches_the_truth_through_kills_and_redelivery(local_stack):
    config = local_stack
    # Given a simulated game of yesterday and today so far
    now_ms = int(time.time() * 1000)
    start_ms, _ = day_bounds_ms(local_date(now_ms, "UTC") - timedelta(days=1), "UTC")
    sim = simulate(CATALOG, "UTC", start_ms, now_ms, EVENTS, seed=11)
    truth = sim.truth.to_json()["as_sent"]
    put = Producer(client("kinesis"))
    sent_to = put.last_sequence

    # When the first half is sent, a fold worker is killed with SIGKILL mid-stream, and the rest is sent
    half = len(sim.records) // 2
    send(sim.records[:half], put)
    shard = "shardId-000000000000"
    checkpoints = CheckpointStore(config.checkpoint_dir, FOLD)
    deadline = time.monotonic() + 60
    while checkpoints.get(shard) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = kill_fold_worker(config, shard)
    send(sim.records[half:], put)
    wait_restarted(config, shard, killed)
    wait_caught_up(config, sent_to, timeout=300)

    # Then every number is right
    first = snapshot(config, truth)
    assert_real_time_is(truth, first)
    # malformed events were counted, not retried, and the shards kept flowing (the numbers above are complete)
    assert len(rejected_records(config)) == sim.malformed > 0

    # When every batch is delivered once more (the fold re-reads each shard from its start)
    for shard_id in list(sent_to):
        (config.checkpoint_dir / FOLD / f"{shard_id}.json").unlink()
        pid = kill_fold_worker(config, shard_id)
        wait_restarted(config, shard_id, pid)
    wait_caught_up(config, sent_to, timeout=300)

    # Then nothing changes
    assert snapshot(config, truth) == first


def test_a_game_posts_events_through_the_api_and_sees_them_counted(local_stack):
    config = local_stack
    # Given a game client posting a batch for a day nobody else uses (10 days ago), one event malformed
    ts = int(time.time() * 1000) - 10 * 86_400_000
    day = time.strftime("%Y-%m-%d", time.gmtime(ts / 1000))
    events = [{"event_id": f"m{i}", "type": "match_end", "player_id": f"p{i}", "ts": ts} for i in range(7)]
    request = urllib.request.Request(
        f"http://127.0.0.1:{config.api_port}/v1/events",
        data=json.dumps({"events": [*events, {"type": "x"}]}).encode(),
        headers=ingest_headers(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["accepted"] == 7 and [r["index"] for r in answer["rejected"]] == [7]
    # Then, seconds later, the matches of that day are counted
    deadline = time.monotonic() + 30
    while api(config, f"/v1/metrics/matches_played?from={day}&to={day}")["points"][0]["value"] < 7:
        assert time.monotonic() < deadline, "posted events did not show up within 30 s"
        time.sleep(0.2)
    # and, once a second has passed (the function's instances share their reads for that long, so an instance may
    # still answer from reads made just before the fold's write), every instance counts them once
    time.sleep(1.1)
    for _ in range(8):  # more requests than the API has function processes
        assert api(config, f"/v1/metrics/matches_played?from={day}&to={day}")["points"][0]["value"] == 7
