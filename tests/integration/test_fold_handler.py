"""The fold Lambda handler on a Lambda-shaped Kinesis event, against DynamoDB (moto in-process)."""

import json
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from headcount.functions.fold.handler import handler, runtime

from headcount import names
from headcount.core import keys
from headcount.local.esm import LocalLambdaContext
from headcount.local.esm import kinesis_event as lambda_kinesis_event
from headcount.views.realtime import DynamoRealtimeStore

NOW_S = 1_795_000_000
SHARD = "shardId-000000000001"


def kinesis_event(docs, first_seq=49_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000):
    arrival = datetime.fromtimestamp(NOW_S + 0.5, UTC)
    records = [
        {
            "SequenceNumber": str(first_seq + i),
            "PartitionKey": "p",
            "ApproximateArrivalTimestamp": arrival,
            "Data": doc if isinstance(doc, bytes) else json.dumps(doc).encode() + b"\n",
        }
        for i, doc in enumerate(docs)
    ]
    return lambda_kinesis_event(records, SHARD, "arn:aws:kinesis:us-east-1:123456789012:stream/headcount-events")


def context():
    return LocalLambdaContext(
        "headcount-fold", "req-1", "arn:aws:lambda:us-east-1:123456789012:function:headcount-fold"
    )


def game(n):
    return [
        {
            "event_id": f"e{i}",
            "type": ["session_start", "match_end", "ad_impression"][i % 3],
            "player_id": f"p{i % 40}",
            "ts": (NOW_S - i * 60) * 1000,
            "attrs": {"country": ["DE", "US"][i % 2]},
        }
        for i in range(n)
    ]


def table_items():
    from headcount.views.aws import client

    items = client("dynamodb").scan(TableName=names.REALTIME_TABLE)["Items"]
    items = [i for i in items if i["pk"]["S"] != keys.SHARDS_PK]  # the shards' statuses: see the test below
    return sorted((i["pk"]["S"], i["sk"]["S"], i.get("count", {}).get("N"), i["seq"]["S"]) for i in items)


@pytest.fixture(autouse=True)
def _fresh_runtime():
    from headcount.functions.fold import handler as module

    module.runtime.cache_clear()
    yield
    module.runtime.cache_clear()


def test_a_batch_is_folded_into_one_item_per_metric_bucket_group_and_shard(aws):
    response = handler(kinesis_event(game(300)), context())
    assert response == {"batchItemFailures": []}
    items = table_items()
    # a distinct item whose players are few holds them as its recent ids (an item of its own) until they outgrow it
    assert all(sk.endswith((SHARD, keys.recent_shard(SHARD))) for _, sk, _, _ in items)
    matches = sum(int(c) for pk, _, c, _ in items if pk.startswith("matches_played#"))
    assert matches == 100


def test_the_shard_status_lists_its_days_and_its_watermark_is_the_newest_record_applied(aws):
    event = kinesis_event(game(300))
    assert handler(event, context()) == {"batchItemFailures": []}
    [status] = DynamoRealtimeStore(names.REALTIME_TABLE).shard_statuses()
    days = {pk.split("#")[1] for pk, _, _, _ in table_items()}
    assert status.shard_id == SHARD and status.days == days
    assert status.watermark_ms == max(int(r["kinesis"]["approximateArrivalTimestamp"] * 1000) for r in event["Records"])


def test_redelivering_the_batch_changes_no_item(aws):
    event = kinesis_event(game(300))
    handler(event, context())
    before = table_items()
    for _ in range(3):
        assert handler(event, context()) == {"batchItemFailures": []}
    assert table_items() == before


def test_rejected_events_are_counted_by_reason_and_never_retried(aws, capsys):
    # Given a batch with two malformed records among valid ones
    event = kinesis_event([b"{broken", {"type": "match_end"}] + game(5))
    # When it is folded, the batch succeeds and the valid events are applied
    assert handler(event, context()) == {"batchItemFailures": []}
    assert any(pk.startswith("matches_played#") for pk, *_ in table_items())
    # And the EMF output counts each reason once, with its dimension, and all of them in the batch's metrics (what the
    # EventsRejected alarm reads)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    rejected = {doc["reason"]: doc["EventsRejected"] for doc in emf if "EventsRejected" in doc and "reason" in doc}
    assert rejected == {"not_json": [1.0], "bad_player_id": [1.0]}
    folded = next(doc for doc in emf if "EventsFolded" in doc)
    # 5 items (the metrics of the events' types), their 5 sub-day twins' quarter hours and new_players' Theta items
    # (the day's and its twin's quarter hour)
    assert folded["EventsFolded"] == [5.0] and folded["ItemsWritten"] == folded["ItemsTouched"] == [12.0]
    assert folded["EventsRejected"] == [2.0] and "reason" not in folded


def test_a_dynamodb_failure_reports_the_first_unapplied_record(aws):
    event = kinesis_event(game(30))
    real_put = DynamoRealtimeStore.write

    def flaky(self, item, expected, expires_at):
        if item.key.metric == "ad_impressions":
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem"
            )
        return real_put(self, item, expected, expires_at)

    with mock.patch.object(DynamoRealtimeStore, "write", flaky):
        response = handler(event, context())
    first_ad = event["Records"][2]["kinesis"]["sequenceNumber"]  # game(): every third event is an ad impression
    assert response == {"batchItemFailures": [{"itemIdentifier": first_ad}]}
    # Lambda re-delivers from that record on: the result is as if nothing had failed.
    retry = {"Records": event["Records"][2:]}
    assert handler(retry, context()) == {"batchItemFailures": []}
    after_retry = table_items()
    from headcount.views.aws import client

    for item in client("dynamodb").scan(TableName=names.REALTIME_TABLE)["Items"]:
        client("dynamodb").delete_item(TableName=names.REALTIME_TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    runtime.cache_clear()  # a new container, folding the same batch into the emptied table
    handler(event, context())
    assert table_items() == after_retry
