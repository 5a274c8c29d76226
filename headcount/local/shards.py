"""Reading one Kinesis shard with a checkpoint: the part every local stream consumer shares.

Kinesis facts relied on: sequence numbers grow within a shard (compared as integers); a closed shard, once read to its end,
returns no NextShardIterator; a child shard may only be read after its parents are read to the end (ordering by player).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from headcount.local.config import LocalConfig
from headcount.views.aws import client
from headcount.views.stream import RETRYABLE


@dataclass(frozen=True)
class Checkpoint:
    sequence_number: str | None
    finished: bool = False


class CheckpointStore:
    """One small JSON file per (consumer, shard), replaced atomically (write, fsync, rename)."""

    def __init__(self, root: Path, consumer: str) -> None:
        self.dir = root / consumer
        self.dir.mkdir(parents=True, exist_ok=True)

    def get(self, shard_id: str) -> Checkpoint | None:
        path = self.dir / f"{shard_id}.json"
        if not path.exists():
            return None
        doc = json.loads(path.read_text())
        return Checkpoint(doc["sequence_number"], doc["finished"])

    def positions(self) -> dict[str, int]:
        """The sequence number each shard's checkpoint has reached (shards with none are left out)."""
        checkpoints = {path.stem: self.get(path.stem) for path in sorted(self.dir.glob("*.json"))}
        return {s: int(cp.sequence_number) for s, cp in checkpoints.items() if cp and cp.sequence_number is not None}

    def put(self, shard_id: str, checkpoint: Checkpoint) -> None:
        path = self.dir / f"{shard_id}.json"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "w") as out:
            json.dump({"sequence_number": checkpoint.sequence_number, "finished": checkpoint.finished}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    def reset(self) -> None:
        for path in self.dir.glob("*.json"):
            path.unlink()


class ShardReader:
    """GetRecords over one shard, from a checkpoint or a starting position; survives expired iterators."""

    def __init__(self, stream: str, shard_id: str, after: str | None, starting_position: str = "TRIM_HORIZON") -> None:
        self.kinesis = client("kinesis")
        self.stream, self.shard_id = stream, shard_id
        self.last_sequence_number = after
        self.starting_position = starting_position
        self.iterator: str | None = None
        self.closed = False
        self.failures = 0  # reads in a row that did not get through

    def read(self, limit: int) -> list[dict[str, Any]]:
        """The next records (none when the shard throttles or fails: the reader backs off, and the caller reads
        again; the position is kept, so no record is skipped or read twice)."""
        if self.closed:
            return []
        try:
            if self.iterator is None:
                self.iterator = self._new_iterator()
            response = self.kinesis.get_records(ShardIterator=self.iterator, Limit=max(1, min(limit, 10000)))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExpiredIteratorException":  # over 5 minutes old: a new one, same place
                self.iterator = None
                return []
            if exc.response["Error"]["Code"] not in RETRYABLE:
                raise
            self._back_off()
            return []
        except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError):
            self._back_off()
            return []
        self.failures = 0
        records = response["Records"]
        if records:
            self.last_sequence_number = records[-1]["SequenceNumber"]
        self.iterator = response.get("NextShardIterator")
        if self.iterator is None:
            self.closed = True  # a closed shard read to its end
        return records

    def _back_off(self) -> None:
        """The client's own retries did not get through: wait (exponential, full jitter, at most 5 s) before the
        caller's next read, as Lambda's event-source mapping backs off a throttled shard."""
        self.failures += 1
        time.sleep(random.uniform(0, min(5.0, 0.1 * 2**self.failures)))

    def _new_iterator(self) -> str:
        if self.last_sequence_number is not None:
            kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": self.last_sequence_number}
        else:
            kwargs = {"ShardIteratorType": self.starting_position}
        return self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=self.shard_id, **kwargs)["ShardIterator"]


def list_shards(stream: str) -> list[dict[str, Any]]:
    pages = client("kinesis").get_paginator("list_shards").paginate(StreamName=stream)
    return [shard for page in pages for shard in page["Shards"]]


def ready_shards(shards: list[dict[str, Any]], checkpoints: CheckpointStore) -> list[str]:
    """Shards to read now: not finished, and every parent still in the stream is finished (parents before children)."""
    present = {s["ShardId"] for s in shards}
    ready = []
    for shard in shards:
        checkpoint = checkpoints.get(shard["ShardId"])
        if checkpoint and checkpoint.finished:
            continue
        parents = [shard.get("ParentShardId"), shard.get("AdjacentParentShardId")]
        if all(p is None or p not in present or _finished(checkpoints, p) for p in parents):
            ready.append(shard["ShardId"])
    return ready


def _finished(checkpoints: CheckpointStore, shard_id: str) -> bool:
    checkpoint = checkpoints.get(shard_id)
    return bool(checkpoint and checkpoint.finished)


def stream_ends(stream: str, after: dict[str, int] | None = None) -> dict[str, int]:
    """The sequence number of each shard's last record now (shards without a record left out), for `wait_caught_up`
    when the records were put by someone else (the API answers no sequence numbers). Kinesis has no call that says it
    (ListShards gives only a closed shard's end; a LATEST iterator has no number), so each shard is read from `after`
    (a consumer's checkpoint positions: only what it has not read yet) or its start, to its end."""
    kinesis, after = client("kinesis"), after or {}
    ends: dict[str, int] = {}
    for shard in list_shards(stream):
        shard_id = shard["ShardId"]
        start = after.get(shard_id)
        if start is not None:
            kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": str(start)}
            ends[shard_id] = start
        else:
            kwargs = {"ShardIteratorType": "TRIM_HORIZON"}
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, **kwargs)["ShardIterator"]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            if response["Records"]:
                ends[shard_id] = int(response["Records"][-1]["SequenceNumber"])
            elif not response.get("MillisBehindLatest"):
                break  # at the shard's tip
            iterator = response.get("NextShardIterator")
    return ends


def wait_caught_up(
    config: LocalConfig, last_sequence: dict[str, int], consumer: str = "fold", timeout: float = 600
) -> None:
    """Until every shard's checkpoint of `consumer` (fold or archive) has reached the last record sent to it."""
    checkpoints = CheckpointStore(config.checkpoint_dir, consumer)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        behind = [
            s
            for s, seq in last_sequence.items()
            if (cp := checkpoints.get(s)) is None or cp.sequence_number is None or int(cp.sequence_number) < seq
        ]
        if not behind:
            print(f"{consumer} caught up in {time.monotonic() - started:.1f} s", flush=True)
            return
        time.sleep(0.25)
    raise TimeoutError(f"the {consumer} workers did not catch up within {timeout} s; see {config.log_dir}")
