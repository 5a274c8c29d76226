"""Fold one shard's batch into the real-time view: aggregate in memory, then write each touched item at most once, and
keep the shard's status (its days, its watermark) current for readers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache, partial

from headcount import names
from headcount.core import keys, sketches
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
    watermark_ms: int | None = None  # the shard's watermark this batch reported (None: not reported this time)

    def rejected_by_reason(self) -> Counter[str]:
        return Counter(r.rejection.reason.value for r in self.rejected)


@dataclass
class ShardMarks:
    """What this process remembers of what it wrote, so that a batch writes and reads less.

    - each shard's status: a batch writes it only when it changed, the days (a new one once a day) and the watermark
      (at most every `every_ms`, which bounds how stale it can look);
    - the items the last batch of each shard wrote or read: the next batch reads from the store only the others (one
      invocation folds a shard at a time, so what it wrote is what the store holds). Should another writer have changed
      one meanwhile (a zombie invocation, a container that took the shard over), the write conditioned on the
      remembered sequence number fails as stale, the item is forgotten and the shard resumes from its first unapplied
      record, read afresh; a sketch the batch leaves unchanged is not written at all, which is right whatever another
      writer added (a sketch only grows).
    """

    every_ms: int = 5_000
    days: dict[str, set[str]] = field(default_factory=dict)
    watermark_ms: dict[str, int] = field(default_factory=dict)
    items: dict[str, dict[ItemKey, RealtimeItem]] = field(default_factory=dict)


def fold_batch(
    records: list[Record],
    shard_id: str,
    store: RealtimeStore,
    catalog: Catalog,
    tz: str,
    ttl_days: int,
    now_ms: int | None = None,
    marks: ShardMarks | None = None,
    recent_ids_bytes: int = names.FOLD_RECENT_IDS_BYTES,
) -> FoldReport:
    """`now_ms`: when the fold runs (its lag is measured against it; default: the newest record's arrival); `marks`:
    the process's memory of the shard statuses it wrote (default: none, every status is written);
    `recent_ids_bytes`: how many bytes of ids a distinct item's recent ids hold before its sketch is written whole (0:
    every change writes the whole sketch)."""
    marks = marks if marks is not None else ShardMarks()
    folded = fold_records(records, catalog, tz)
    report = FoldReport(len(records), folded.valid, folded.rejected, items_touched=len(folded.deltas))
    item_keys = {ItemKey(m, b, g, shard_id): delta for (m, b, g), delta in folded.deltas.items()}
    wanted = [*item_keys, *(k.recent() for k, d in item_keys.items() if d.metric.kind.sketched)]
    try:
        newest_ms = max((r.arrival_ms for r in records), default=0)
        _note_days(shard_id, {k.day for k in item_keys}, store, marks, tz, ttl_days, newest_ms)
        known = marks.items.pop(shard_id, {})
        unknown = [k for k in wanted if k not in known]
        found = store.read(unknown)
        stored = {k: known[k] for k in wanted if k in known} | {k: found.get(k) for k in unknown}
    except Exception as exc:  # noqa: BLE001 - any store failure: nothing was written, resume from the first record
        report.failed_items = [(k, exc) for k in item_keys]
        report.first_failed_sequence_number = records[0].sequence_number if records else None
        return report
    remembered = marks.items[shard_id] = dict(stored)  # what this batch leaves in the store, as far as it knows
    for key, delta in item_keys.items():
        recent = stored.get(key.recent()) if delta.metric.kind.sketched else None
        current = stored.get(key)
        applied = max((i.sequence_number for i in (current, recent) if i is not None), default=None)
        start = delta.unapplied_from(applied)
        done = start == len(delta.sequence_numbers)  # a redelivery: every record is in already
        updated = None if done else _apply(key, delta, start, current, recent, recent_ids_bytes)
        if updated is None:
            report.items_unchanged += 1
            continue
        before = stored.get(updated.key)  # the item itself, or its recent ids
        try:
            report.write_units += store.write(
                updated, before.sequence_number if before is not None else None, _expires_at(key.day, tz, ttl_days)
            )
            report.items_written += 1
            remembered[updated.key] = updated
        except Exception as exc:  # noqa: BLE001 - the item is retried from its first unapplied record, read afresh
            remembered.pop(key, None)
            remembered.pop(key.recent(), None)
            report.failed_items.append((key, exc))
            first = delta.sequence_numbers[start]
            if report.first_failed_sequence_number is None or first < report.first_failed_sequence_number:
                report.first_failed_sequence_number = first
    if report.first_failed_sequence_number is None and records:
        _advance(shard_id, records, store, marks, now_ms, report)
    return report


def _note_days(
    shard_id: str, days: set[str], store: RealtimeStore, marks: ShardMarks, tz: str, ttl_days: int, newest_ms: int
) -> None:
    """Before any item of a new day is written: the shard's status lists the day (readers query only listed days)."""
    known = marks.days.get(shard_id)
    if known is not None and days <= known:
        return
    if known is None:  # a process's first batch of the shard: what the status lists, so expired days can go
        status = store.shard_status(shard_id)
        known = set(status.days) if status is not None else set()
    # Other days whose items have all expired by the time of the batch's records leave the list, which stays about
    # TTL days long; a day the batch writes is always listed.
    expired = {d for d in known - days if _expires_at(d, tz, ttl_days) * 1000 < newest_ms}
    if not days <= known or expired:
        store.add_days(shard_id, days - known, expired)
    marks.days[shard_id] = (known | days) - expired


