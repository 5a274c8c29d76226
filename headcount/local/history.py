"""A game with a history, for the local stack (`headcount simulate --history-days N`, `headcount demo`).

One seeded `simulate_game` from N days before yesterday to today, cut at `now`: what had arrived by then. The stream
keeps 24 hours and the validator refuses events 30 days old, so what arrived before yesterday's start cannot go through
it: those records go straight into the lake's raw archive, filed by arrival time as the archiver (Firehose on AWS)
would have filed them, for one run of the nightly job over the N days. What arrived from yesterday's start until `now`
(yesterday, today so far, and the late sessions of the days before) is sent to the stream now, as `headcount simulate`
sends its two days: the real-time layer folds it, the archiver archives it, the nightly job for yesterday counts it.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from headcount import names
from headcount.core.buckets import day_bounds_ms, local_date
from headcount.core.catalog import Catalog
from headcount.local.simulator import Game, KpiTruth, simulate_game
from headcount.views.lake import hour_of_path, raw_partition, raw_uri, write_object

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class GameHistory:
    game: Game  # its days: the history days, yesterday, today (whole: what arrives after `now_ms` is never sent)
    now_ms: int
    since_ms: int  # yesterday's start: records that arrived before it are archived, the others sent to the stream

    @property
    def days(self) -> list[str]:
        """The history days, before yesterday, oldest first."""
        return self.game.days[:-2]

    @property
    def yesterday(self) -> date:
        return date.fromisoformat(self.game.days[-2])

    def archived(self) -> list[tuple[bytes, int]]:
        """(data, arrival ms) of the records that go straight into the raw archive."""
        return self.game.arrived(0, self.since_ms)

    def streamed(self) -> list[tuple[bytes, str]]:
        """(data, partition key) of the records to send to the stream now, by arrival."""
        return self.game.sent_at(self.since_ms, self.now_ms, self.now_ms)

    def history_truth(self) -> KpiTruth:
        """What the nightly run over the history days computes of them: the archive before yesterday's start."""
        return self.game.truth(known_by=lambda _day: self.since_ms)

    def truth(self) -> KpiTruth:
        """Everything that had arrived by `now`, deduplicated: the batch layer's value of every day up to yesterday once
        the nightly job for yesterday has run after the history's (it reads every arrival day that holds an event of
        the days it computes, today's included)."""
        return self.game.truth(known_by=lambda _day: self.now_ms)


def game_history(
    catalog: Catalog, tz: str, now_ms: int, history_days: int, new_per_day: int, seed: int = 7
) -> GameHistory:
    """A game of `history_days` days before yesterday, yesterday and today (local days of `tz`), as of `now_ms`."""
    if history_days < 1:
        raise ValueError(f"history_days must be at least 1, not {history_days}")
    yesterday = local_date(now_ms, tz) - timedelta(days=1)
    game = simulate_game(
        catalog, tz, yesterday - timedelta(days=history_days), history_days + 2, new_per_day, seed=seed
    )
    return GameHistory(game, now_ms, day_bounds_ms(yesterday, tz)[0])


def write_archive(lake: str | Path, records: Iterable[tuple[bytes, int]]) -> list[str]:
    """Records (data, arrival epoch ms) as the archiver files them: gzip JSON lines under raw/dt=/hr= of their arrival
    hour (UTC), one file an hour, written whole as the archiver writes (`write_object`). In a folder lake each file's
    modification time is the end of its hour, the latest a Firehose buffer of that hour is written at (the nightly job
    takes a line's arrival to lie between the two); S3 stamps an object with the time it is put, now. -> their URIs."""
    by_partition: dict[str, list[bytes]] = defaultdict(list)
    for data, arrival_ms in records:
        by_partition[raw_partition(arrival_ms / 1000)].append(data if data.endswith(b"\n") else data + b"\n")
    files = []
    for partition, lines in sorted(by_partition.items()):
        uri = f"{raw_uri(lake)}/{partition}/{names.STREAM}-history-{partition[3:13]}-{partition[-2:]}.json.gz"
        written_ms = hour_of_path(uri)
        assert written_ms is not None  # a path of raw_partition's
        write_object(uri, gzip.compress(b"".join(lines), compresslevel=6), modified_s=(written_ms + HOUR_MS) / 1000)
        files.append(uri)
    return files
