"""The batch view in DynamoDB: the nightly job's exact rows of each published day, and the day's publication.

Each run's rows are written under keys of their own; then the day's publication (one item: the run, when, and every
cell's exact value) is switched to the run, then the rows of other runs are deleted, all under the run's lease on the
day. A reader takes the publication, so it sees one whole run, the old or the new, never half of one or a mix (a rerun
after late events changes some values while readers are reading). Publications of a metric share a partition, so the
values of a range of days are one Query; sketches are read only where a union needs them, and a finished day's sketch
is kept in memory until a republish names another run. A reader keeps the publications it has read too: each publish
adds one to the metric's marker after writing the publication, and while the marker's version is the one they were
read under (one GetItem), only days not read yet are queried.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

import orjson

from headcount.core import keys, sketches
from headcount.core.merge import Partial
from headcount.views.aws import batch_get, client


@dataclass(frozen=True, slots=True)
class BatchRow:
    metric: str
    day: str
    bucket: str
    group: str
    value: int
    sketch: bytes | None


@dataclass(frozen=True, slots=True)
class Publication:
    """A published day of a metric: the run readers take, when it was published, and its cells' exact values."""

    day: str
    run_id: str
    published_ms: int
    cells: tuple[Partial, ...]  # (bucket, group, value) of every row; no sketches
    has_union: bool = False  # the day has a union row (`run#*#`)
    cuts: frozenset[str] = frozenset()  # a sub-day twin's: the quarter buckets it has both edges of (`edge_sketches`)

    def buckets_of(self, group: str | None) -> list[str]:
        return sorted({c.bucket for c in self.cells if group is None or c.group == group})


Edges = Mapping[str, bytes | None]  # a sub-day twin's day: edge bucket (keys.edge_bucket) -> its union (None: empty)


@dataclass(frozen=True, slots=True)
class _Known:
    """A metric's publications a reader has read, of every day from `first` to `last`, under the marker's `version`."""

    version: int
    first: str
    last: str
    days: dict[str, Publication]
    cells: int  # of the publications: what the reader's memory of them is capped by


class BatchView(Protocol):
    def publish(
        self,
        metric: str,
        day: str,
        rows: list[BatchRow],
        run_id: str,
        union: bytes | None = None,
        edges: Edges | None = None,
    ) -> None:
        """Publish the day's rows as the run's. `union`: the day's union row (the sketch a range's union or a set
        operation needs); None: the HLL union of the rows' sketches (a distinct metric's). A new-players metric gives
        its Theta sketch of every player seen up to the day. `edges`: a distinct sub-day twin's unions of its quarter
        hours before and from each cut (both of every cut), which another zone's day is made of."""

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        """The day's rows, or None when the batch layer has not published it."""

    def publications(self, metric: str, first: str, last: str) -> dict[str, Publication]:
        """The published days from `first` to `last` (ISO dates), by day: one Query, no sketches."""

    def union_sketches(self, metric: str, days: Iterable[Publication], group: str | None) -> dict[str, bytes | None]:
        """Each published day's union sketch of its rows (of `group`, or of all groups), by day. Raises RunReplaced
        when a republish removed a run in between: read the publications again."""

    def row_sketches(self, metric: str, days: Iterable[Publication], group: str | None) -> dict[str, list[Partial]]:
        """Each published day's rows with their sketches (of `group`, or of all groups; rows of 0 hold none and are
        left out), by day: the quarter hours another zone's day is the union of. Raises RunReplaced as above."""

    def edge_sketches(
        self, metric: str, wanted: Iterable[tuple[Publication, str]]
    ) -> dict[tuple[str, str], bytes | None]:
        """Sketches of published days' edges (an edge bucket of `Publication.cuts`) or unions (`keys.UNION_BUCKET`),
        by (day, bucket); None where empty. Raises RunReplaced as above."""


MAX_CELLS_BYTES = 380_000  # a day's publication is one item (400 KB at most, its keys and run included)


class PublishInProgress(RuntimeError):
    """Another run is publishing the same day and did not finish within the wait."""


class RunReplaced(RuntimeError):
    """The run a publication named was replaced (its rows deleted) while it was being read."""


