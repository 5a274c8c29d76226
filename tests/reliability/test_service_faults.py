"""DynamoDB and Kinesis failing a share of their calls (throttling, 5xx, expired iterators): every layer retries with
backoff, and the numbers stay exact."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.retries.standard import ExponentialBackoff
from headcount.functions.fold import handler as fold

from headcount import names
from headcount.local import resources
from headcount.local.esm import MappingSettings, ShardMapping
from headcount.local.faults import Faults
from headcount.local.shards import ShardReader
from headcount.views.aws import client
from headcount.views.realtime import DynamoRealtimeStore

NOW_S = 1_795_000_000
DAY = datetime.fromtimestamp(NOW_S, UTC).date().isoformat()


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch):
    """botocore's own backoff, 100 times shorter (the faults are many; the test need not wait seconds for each)."""
    real = ExponentialBackoff.delay_amount
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: real(self, context) / 100)
    fold.runtime.cache_clear()
    yield
    fold.runtime.cache_clear()


def records(n: int, first_seq: int = 10**20) -> list[dict]:
    arrived = datetime.fromtimestamp(NOW_S, UTC)
    docs = [
        {
            "event_id": f"e-{i}",
            "type": ("session_start", "match_end")[i % 2],
            "player_id": f"p-{i % 97}",
            "ts": (NOW_S - 60) * 1000,
            "attrs": {"country": ("DE", "FR", "US")[i % 3]},
        }
        for i in range(n)
    ]
    return [
        {
            "SequenceNumber": str(first_seq + i),
            "PartitionKey": d["player_id"],
            "ApproximateArrivalTimestamp": arrived,
            "Data": json.dumps(d).encode() + b"\n",
        }
        for i, d in enumerate(docs)
    ]


def test_the_fold_under_dynamodb_faults_counts_every_event_once(aws) -> None:
    # Given DynamoDB failing 30 % of its reads and writes (throttling, 500, 503), often more times than the client retries
    faults = Faults(share=0.3).attach(client("dynamodb"))
    commits: list[str] = []
    mapping = ShardMapping(
        MappingSettings(batch_size=100, batching_window_s=0, retry_backoff_s=0, max_retry_attempts=-1),
        "shardId-000000000000",
        resources.stream_arn(),
        fold.handler,
        commits.append,
        lambda failure: pytest.fail(f"a batch was given up: {failure}"),
        clock=lambda: NOW_S + 60,
    )
    # When 1,000 records are delivered in batches of 100, and once more from the start (a redelivery)
    batch = records(1000)
    for _round in range(2):
        mapping.offer(batch)
        while not mapping.empty():
            mapping.tick(closed=True)
    # Then the faults happened, the shard got through all of them, and each event counts once
    assert faults.injected >= 10 and commits[-1] == batch[-1]["SequenceNumber"]
    items = DynamoRealtimeStore(names.REALTIME_TABLE).day_items("matches_played", DAY)
    assert sum(i.count or 0 for i in items) == 500
    players = DynamoRealtimeStore(names.REALTIME_TABLE).day_items("active_players", DAY)
    from headcount.core import sketches

    parts = [sketches.decode(i.sketch) for i in players if i.sketch]  # the sketch, and its recent ids (as readers do)
    parts += [sketches.decode(sketches.of_values(i.ids, 14)) for i in players if i.ids]
    assert sketches.estimate(sketches.union(parts, 14)).value == 97


def test_the_shard_reader_under_kinesis_faults_reads_every_record_once(aws) -> None:
    # Given a shard of 300 records, GetRecords throttled or failing in bursts, its iterator expiring, and GetShardIterator
    # failing now and then
    resources.create_stream(1)
    kinesis = client("kinesis")
    for i in range(300):
        kinesis.put_record(StreamName=names.STREAM, Data=f"r-{i}".encode(), PartitionKey="p")
    shard = kinesis.list_shards(StreamName=names.STREAM)["Shards"][0]["ShardId"]
    # (bursts of 6 failures: one more than the client's 5 attempts, so the reader's own backoff is needed)
    faults = Faults(share=0.2, kinds=("throttled", "internal"), operations=("GetRecords",), burst=6).attach(kinesis)
    Faults(share=0.2, kinds=("expired",), operations=("GetRecords",), seed=9).attach(kinesis)
    Faults(share=0.4, kinds=("throttled", "internal"), operations=("GetShardIterator",), seed=8).attach(kinesis)
    reader = ShardReader(names.STREAM, shard, None)
    # When it is read 20 records at a time
    seen: list[bytes] = []
    for _step in range(400):
        seen += [r["Data"] for r in reader.read(20)]
        if len(seen) >= 300:
            break
    # Then every record came once, in order
    assert faults.injected >= 10 and seen == [f"r-{i}".encode() for i in range(300)]
