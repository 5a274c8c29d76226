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
    # The hot loop of the fold (bench/realtime): for each event type, its metrics' plans made once; each plan finds
    # its delta by (15-minute slot, group), every slot of a bucket leading to the bucket's one delta; names bound once.
    deltas: dict[tuple[str, str, str], ItemDelta] = {}
    rejected: list[RejectedRecord] = []
    sketched = frozenset(m.name for m in catalog.metrics if m.kind.sketched)  # distinct and new: the ids
    plans: dict[str, list[tuple[Metric, str | None, bool, dict[tuple[int, str], ItemDelta]]]] = {}
    valid = 0
    for record in records:
        sequence_number = record.sequence_number
        for line in event_lines(record.data):
            event = parse_event(line, record.arrival_ms)
            if isinstance(event, Rejection):
                rejected.append(RejectedRecord(sequence_number, event))
                continue
            valid += 1
            plan = plans.get(event.type)
            if plan is None:
                plan = plans[event.type] = [
                    (m, m.group_by, m.name in sketched, {}) for m in catalog.for_event_type(event.type)
                ]
            slot, attrs = event.ts_ms // SLOT_MS, event.attrs
            for metric, group_by, keeps_ids, by_slot in plan:
                group = NO_GROUP if group_by is None else attrs.get(group_by, UNKNOWN_GROUP)
                delta = by_slot.get((slot, group))
                if delta is None:
                    bucket = bucket_of(event.ts_ms, metric.granularity, tz)
                    delta = deltas.get((metric.name, bucket, group))
                    if delta is None:
                        delta = deltas[metric.name, bucket, group] = ItemDelta(metric, bucket, group)
                    by_slot[slot, group] = delta
                delta.sequence_numbers.append(sequence_number)
                if keeps_ids:
                    delta.values.append(event.player_id)
    return FoldedBatch(deltas, rejected, valid)
