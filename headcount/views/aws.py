"""AWS clients, made on first use and cached.

Endpoints come from boto3's standard variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS, ...), so the same code talks to
AWS or to the emulators on 127.0.0.1.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Called with (service, client) for every client made: how the local stack's meter (headcount/local/meter.py) counts
# calls. Empty on AWS.
CLIENT_HOOKS: list[Callable[[str, Any], None]] = []


@cache
def client(service: str, region: str | None = None, *, call_budget_s: int | None = None) -> Any:
    """A client with boto's standard retries; with `call_budget_s`, one that gives up on a call within about that many
    seconds and leaves retrying to the caller (a request that must answer before API Gateway's 29 s)."""
    if call_budget_s is None:
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
    else:
        connect = max(1, call_budget_s // 3)
        config = Config(
            retries={"mode": "standard", "max_attempts": 1},
            connect_timeout=connect,
            read_timeout=call_budget_s - connect,
        )
    # Lambda sets AWS_REGION and AWS_DEFAULT_REGION, Glue AWS_REGION, which boto3 alone does not read.
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    made = boto3.session.Session().client(service, region_name=region, config=config)
    for hook in CLIENT_HOOKS:
        hook(service, made)
    return made


def batch_get(
    ddb: Any, table: str, item_keys: list[tuple[str, str]], projection: str | None = None, calls_at_once: int = 1
) -> Iterator[dict]:
    """The items of these (pk, sk) keys that exist, read consistently by BatchGetItem: 100 keys a call (its limit),
    `calls_at_once` calls at a time, the keys a call leaves unprocessed asked again."""

    def get(chunk: list[tuple[str, str]]) -> list[dict]:
        request: dict = {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in chunk], "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        pending, items = {table: request}, []
        while pending:
            response = ddb.batch_get_item(RequestItems=pending)
            items += response["Responses"].get(table, [])
            pending = response.get("UnprocessedKeys") or {}
        return items

    chunks = [item_keys[i : i + 100] for i in range(0, len(item_keys), 100)]
    if calls_at_once <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield from get(chunk)
        return
    with ThreadPoolExecutor(min(calls_at_once, len(chunks))) as pool:
        for items in pool.map(get, chunks):
            yield from items


# DynamoDB's billing rules for an item's size (names and values), write units (a unit per started KiB) and read units (per
# started 4 KiB, half for an eventually consistent read): the fold's own count and the local meter's.
KIB = 1024
READ_UNIT_BYTES = 4 * KIB


def attribute_size(value: dict) -> int:
    """The size DynamoDB counts for one attribute value (the wire shape: {"S": ...}, {"N": ...}, {"B": bytes}, ...)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: dict) -> int:
    """An item's size as DynamoDB bills it: the lengths of its attribute names plus its values."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(item: dict) -> int:
    """Write units of a put of this item (at least one)."""
    return max(1, math.ceil(item_size(item) / KIB))


def read_units(total_bytes: int, consistent: bool) -> float:
    units = max(1, math.ceil(total_bytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2
