"""The serving merge rule, per bucket: a published batch value wins and is exact; otherwise the union (distinct) or sum
(count) of the real-time shard items, never exact. Buckets without data still appear, as 0 from source `none`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from headcount.core import sketches
from headcount.core.catalog import Kind, Metric


@dataclass(frozen=True, slots=True)
class Partial:
    """One stored piece of a bucket: a real-time shard item or a batch row."""

    bucket: str
    group: str
    count: int | None = None
    sketch: bytes | None = None


@dataclass(frozen=True, slots=True)
class Point:
    bucket: str
    group: str | None
    value: int
    exact: bool
    source: str
    low: int
    high: int

    def to_json(self) -> dict[str, object]:
        doc = asdict(self)
        if self.group is None:
            del doc["group"]
        return doc


def merge_day(
    metric: Metric,
    buckets: list[str],
    batch: list[Partial] | None,
    realtime: Iterable[Partial],
    group: str | None = None,
) -> list[Point]:
    """Points of one local day; `batch` is None when the batch layer has not published that day."""
    grouped = metric.group_by is not None
    source, pieces = ("batch", batch) if batch is not None else ("realtime", list(realtime))
    by_cell: dict[tuple[str, str], list[Partial]] = defaultdict(list)
    for piece in pieces:
        if group is None or piece.group == group:
            by_cell[(piece.bucket, piece.group)].append(piece)
    points: list[Point] = []
    for bucket in buckets:
        cells = sorted(g for b, g in by_cell if b == bucket)
        if not cells:  # a published day is exact everywhere, its empty buckets included
            published = source == "batch"
            points.append(
                Point(bucket, group if grouped else None, 0, published, source if published else "none", 0, 0)
            )
            continue
        for cell_group in cells:
            value, low, high = _combine(metric, by_cell[(bucket, cell_group)], exact=source == "batch")
            points.append(Point(bucket, cell_group if grouped else None, value, source == "batch", source, low, high))
    return points


def _combine(metric: Metric, pieces: list[Partial], exact: bool) -> tuple[int, int, int]:
    if exact or metric.kind is Kind.COUNT:
        total = sum(p.count or 0 for p in pieces)
        return total, total, total
    assert metric.lg_k is not None
    est = sketches.estimate(sketches.union((sketches.decode(p.sketch) for p in pieces if p.sketch), metric.lg_k))
    return est.value, est.low, est.high


def distinct_over(metric: Metric, pieces: Iterable[Partial]) -> sketches.Estimate:
    """Unique count over many buckets and days: the union of every sketch (a player seen on two days counts once)."""
    assert metric.lg_k is not None
    return sketches.estimate(sketches.union((sketches.decode(p.sketch) for p in pieces if p.sketch), metric.lg_k))
