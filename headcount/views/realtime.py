"""The real-time view: one item per (metric, bucket, group, shard) holding that shard's partial sketch or counter, and for
a distinct metric one more, its recent ids: the values that grew the sketch since it was last written whole (the fold
writes the small item until the ids outgrow it, then the sketch: far fewer write units than rewriting 8 KiB each time).

Only the invocation folding a shard writes that shard's items, and each write is conditional on the sequence number it read,
so a retried, replayed or zombie invocation can never apply a record twice. Each shard also has a status item: the
days it holds items for (added before the items are written, so a reader that queries only those days misses none) and
its watermark (every record of the shard that arrived before it is applied), which tells readers how fresh a number is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from botocore.exceptions import ClientError

from headcount.core import keys
from headcount.core.freshness import ShardStatus
from headcount.views.aws import batch_get, client, write_units


class ItemKey(NamedTuple):  # a NamedTuple: hashed in C, and a batch hashes its keys tens of thousands of times
    metric: str
    bucket: str
    group: str
    shard_id: str

    @property
    def day(self) -> str:
        return self.bucket[:10]

    @property
    def is_recent(self) -> bool:
        return self.shard_id.endswith(keys.RECENT_SUFFIX)

    def recent(self) -> ItemKey:
        """The key of this distinct item's recent ids."""
        return ItemKey(self.metric, self.bucket, self.group, keys.recent_shard(self.shard_id))


@dataclass(frozen=True, slots=True)
class RealtimeItem:
    """A counter (`count`), a sketch (`sketch`), or a sketch's recent ids (`ids`, on a recent key: the values that grew
    the shard's sketch since it was written whole; readers add them to it)."""

    key: ItemKey
    sequence_number: int
    count: int | None = None
    sketch: bytes | None = None
    ids: tuple[str, ...] = ()


class StaleItem(Exception):
    """The item changed since it was read: another writer applied records to it."""


class RealtimeStore(Protocol):
    def read(self, item_keys: Iterable[ItemKey]) -> dict[ItemKey, RealtimeItem]: ...

    def write(self, item: RealtimeItem, expected_sequence_number: int | None, expires_at: int) -> int:
        """Write the item if its stored sequence number is still `expected_sequence_number` (None: absent), else raise
        StaleItem; returns the write units consumed."""

    def day_items(self, metric: str, day: str) -> list[RealtimeItem]: ...

    def delete_day(self, metric: str, day: str) -> int:
        """Delete a day's items of a metric (every bucket, group and shard): the erasure, once the day is published
        (a published day is served from the batch view only). -> how many were deleted."""

    def add_days(self, shard_id: str, days: set[str], expired: set[str]) -> None:
        """Record that the shard has (or is about to have) items on `days`, and no longer on `expired` ones."""

    def advance(self, shard_id: str, watermark_ms: int, lag_ms: int) -> None:
        """Move the shard's watermark forward (never back: an older invocation's report is ignored)."""

    def note_put(self, shard_id: str, put_ms: int) -> None:
        """The API put records into the shard at `put_ms` or later (never moves back)."""

    def shard_statuses(self) -> list[ShardStatus]: ...

    def shard_status(self, shard_id: str) -> ShardStatus | None: ...


