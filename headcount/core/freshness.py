"""How fresh the real-time layer is, from the shards' statuses (pure: the caller gives the statuses, the open shards,
the threshold and the time).

A shard's watermark says every record of it that arrived before that time is applied. The real-time layer's `as_of` is
the oldest watermark across the open shards: everything that arrived before it is in. A shard is behind when records
were put into it more than the threshold after its watermark (the API notes when it last put records into each shard:
its fold stopped or fails while the game sends) or when its last fold ran more than the threshold behind its records
(it is catching up a backlog). An idle shard is not behind: nothing was put after its watermark. A real-time day is
stale when a shard is behind and the oldest watermark has not passed the day's end.
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
    put_ms: int | None = None  # when the API last noted putting records into the shard (a lower bound; None: never)
    folded_ms: int | None = None  # when the fold that reported the watermark and lag ran

    def behind(self, threshold_ms: int, now_ms: int) -> bool:
        recent = self.folded_ms is not None and now_ms - self.folded_ms <= threshold_ms
        if self.lag_ms > threshold_ms and recent:  # catching up a backlog; once quiet that long, it is no more
            return True
        if self.put_ms is None:
            return False
        if self.watermark_ms is None:  # records put, none applied yet
            return now_ms - self.put_ms > threshold_ms
        return self.put_ms - self.watermark_ms > threshold_ms


@dataclass(frozen=True, slots=True)
class Freshness:
    as_of_ms: int | None  # None: no shard has reported a watermark yet
    lagging: bool
    days: frozenset[str]  # local days the real-time view holds items for, of any shard (closed ones included)

    def stale(self, day_end_ms: int) -> bool:
        return self.lagging and (self.as_of_ms is None or self.as_of_ms < day_end_ms)


def freshness(
    statuses: Iterable[ShardStatus], open_shards: Collection[str] | None, threshold_ms: int, now_ms: int
) -> Freshness:
    """`open_shards`: the stream's open shard ids (None when unknown: every status counts). A closed shard (split or
    merged away) keeps its items but no longer counts for the watermark."""
    statuses = list(statuses)
    days = frozenset(d for s in statuses for d in s.days)
    live = [s for s in statuses if open_shards is None or s.shard_id in open_shards]
    live = [s for s in live if s.watermark_ms is not None or s.put_ms is not None]
    if not live:
        return Freshness(None, False, days)
    marks = [s.watermark_ms for s in live if s.watermark_ms is not None]
    oldest = min(marks) if len(marks) == len(live) else None  # a shard that has applied nothing yet cannot say
    return Freshness(oldest, any(s.behind(threshold_ms, now_ms) for s in live), days)
