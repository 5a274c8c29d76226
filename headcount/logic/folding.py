"""Fold one shard's batch into the real-time view: aggregate in memory, then write each touched item at most once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from headcount.core import sketches
from headcount.core.buckets import day_bounds_ms
from headcount.core.catalog import Catalog, Kind
from headcount.core.deltas import ItemDelta, Record, RejectedRecord, fold_records
from headcount.views.realtime import ItemKey, RealtimeItem, RealtimeStore


@dataclass
class FoldReport:
    records: int
    valid: int
    rejected: list[RejectedRecord]
    items_touched: int = 0
    items_written: int = 0
    write_units: int = 0
    items_unchanged: int = 0  # sketches the batch did not change, or records already applied
    failed_items: list[tuple[ItemKey, Exception]] = field(default_factory=list)
    first_failed_sequence_number: int | None = None  # where the stream must resume; None: the whole batch is applied

    def rejected_by_reason(self) -> Counter[str]:
        return Counter(r.rejection.reason.value for r in self.rejected)


def fold_batch(
    records: list[Record], shard_id: str, store: RealtimeStore, catalog: Catalog, tz: str, ttl_days: int
) -> FoldReport:
    folded = fold_records(records, catalog, tz)
    report = FoldReport(len(records), folded.valid, folded.rejected, items_touched=len(folded.deltas))
    item_keys = {ItemKey(m, b, g, shard_id): delta for (m, b, g), delta in folded.deltas.items()}
    try:
        stored = store.read(item_keys)
    except Exception as exc:  # noqa: BLE001 - any store failure: nothing was written, resume from the first record
        report.failed_items = [(k, exc) for k in item_keys]
        report.first_failed_sequence_number = records[0].sequence_number if records else None
        return report
    for key, delta in item_keys.items():
        current = stored.get(key)
        start = delta.unapplied_from(current.sequence_number if current else None)
        if start == len(delta.sequence_numbers):
            report.items_unchanged += 1
            continue
        updated = _apply(key, delta, start, current)
        if updated is None:
            report.items_unchanged += 1
            continue
        try:
            report.write_units += store.write(
                updated, current.sequence_number if current else None, _expires_at(key.day, tz, ttl_days)
            )
            report.items_written += 1
        except Exception as exc:  # noqa: BLE001 - the item is retried from its first unapplied record
            report.failed_items.append((key, exc))
            first = delta.sequence_numbers[start]
            if report.first_failed_sequence_number is None or first < report.first_failed_sequence_number:
                report.first_failed_sequence_number = first
    return report


def _apply(key: ItemKey, delta: ItemDelta, start: int, current: RealtimeItem | None) -> RealtimeItem | None:
    """The item after the delta's unapplied records, or None when a sketch is unchanged (so it is not rewritten)."""
    last = delta.sequence_numbers[-1]
    if delta.metric.kind is Kind.COUNT:
        previous = current.count if current and current.count is not None else 0
        return RealtimeItem(key, last, count=previous + len(delta.sequence_numbers) - start)
    assert delta.metric.lg_k is not None  # every distinct metric has one (catalog)
    sketch = sketches.decode(current.sketch) if current and current.sketch else sketches.new_sketch(delta.metric.lg_k)
    if not sketches.update_all(sketch, delta.values[start:]):
        return None
    return RealtimeItem(key, last, sketch=sketches.encode(sketch))


def _expires_at(day: str, tz: str, ttl_days: int) -> int:
    """TTL: the end of the bucket's day plus the retention, by when the batch layer has long covered it."""
    _, end_ms = day_bounds_ms(date.fromisoformat(day), tz)
    return end_ms // 1000 + int(timedelta(days=ttl_days).total_seconds())
