"""Small raw archives for the batch tests and benchmarks: the archiver's layout, arrival times chosen by the caller."""

from __future__ import annotations

import gzip
import json
import os
import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from headcount.views.lake import lake_filesystem, raw_partition, raw_uri


def write_raw(lake: Path, records: Iterable[tuple[bytes, int]], name: str = "part") -> list[Path]:
    """Records (data, arrival epoch ms) as gzip JSON lines under raw/dt=/hr= of their arrival (UTC), one file per hour,
    each last modified a few seconds after its last record arrived, as the archiver would have written it."""
    by_partition: dict[str, list[bytes]] = defaultdict(list)
    last_arrival: dict[str, int] = {}
    for data, arrival_ms in records:
        partition = raw_partition(arrival_ms / 1000)
        by_partition[partition].append(data if data.endswith(b"\n") else data + b"\n")
        last_arrival[partition] = max(arrival_ms, last_arrival.get(partition, 0))
    files = []
    for partition, lines in sorted(by_partition.items()):
        folder = Path(raw_uri(lake)) / partition
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.json.gz"
        with gzip.open(path, "wb") as out:
            out.writelines(lines)
        written_s = last_arrival[partition] / 1000 + 5
        os.utime(path, (written_s, written_s))
        files.append(path)
    return files


def record_ts_ms(data: bytes) -> int | None:
    try:
        ts = json.loads(data)["ts"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(ts, int) and not isinstance(ts, bool):
        return ts
    try:
        return int(datetime.fromisoformat(ts).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


def arrivals(
    records: Iterable[tuple[bytes, str]], seed: int = 3, max_delay_ms: int = 120_000
) -> list[tuple[bytes, int]]:
    """Each record arrives shortly after its event time (a record without a plausible ts: with the one before it)."""
    rng = random.Random(seed)
    out, last = [], None
    for data, _key in records:
        ts = record_ts_ms(data)
        if ts is not None and last is not None and abs(ts - last) > 31 * 86_400_000:
            ts = None  # junk such as "ts": 1
        arrival = ts + rng.randint(0, max_delay_ms) if ts is not None else last
        if arrival is None:
            continue
        out.append((data, arrival))
        last = arrival
    return out


def put_folder(folder: Path, lake: str, files: Iterable[Path] | None = None) -> None:
    """Put the files under a local lake folder (all, or these) into an S3 lake (`s3://bucket/prefix`), as Firehose puts
    objects: one PUT each, hidden names too. S3 sets an object's last modification time to when it was put, so each
    local file then gets its object's time: the folder and the S3 lake hold the same files, written at the same times."""
    import pyarrow.fs as pafs

    fs, base = lake_filesystem(lake)
    for path in sorted(files if files is not None else (p for p in folder.rglob("*") if p.is_file())):
        key = f"{base}/{path.relative_to(folder).as_posix()}"
        with fs.open_output_stream(key, compression=None) as out:
            out.write(path.read_bytes())
        modified = fs.get_file_info(key).mtime
        assert modified is not None and fs.get_file_info(key).type == pafs.FileType.File
        os.utime(path, (modified.timestamp(), modified.timestamp()))
