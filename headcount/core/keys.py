"""DynamoDB item keys, one convention for every layer.

Items of a metric's local day share a partition (`pk`), so a day, hourly buckets included, is one Query.
- real-time: pk `metric#day`, sk `bucket#group#shard`: one item per shard, written only by that shard's invocation.
- batch view: pk `metric#day`, sk `run#bucket#group`, plus the day's publication marker `~run` naming the run readers
  take, and while a run publishes, its lease `~lock` (run ids never start with `~`).
"""

from __future__ import annotations

SEP = "#"
PUBLICATION_SK = "~run"
LOCK_SK = "~lock"  # a run's lease on publishing the day


def partition_key(metric: str, day: str) -> str:
    return f"{metric}{SEP}{day}"


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


def split_realtime_sort_key(sk: str) -> tuple[str, str, str]:
    bucket, rest = sk.split(SEP, 1)
    group, shard_id = rest.rsplit(SEP, 1)
    return bucket, group, shard_id


def split_batch_sort_key(sk: str) -> tuple[str, str, str]:
    run_id, bucket, group = sk.split(SEP, 2)
    return run_id, bucket, group
