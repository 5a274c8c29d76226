"""`headcount replay`: the real-time view gets back what a given-up batch took from it, counted once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headcount import names
from support.reliability_stack import PORTS, matches_on, post_matches, wait_for
from support.stack_process import local_client

pytestmark = pytest.mark.e2e  # starts processes of the local stack: `-m "not e2e"` leaves it out


def aws(service: str):  # noqa: ANN201
    return local_client(service, int(PORTS["HEADCOUNT_MOTO_PORT"]))


def replay(state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **PORTS, "HEADCOUNT_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "headcount", "replay"], env=env, capture_output=True, text=True, timeout=300
    )


def test_replay_rebuilds_what_a_given_up_batch_missed_and_counts_nothing_twice(running_stack, tmp_path: Path) -> None:
    today = post_matches(0, 40)
    wait_for(lambda: matches_on(today) == 40)
    assert "no batch was given up" in replay(tmp_path).stdout
    # Given a batch of one shard the fold gave up: its matches are missing from the real-time view, and the
    # on-failure queue holds its metadata, as the event-source mapping sends it
    ddb, table = aws("dynamodb"), names.REALTIME_TABLE
    items = [i for i in ddb.scan(TableName=table)["Items"] if i["pk"]["S"].startswith("matches_played#")]
    shard = items[0]["sk"]["S"].rsplit("#", 1)[1]
    lost = [i for i in items if i["sk"]["S"].endswith(shard)]
    for item in lost:
        ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    missing = sum(int(i["count"]["N"]) for i in lost)
    arrived = datetime.now(UTC).isoformat()
    info = {
        "shardId": shard,
        "startSequenceNumber": "1",
        "endSequenceNumber": "2",
        "batchSize": missing,
        "approximateArrivalOfFirstRecord": arrived,
        "approximateArrivalOfLastRecord": arrived,
    }
    queue = aws("sqs").get_queue_url(QueueName=names.ON_FAILURE_QUEUE)["QueueUrl"]
    message = {"requestContext": {"condition": "RetryAttemptsExhausted"}, "KinesisBatchInfo": info}
    aws("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(message))
    assert 40 - missing > 0
    wait_for(lambda: matches_on(today) == 40 - missing)  # the API serves reads up to a second old
    # When the user replays
    done = replay(tmp_path)
    # Then the batch is reported, the view is whole again (each match once), and the queue is empty
    assert done.returncode == 0, done.stdout + done.stderr
    assert shard in done.stdout and "replayed" in done.stdout
    wait_for(lambda: matches_on(today) == 40)
    assert "Messages" not in aws("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=0)
