"""Writing to the Kinesis stream: PutRecords in calls of at most 500 records, retrying what a call reports as failed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from headcount import names

# Kinesis errors of a whole call worth another attempt, after the client's own (the others will not change by waiting):
# PutRecords here, GetRecords in the local shard readers.
RETRYABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "KMSThrottlingException",
        "ThrottlingException",
    }
)


class StreamUnavailable(RuntimeError):
    """Records still failing after every retry (the stream is throttling or down)."""


class Producer:
    """PutRecords into the stream, remembering the last sequence number each shard took (to wait for its consumers)."""

    def __init__(self, kinesis: Any, stream: str = names.STREAM) -> None:
        self.kinesis, self.stream = kinesis, stream
        self.last_sequence: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, records: list[dict]) -> dict:
        response = self.kinesis.put_records(StreamName=self.stream, Records=records)
        with self._lock:
            for result in response["Records"]:
                if "SequenceNumber" in result:
                    shard, seq = result["ShardId"], int(result["SequenceNumber"])
                    self.last_sequence[shard] = max(seq, self.last_sequence.get(shard, 0))
        return response


class PutOutcome(NamedTuple):
    pending: list[int]  # indices of the records not known to be in the stream
    unanswered: frozenset[int]  # those of them a call without an answer carried: they may be in it after all


def put_with_retries(
    records: list[dict], put_records: Callable[[list[dict]], dict], attempts: int = 20, deadline: float | None = None
) -> PutOutcome:
    """One PutRecords of at most 500 records, then again for the records the call reports as failed (Kinesis accepts or
    refuses each record of a call on its own; a refusal is throttling or an internal error), with exponential backoff,
    until all are in, `attempts` calls were made or the `deadline` (time.monotonic()) has passed.

    A call that fails as a whole with a retryable error counts as a failed attempt for every record it carried (one
    that got no answer at all may have put them: they are reported as unanswered); other errors are raised."""
    pending = list(range(len(records)))
    unanswered: set[int] = set()
    for attempt in range(attempts):
        try:
            response = put_records([records[i] for i in pending])
            pending = [i for i, result in zip(pending, response["Records"], strict=True) if "ErrorCode" in result]
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in RETRYABLE:
                raise  # the stream is missing, access is denied, the request is invalid: retrying cannot help
        except BotoCoreError:
            unanswered.update(pending)  # no answer (connection lost, timeout): in or not, unknown; tried again
        if not pending:
            return PutOutcome([], frozenset())
        pause = min(0.05 * 2**attempt, 2.0)
        if deadline is not None and time.monotonic() + pause >= deadline:
            break
        time.sleep(pause)
    return PutOutcome(pending, frozenset(unanswered.intersection(pending)))


def send(
    records: list[tuple[bytes, str]],
    put_records: Callable[[list[dict]], dict],
    writers: int = 4,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Every record into the stream, in PutRecords calls of at most 500 over `writers` threads; StreamUnavailable when
    some are still refused after every retry."""
    chunks = [records[i : i + 500] for i in range(0, len(records), 500)]

    def put(chunk: list[tuple[bytes, str]]) -> int:
        outcome = put_with_retries([{"Data": data, "PartitionKey": key} for data, key in chunk], put_records)
        if outcome.pending:
            raise StreamUnavailable(f"{len(outcome.pending)} records still refused after 20 attempts")
        return len(chunk)

    sent = 0
    with ThreadPoolExecutor(writers) as pool:
        for n in pool.map(put, chunks):
            sent += n
            if progress:
                progress(sent)
    return sent


class OpenShards:
    """The stream's open shards (ListShards), asked at most every `ttl_s`: readers tell a closed shard (split or merged
    away, its status frozen at its last record) from one that stopped. None when the stream cannot be listed."""

    def __init__(
        self, kinesis: Any, stream: str = names.STREAM, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.kinesis, self.stream, self.ttl_s, self.clock = kinesis, stream, ttl_s, clock
        self._known: frozenset[str] | None = None
        self._asked_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> frozenset[str] | None:
        with self._lock:
            now = self.clock()
            if self._asked_at is None or now - self._asked_at >= self.ttl_s:
                self._asked_at = now
                try:
                    pages = self.kinesis.get_paginator("list_shards").paginate(StreamName=self.stream)
                    shards = [s for page in pages for s in page["Shards"]]
                    self._known = frozenset(
                        s["ShardId"] for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]
                    )
                except (BotoCoreError, ClientError):
                    pass  # keep what was known: freshness is a hint, never a reason to fail a read
            return self._known
