"""A shard's batch of records as per-item deltas (pure: no store, no clock); `headcount.logic.folding` applies them.

A batch from one shard arrives in sequence order. Each valid event adds to the items (metric, bucket, group) of every metric
of its type. Each item keeps the ascending sequence numbers of its records, so that whoever applies the delta can skip the
records an earlier delivery already applied (Kinesis sequence numbers grow within a shard).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import NamedTuple

from headcount.core.buckets import SLOT_MS, bucket_of
from headcount.core.catalog import NO_GROUP, UNKNOWN_GROUP, Catalog, Metric
from headcount.core.events import Rejection, event_lines, parse_event


class Record(NamedTuple):  # a NamedTuple: made once per record, cheaper than a frozen dataclass
    """One Kinesis record, as the fold needs it."""

    data: bytes
    sequence_number: int
    arrival_ms: int


@dataclass(slots=True)
class ItemDelta:
    """What one batch adds to one (metric, bucket, group) item of its shard."""

    metric: Metric
    bucket: str
    group: str
    sequence_numbers: list[int] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # distinct and new metrics: the id of each record

    def unapplied_from(self, stored_sequence_number: int | None) -> int:
        """Index of the first record newer than what the item already holds."""
        if stored_sequence_number is None:
            return 0
        return bisect_right(self.sequence_numbers, stored_sequence_number)


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    sequence_number: int
    rejection: Rejection


@dataclass
class FoldedBatch:
    deltas: dict[tuple[str, str, str], ItemDelta]
    rejected: list[RejectedRecord]
    valid: int


def fold_records(records: list[Record], catalog: Catalog, tz: str) -> FoldedBatch:
    # The hot loop of the fold (bench/realtime): buckets cached per metric and 15-minute slot (keyed by name: hashing an
    # Enum member is a Python-level call), names bound once, no per-metric function calls.
    deltas: dict[tuple[str, str, str], ItemDelta] = {}
    rejected: list[RejectedRecord] = []
    buckets: dict[str, dict[int, str]] = {m.name: {} for m in catalog.metrics}
    metrics_for = catalog.for_event_type
    sketched = frozenset(m.name for m in catalog.metrics if m.kind.sketched)  # distinct and new: the ids
    valid = 0
    for record in records:
        for line in event_lines(record.data):
            event = parse_event(line, record.arrival_ms)
            if isinstance(event, Rejection):
                rejected.append(RejectedRecord(record.sequence_number, event))
                continue
            valid += 1
            slot = event.ts_ms // SLOT_MS
            for metric in metrics_for(event.type):
                cache = buckets[metric.name]
                bucket = cache.get(slot)
                if bucket is None:
                    bucket = cache[slot] = bucket_of(event.ts_ms, metric.granularity, tz)
                group = NO_GROUP if metric.group_by is None else event.attrs.get(metric.group_by, UNKNOWN_GROUP)
                key = (metric.name, bucket, group)
                delta = deltas.get(key)
                if delta is None:
                    delta = deltas[key] = ItemDelta(metric, bucket, group)
                delta.sequence_numbers.append(record.sequence_number)
                if metric.name in sketched:
                    delta.values.append(event.player_id)
    return FoldedBatch(deltas, rejected, valid)
