"""Writing to the Kinesis stream: PutRecords in calls of at most 500 records, retrying what a call reports as failed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from headcount import names


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


def send(
    records: list[tuple[bytes, str]],
    put_records: Callable[[list[dict]], dict],
    writers: int = 4,
    progress: Callable[[int], None] | None = None,
) -> int:
    """PutRecords in calls of at most 500 records, retrying the records a call reports as failed (throttling)."""
    chunks = [records[i : i + 500] for i in range(0, len(records), 500)]

    def put(chunk: list[tuple[bytes, str]]) -> int:
        pending = [{"Data": data, "PartitionKey": key} for data, key in chunk]
        for attempt in range(20):
            response = put_records(pending)
            if not response.get("FailedRecordCount"):
                return len(chunk)
            pending = [r for r, result in zip(pending, response["Records"], strict=True) if "ErrorCode" in result]
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise StreamUnavailable(f"{len(pending)} records still failing after 20 attempts")

    sent = 0
    with ThreadPoolExecutor(writers) as pool:
        for n in pool.map(put, chunks):
            sent += n
            if progress:
                progress(sent)
    return sent
