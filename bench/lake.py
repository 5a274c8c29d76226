"""A big raw lake for the batch benchmark, written fast: gzip JSON lines under raw/dt=/hr=, like the archive.

Day D's events arrive in the hour they happen (4 files an hour, like 4 shards); about 1 % arrive late the next day,
0.5 % are re-sent duplicates (same event_id) and 0.1 % are malformed. Deterministic for a given seed.

`make bench-lake` (`.venv/bin/python -m bench.lake [--events N] [--out DIR]`) writes one and measures how fast: lines/s
written, next to reading the same files back (gunzip and split into lines, the least any reader of the lake does), as a
ratio, in the same run. The lake goes to a temporary folder, removed after, unless `--out` names one to keep.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from headcount.views.lake import raw_partition, raw_uri

TYPES = np.array(["session_start", "match_end", "match_end", "ad_impression", "ad_impression", "ad_impression"])
COUNTRIES = np.array(["US", "US", "US", "DE", "DE", "BR", "GB", "FR", "JP", "IN", "KR", "CA", "MX", "PL", "ES"])
PLATFORMS = np.array(["ios", "android", "pc"])
LINE = '{"event_id":"e%d","type":"%s","player_id":"p-%07d","ts":%d,"attrs":{"country":"%s","platform":"%s"}}\n'


def write_lake(lake: Path, day: date, events: int, players: int = 2_000_000, seed: int = 1) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    start_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    per_hour = events // 24
    written = duplicates = malformed = late = 0
    late_lines: list[str] = []
    for hour in range(24):
        n = per_hour if hour < 23 else events - per_hour * 23
        first_id = hour * per_hour
        ts = start_ms + hour * 3_600_000 + np.sort(rng.integers(0, 3_600_000, n))
        player = (players * rng.random(n) ** 3).astype(np.int64)  # skewed: a few play a lot
        kind = TYPES[rng.integers(0, len(TYPES), n)]
        country = COUNTRIES[player % len(COUNTRIES)]
        platform = PLATFORMS[player % len(PLATFORMS)]
        lines = [
            LINE % row
            for row in zip(
                range(first_id, first_id + n),
                kind.tolist(),
                player.tolist(),
                ts.tolist(),
                country.tolist(),
                platform.tolist(),
                strict=True,
            )
        ]
        is_late = rng.random(n) < 0.01
        late_lines += [line for line, x in zip(lines, is_late.tolist(), strict=True) if x]
        lines = [line for line, x in zip(lines, is_late.tolist(), strict=True) if not x]
        late += int(is_late.sum())
        dup_at = rng.random(len(lines)) < 0.005
        lines += [line for line, x in zip(lines, dup_at.tolist(), strict=True) if x]  # re-sent later in the hour
        duplicates += int(dup_at.sum())
        junk = int(n * 0.001)
        lines += ['{"type": "session_start", "player_id": \n'] * junk
        malformed += junk
        written += len(lines)
        _write_hour(lake, day, hour, lines)
    _write_hour(lake, day + timedelta(days=1), 3, late_lines)  # offline clients uploading the next night
    written += len(late_lines)
    return {"lines": written, "valid_events": events, "duplicates": duplicates, "malformed": malformed, "late": late}


def _write_hour(lake: Path, day: date, hour: int, lines: list[str], files: int = 4) -> None:
    hour_s = datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()
    folder = Path(raw_uri(lake)) / raw_partition(hour_s)
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(lines) // files)
    # Written as Firehose would: a minute after the hour (the nightly job bounds arrivals by a file's write time).
    written_s = hour_s + 3_660
    for i in range(files):
        path = folder / f"headcount-events-shard{i}-{day}-{hour:02d}.json.gz"
        with gzip.open(path, "wt", compresslevel=1) as out:
            out.writelines(lines[i * size : (i + 1) * size])
        os.utime(path, (written_s, written_s))


COMMAND = "make bench-lake  # = .venv/bin/python -m bench.lake"
DAY = date(2026, 11, 20)  # the batch benchmark's


def read_back(lake: Path) -> int:
    lines = 0
    for path in sorted((lake / "raw").rglob("*.gz")):
        with gzip.open(path, "rb") as f:
            lines += sum(1 for _ in f)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the day (bench-batch: 10 million)")
    parser.add_argument("--out", type=Path, help="write the lake here and keep it (default: a temporary folder)")
    parser.add_argument("--tiny", action="store_true", help="--events 20000: that it runs (the tests')")
    args = parser.parse_args()
    if args.tiny:
        args.events = 20_000
    print(f"reproduce with: {COMMAND} --events {args.events}" + (f" --out {args.out}" if args.out else ""), flush=True)
    lake = args.out or Path(tempfile.mkdtemp(prefix="headcount-lake-"))
    try:
        started = time.perf_counter()
        stats = write_lake(lake, DAY, args.events)
        write_s = time.perf_counter() - started
        files = list((lake / "raw").rglob("*.gz"))
        size = sum(f.stat().st_size for f in files)
        started = time.perf_counter()
        lines = read_back(lake)
        read_s = time.perf_counter() - started
    finally:
        if args.out is None:
            shutil.rmtree(lake, ignore_errors=True)
    assert lines == stats["lines"], f"{lines} lines read back, {stats['lines']} written"
    print(
        f"lake: {stats['lines']:,} lines ({stats['duplicates']:,} re-sent duplicates, {stats['malformed']:,} malformed, "
        f"{stats['late']:,} late) in {len(files)} files, {size / 2**20:,.1f} MiB of gzip"
    )
    print(f"written in {write_s:.2f} s: {stats['lines'] / write_s:,.0f} lines/s")
    print(f"read back (gunzip, lines) in {read_s:.2f} s: {lines / read_s:,.0f} lines/s")
    print(f"ratio write / read back: {write_s / read_s:.2f}x")


if __name__ == "__main__":
    main()
