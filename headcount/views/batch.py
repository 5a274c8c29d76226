"""The batch view in DynamoDB: the nightly job's exact rows of each published day, plus a publication marker.

A day counts as published only once its marker is written, after all its rows, so readers never see half a day.
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
        existing = {item["sk"]["S"] for item in self._query(pk, projection="sk")}
        fresh = {keys.batch_sort_key(r.bucket, r.group) for r in rows}
        requests = [{"PutRequest": {"Item": _row_item(pk, r, run_id)}} for r in rows]
        # Rows of an earlier run that this run no longer has (a group that vanished) go, except the marker.
        requests += [
            {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}
            for sk in existing - fresh - {keys.PUBLICATION_SK}
        ]
        for start in range(0, len(requests), 25):  # BatchWriteItem takes at most 25 requests
            pending = {self.table: requests[start : start + 25]}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": pk},
                "sk": {"S": keys.PUBLICATION_SK},
                "run_id": {"S": run_id},
                "rows": {"N": str(len(rows))},
            },
        )

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        items = self._query(keys.partition_key(metric, day))
        if not any(i["sk"]["S"] == keys.PUBLICATION_SK for i in items):
            return None
        rows = []
        for item in items:
            if item["sk"]["S"] == keys.PUBLICATION_SK:
                continue
            bucket, group = keys.split_batch_sort_key(item["sk"]["S"])
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
        "sk": {"S": keys.batch_sort_key(row.bucket, row.group)},
        "value": {"N": str(row.value)},
        "run_id": {"S": run_id},
    }
    if row.sketch is not None:
        item["sketch"] = {"B": row.sketch}
    return item
