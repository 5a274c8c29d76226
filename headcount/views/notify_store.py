"""The notifications' table in DynamoDB: channels, subscriptions and alert rules (their definitions), each rule's
state, every delivery, and the observations today-so-far rules compare with.

| pk | sk | what |
|---|---|---|
| `channel`, `subscription`, `rule` | its name | a definition (`doc`: its JSON) |
| `rule-state` | the rule's name | where its episodes stand |
| `delivery` | the notice's id | one message to one channel: its status (sending, sent, failed), attempts, error, figures |
| `observation#<metric>#<group>` | `<day>#<slot>` | a rule's metric today so far at a 5-minute slot of the day |

A delivery is claimed before it is sent (a conditional put: only one run sends a notice), so a digest goes at most once
whatever reruns; a claim a run left `sending` (it died) is taken over after CLAIM_STALE_MS. Deliveries are kept 90 days
and observations 9 weeks (the table's TTL attribute `expires_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from botocore.exceptions import ClientError

from headcount.views.aws import client

CHANNEL, SUBSCRIPTION, RULE, RULE_STATE, DELIVERY = "channel", "subscription", "rule", "rule-state", "delivery"
DEFINITIONS = (CHANNEL, SUBSCRIPTION, RULE)
CLAIM_STALE_MS = 15 * 60_000  # longer than the business function's timeout: a live run's claim is never taken
DELIVERY_DAYS = 90
OBSERVATION_DAYS = 63  # 9 weeks: a band rule looks 8 same weekdays back


class AlreadyExists(Exception):
    """A definition of that name is there already."""


class StateChanged(Exception):
    """A rule's state was written by another run since this one read it (two runs at once: the scheduled one and the
    one after the nightly job)."""


@dataclass(frozen=True)
class Delivery:
    """One notice to one channel, as recorded."""

    id: str
    status: str  # "sending", "sent", "failed"
    channel: str
    kind: str
    subscription: str | None
    rule: str | None
    day: str | None
    attempts: int
    error: str | None
    created_ms: int
    updated_ms: int
    figures: list[dict[str, Any]]  # what it said (a follow-up compares with it)
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "channel": self.channel,
            "kind": self.kind,
            "subscription": self.subscription,
            "rule": self.rule,
            "day": self.day,
            "attempts": self.attempts,
            "error": self.error,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
            "summary": self.summary,
        }


class NotifyStore:
    def __init__(self, table: str, ddb: Any | None = None) -> None:
        self.table = table
        self._ddb = ddb

    @property
    def ddb(self) -> Any:
        if self._ddb is None:
            self._ddb = client("dynamodb")
        return self._ddb

    # definitions ------------------------------------------------------------------------------------------------
    def create(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={"pk": {"S": kind}, "sk": {"S": name}, "doc": {"S": orjson.dumps(doc).decode()}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise AlreadyExists(f"{kind} {name!r} exists") from None
            raise

    def put(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        """A definition made (`create`) and now completed: a channel's secret id, once the secret exists."""
        self.ddb.put_item(
            TableName=self.table,
            Item={"pk": {"S": kind}, "sk": {"S": name}, "doc": {"S": orjson.dumps(doc).decode()}},
        )

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": kind}, "sk": {"S": name}}, ConsistentRead=True
        ).get("Item")
        return orjson.loads(item["doc"]["S"]) if item else None

    def list(self, kind: str) -> list[dict[str, Any]]:
        return [orjson.loads(item["doc"]["S"]) for item in self._query(kind)]

    def delete(self, kind: str, name: str) -> bool:
        old = self.ddb.delete_item(
            TableName=self.table, Key={"pk": {"S": kind}, "sk": {"S": name}}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in old

    # rule states ------------------------------------------------------------------------------------------------
    def rule_state(self, name: str) -> tuple[dict[str, Any], int]:
        """A rule's state and its version (0: none yet)."""
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": RULE_STATE}, "sk": {"S": name}}, ConsistentRead=True
        ).get("Item")
        return (orjson.loads(item["doc"]["S"]), int(item["version"]["N"])) if item else ({}, 0)

    def put_rule_state(self, name: str, state: dict[str, Any], version: int) -> None:
        """The state after `version` (what this run read); StateChanged if another run wrote it meanwhile."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": RULE_STATE},
                    "sk": {"S": name},
                    "doc": {"S": orjson.dumps(state).decode()},
                    "version": {"N": str(version + 1)},
                },
                ConditionExpression="attribute_not_exists(pk) OR version = :read",
                ExpressionAttributeValues={":read": {"N": str(version)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StateChanged(f"rule {name}: its state changed since version {version}") from None
            raise

    # deliveries -------------------------------------------------------------------------------------------------
    def unsent(self, delivery_id: str, now_ms: int) -> bool:
        """Whether a delivery is still to be sent: never claimed, or claimed by a run that died while sending it."""
        found = self.delivery(delivery_id)
        return found is None or (found.status == "sending" and found.updated_ms < now_ms - CLAIM_STALE_MS)

    def claim(self, delivery: Delivery, now_ms: int) -> bool:
        """Record `delivery` as being sent, unless it was (or is being) sent: False then. A claim older than
        CLAIM_STALE_MS still `sending` was left by a run that died, and is taken over."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=self._delivery_item(delivery),
                ConditionExpression="attribute_not_exists(pk) OR (#s = :sending AND updated_ms < :stale)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":sending": {"S": "sending"},
                    ":stale": {"N": str(now_ms - CLAIM_STALE_MS)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record(self, delivery: Delivery) -> None:
        """The delivery as it ended (sent or failed), or a digest's figures after a follow-up."""
        self.ddb.put_item(TableName=self.table, Item=self._delivery_item(delivery))

    def delivery(self, delivery_id: str) -> Delivery | None:
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": DELIVERY}, "sk": {"S": delivery_id}}, ConsistentRead=True
        ).get("Item")
        return _delivery(item) if item else None

    def deliveries(self) -> list[Delivery]:
        """Every delivery kept (90 days), newest first."""
        return sorted((_delivery(item) for item in self._query(DELIVERY)), key=lambda d: -d.created_ms)

    def _delivery_item(self, delivery: Delivery) -> dict[str, Any]:
        doc = {
            "channel": delivery.channel,
            "kind": delivery.kind,
            "subscription": delivery.subscription,
            "rule": delivery.rule,
            "day": delivery.day,
            "error": delivery.error,
            "figures": delivery.figures,
            "summary": delivery.summary,
        }
        return {
            "pk": {"S": DELIVERY},
            "sk": {"S": delivery.id},
            "status": {"S": delivery.status},
            "attempts": {"N": str(delivery.attempts)},
            "created_ms": {"N": str(delivery.created_ms)},
            "updated_ms": {"N": str(delivery.updated_ms)},
            "doc": {"S": orjson.dumps(doc).decode()},
            "expires_at": {"N": str(delivery.created_ms // 1000 + DELIVERY_DAYS * 86_400)},
        }

    # observations -----------------------------------------------------------------------------------------------
    def observe(
        self, metric: str, group: str | None, day: str, slot: int, reading: dict[str, Any], now_ms: int
    ) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": _observation_pk(metric, group)},
                "sk": {"S": f"{day}#{slot:03d}"},
                "doc": {"S": orjson.dumps(reading).decode()},
                "expires_at": {"N": str(now_ms // 1000 + OBSERVATION_DAYS * 86_400)},
            },
        )

    def observations(self, metric: str, group: str | None, day: str) -> dict[int, dict[str, Any]]:
        """A day's observations of a metric (and group), by slot."""
        items = self._query(_observation_pk(metric, group), f"{day}#")
        return {int(item["sk"]["S"].rsplit("#", 1)[1]): orjson.loads(item["doc"]["S"]) for item in items}

    def _query(self, pk: str, sk_prefix: str | None = None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        if sk_prefix is not None:
            request["KeyConditionExpression"] += " AND begins_with(sk, :sk)"
            request["ExpressionAttributeValues"][":sk"] = {"S": sk_prefix}
        items: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("query").paginate(**request):
            items += page["Items"]
        return items


def _observation_pk(metric: str, group: str | None) -> str:
    return f"observation#{metric}#{group or ''}"


def _delivery(item: dict[str, Any]) -> Delivery:
    doc = orjson.loads(item["doc"]["S"])
    return Delivery(
        id=item["sk"]["S"],
        status=item["status"]["S"],
        channel=doc["channel"],
        kind=doc["kind"],
        subscription=doc.get("subscription"),
        rule=doc.get("rule"),
        day=doc.get("day"),
        attempts=int(item["attempts"]["N"]),
        error=doc.get("error"),
        created_ms=int(item["created_ms"]["N"]),
        updated_ms=int(item["updated_ms"]["N"]),
        figures=doc.get("figures") or [],
        summary=doc.get("summary") or "",
    )


class DeadLetterQueue:
    """The SQS queue of deliveries that failed after their retries: what they would have sent, for a person to look
    at or send again (its alarm: infra/notifications.py)."""

    def __init__(self, url: str, sqs: Any | None = None) -> None:
        self.url, self._sqs = url, sqs

    def put(self, body: dict[str, Any]) -> None:
        sqs = self._sqs or client("sqs")
        sqs.send_message(QueueUrl=self.url, MessageBody=orjson.dumps(body).decode())