class DynamoRealtimeStore:
    def __init__(self, table: str, ddb: Any = None) -> None:
        """`ddb`: a DynamoDB client (default: the shared one, with boto's standard retries)."""
        self.table = table
        self.ddb = ddb if ddb is not None else client("dynamodb")

    def read(self, item_keys: Iterable[ItemKey]) -> dict[ItemKey, RealtimeItem]:
        wanted = {
            (keys.partition_key(k.metric, k.day), keys.realtime_sort_key(k.bucket, k.group, k.shard_id)): k
            for k in item_keys
        }
        found: dict[ItemKey, RealtimeItem] = {}
        for attrs in batch_get(self.ddb, self.table, list(wanted)):
            key = wanted[(attrs["pk"]["S"], attrs["sk"]["S"])]
            found[key] = _from_attrs(key, attrs)
        return found

    def write(self, item: RealtimeItem, expected_sequence_number: int | None, expires_at: int) -> int:
        attrs = _item_attrs(item, expires_at)
        if expected_sequence_number is None:
            condition, values = "attribute_not_exists(pk)", {}
        else:
            condition, values = "seq = :expected", {":expected": {"S": str(expected_sequence_number)}}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=attrs,
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleItem(f"{item.key} changed since it was read") from None
            raise
        return write_units(attrs)

    def day_items(self, metric: str, day: str) -> list[RealtimeItem]:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.partition_key(metric, day)}},
            ProjectionExpression="sk, seq, #count, sketch, ids",  # what a reader needs, not the copies of its key
            ExpressionAttributeNames={"#count": "count"},
            ConsistentRead=True,  # at least what the statuses read before promise
        )
        items: list[RealtimeItem] = []
        for page in pages:
            for attrs in page["Items"]:
                bucket, group, shard_id = keys.split_realtime_sort_key(attrs["sk"]["S"])
                items.append(_from_attrs(ItemKey(metric, bucket, group, shard_id), attrs))
        return items

    def delete_day(self, metric: str, day: str) -> int:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.partition_key(metric, day)}},
            ProjectionExpression="pk, sk",
            ConsistentRead=True,
        )
        found = [{"pk": a["pk"], "sk": a["sk"]} for page in pages for a in page["Items"]]
        for start in range(0, len(found), 25):  # BatchWriteItem's limit
            requests = [{"DeleteRequest": {"Key": k}} for k in found[start : start + 25]]
            while requests:  # unprocessed items (throttling) are sent again
                answer = self.ddb.batch_write_item(RequestItems={self.table: requests})
                requests = answer.get("UnprocessedItems", {}).get(self.table, [])
        return len(found)

    def add_days(self, shard_id: str, days: set[str], expired: set[str]) -> None:
        # Two calls when both: one update cannot both add to and delete from the same set
        for action, values in (("ADD", days), ("DELETE", expired)):
            if values:
                self.ddb.update_item(
                    TableName=self.table,
                    Key=_status_key(shard_id),
                    UpdateExpression=f"{action} #days :days",
                    ExpressionAttributeNames={"#days": "days"},
                    ExpressionAttributeValues={":days": {"SS": sorted(values)}},
                )

    def advance(self, shard_id: str, watermark_ms: int, lag_ms: int) -> None:
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=_status_key(shard_id),
                UpdateExpression="SET watermark = :w, #lag = :lag, folded_ms = :at",
                ConditionExpression="attribute_not_exists(watermark) OR watermark <= :w",
                ExpressionAttributeNames={"#lag": "lag"},  # a reserved word
                ExpressionAttributeValues={
                    ":w": {"N": str(watermark_ms)},
                    ":lag": {"N": str(lag_ms)},
                    ":at": {"N": str(watermark_ms + lag_ms)},  # when the fold ran
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def note_put(self, shard_id: str, put_ms: int) -> None:
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=_status_key(shard_id),
                UpdateExpression="SET put_ms = :p",
                ConditionExpression="attribute_not_exists(put_ms) OR put_ms < :p",
                ExpressionAttributeValues={":p": {"N": str(put_ms)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def shard_status(self, shard_id: str) -> ShardStatus | None:
        item = self.ddb.get_item(TableName=self.table, Key=_status_key(shard_id), ConsistentRead=True).get("Item")
        return _status(item) if item else None

    def shard_statuses(self) -> list[ShardStatus]:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.SHARDS_PK}},
            ConsistentRead=True,
        )
        return [_status(attrs) for page in pages for attrs in page["Items"]]


