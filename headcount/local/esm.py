"""A local Kinesis event-source mapping for one shard, following Lambda's rules.

- Batches of up to `batch_size` records, invoked when full or when the batching window since the first buffered record ends.
- ReportBatchItemFailures: the shard resumes at the lowest reported sequence number; an itemIdentifier that is not in the
  batch fails the whole batch (as on AWS).
- A function error retries the batch; with bisect on, the failing batch is split in two and each half retried.
- After `max_retry_attempts` retries (-1: no limit), or once the batch's oldest record is older than `max_record_age_s`,
  the batch's metadata goes to the on-failure SQS queue and the shard moves on. Records are never skipped silently.
"""

from __future__ import annotations

import base64
import json
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from headcount import names

Invoke = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class MappingSettings:
    batch_size: int = names.FOLD_BATCH_SIZE
    batching_window_s: float = names.FOLD_BATCHING_WINDOW_S
    max_retry_attempts: int = names.FOLD_MAX_RETRY_ATTEMPTS
    max_record_age_s: float = names.FOLD_MAX_RECORD_AGE_S
    bisect_on_error: bool = names.FOLD_BISECT_ON_ERROR
    starting_position: str = names.FOLD_STARTING_POSITION
    function_name: str = names.FOLD_FUNCTION
    retry_backoff_s: float = 0.5
    # Lambda reads a shard about once a second (its base rate), so a window under a second still means about one
    # invocation a second; the local stack reads as often as records come (0) unless told (the cost model: 1).
    min_read_interval_s: float = 0.0


@dataclass
class LocalLambdaContext:
    """The context object Lambda passes to a handler, as far as Powertools reads it."""

    function_name: str
    aws_request_id: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_arn(function_name: str) -> str:
    """The local stand-in for a function's ARN, in the stack's region and moto's account."""
    return f"arn:aws:lambda:{names.REGION}:{names.LOCAL_ACCOUNT_ID}:function:{function_name}"


class _Outcome:
    def __init__(self, ok: bool = False, resume_at: int | None = None, error: str | None = None) -> None:
        self.ok, self.resume_at, self.error = ok, resume_at, error


