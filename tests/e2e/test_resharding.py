"""Resharding: a split shard's children are read only after the parent is read to its end, and nothing is lost."""

from __future__ import annotations

import time

import pytest

from headcount import names
from headcount.local.shards import CheckpointStore, wait_caught_up
from headcount.local.simulator import simulate
from headcount.local.workers import FOLD
from headcount.views.aws import client
from headcount.views.catalog_file import load_catalog
from headcount.views.stream import Producer, send
from tests.e2e.test_realtime import api

pytestmark = pytest.mark.e2e


def test_a_split_shard_hands_over_to_its_children_without_loss(local_stack):
    config = local_stack
    catalog = load_catalog()
    now_ms = int(time.time() * 1000)
    sim = simulate(catalog, "UTC", now_ms - 3_600_000, now_ms, 6000, seed=3)
    truth = sim.truth.to_json()["as_sent"]["matches_played"]
    put = Producer(client("kinesis"))
    sent_to = put.last_sequence
    kinesis = client("kinesis")

    # Given records in a shard, when the shard is split and more records arrive in its children
    send(sim.records[:3000], put)
    parent = "shardId-000000000000"
    shard = next(s for s in kinesis.list_shards(StreamName=names.STREAM)["Shards"] if s["ShardId"] == parent)
    low, high = (int(shard["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    kinesis.split_shard(StreamName=names.STREAM, ShardToSplit=parent, NewStartingHashKey=str((low + high) // 2))
    while (
        kinesis.describe_stream_summary(StreamName=names.STREAM)["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE"
    ):
        time.sleep(0.1)
    send(sim.records[3000:], put)
    children = [
        s["ShardId"] for s in kinesis.list_shards(StreamName=names.STREAM)["Shards"] if s.get("ParentShardId") == parent
    ]
    assert len(children) == 2 and all(c in sent_to for c in children)

    # Then the parent is finished, its children folded, and the counts are exact
    wait_caught_up(config, sent_to, timeout=300)
    checkpoints = CheckpointStore(config.checkpoint_dir, FOLD)
    deadline = time.monotonic() + 30
    while not (checkpoints.get(parent) and checkpoints.get(parent).finished) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoints.get(parent).finished
    finished_at = (config.checkpoint_dir / FOLD / f"{parent}.json").stat().st_mtime
    assert all((config.pid_dir / f"{FOLD}-{c}.pid").stat().st_mtime >= finished_at for c in children)
    days = sorted(truth)
    points = api(config, f"/v1/metrics/matches_played?from={days[0]}&to={days[-1]}")["points"]
    assert sum(p["value"] for p in points) == sum(groups[""] for groups in truth.values())
