"""The batch view in DynamoDB: the nightly job's exact rows of each published day, plus a publication marker.

Each run's rows are written under keys of their own; then the day's marker is switched to the run, then the rows of
earlier runs are deleted. A reader takes the rows of the run the marker names, so it sees one whole run, the old or the
new, never half of one or a mix (a rerun after late events changes some values while readers are reading).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from headcount.aws import client
from headcount.core import keys
from headcount.core.merge import Partial


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


class DynamoBatchView:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def publish(self, metric: str, day: str, rows: list[BatchRow], run_id: str) -> None:
        pk = keys.partition_key(metric, day)
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
        # Only now can the rows of earlier runs go: readers follow the marker, which no longer names them.
        stale = [
            item["sk"]["S"]
            for item in self._query(pk, projection="sk")
            if item["sk"]["S"] != keys.PUBLICATION_SK and keys.split_batch_sort_key(item["sk"]["S"])[0] != run_id
        ]
        self._batch_write([{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for sk in stale])

    def _batch_write(self, requests: list[dict]) -> None:
        for start in range(0, len(requests), 25):  # BatchWriteItem takes at most 25 requests
            pending = {self.table: requests[start : start + 25]}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        items = self._query(keys.partition_key(metric, day))
        marker = next((i for i in items if i["sk"]["S"] == keys.PUBLICATION_SK), None)
        if marker is None:
            return None
        rows = []
        for item in items:
            if item is marker:
                continue
            run_id, bucket, group = keys.split_batch_sort_key(item["sk"]["S"])
            if run_id == marker["run_id"]["S"]:
                sketch = bytes(item["sketch"]["B"]) if "sketch" in item else None
                rows.append(Partial(bucket, group, int(item["value"]["N"]), sketch))
        return rows

    def published_run(self, metric: str, day: str) -> str | None:
        item = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": keys.partition_key(metric, day)}, "sk": {"S": keys.PUBLICATION_SK}},
            ConsistentRead=True,
        ).get("Item")
        return item["run_id"]["S"] if item else None

    def _query(self, pk: str, projection: str | None = None) -> list[dict]:
        kwargs: dict = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        if projection:
            kwargs["ProjectionExpression"] = projection
        items: list[dict] = []
        while True:
            response = self.ddb.query(**kwargs)
            items += response["Items"]
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class InMemoryBatchView:
    def __init__(self) -> None:
        self.days: dict[tuple[str, str], list[Partial]] = {}

    def publish(self, metric: str, day: str, rows: list[BatchRow], run_id: str) -> None:
        self.days[(metric, day)] = [Partial(r.bucket, r.group, r.value, r.sketch) for r in rows]

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        return self.days.get((metric, day))


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
