"""DynamoDB item keys, one convention for every layer.

Items of a metric's local day share a partition (`pk`), so a day, hourly buckets included, is one Query.
- real-time: pk `metric#day`, sk `bucket#group#shard`: one item per shard, written only by that shard's invocation
  (for a distinct metric also `bucket#group#shard+recent`: the ids that grew the shard's sketch since it was last
  written whole);
  and one status item per shard (pk `~shards`, sk the shard id): how far the fold has applied it (its watermark) and
  which days it has items for, so a reader queries only the days that hold real-time data.
- batch view: pk `metric#day`, sk `run#bucket#group` (value and sketch), and for distinct metrics the day's union of
  its rows `run#*#` (the sketch a range's union needs), and for a distinct sub-day twin the day's edges `run#<cut#`
  and `run#>cut#` (the union of its quarter hours before and from each cut where another zone's day begins); while a
  run publishes, its lease `~lock` (run ids never start with `~`). Its publication, the switch readers follow, lives in the metric's own partition: pk `metric`, sk
  the day, with the run, when it was published and every cell's exact value, so a range of days is one Query; and
  its marker `~published` (sorting after every day), whose version each publish adds one to: a reader keeps the
  publications it has read for as long as the version it read them under is the marker's.
"""

from __future__ import annotations

SEP = "#"
LOCK_SK = "~lock"  # a run's lease on publishing the day
PUBLISHED_SK = "~published"  # a metric's marker in its publications' partition: the version of its publications
SHARDS_PK = "~shards"  # the real-time view's shard statuses (metric names never start with `~`)
UNION_BUCKET = "*"  # the bucket of a day's union row (buckets are dates or hours)
EDGE_BEFORE, EDGE_FROM = "<", ">"  # a twin's edge bucket: `<` or `>` and a quarter bucket (`<2026-11-25T05:30+00:00`)
RECENT_SUFFIX = "+recent"  # a distinct item's recent ids: its shard id with this suffix (shard ids hold no `+`)


def recent_shard(shard_id: str) -> str:
    return f"{shard_id}{RECENT_SUFFIX}"


def partition_key(metric: str, day: str) -> str:
    return f"{metric}{SEP}{day}"


def publications_key(metric: str) -> str:
    """The partition of a metric's publications: one item per published day (sk: the day)."""
    return metric


def realtime_sort_key(bucket: str, group: str, shard_id: str) -> str:
    return f"{bucket}{SEP}{group}{SEP}{shard_id}"


class BadRunId(ValueError):
    pass


def check_run_id(run_id: str) -> str:
    """A run id heads the batch view's sort keys: no separator, not empty, and not sorting with the `~` items."""
    if not run_id or SEP in run_id or run_id.startswith("~") or len(run_id) > 128:
        raise BadRunId(f"a run id is 1-128 characters without {SEP!r}, not starting with '~': {run_id!r}")
    return run_id


def batch_sort_key(run_id: str, bucket: str, group: str) -> str:
    return f"{check_run_id(run_id)}{SEP}{bucket}{SEP}{group}"


def union_sort_key(run_id: str) -> str:
    return batch_sort_key(run_id, UNION_BUCKET, "")


def edge_bucket(before: bool, cut: str) -> str:
    """The bucket of a day's union of its quarter hours before `cut` (a quarter bucket), or from it on."""
    return f"{EDGE_BEFORE if before else EDGE_FROM}{cut}"


def is_row_bucket(bucket: str) -> bool:
    """A bucket of the day's rows: not its union's, nor an edge's."""
    return bucket != UNION_BUCKET and bucket[:1] not in (EDGE_BEFORE, EDGE_FROM)


def split_realtime_sort_key(sk: str) -> tuple[str, str, str]:
    bucket, rest = sk.split(SEP, 1)
    group, shard_id = rest.rsplit(SEP, 1)
    return bucket, group, shard_id


def split_batch_sort_key(sk: str) -> tuple[str, str, str]:
    run_id, bucket, group = sk.split(SEP, 2)
    return run_id, bucket, group
