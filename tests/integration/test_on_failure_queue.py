"""An exhausted batch's metadata reaches the SQS on-failure queue in the shape Lambda sends."""

import json
from datetime import UTC, datetime, timedelta

from headcount import names
from headcount.local import resources
from headcount.local.esm import MappingSettings, ShardMapping, sqs_sender
from headcount.views.aws import client


def test_a_batch_that_keeps_failing_is_reported_to_the_queue_and_skipped(aws):
    queue_url = resources.create_queue(names.ON_FAILURE_QUEUE)
    arrived = datetime(2026, 11, 26, tzinfo=UTC)
    commits = []

    def always_fails(event, context):
        raise TimeoutError("Task timed out after 300.00 seconds")

    mapping = ShardMapping(
        MappingSettings(
            batch_size=3, batching_window_s=0, max_retry_attempts=1, bisect_on_error=False, retry_backoff_s=0
        ),
        "shardId-000000000002",
        resources.stream_arn(),
        always_fails,
        commits.append,
        sqs_sender(queue_url),
        clock=lambda: (arrived + timedelta(seconds=30)).timestamp(),
    )
    mapping.offer(
        [
            {"SequenceNumber": str(s), "Data": b"{}", "PartitionKey": "p", "ApproximateArrivalTimestamp": arrived}
            for s in (11, 12, 13)
        ]
    )
    mapping.tick(closed=False)

    messages = client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(messages[0]["Body"])
    assert len(messages) == 1 and body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 2
    assert body["timestamp"] == "2026-11-26T00:00:30.000Z"
    assert body["KinesisBatchInfo"] | {
        "approximateArrivalOfFirstRecord": None,
        "approximateArrivalOfLastRecord": None,
    } == {
        "shardId": "shardId-000000000002",
        "startSequenceNumber": "11",
        "endSequenceNumber": "13",
        "batchSize": 3,
        "streamArn": resources.stream_arn(),
        "approximateArrivalOfFirstRecord": None,
        "approximateArrivalOfLastRecord": None,
    }
    assert commits == ["13"]