class DynamoBatchView:
    """Items of a (metric, day) partition: rows `run#bucket#group` (and the union row `run#*#` of a distinct metric), and
    while a run publishes, its lease `~lock` (one publisher per day at a time: two overlapping runs, the nightly
    schedule and a manual rerun, would otherwise delete each other's rows). The day's publication is the item (metric,
    day) of the metric's partition."""

    SKETCH_CACHE_ENTRIES = 8192  # finished days' union sketches kept in memory (at most ~8 KiB each)
    ROWS_CACHE_ROWS = 20_000  # finished days' rows with sketches (another zone's quarter hours), kept in memory
    KNOWN_CELLS = 1_000_000  # publications' cells kept in memory (~80 bytes each), the least recently read metric's go

    def __init__(
        self, table: str, lease_s: float = 300.0, wait_s: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        """`clock`: the wall clock (epoch seconds) a lease's end is written and compared in. Publishers on different
        machines share the lease, so it is wall time, not a monotonic one."""
        self.table, self.lease_s, self.wait_s, self.clock = table, lease_s, wait_s, clock
        self.ddb = client("dynamodb")
        self._sketches: OrderedDict[tuple, bytes | None] = OrderedDict()  # (metric, day, run, group[, edge])
        self._rows: OrderedDict[tuple[str, str, str, str | None], list[Partial]] = OrderedDict()
        self._rows_kept = 0  # rows in _rows
        self._known: OrderedDict[str, _Known] = OrderedDict()  # by metric
        self._known_lock = threading.Lock()

    def publish(
        self,
        metric: str,
        day: str,
        rows: list[BatchRow],
        run_id: str,
        union: bytes | None = None,
        edges: Edges | None = None,
    ) -> None:
        pk = keys.partition_key(metric, day)
        self._acquire(pk, run_id)
        try:
            items, publication = self.run_items(metric, day, rows, run_id, union, edges)
            self._batch_write([{"PutRequest": {"Item": item}} for item in items])
            self.ddb.put_item(TableName=self.table, Item=publication)
            self.mark_published(metric)  # before any row a reader's kept publication names is deleted
            # Only now can the rows of other runs go (earlier ones, or a crashed publish's): readers follow the publication.
            stale = [
                sk
                for item in self._query(pk, projection="sk")
                if not (sk := item["sk"]["S"]).startswith("~") and sk.split(keys.SEP, 1)[0] != run_id
            ]
            self._batch_write([{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for sk in stale])
        finally:
            self._release(pk, run_id)

    def run_items(
        self,
        metric: str,
        day: str,
        rows: list[BatchRow],
        run_id: str,
        union: bytes | None = None,
        edges: Edges | None = None,
    ) -> tuple[list[dict], dict]:
        """A run's items for a day: its rows (and a distinct metric's union row, a twin's edges), and its
        publication."""
        pk = keys.partition_key(metric, day)
        items = [_row_item(pk, r, run_id) for r in rows]
        union = union if union is not None else _union_of(rows)
        if union is not None:  # what a range's union needs of the day, in one item
            items.append({"pk": {"S": pk}, "sk": {"S": keys.union_sort_key(run_id)}, "sketch": {"B": union}})
        edges = edges or {}
        items += [_row_item(pk, BatchRow(metric, day, edge, "", 0, sketch), run_id) for edge, sketch in edges.items()]
        cells = zlib.compress(orjson.dumps([(r.bucket, r.group, r.value) for r in rows]))
        if len(cells) > MAX_CELLS_BYTES:
            raise ValueError(
                f"{metric} on {day}: {len(rows):,} cells are {len(cells):,} bytes compressed, more than one DynamoDB "
                f"item holds ({MAX_CELLS_BYTES:,}); group it by an attribute with fewer values"
            )
        publication = {
            "pk": {"S": keys.publications_key(metric)},
            "sk": {"S": day},
            "run_id": {"S": run_id},
            "published_ms": {"N": str(int(self.clock() * 1000))},
            "cells": {"B": cells},  # every cell's value: a few KiB for hundreds of groups
            "union": {"BOOL": union is not None},
        }
        if edges:
            publication["cuts"] = {"B": zlib.compress(orjson.dumps(sorted(_cuts(edges))))}  # ~150 bytes, not ~1,000
        return items, publication

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        """The publication first, then only its run's rows; a publish that replaced that run in between (its rows are
        being deleted) shows as missing rows, and the day is read again."""
        pk = keys.partition_key(metric, day)
        for _ in range(5):
            publication = self._read_publications(metric, day, day).get(day)
            if publication is None:
                return None
            items = self._query(pk, begins_with=f"{publication.run_id}{keys.SEP}")
            rows = [r for r in map(_partial, items) if keys.is_row_bucket(r.bucket)]
            if len(rows) == len(publication.cells):
                return rows
        raise PublishInProgress(f"{pk} changed under every read: a publish is replacing it")

    def published_run(self, metric: str, day: str) -> str | None:
        publication = self._read_publications(metric, day, day).get(day)
        return publication.run_id if publication else None

    def publications(self, metric: str, first: str, last: str) -> dict[str, Publication]:
        """The marker's version first: while it is the one the kept publications were read under, only the days
        outside those read are queried (none, for a range read before). A publish between the marker's read and the
        Query leaves publications newer than their version, which the next read replaces."""
        version = self._published_version(metric)
        with self._known_lock:
            known = self._known.get(metric)
            if known is not None and known.version == version:
                self._known.move_to_end(metric)
            else:
                known = None
        if known is None:
            spans = [(first, last)]
        else:
            spans = [(first, _day_next(known.first, -1))] if first < known.first else []
            spans += [(_day_next(known.last, 1), last)] if last > known.last else []
        days = dict(known.days) if known is not None else {}
        for span in spans:
            days.update(self._read_publications(metric, *span))
        if spans:
            lo, hi = (first, last) if known is None else (min(first, known.first), max(last, known.last))
            self._keep(metric, known, _Known(version, lo, hi, days, sum(len(p.cells) for p in days.values())))
        return {day: p for day, p in days.items() if first <= day <= last}

    def _published_version(self, metric: str) -> int:
        marker = self._get(keys.publications_key(metric), keys.PUBLISHED_SK)
        return int(marker["version"]["N"]) if marker else 0

    def mark_published(self, metric: str) -> None:
        """Add one to the metric's marker: readers read its publications again (`publish` does it; a writer of
        publications in bulk, `run_items`, does it after them)."""
        self.ddb.update_item(
            TableName=self.table,
            Key={"pk": {"S": keys.publications_key(metric)}, "sk": {"S": keys.PUBLISHED_SK}},
            UpdateExpression="ADD version :one SET published_ms = :at",
            ExpressionAttributeValues={":one": {"N": "1"}, ":at": {"N": str(int(self.clock() * 1000))}},
        )

    def _keep(self, metric: str, was: _Known | None, now: _Known) -> None:
        """Keep what a read found, unless another read replaced what it started from in between."""
        with self._known_lock:
            if was is not None and self._known.get(metric) is not was:
                return
            self._known[metric] = now
            self._known.move_to_end(metric)
            kept = sum(k.cells for k in self._known.values())
            while kept > self.KNOWN_CELLS and len(self._known) > 1:
                kept -= self._known.popitem(last=False)[1].cells

    def _read_publications(self, metric: str, first: str, last: str) -> dict[str, Publication]:
        items = self._query(keys.publications_key(metric), between=(first, last))
        return {item["sk"]["S"]: _publication(item) for item in items}

    def union_sketches(self, metric: str, days: Iterable[Publication], group: str | None) -> dict[str, bytes | None]:
        found: dict[str, bytes | None] = {}
        wanted: dict[tuple[str, str], str] = {}  # (pk, sk) -> day
        unread: list[Publication] = []
        for p in days:
            key = (metric, p.day, p.run_id, group)
            if key in self._sketches:
                self._sketches.move_to_end(key)
                found[p.day] = self._sketches[key]
                continue
            pk = keys.partition_key(metric, p.day)
            if group is None:
                sort_keys = [keys.union_sort_key(p.run_id)] if p.has_union else []
            else:  # the group's rows: one for a daily metric, one per hour of an hourly one
                sort_keys = [keys.batch_sort_key(p.run_id, b, group) for b in p.buckets_of(group)]
            wanted.update({(pk, sk): p.day for sk in sort_keys})
            unread.append(p)
        got = self._get_sketches(list(wanted))
        if len(got) < len(wanted):
            raise RunReplaced(f"a run of {metric} was replaced while it was read")
        by_day: dict[str, list[bytes]] = {}
        for item_key, sketch in got.items():
            if sketch is not None:
                by_day.setdefault(wanted[item_key], []).append(sketch)
        for p in unread:  # a day without rows (or without the group) has no sketch
            pieces = by_day.get(p.day, [])
            found[p.day] = pieces[0] if len(pieces) == 1 else _union_bytes(pieces) if pieces else None
            self._remember((metric, p.day, p.run_id, group), found[p.day])
        return found

    def row_sketches(self, metric: str, days: Iterable[Publication], group: str | None) -> dict[str, list[Partial]]:
        found: dict[str, list[Partial]] = {}
        wanted: dict[tuple[str, str], tuple[str, Partial]] = {}  # (pk, sk) -> (day, cell)
        unread: list[Publication] = []
        for p in days:
            key = (metric, p.day, p.run_id, group)
            if key in self._rows:
                self._rows.move_to_end(key)
                found[p.day] = self._rows[key]
                continue
            pk = keys.partition_key(metric, p.day)
            for cell in p.cells:
                if cell.count and group in (None, cell.group):
                    wanted[(pk, keys.batch_sort_key(p.run_id, cell.bucket, cell.group))] = (p.day, cell)
            unread.append(p)
        got = self._get_sketches(list(wanted))
        if len(got) < len(wanted):
            raise RunReplaced(f"a run of {metric} was replaced while it was read")
        by_day: dict[str, list[Partial]] = {p.day: [] for p in unread}
        for item_key, sketch in got.items():
            day, cell = wanted[item_key]
            by_day[day].append(Partial(cell.bucket, cell.group, cell.count, sketch))
        for p in unread:
            found[p.day] = by_day[p.day]
            key = (metric, p.day, p.run_id, group)
            if key not in self._rows:
                self._rows[key] = by_day[p.day]
                self._rows_kept += len(by_day[p.day])
            while self._rows_kept > self.ROWS_CACHE_ROWS:
                self._rows_kept -= len(self._rows.popitem(last=False)[1])
        return found

    def edge_sketches(
        self, metric: str, wanted: Iterable[tuple[Publication, str]]
    ) -> dict[tuple[str, str], bytes | None]:
        found: dict[tuple[str, str], bytes | None] = {}
        unread: dict[tuple[str, str], tuple[str, str, str]] = {}  # (pk, sk) -> (day, bucket, run)
        for p, bucket in wanted:
            key = (metric, p.day, p.run_id, None, bucket)
            if key in self._sketches:
                self._sketches.move_to_end(key)
                found[(p.day, bucket)] = self._sketches[key]
            else:
                unread[(keys.partition_key(metric, p.day), keys.batch_sort_key(p.run_id, bucket, ""))] = (
                    p.day,
                    bucket,
                    p.run_id,
                )
        got = self._get_sketches(list(unread))
        if len(got) < len(unread):
            raise RunReplaced(f"a run of {metric} was replaced while it was read")
        for item_key, sketch in got.items():
            day, bucket, run_id = unread[item_key]
            found[(day, bucket)] = sketch
            self._remember((metric, day, run_id, None, bucket), sketch)
        return found

    def _remember(self, key: tuple, sketch: bytes | None) -> None:
        self._sketches[key] = sketch
        if len(self._sketches) > self.SKETCH_CACHE_ENTRIES:
            self._sketches.popitem(last=False)

    def _get_sketches(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
        """The rows' sketches (None: a row without one), a few BatchGetItem calls at a time."""
        items = batch_get(self.ddb, self.table, wanted, projection="pk, sk, sketch", calls_at_once=4)
        return {(i["pk"]["S"], i["sk"]["S"]): bytes(i["sketch"]["B"]) if "sketch" in i else None for i in items}

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

    def _query(
        self,
        pk: str,
        projection: str | None = None,
        begins_with: str | None = None,
        between: tuple[str, str] | None = None,
    ) -> list[dict]:
        kwargs: dict = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        if begins_with is not None:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            kwargs["ExpressionAttributeValues"][":prefix"] = {"S": begins_with}
        if between is not None:
            kwargs["KeyConditionExpression"] += " AND sk BETWEEN :first AND :last"
            kwargs["ExpressionAttributeValues"].update({":first": {"S": between[0]}, ":last": {"S": between[1]}})
        if projection:
            kwargs["ProjectionExpression"] = projection
        return [item for page in self.ddb.get_paginator("query").paginate(**kwargs) for item in page["Items"]]


class InMemoryBatchView:
    """The same contract in a dict, for tests and benchmarks."""

    def __init__(self, clock: Callable[[], float] = lambda: 0.0) -> None:
        self.days: dict[tuple[str, str], tuple[str, int, list[Partial]]] = {}
        self.unions: dict[tuple[str, str], bytes] = {}  # the union rows given to publish
        self.edges: dict[tuple[str, str], dict[str, bytes | None]] = {}
        self.clock = clock

    def publish(
        self,
        metric: str,
        day: str,
        rows: list[BatchRow],
        run_id: str,
        union: bytes | None = None,
        edges: Edges | None = None,
    ) -> None:
        parts = [Partial(r.bucket, r.group, r.value, r.sketch) for r in rows]
        self.days[(metric, day)] = (run_id, int(self.clock() * 1000), parts)
        self.edges[(metric, day)] = dict(edges or {})
        if union is not None:
            self.unions[(metric, day)] = union
        else:
            self.unions.pop((metric, day), None)

    def day_rows(self, metric: str, day: str) -> list[Partial] | None:
        return self.days[(metric, day)][2] if (metric, day) in self.days else None

    def publications(self, metric: str, first: str, last: str) -> dict[str, Publication]:
        return {
            day: Publication(
                day,
                run,
                at,
                tuple(Partial(p.bucket, p.group, p.count) for p in parts),
                (m, day) in self.unions or any(p.sketch for p in parts),
                frozenset(_cuts(self.edges.get((m, day), {}))),
            )
            for (m, day), (run, at, parts) in sorted(self.days.items())
            if m == metric and first <= day <= last
        }

    def union_sketches(self, metric: str, days: Iterable[Publication], group: str | None) -> dict[str, bytes | None]:
        found: dict[str, bytes | None] = {}
        for p in days:
            if group is None and (metric, p.day) in self.unions:
                found[p.day] = self.unions[(metric, p.day)]
                continue
            pieces = [r.sketch for r in self.days[(metric, p.day)][2] if r.sketch and group in (None, r.group)]
            found[p.day] = (pieces[0] if len(pieces) == 1 else _union_bytes(pieces)) if pieces else None
        return found

    def row_sketches(self, metric: str, days: Iterable[Publication], group: str | None) -> dict[str, list[Partial]]:
        return {p.day: [r for r in self.days[(metric, p.day)][2] if r.count and group in (None, r.group)] for p in days}

    def edge_sketches(
        self, metric: str, wanted: Iterable[tuple[Publication, str]]
    ) -> dict[tuple[str, str], bytes | None]:
        found: dict[tuple[str, str], bytes | None] = {}
        for p, bucket in wanted:
            if bucket == keys.UNION_BUCKET:
                found[(p.day, bucket)] = self.union_sketches(metric, [p], None)[p.day]
            else:
                found[(p.day, bucket)] = self.edges[(metric, p.day)][bucket]
        return found


def _cuts(edges: Edges) -> set[str]:
    return {edge[1:] for edge in edges}


def _union_of(rows: list[BatchRow]) -> bytes | None:
    pieces = [r.sketch for r in rows if r.sketch is not None]
    return _union_bytes(pieces) if pieces else None


def _union_bytes(pieces: list[bytes]) -> bytes:
    decoded = [sketches.decode(p) for p in pieces]
    return sketches.encode(sketches.union(decoded, max(s.lg_config_k for s in decoded)))


def _day_next(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def _publication(item: dict) -> Publication:
    cells = orjson.loads(zlib.decompress(bytes(item["cells"]["B"])))
    intern = sys.intern  # a bucket or group repeats across cells, days and metrics: kept once in memory
    return Publication(
        item["sk"]["S"],
        item["run_id"]["S"],
        int(item["published_ms"]["N"]),
        tuple(Partial(intern(bucket), intern(group), value) for bucket, group, value in cells),
        item["union"]["BOOL"] if "union" in item else bool(cells),  # written before the flag: a union when cells
        frozenset(orjson.loads(zlib.decompress(bytes(item["cuts"]["B"])))) if "cuts" in item else frozenset(),
    )


def _partial(item: dict) -> Partial:
    _run_id, bucket, group = keys.split_batch_sort_key(item["sk"]["S"])
    sketch = bytes(item["sketch"]["B"]) if "sketch" in item else None
    return Partial(bucket, group, int(item["value"]["N"]) if "value" in item else None, sketch)


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
