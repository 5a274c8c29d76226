"""`headcount replay`: give the real-time view back what a given-up batch took from it.

When the fold gives a batch up (its records about to leave the stream), the event-source mapping sends the batch's
metadata to the on-failure queue and the shard moves on: those records are in neither the real-time view nor, until
the nightly job, any count. The fold cannot apply them afterwards (each item applies only records after the last one it
applied), so the replay rebuilds the real-time view whole, from the stream: the running stack stops its fold workers,
empties the real-time table, resets their checkpoints and starts them from the stream's start, as `headcount up` does
at every start (the writes are idempotent; nothing counts twice). Records that already left the stream (24 h) are in
the raw archive: the nightly job counts them (`headcount batch --day D` for each day the report names).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from headcount import names
from headcount.local.config import LocalConfig
from headcount.local.shards import CheckpointStore, wait_caught_up
from headcount.views.aws import client

REBUILD_REQUEST = "rebuild-realtime"  # a file under the state folder's control/ that the running stack acts on


@dataclass(frozen=True)
class GivenUpBatch:
    """One on-failure message: where the batch's records are (shard, first and last sequence number) and when they
    arrived."""

    shard_id: str
    first: str
    last: str
    size: int
    condition: str
    first_arrival: datetime
    receipt: str

    def still_in_stream(self, now: datetime) -> bool:
        """Whether the stream still holds its records (they leave it after the stream's retention, 24 h)."""
        return now - self.first_arrival < timedelta(hours=names.STREAM_RETENTION_HOURS)


def given_up_batches(queue_url: str) -> list[GivenUpBatch]:
    """Every message of the on-failure queue (received, not deleted: `forget` does that once they are replayed)."""
    sqs, batches, seen = client("sqs"), [], set()
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300)
        fresh = [m for m in messages.get("Messages", []) if m["MessageId"] not in seen]
        if not fresh:
            return batches
        for message in fresh:
            seen.add(message["MessageId"])
            body = json.loads(message["Body"])
            info = body["KinesisBatchInfo"]
            batches.append(
                GivenUpBatch(
                    info["shardId"],
                    info["startSequenceNumber"],
                    info["endSequenceNumber"],
                    info["batchSize"],
                    body["requestContext"]["condition"],
                    datetime.fromisoformat(info["approximateArrivalOfFirstRecord"]),
                    message["ReceiptHandle"],
                )
            )


def forget(queue_url: str, batches: list[GivenUpBatch]) -> None:
    for batch in batches:
        client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=batch.receipt)


def request_rebuild(config: LocalConfig, timeout: float = 120) -> None:
    """Ask the running stack to rebuild the real-time view from the stream, and wait until it has (the fold back where
    it was before the rebuild)."""
    reached = CheckpointStore(config.checkpoint_dir, "fold").positions()
    config.control_dir.mkdir(parents=True, exist_ok=True)
    request = config.control_dir / REBUILD_REQUEST
    request.touch()
    deadline = time.monotonic() + timeout
    while request.exists():
        if time.monotonic() > deadline:
            request.unlink(missing_ok=True)
            raise TimeoutError("the stack did not take the rebuild request: is `headcount up` running?")
        time.sleep(0.2)
    wait_caught_up(config, reached, "fold", timeout=timeout)
