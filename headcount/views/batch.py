"""The batch view in DynamoDB: the nightly job's exact rows of each published day, plus a publication marker.

Each run's rows are written under keys of their own; then the day's marker is switched to the run, then the rows of
other runs are deleted, all under the run's lease on the day. A reader takes the rows of the run the marker names, so it
sees one whole run, the old or the new, never half of one or a mix (a rerun after late events changes some values while
readers are reading).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from headcount.core import keys
from headcount.core.merge import Partial
from headcount.views.aws import client


@dataclass(frozen=True, slots=True)
class BatchRow:
    metric: str
    day: str
    bucket: str
    group: str
    value: int
    sketch: bytes | None


class BatchView(Protocol):
    def publish(self, metric: str, day: str, rows: list[BatchRow], run_id: str) -> None: ...

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        """The day's rows, or None when the batch layer has not published it."""


class PublishInProgress(RuntimeError):
    """Another run is publishing the same day and did not finish within the wait."""


class DynamoBatchView:
    """Items of a (metric, day) partition: rows `run#bucket#group`, the marker `~run` naming the published run, and while
    a run publishes, its lease `~lock` (one publisher per day at a time: two overlapping runs, the nightly schedule and
    a manual rerun, would otherwise delete each other's rows)."""

    def __init__(
        self, table: str, lease_s: float = 300.0, wait_s: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        """`clock`: the wall clock (epoch seconds) a lease's end is written and compared in. Publishers on different
        machines share the lease, so it is wall time, not a monotonic one."""
        self.table, self.lease_s, self.wait_s, self.clock = table, lease_s, wait_s, clock
        self.ddb = client("dynamodb")

    def publish(self, metric: str, day: str, rows: list[BatchRow], run_id: str) -> None:
        pk = keys.partition_key(metric, day)
        self._acquire(pk, run_id)
        try:
            self._batch_write([{"PutRequest": {"Item": _row_item(pk, r, run_id)}} for r in rows])
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": pk},
                    "sk": {"S": keys.PUBLICATION_SK},
                    "run_id": {"S": run_id},
                    "rows": {"N": str(len(rows))},
                },
            )
            # Only now can the rows of other runs go (earlier ones, or a crashed publish's): readers follow the marker.
            stale = [
                sk
                for item in self._query(pk, projection="sk")
                if not (sk := item["sk"]["S"]).startswith("~") and keys.split_batch_sort_key(sk)[0] != run_id
            ]
            self._batch_write([{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for sk in stale])
        finally:
            self._release(pk, run_id)

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        """The marker first, then only its run's rows; a publish that replaced that run in between (its rows are being
        deleted) shows as fewer rows than the marker counts, and the day is read again."""
        pk = keys.partition_key(metric, day)
        for _ in range(5):
            marker = self._get(pk, keys.PUBLICATION_SK)
            if marker is None:
                return None
            run_id = marker["run_id"]["S"]
            items = self._query(pk, begins_with=f"{run_id}{keys.SEP}")
            if len(items) == int(marker["rows"]["N"]):
                return [_partial(item) for item in items]
        raise PublishInProgress(f"{pk} changed under every read: a publish is replacing it")

    def published_run(self, metric: str, day: str) -> str | None:
        item = self._get(keys.partition_key(metric, day), keys.PUBLICATION_SK)
        return item["run_id"]["S"] if item else None

    def _acquire(self, pk: str, run_id: str) -> None:
        deadline = time.monotonic() + self.wait_s
        while True:
            now = self.clock()
            try:
                self.ddb.put_item(
                    TableName=self.table,
                    Item={
                        "pk": {"S": pk},
                        "sk": {"S": keys.LOCK_SK},
                        "run_id": {"S": run_id},
                        "until": {"N": f"{now + self.lease_s:.3f}"},
                    },
                    # Free, expired (its publisher died), or already ours.
                    ConditionExpression="attribute_not_exists(sk) OR #until < :now OR run_id = :run",
                    ExpressionAttributeNames={"#until": "until"},
                    ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}, ":run": {"S": run_id}},
                )
                return
            except self.ddb.exceptions.ConditionalCheckFailedException:
                if time.monotonic() >= deadline:
                    holder = self._get(pk, keys.LOCK_SK)
                    by = holder["run_id"]["S"] if holder else "?"
                    raise PublishInProgress(f"{pk} is being published by run {by}; try again later") from None
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def _release(self, pk: str, run_id: str) -> None:
        # If the lease expired and another run holds it now, it is not ours to remove.
        with contextlib.suppress(self.ddb.exceptions.ConditionalCheckFailedException):
            self.ddb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": pk}, "sk": {"S": keys.LOCK_SK}},
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": {"S": run_id}},
            )

    def _batch_write(self, requests: list[dict]) -> None:
        for start in range(0, len(requests), 25):  # BatchWriteItem takes at most 25 requests
            pending = {self.table: requests[start : start + 25]}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def _get(self, pk: str, sk: str) -> dict | None:
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        return self.ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")

    def _query(self, pk: str, projection: str | None = None, begins_with: str | None = None) -> list[dict]:
        kwargs: dict = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        if begins_with is not None:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            kwargs["ExpressionAttributeValues"][":prefix"] = {"S": begins_with}
        if projection:
            kwargs["ProjectionExpression"] = projection
        return [item for page in self.ddb.get_paginator("query").paginate(**kwargs) for item in page["Items"]]


class InMemoryBatchView:
    def __init__(self) -> None:
        self.days: dict[tuple[str, str], list[Partial]] = {}

    def publish(self, metric: str, day: str, rows: list[BatchRow], run_id: str) -> None:
        self.days[(metric, day)] = [Partial(r.bucket, r.group, r.value, r.sketch) for r in rows]

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        return self.days.get((metric, day))


def _partial(item: dict) -> Partial:
    _run_id, bucket, group = keys.split_batch_sort_key(item["sk"]["S"])
    sketch = bytes(item["sketch"]["B"]) if "sketch" in item else None
    return Partial(bucket, group, int(item["value"]["N"]), sketch)


def _row_item(pk: str, row: BatchRow, run_id: str) -> dict:
    item = {
        "pk": {"S": pk},
        "sk": {"S": keys.batch_sort_key(run_id, row.bucket, row.group)},
        "value": {"N": str(row.value)},
        "run_id": {"S": run_id},
    }
    if row.sketch is not None:
        item["sketch"] = {"B": row.sketch}
    return item
