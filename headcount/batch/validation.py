"""The batched Python stage of the job (`mapInArrow`): raw lines in, one row per valid event out, with the cells it
counts in; rejected lines tallied by reason in an accumulator."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from headcount.core.buckets import bucket_of
from headcount.core.catalog import Catalog, Kind
from headcount.core.erasure import blocked_hash
from headcount.core.events import Reason, Rejection, parse_event
from headcount.views.lake import hour_of_path, raw_object_key

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Accumulator

HOUR_MS = 3_600_000
OUTSIDE_RAW_PARTITIONS = "outside_raw_partitions"  # a line of a file whose path names no dt=/hr= partition
FORGOTTEN_PLAYER = "forgotten_player"  # an event of a player erased with "no more" (headcount/core/erasure.py)

EVENTS_SCHEMA = (
    "event_id string, hour_ms bigint, line_md5 string, "
    "cells array<struct<metric:string, bucket:string, group_value:string, player_id:string, ts_ms:bigint>>"
)


def arrival_window(hour_ms: int, written_ms: int) -> tuple[int, int]:
    """The earliest and latest arrival (epoch ms) of a record in a file of the archive hour starting at `hour_ms`,
    written (last modified) at `written_ms`.

    Firehose names a file after its OLDEST record's arrival, so every record arrived at or after the hour's start, and
    before the file was written: within its buffer interval after the hour when Firehose keeps up, hours later when it
    catches up on a backlog. Never earlier than the hour's end, so a file written early (the local archiver, a
    mid-hour flush) is read as that whole hour."""
    return hour_ms, max(hour_ms + HOUR_MS - 1, written_ms)


# What `event_row` answers for an event of a blocked player (not a Rejection: the fold never sees one)
FORGOTTEN = Rejection(Reason.BAD_PLAYER_ID, "the player was erased with no more events")


@dataclass(frozen=True)
class Validator:
    """The Python stage: record lines in, one row per valid event out, with the (metric, bucket, group) cells of the kept
    days it counts in. Picklable (it is shipped to the Python workers)."""

    catalog: Catalog
    tz: str
    days: frozenset[str]
    # {reason: records}: the fold's EventsRejected reasons, plus `outside_raw_partitions` for a file of no raw partition
    # and `forgotten_player` for an event of a blocked player
    rejected: Accumulator | None = None
    # When the raw objects an erasure rewrote were first written (`raw_object_key` -> epoch ms): their arrival bound
    # stays what it was (a rewrite's own time would let through events the job rejected as future)
    written: Mapping[str, int] = field(default_factory=dict)
    blocked: frozenset[str] = frozenset()  # blocked_hash of the players erased with "no more": their events dropped

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        schema = _events_arrow_schema()
        windows: dict[str, tuple[int, int] | None] = {}
        rejected: Counter[str] = Counter()
        for batch in batches:
            keys: list[str] = []
            hour_list: list[int] = []
            md5s: list[str] = []
            cells_list: list[list[dict]] = []
            lines = batch.column(0).to_pylist()
            paths = batch.column(1).to_pylist()
            written = batch.column(2).to_pylist()
            for line, path, written_ms in zip(lines, paths, written, strict=True):
                if not line:
                    continue  # an empty line holds no event (as in the fold's event_lines)
                window = windows.get(path, ())
                if window == ():
                    hour_ms = hour_of_path(path)
                    if self.written:
                        written_ms = self.written.get(raw_object_key(path) or "", written_ms)
                    window = windows[path] = None if hour_ms is None else arrival_window(hour_ms, written_ms)
                if window is None:
                    rejected[OUTSIDE_RAW_PARTITIONS] += 1
                    continue
                hour_ms = window[0]
                row = self.event_row(line, window)
                if row is None:
                    continue
                if row is FORGOTTEN:
                    rejected[FORGOTTEN_PLAYER] += 1
                    continue
                if isinstance(row, Rejection):
                    rejected[row.reason.value] += 1
                    continue
                keys.append(row[0])
                hour_list.append(hour_ms)
                md5s.append(row[1])
                cells_list.append(row[2])
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(keys, pa.string()),
                    pa.array(hour_list, pa.int64()),
                    pa.array(md5s, pa.string()),
                    pa.array(cells_list, schema.field("cells").type),
                ],
                schema=schema,
            )
            if self.rejected is not None and rejected:
                self.rejected.add(dict(rejected))
                rejected.clear()

    def event_row(self, line: bytes, window: tuple[int, int]) -> tuple[str | None, str, list[dict]] | Rejection | None:
        """(event_id or None, MD5 of the record, cells) of a valid event, its Rejection for a rejected record, None for
        a valid event without an id that counts in none of the run's days (nothing to count, nothing to dedupe)."""
        event = parse_event(line, *window)
        if isinstance(event, Rejection):
            return event
        if self.blocked and blocked_hash(event.player_id) in self.blocked:
            return FORGOTTEN
        cells = []
        for metric in self.catalog.counted_for(event.type):
            bucket = bucket_of(event.ts_ms, metric.granularity, self.tz)
            if bucket[:10] in self.days:
                cells.append(
                    {
                        "metric": metric.name,
                        "bucket": bucket,
                        "group_value": metric.group_of(event.attrs),
                        "player_id": event.player_id if metric.kind is Kind.DISTINCT else None,
                        "ts_ms": event.ts_ms,  # the KPIs' activity keeps each player's earliest event of a cell
                    }
                )
        if event.event_id is None and not cells:
            return None  # nothing to count and nothing to be a duplicate of
        return event.event_id, hashlib.md5(line).hexdigest(), cells  # noqa: S324 - a tie-breaker, not security


def _events_arrow_schema() -> pa.Schema:
    import pyarrow as pa

    cell = pa.struct(
        [
            ("metric", pa.string()),
            ("bucket", pa.string()),
            ("group_value", pa.string()),
            ("player_id", pa.string()),
            ("ts_ms", pa.int64()),
        ]
    )
    return pa.schema(
        [("event_id", pa.string()), ("hour_ms", pa.int64()), ("line_md5", pa.string()), ("cells", pa.list_(cell))]
    )


class ReasonCounts:
    """An AccumulatorParam of {reason: records}."""

    def zero(self, _value: dict[str, int]) -> dict[str, int]:
        return {}

    def addInPlace(self, total: dict[str, int], more: dict[str, int]) -> dict[str, int]:  # noqa: N802 - Spark's name
        for reason, n in more.items():
            total[reason] = total.get(reason, 0) + n
        return total
