"""The erasures' table in DynamoDB (`<prefix>-erasures`, key `pk`): the requests to forget players, their receipts, and
the players whose future events are dropped.

| pk | what |
|---|---|
| `receipt#<id>` | the receipt (`doc`: its JSON, salted hashes only) and its `state` |
| `request#<id>` | the request's player ids in clear: deleted in the same transaction that marks the receipt done |
| `blocked#<sha256>` | a player whose future events ingest and the job drop (`blocked_hash`) |

Requests are few (a studio gets tens a month): the batch and the alarm's metric read them with one Scan.
`MemoryErasureStore` is the same for tests and the job's runs without a table.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from headcount.core.erasure import Receipt, State, blocked_hash
from headcount.views.aws import client

RECEIPT, REQUEST, BLOCKED = "receipt#", "request#", "blocked#"
OPEN_STATES = (State.PENDING, State.RUNNING, State.FAILED)


class ErasureStore(Protocol):
    def add(self, receipt: Receipt, ids: list[str]) -> None: ...
    def receipt(self, receipt_id: str) -> Receipt | None: ...
    def receipts(self) -> list[Receipt]: ...
    def open_requests(self) -> list[tuple[Receipt, list[str]]]: ...
    def save(self, receipt: Receipt) -> None: ...
    def finish(self, receipt: Receipt) -> None: ...
    def block(self, ids: list[str]) -> None: ...
    def blocked(self) -> frozenset[str]: ...


class DynamoErasureStore:
    def __init__(self, table: str, ddb: Any | None = None) -> None:
        self.table = table
        self._ddb = ddb

    @property
    def ddb(self) -> Any:
        if self._ddb is None:
            self._ddb = client("dynamodb")
        return self._ddb

    def add(self, receipt: Receipt, ids: list[str]) -> None:
        """The receipt and its request, together (one transaction: never a receipt without its ids or the reverse)."""
        self.ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table, "Item": _receipt_item(receipt)}},
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "pk": {"S": f"{REQUEST}{receipt.id}"},
                            "ids": {"S": orjson.dumps(ids).decode()},
                        },
                    }
                },
            ]
        )

    def receipt(self, receipt_id: str) -> Receipt | None:
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": f"{RECEIPT}{receipt_id}"}}, ConsistentRead=True
        ).get("Item")
        return Receipt.from_json(orjson.loads(item["doc"]["S"])) if item else None

    def receipts(self) -> list[Receipt]:
        """Every receipt, newest first."""
        found = [Receipt.from_json(orjson.loads(i["doc"]["S"])) for i in self._scan(RECEIPT)]
        return sorted(found, key=lambda r: r.requested_ms, reverse=True)

    def open_requests(self) -> list[tuple[Receipt, list[str]]]:
        """The requests not done yet (pending, running, failed), oldest first, each with its ids."""
        ids = {i["pk"]["S"].removeprefix(REQUEST): orjson.loads(i["ids"]["S"]) for i in self._scan(REQUEST)}
        open_ = [r for r in self.receipts() if r.state in OPEN_STATES and r.id in ids]
        return [(r, ids[r.id]) for r in sorted(open_, key=lambda r: r.requested_ms)]

    def save(self, receipt: Receipt) -> None:
        self.ddb.put_item(TableName=self.table, Item=_receipt_item(receipt))

    def finish(self, receipt: Receipt) -> None:
        """The receipt done, and its ids gone, in one transaction."""
        self.ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table, "Item": _receipt_item(receipt)}},
                {"Delete": {"TableName": self.table, "Key": {"pk": {"S": f"{REQUEST}{receipt.id}"}}}},
            ]
        )

    def block(self, ids: list[str]) -> None:
        for player_id in ids:
            self.ddb.put_item(TableName=self.table, Item={"pk": {"S": f"{BLOCKED}{blocked_hash(player_id)}"}})

    def blocked(self) -> frozenset[str]:
        return frozenset(i["pk"]["S"].removeprefix(BLOCKED) for i in self._scan(BLOCKED))

    def _scan(self, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :p)",
            "ExpressionAttributeValues": {":p": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = self.ddb.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _receipt_item(receipt: Receipt) -> dict[str, Any]:
    return {
        "pk": {"S": f"{RECEIPT}{receipt.id}"},
        "state": {"S": receipt.state.value},
        "requested_ms": {"N": str(receipt.requested_ms)},
        "doc": {"S": orjson.dumps(receipt.to_json()).decode()},
    }


class MemoryErasureStore:
    """The same in memory: tests, and a job run given no table."""

    def __init__(self) -> None:
        self._receipts: dict[str, Receipt] = {}
        self._ids: dict[str, list[str]] = {}
        self._blocked: set[str] = set()

    def add(self, receipt: Receipt, ids: list[str]) -> None:
        self._receipts[receipt.id], self._ids[receipt.id] = receipt, list(ids)

    def receipt(self, receipt_id: str) -> Receipt | None:
        return self._receipts.get(receipt_id)

    def receipts(self) -> list[Receipt]:
        return sorted(self._receipts.values(), key=lambda r: r.requested_ms, reverse=True)

    def open_requests(self) -> list[tuple[Receipt, list[str]]]:
        open_ = [r for r in self._receipts.values() if r.state in OPEN_STATES and r.id in self._ids]
        return [(r, list(self._ids[r.id])) for r in sorted(open_, key=lambda r: r.requested_ms)]

    def save(self, receipt: Receipt) -> None:
        self._receipts[receipt.id] = receipt

    def finish(self, receipt: Receipt) -> None:
        self._receipts[receipt.id] = receipt
        self._ids.pop(receipt.id, None)

    def block(self, ids: list[str]) -> None:
        self._blocked.update(blocked_hash(i) for i in ids)

    def blocked(self) -> frozenset[str]:
        return frozenset(self._blocked)

    def held_ids(self) -> dict[str, list[str]]:
        """(tests) the requests' ids still held."""
        return {k: list(v) for k, v in self._ids.items()}