class InMemoryRealtimeStore:
    """The same contract in a dict, for tests and benchmarks."""

    def __init__(self) -> None:
        self.items: dict[ItemKey, RealtimeItem] = {}
        self.writes = 0
        self.keys_read = 0
        self.fail_writes_for: set[str] = set()  # metric names whose writes raise, to exercise failures
        self.statuses: dict[str, ShardStatus] = {}

    def read(self, item_keys: Iterable[ItemKey]) -> dict[ItemKey, RealtimeItem]:
        wanted = list(item_keys)
        self.keys_read += len(wanted)
        return {k: self.items[k] for k in wanted if k in self.items}

    def write(self, item: RealtimeItem, expected_sequence_number: int | None, expires_at: int) -> int:
        if item.key.metric in self.fail_writes_for:
            raise ConnectionError("injected store failure")
        current = self.items.get(item.key)
        if (current.sequence_number if current else None) != expected_sequence_number:
            raise StaleItem(f"{item.key} changed since it was read")
        self.items[item.key] = item
        self.writes += 1
        return write_units(_item_attrs(item, expires_at))

    def day_items(self, metric: str, day: str) -> list[RealtimeItem]:
        return [i for k, i in self.items.items() if k.metric == metric and k.day == day]

    def delete_day(self, metric: str, day: str) -> int:
        gone = [k for k in self.items if k.metric == metric and k.day == day]
        for k in gone:
            del self.items[k]
        return len(gone)

    def add_days(self, shard_id: str, days: set[str], expired: set[str]) -> None:
        status = self.statuses.get(shard_id) or ShardStatus(shard_id, None, 0, frozenset())
        self.statuses[shard_id] = replace(status, days=(status.days | days) - expired)

    def advance(self, shard_id: str, watermark_ms: int, lag_ms: int) -> None:
        status = self.statuses.get(shard_id) or ShardStatus(shard_id, None, 0, frozenset())
        if status.watermark_ms is None or status.watermark_ms <= watermark_ms:
            self.statuses[shard_id] = replace(
                status, watermark_ms=watermark_ms, lag_ms=lag_ms, folded_ms=watermark_ms + lag_ms
            )

    def note_put(self, shard_id: str, put_ms: int) -> None:
        status = self.statuses.get(shard_id) or ShardStatus(shard_id, None, 0, frozenset())
        if status.put_ms is None or status.put_ms < put_ms:
            self.statuses[shard_id] = replace(status, put_ms=put_ms)

    def shard_statuses(self) -> list[ShardStatus]:
        return list(self.statuses.values())

    def shard_status(self, shard_id: str) -> ShardStatus | None:
        return self.statuses.get(shard_id)


def _status_key(shard_id: str) -> dict:
    return {"pk": {"S": keys.SHARDS_PK}, "sk": {"S": shard_id}}


def _status(attrs: dict) -> ShardStatus:
    return ShardStatus(
        attrs["sk"]["S"],
        int(attrs["watermark"]["N"]) if "watermark" in attrs else None,
        int(attrs["lag"]["N"]) if "lag" in attrs else 0,
        frozenset(attrs["days"]["SS"]) if "days" in attrs else frozenset(),
        int(attrs["put_ms"]["N"]) if "put_ms" in attrs else None,
        int(attrs["folded_ms"]["N"]) if "folded_ms" in attrs else None,
    )


def _key_attrs(key: ItemKey) -> dict:
    return {
        "pk": {"S": keys.partition_key(key.metric, key.day)},
        "sk": {"S": keys.realtime_sort_key(key.bucket, key.group, key.shard_id)},
    }


def _item_attrs(item: RealtimeItem, expires_at: int) -> dict:
    attrs = {
        **_key_attrs(item.key),
        "metric": {"S": item.key.metric},
        "bucket": {"S": item.key.bucket},
        "group": {"S": item.key.group},
        "shard": {"S": item.key.shard_id},
        # Sequence numbers exceed DynamoDB's 38 digits: stored as text, compared as integers by the reader.
        "seq": {"S": str(item.sequence_number)},
        "expires_at": {"N": str(expires_at)},
    }
    if item.key.is_recent:
        if item.ids:  # a string set cannot be empty (the fold writes recent ids only when there are some)
            attrs["ids"] = {"SS": sorted(item.ids)}
    elif item.sketch is not None:
        attrs["sketch"] = {"B": item.sketch}
    else:
        attrs["count"] = {"N": str(item.count)}
    return attrs


def _from_attrs(key: ItemKey, attrs: dict) -> RealtimeItem:
    return RealtimeItem(
        key,
        int(attrs["seq"]["S"]),
        int(attrs["count"]["N"]) if "count" in attrs else None,
        bytes(attrs["sketch"]["B"]) if "sketch" in attrs else None,
        tuple(sorted(attrs["ids"]["SS"])) if "ids" in attrs else (),
    )