def _advance(
    shard_id: str,
    records: list[Record],
    store: RealtimeStore,
    marks: ShardMarks,
    now_ms: int | None,
    report: FoldReport,
) -> None:
    """The whole batch is applied: every record of the shard that arrived up to its newest one is in."""
    watermark = max(r.arrival_ms for r in records)
    if watermark < marks.watermark_ms.get(shard_id, -marks.every_ms) + marks.every_ms:
        return
    try:
        store.advance(shard_id, watermark, max(0, (now_ms if now_ms is not None else watermark) - watermark))
    except Exception as exc:  # noqa: BLE001 - the items are in; resuming at the last record reports it again
        report.failed_items.append((ItemKey(keys.SHARDS_PK, "", "", shard_id), exc))
        report.first_failed_sequence_number = records[-1].sequence_number
        return
    marks.watermark_ms[shard_id] = watermark
    report.watermark_ms = watermark


def _apply(
    key: ItemKey,
    delta: ItemDelta,
    start: int,
    current: RealtimeItem | None,
    recent: RealtimeItem | None,
    recent_ids_bytes: int,
) -> RealtimeItem | None:
    """The item the delta's unapplied records write (the item itself or its recent ids), or None when they change
    nothing.

    A counter is written whole. A distinct item's sketch changes only with a value that grows one of its registers:
    those values join the item's recent ids (a small item: about a write unit), and only when the ids outgrow
    `recent_ids_bytes` is the sketch written whole instead (an HLL_4 sketch of lg_k 14 is 8 KiB: 9 write units). The
    ids are left as they are then: they are in the sketch, older than it (a lower sequence number), and the next ids
    written replace them; so a reader always finds every value in the sketch or in the ids. The sketch is only ever
    built by updates (stored sketch, ids, new values), so it keeps the estimator that tells a change exactly; readers
    union the sketch and a sketch of the ids.

    A new-players metric keeps a Theta sketch of the day's players instead (today minus everyone seen before is a set
    difference, which HLL cannot do), by the same rules: `ThetaState` tells exactly which values change it."""
    last = delta.sequence_numbers[-1]
    metric = delta.metric
    if metric.kind is Kind.COUNT:
        previous = current.count if current and current.count is not None else 0
        return RealtimeItem(key, last, count=previous + len(delta.sequence_numbers) - start)
    assert metric.lg_k is not None  # every distinct and new metric has one (catalog)
    stored = current.sketch if current and current.sketch else None
    live = recent is not None and (current is None or recent.sequence_number > current.sequence_number)
    ids = set(recent.ids) if recent is not None and live else set()  # not live: already in the sketch
    if metric.kind is Kind.NEW:
        theta = sketches.ThetaState(metric.lg_k, stored)
        grown_by, whole = theta.grown_by, theta.serialize
    else:
        hll = sketches.decode(stored) if stored else sketches.new_sketch(metric.lg_k)
        grown_by, whole = partial(sketches.grown_by, hll), partial(sketches.encode, hll)
    grown_by(sorted(ids))  # the ids, then the batch: the sketch is built by updates only
    # each value once, in the order they came: a repeat adds nothing
    grown = set(grown_by(dict.fromkeys(delta.values[start:])))
    if not grown:
        return None
    ids |= grown
    if sum(len(i.encode()) for i in ids) <= recent_ids_bytes:
        return RealtimeItem(key.recent(), last, ids=tuple(sorted(ids)))
    return RealtimeItem(key, last, sketch=whole())


@lru_cache(maxsize=1024)  # a batch's items share a few days
def _expires_at(day: str, tz: str, ttl_days: int) -> int:
    """TTL: the end of the bucket's day plus the retention, by when the batch layer has long covered it."""
    _, end_ms = day_bounds_ms(date.fromisoformat(day), tz)
    return end_ms // 1000 + int(timedelta(days=ttl_days).total_seconds())
