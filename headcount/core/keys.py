"""DynamoDB item keys, one convention for every layer.

Items of a metric's local day share a partition (`pk`), so a day, hourly buckets included, is one Query.
- real-time: pk `metric#day`, sk `bucket#group#shard`: one item per shard, written only by that shard's invocation.
- batch view: pk `metric#day`, sk `bucket#group`, plus the day's publication marker `~run`.
"""

from __future__ import annotations

SEP = "#"
PUBLICATION_SK = "~run"


def partition_key(metric: str, day: str) -> str:
    return f"{metric}{SEP}{day}"


def realtime_sort_key(bucket: str, group: str, shard_id: str) -> str:
    return f"{bucket}{SEP}{group}{SEP}{shard_id}"


def batch_sort_key(bucket: str, group: str) -> str:
    return f"{bucket}{SEP}{group}"


def split_realtime_sort_key(sk: str) -> tuple[str, str, str]:
    bucket, rest = sk.split(SEP, 1)
    group, shard_id = rest.rsplit(SEP, 1)
    return bucket, group, shard_id


def split_batch_sort_key(sk: str) -> tuple[str, str]:
    bucket, group = sk.split(SEP, 1)
    return bucket, group