class ShardMapping:
    """Buffers one shard's records and delivers them to the handler; `commit(seq)` checkpoints what is done."""

    def __init__(
        self,
        settings: MappingSettings,
        shard_id: str,
        stream_arn: str,
        invoke: Invoke,
        commit: Callable[[str], None],
        on_failure: Callable[[dict[str, Any]], None],
        clock: Callable[[], float] = time.time,
        observe: Callable[[list[dict[str, Any]], float, float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` is the wall clock in epoch seconds: a record's age is measured against it, as Lambda measures it
        against the arrival time Kinesis stamped; `monotonic` times the batching window. `observe(batch, duration_s,
        ended_at)` is told of every invocation (the local meter's)."""
        self.settings, self.shard_id, self.stream_arn = settings, shard_id, stream_arn
        self.clock, self.observe, self.monotonic = clock, observe, monotonic
        self.invoke, self.commit, self.on_failure = invoke, commit, on_failure
        self.buffer: list[dict[str, Any]] = []
        self.window_started: float | None = None

    def capacity(self) -> int:
        return self.settings.batch_size - len(self.buffer)

    def offer(self, records: list[dict[str, Any]]) -> None:
        if records and not self.buffer:
            self.window_started = self.monotonic()
        self.buffer += records

    def empty(self) -> bool:
        return not self.buffer

    def tick(self, closed: bool) -> None:
        if not self.buffer:
            return
        full = len(self.buffer) >= self.settings.batch_size
        window_over = self.monotonic() - (self.window_started or 0) >= self.settings.batching_window_s
        if full or window_over or closed:
            batch, self.buffer = self.buffer[: self.settings.batch_size], self.buffer[self.settings.batch_size :]
            self.window_started = self.monotonic() if self.buffer else None
            self._deliver(batch)

    def shutdown(self) -> None:
        """Records buffered but not delivered are not checkpointed: the next reader gets them again."""

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        attempts = 0
        while batch:
            outcome = self._invoke(batch)
            if outcome.ok:
                self.commit(batch[-1]["SequenceNumber"])
                return
            if outcome.resume_at is not None:
                done = [r for r in batch if int(r["SequenceNumber"]) < outcome.resume_at]
                if done:
                    self.commit(done[-1]["SequenceNumber"])
                batch = batch[len(done) :]
            attempts += 1
            print(
                f"{self.shard_id}: batch of {len(batch)} from {batch[0]['SequenceNumber']} failed (attempt {attempts}): "
                f"{outcome.error or f'partial failure, resuming at {outcome.resume_at}'}",
                flush=True,
            )
            condition = self._exhausted(batch, attempts)
            if condition is not None:
                self._send_to_on_failure(batch, attempts, outcome, condition)
                self.commit(batch[-1]["SequenceNumber"])
                return
            if outcome.error is not None and self.settings.bisect_on_error and len(batch) > 1:
                middle = len(batch) // 2
                self._deliver(batch[:middle])
                self._deliver(batch[middle:])
                return
            time.sleep(min(self.settings.retry_backoff_s * 2 ** (attempts - 1), 10.0))

    def _invoke(self, batch: list[dict[str, Any]]) -> _Outcome:
        context = LocalLambdaContext(
            self.settings.function_name,
            str(uuid.uuid4()),
            lambda_arn(self.settings.function_name),
        )
        started = time.perf_counter()
        try:
            response = self.invoke(self.event(batch), context)
        except Exception:  # noqa: BLE001 - a function error, as Lambda sees it
            return _Outcome(error=traceback.format_exc(limit=-3))
        finally:
            if self.observe is not None:
                self.observe(batch, time.perf_counter() - started, self.clock())
        failures = (response or {}).get("batchItemFailures") if isinstance(response, dict) else None
        if not failures:
            return _Outcome(ok=True)
        in_batch = {int(r["SequenceNumber"]) for r in batch}
        try:
            reported = [int(f["itemIdentifier"]) for f in failures]
        except (KeyError, TypeError, ValueError):
            return _Outcome(error="invalid batchItemFailures response: the whole batch fails")
        if not all(seq in in_batch for seq in reported):
            return _Outcome(error="batchItemFailures names a record not in the batch: the whole batch fails")
        return _Outcome(resume_at=min(reported))

    def event(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        return kinesis_event(batch, self.shard_id, self.stream_arn, self.settings.function_name)

    def _exhausted(self, batch: list[dict[str, Any]], attempts: int) -> str | None:
        """Why Lambda would give this batch up now, or None to retry it."""
        if 0 <= self.settings.max_retry_attempts < attempts:
            return "RetryAttemptsExhausted"
        oldest = batch[0]["ApproximateArrivalTimestamp"].timestamp()
        if 0 <= self.settings.max_record_age_s < self.clock() - oldest:
            return "RecordAgeExceeded"
        return None

    def _send_to_on_failure(
        self, batch: list[dict[str, Any]], attempts: int, outcome: _Outcome, condition: str
    ) -> None:
        """The record Lambda sends to an on-failure destination: metadata only, the records stay in the stream."""
        self.on_failure(
            {
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": lambda_arn(self.settings.function_name),
                    "condition": condition,
                    "approximateInvokeCount": attempts,
                },
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled" if outcome.error else None,
                },
                "version": "1.0",
                "timestamp": datetime.fromtimestamp(self.clock(), UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "KinesisBatchInfo": {
                    "shardId": self.shard_id,
                    "startSequenceNumber": batch[0]["SequenceNumber"],
                    "endSequenceNumber": batch[-1]["SequenceNumber"],
                    "approximateArrivalOfFirstRecord": batch[0]["ApproximateArrivalTimestamp"].isoformat(),
                    "approximateArrivalOfLastRecord": batch[-1]["ApproximateArrivalTimestamp"].isoformat(),
                    "batchSize": len(batch),
                    "streamArn": self.stream_arn,
                },
            }
        )


def kinesis_event(
    records: list[dict[str, Any]], shard_id: str, stream_arn: str, function_name: str = names.FOLD_FUNCTION
) -> dict[str, Any]:
    """The event Lambda sends for a batch of one shard's records (as GetRecords returns them)."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{names.LOCAL_ACCOUNT_ID}:role/{function_name}",
                "awsRegion": names.REGION,
                "eventSourceARN": stream_arn,
            }
            for r in records
        ]
    }


def sqs_sender(queue_url: str) -> Callable[[dict[str, Any]], None]:
    from headcount.views.aws import client

    def send(message: dict[str, Any]) -> None:
        client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))

    return send
