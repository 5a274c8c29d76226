"""The serving merge rule, per bucket: a published batch value wins and is exact; otherwise the union (distinct) or sum
(count) of the real-time shard items, never exact. Buckets without data still appear, as 0 from source `none`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

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
class Stamp:
    """How fresh a day's points are: a published day's run and when it was published; a real-time day's watermark
    (everything that arrived before it is in) and whether its shards are behind."""

    as_of_ms: int | None
    stale: bool = False
    run_id: str | None = None

    @property
    def as_of(self) -> str | None:
        return iso_utc(self.as_of_ms) if self.as_of_ms is not None else None


@lru_cache(maxsize=4096)  # a year of points shares a few hundred stamps
def iso_utc(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Point:
    bucket: str
    group: str | None
    value: int | float | None  # a ratio is a float, None when its denominator is 0
    exact: bool
    source: str
    low: int | float | None
    high: int | float | None
    stamp: Stamp

    def to_json(self, as_of: str | None) -> dict[str, object]:
        """`as_of`: the stamp's, formatted once per day by the caller (a year of hours is 8,760 points). A literal, not
        `update`: a 400-day series of 30 groups is 12,000 of these."""
        doc: dict[str, object] = {
            "bucket": self.bucket,
            "group": self.group,
            "value": self.value,
            "exact": self.exact,
            "source": self.source,
            "low": self.low,
            "high": self.high,
            "as_of": as_of,
            "stale": self.stamp.stale,
            "run_id": self.stamp.run_id,
        }
        if self.group is None:
            del doc["group"]
        return doc


def merge_day(
    metric: Metric,
    buckets: Sequence[str],
    batch: Iterable[Partial] | None,
    realtime: Iterable[Partial],
    stamp: Stamp,
    group: str | None = None,
) -> list[Point]:
    """Points of one local day; `batch` is None when the batch layer has not published that day."""
    grouped = metric.group_by is not None
    source, pieces = ("batch", batch) if batch is not None else ("realtime", list(realtime))
    by_bucket: dict[str, dict[str, list[Partial]]] = defaultdict(lambda: defaultdict(list))
    for piece in pieces:
        if group is None or piece.group == group:
            by_bucket[piece.bucket][piece.group].append(piece)
    points: list[Point] = []
    for bucket in buckets:
        cells = by_bucket.get(bucket)
        if not cells:  # a published day is exact everywhere, its empty buckets included
            published = source == "batch"
            points.append(
                Point(bucket, group if grouped else None, 0, published, source if published else "none", 0, 0, stamp)
            )
            continue
        for cell_group in sorted(cells):
            value, low, high = _combine(metric, cells[cell_group], exact=source == "batch")
            point = Point(bucket, cell_group if grouped else None, value, source == "batch", source, low, high, stamp)
            points.append(point)
    return points


def _combine(metric: Metric, pieces: list[Partial], exact: bool) -> tuple[int, int, int]:
    if exact or metric.kind is Kind.COUNT:
        total = pieces[0].count or 0 if len(pieces) == 1 else sum(p.count or 0 for p in pieces)  # one: a batch cell
        return total, total, total
    assert metric.lg_k is not None
    est = sketches.estimate(sketches.union((sketches.decode(p.sketch) for p in pieces if p.sketch), metric.lg_k))
    return est.value, est.low, est.high


def distinct_over(metric: Metric, pieces: Iterable[Partial]) -> sketches.Estimate:
    """Unique count over many buckets and days: the union of every sketch (a player seen on two days counts once)."""
    assert metric.lg_k is not None
    return sketches.estimate(sketches.union((sketches.decode(p.sketch) for p in pieces if p.sketch), metric.lg_k))
