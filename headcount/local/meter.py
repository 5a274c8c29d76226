"""What the local stack would be billed for on AWS, counted where it happens: at every SDK call of every process (DynamoDB
read and write units, Kinesis PUT payload units and record sizes) and at every function invocation (its duration, and for
the fold how long each record waited between its arrival in the stream and being folded).

Each process appends its usage as JSON lines to a file of its own under the meter folder (`HEADCOUNT_METER_DIR`); the
cost model (`headcount.cost`) reads them all. Units follow DynamoDB's and Kinesis' billing rules:

- a write unit per started KiB of the item written (PutItem, BatchWriteItem; UpdateItem: of the item after the update,
  read back on a client of the meter's own, which is not counted); a failed conditional write is billed too;
- a read unit per started 4 KiB, half for an eventually consistent read: per item for GetItem and BatchGetItem, per page
  of the items a Query looks at (their full size, whatever the projection returns: the meter sizes them unprojected);
- a Kinesis PUT payload unit per started 25 KiB of a record (data and partition key), for the records the stream took.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from headcount.views.aws import item_size, read_units, write_units

METER_DIR_ENV = "HEADCOUNT_METER_DIR"
PUT_PAYLOAD_UNIT_BYTES = 25 * 1024


def put_payload_units(data: bytes, partition_key: str) -> int:
    return max(1, math.ceil((len(data) + len(partition_key.encode())) / PUT_PAYLOAD_UNIT_BYTES))


class Meter:
    """Usage lines of one process, appended to `<folder>/<process>-<pid>.jsonl`."""

    def __init__(self, folder: Path, process: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{process}-{os.getpid()}.jsonl"
        self.process = process
        self._file = self.path.open("a", buffering=1)  # a line at a time: a killed process loses at most one
        self._lock = threading.Lock()
        self._sizer: Any = None  # a client of our own, for the sizes a response does not show (not counted)

    def note(self, **usage: Any) -> None:
        line = json.dumps({"t": time.time(), "process": self.process, **usage}, separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")

    def attach(self, service: str, client: Any) -> None:
        """Count this client's calls (DynamoDB and Kinesis; other services' calls as requests)."""
        client.meta.events.register("before-parameter-build", _keep_params)
        client.meta.events.register("after-call", lambda **kw: self._after_call(service, **kw))

    def invocation(self, function: str, duration_ms: float, **details: Any) -> None:
        self.note(kind="invoke", function=function, ms=round(duration_ms, 2), **details)

    def _after_call(self, service: str, model: Any, parsed: dict, context: dict, **_: Any) -> None:
        params = context.get("meter_params") or {}
        failed = "Error" in parsed
        operation = model.name
        if service == "dynamodb":
            usage = self._dynamodb(operation, params, parsed, failed)
        elif service == "kinesis" and operation in ("PutRecords", "PutRecord") and not failed:
            usage = _kinesis_put(operation, params, parsed)
        else:
            usage = {}
        self.note(kind="call", service=service, op=operation, failed=failed, **usage)

    def _dynamodb(self, operation: str, params: dict, parsed: dict, failed: bool) -> dict:
        table = params.get("TableName")
        consistent = bool(params.get("ConsistentRead"))
        conditional_failure = failed and parsed["Error"].get("Code") == "ConditionalCheckFailedException"
        if failed and not conditional_failure:
            return {"table": table}  # throttled or invalid: DynamoDB bills nothing
        if operation == "PutItem":
            return {"table": table, "wru": write_units(params["Item"])}
        if operation == "UpdateItem":
            return {"table": table, "wru": self._updated_units(table, params["Key"])}
        if operation == "DeleteItem":
            return {"table": table, "wru": 1}  # the items we delete (leases) are well under 1 KiB
        if operation == "BatchWriteItem":
            return self._batch_write(params, parsed)
        if operation == "GetItem":
            item = parsed.get("Item") or {}
            if item and "ProjectionExpression" in params:
                item = self._full_item(table, params["Key"])
            return {"table": table, "rru": read_units(item_size(item), consistent)}
        if operation == "BatchGetItem":
            return self._batch_get(params, parsed)
        if operation in ("Query", "Scan"):
            items = parsed.get("Items") or []
            if items and "ProjectionExpression" in params:
                items = self._unprojected_page(operation, params)
            size = sum(item_size(i) for i in items)
            return {"table": table, "rru": read_units(size, consistent), "items": len(items)}
        return {"table": table}

    def _batch_write(self, params: dict, parsed: dict) -> dict:
        """Units of the requests DynamoDB carried out: all those sent but the ones it returns as unprocessed."""

        def units(requests: list[dict]) -> int:
            return sum(write_units(r["PutRequest"]["Item"]) if "PutRequest" in r else 1 for r in requests)

        unprocessed = parsed.get("UnprocessedItems") or {}
        per_table = {t: units(rs) - units(unprocessed.get(t, [])) for t, rs in params["RequestItems"].items()}
        table = next(iter(per_table)) if len(per_table) == 1 else None
        return {"table": table, "wru": sum(per_table.values())}

    def _batch_get(self, params: dict, parsed: dict) -> dict:
        total = 0.0
        table = None
        for table, request in params["RequestItems"].items():
            consistent = bool(request.get("ConsistentRead"))
            found = parsed.get("Responses", {}).get(table, [])
            if found and "ProjectionExpression" in request:
                found = [self._full_item(table, {k: i[k] for k in ("pk", "sk")}) for i in found]
            unprocessed = len((parsed.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", []))
            missing = len(request["Keys"]) - len(found) - unprocessed
            total += sum(read_units(item_size(i), consistent) for i in found)
            total += missing * read_units(0, consistent)  # a key that is not there still costs the minimum
        return {"table": table, "rru": total}

    def _sizer_client(self) -> Any:
        if self._sizer is None:
            self._sizer = boto3.session.Session().client("dynamodb")
        return self._sizer

    def _full_item(self, table: str, key: dict) -> dict:
        return self._sizer_client().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}

    def _updated_units(self, table: str, key: dict) -> int:
        return write_units(self._full_item(table, key) or key)

    def _unprojected_page(self, operation: str, params: dict) -> list[dict]:
        request = {k: v for k, v in params.items() if k != "ProjectionExpression"}
        names = request.get("ExpressionAttributeNames")
        if names:  # names only the projection used would make DynamoDB refuse the request
            expressions = " ".join(str(request.get(k, "")) for k in ("KeyConditionExpression", "FilterExpression"))
            kept = {k: v for k, v in names.items() if k in expressions}
            request["ExpressionAttributeNames"] = kept
            if not kept:
                del request["ExpressionAttributeNames"]
        call = self._sizer_client().query if operation == "Query" else self._sizer_client().scan
        return call(**request).get("Items", [])


def _keep_params(params: dict, context: dict, **_: Any) -> None:
    context["meter_params"] = params


def _kinesis_put(operation: str, params: dict, parsed: dict) -> dict:
    sent = params["Records"] if operation == "PutRecords" else [params]
    answers = parsed["Records"] if operation == "PutRecords" else [parsed]
    taken = [r for r, answer in zip(sent, answers, strict=True) if "ErrorCode" not in answer]
    return {
        "records": len(taken),
        "put_units": sum(put_payload_units(r["Data"], r["PartitionKey"]) for r in taken),
        "sizes": [len(r["Data"]) + len(r["PartitionKey"].encode()) for r in taken],
    }


_installed: Meter | None = None


def install_from_env(process: str) -> Meter | None:
    """In a local process: when HEADCOUNT_METER_DIR is set, count every client `headcount.views.aws.client` makes from
    now on. Returns the meter (None when metering is off)."""
    global _installed
    folder = os.environ.get(METER_DIR_ENV)
    if not folder:
        return None
    from headcount.views import aws

    meter = Meter(Path(folder), process)
    if _installed is not None and _installed.attach in aws.CLIENT_HOOKS:  # a new run in this process: its meter only
        aws.CLIENT_HOOKS.remove(_installed.attach)
    aws.CLIENT_HOOKS.append(meter.attach)
    aws.client.cache_clear()
    _installed = meter
    return meter


def uninstall() -> None:
    """Stop counting this process's new clients (the run is over)."""
    global _installed
    from headcount.views import aws

    if _installed is not None and _installed.attach in aws.CLIENT_HOOKS:
        aws.CLIENT_HOOKS.remove(_installed.attach)
    _installed = None
    aws.client.cache_clear()


def fold_observer(meter: Meter) -> Callable[[list[dict[str, Any]], float, float], None]:
    """For the local event-source mapping: each fold invocation, its records, its duration, and how long each record
    waited from its arrival in the stream to the end of the invocation that folded it (the real-time layer's freshness)."""

    def observe(batch: list[dict[str, Any]], duration_s: float, ended_at: float) -> None:
        waited = [round((ended_at - r["ApproximateArrivalTimestamp"].timestamp()) * 1000) for r in batch]
        meter.invocation("fold", duration_s * 1000, records=len(batch), waited_ms=waited)

    return observe


def api_observer(meter: Meter) -> Callable[[str, str, int, float], None]:
    """For the local API gateway: each request (API Gateway bills it) and the serve function's invocation it made."""

    def observe(method: str, path: str, status: int, duration_s: float) -> None:
        meter.invocation("serve", duration_s * 1000, method=method, path=path.split("?", 1)[0], status=status)

    return observe
