"""The raw archive, in Firehose's layout: every record, valid or not, gzip JSON lines under raw/dt=YYYY-MM-DD/hr=HH/
(arrival time, UTC), buffered by size and by time. One difference: each record goes under its own arrival hour, where
Firehose puts a whole file under its oldest record's (the nightly job allows for both).

Durability: a file is written whole or not at all (`headcount.views.lake.write_object`: in a folder under a hidden
temporary name, fsynced, then renamed; on S3 one PUT); the shard's checkpoint moves only after every file of the flush
is in place. A crash anywhere re-archives from the checkpoint: nothing is lost. File names start
at the first sequence number they hold, so a re-archive from the same checkpoint replaces its files rather than adding
copies; a copy that does remain (Firehose too may deliver twice) is absorbed by the nightly job's dedup for events with
an event_id, and counted twice for events without one.
"""

from __future__ import annotations

import gzip
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from headcount import names
from headcount.views.lake import raw_partition, raw_uri, write_object


@dataclass(frozen=True)
class ArchiveSettings:
    buffer_bytes: int = 5 * 1024 * 1024  # Firehose's default buffer size
    buffer_interval_s: float = 10.0  # Firehose allows 0-900 s; 10 s keeps the local archive close behind the stream


class ShardArchiver:
    def __init__(self, settings: ArchiveSettings, lake: str, shard_id: str, commit: Callable[[str], None]) -> None:
        self.settings, self.lake, self.shard_id, self.commit = settings, lake, shard_id, commit
        self.buffer: list[dict[str, Any]] = []
        self.size = 0
        self.started: float | None = None

    def capacity(self) -> int:
        return 10000

    def offer(self, records: list[dict[str, Any]]) -> None:
        if records and not self.buffer:
            self.started = time.monotonic()
        self.buffer += records
        self.size += sum(len(r["Data"]) + 1 for r in records)

    def empty(self) -> bool:
        return not self.buffer

    def tick(self, closed: bool) -> None:
        if not self.buffer:
            return
        if (
            closed
            or self.size >= self.settings.buffer_bytes
            or time.monotonic() - (self.started or 0) >= self.settings.buffer_interval_s
        ):
            self.flush()

    def shutdown(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in self.buffer:
            by_partition[raw_partition(record["ApproximateArrivalTimestamp"].timestamp())].append(record)
        for partition, records in by_partition.items():
            self._write(partition, records)
        self.commit(self.buffer[-1]["SequenceNumber"])
        self.buffer, self.size, self.started = [], 0, None

    def _write(self, partition: str, records: list[dict[str, Any]]) -> None:
        name = f"{names.STREAM}-{self.shard_id}-{records[0]['SequenceNumber']}.json.gz"
        # One record, one line: Firehose's "append delimiter" behaviour.
        lines = b"".join(r["Data"] if r["Data"].endswith(b"\n") else r["Data"] + b"\n" for r in records)
        write_object(f"{raw_uri(self.lake)}/{partition}/{name}", gzip.compress(lines, mtime=0))
