"""A big raw lake for the batch benchmark, written fast: gzip JSON lines under raw/dt=/hr=, like the archive.

Day D's events arrive in the hour they happen (4 files an hour, like 4 shards); about 1 % arrive late the next day,
0.5 % are re-sent duplicates (same event_id) and 0.1 % are malformed. Deterministic for a given seed.
"""

from __future__ import annotations

import gzip
import os
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
