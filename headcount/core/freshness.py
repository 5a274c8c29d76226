"""How fresh the real-time layer is, from the shards' statuses (pure: the caller gives the statuses, the open shards and
the threshold).

A shard's watermark says every record of it that arrived before that time is applied. The real-time layer's `as_of` is
the oldest watermark across the open shards: everything that arrived before it is in. The layer is behind (`lagging`)
when a shard's watermark trails the newest one by more than the threshold (its fold stopped, or fails, while others go
on) or when its last fold ran more than the threshold behind its records (it is catching up a backlog). A real-time day
is stale when the layer is behind and its watermark has not passed the day's end. An idle stream is not behind: with
no records there is nothing to apply (the watermarks stay where the last records were, and `as_of` says so).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ShardStatus:
    shard_id: str
    watermark_ms: int | None  # every record of the shard that arrived before this is applied (None: none yet)
    lag_ms: int  # at the last fold: how long before the fold ran its newest record had arrived
    days: frozenset[str]  # the local days the shard has items for


@dataclass(frozen=True, slots=True)
class Freshness:
    as_of_ms: int | None  # None: no shard has reported a watermark yet
    lagging: bool
    days: frozenset[str]  # local days the real-time view holds items for, of any shard (closed ones included)

    def stale(self, day_end_ms: int) -> bool:
        return self.lagging and (self.as_of_ms is None or self.as_of_ms < day_end_ms)


def freshness(statuses: Iterable[ShardStatus], open_shards: Collection[str] | None, threshold_ms: int) -> Freshness:
    """`open_shards`: the stream's open shard ids
    (None when unknown: every status counts). A closed shard (split or merged away) keeps its items but no longer
    counts for the watermark."""
    statuses = list(statuses)
    days = frozenset(d for s in statuses for d in s.days)
    live = [s for s in statuses if s.watermark_ms is not None and (open_shards is None or s.shard_id in open_shards)]
    if not live:
        return Freshness(None, False, days)
    marks = [s.watermark_ms for s in live if s.watermark_ms is not None]
    oldest, newest = min(marks), max(marks)
    lagging = newest - oldest > threshold_ms or any(s.lag_ms > threshold_ms for s in live)
    return Freshness(oldest, lagging, days)
