"""A seeded game: realistic traffic for the stream, and the exact truths the layers must match.

Players have skewed activity (a few play a lot), a country and a platform; sessions follow a diurnal curve; a session starts
with `session_start` and brings `match_end` and `ad_impression` events. About 1 % of events arrive late (hours to days),
0.5 % are re-sent duplicates (same event_id) and 0.1 % are malformed.

Two truths per metric, bucket and group: `as_sent` (every valid record sent, re-sent duplicates included: what the
real-time counts must equal) and `deduplicated` (after dropping re-sent duplicates by event_id: what the batch layer must equal).
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from headcount.core.buckets import bucket_of
from headcount.core.catalog import Catalog, Kind

COUNTRIES = {
    "US": 30,
    "DE": 12,
    "BR": 10,
    "GB": 8,
    "FR": 7,
    "JP": 7,
    "IN": 6,
    "KR": 5,
    "CA": 5,
    "MX": 4,
    "PL": 3,
    "ES": 3,
}
PLATFORMS = {"ios": 45, "android": 45, "pc": 10}
LATE_SHARE, DUPLICATE_SHARE, MALFORMED_SHARE = 0.01, 0.005, 0.001


@dataclass
class Truth:
    as_sent: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(int))))
    deduplicated: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(int))))

    def to_json(self) -> dict:
        def plain(tree: dict) -> dict:
            return {m: {b: dict(g) for b, g in buckets.items()} for m, buckets in tree.items()}

        return {"as_sent": plain(self.as_sent), "deduplicated": plain(self.deduplicated)}


@dataclass
class Simulation:
    records: list[tuple[bytes, str]]  # (data, partition key) in send order
    truth: Truth
    valid: int = 0
    duplicates: int = 0
    malformed: int = 0
    late: int = 0


def simulate(
    catalog: Catalog, tz: str, start_ms: int, end_ms: int, events: int, seed: int = 7, players: int | None = None
) -> Simulation:
    """Events whose ts fall in [start_ms, end_ms) (late ones earlier), as records sent at or after end_ms."""
    rng = random.Random(seed)
    players = players or max(100, events // 12)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(players)]  # Zipf-like: skewed activity
    cum = list(_accumulate(weights))
    people = [(f"p-{i:07d}", _pick(rng, COUNTRIES), _pick(rng, PLATFORMS)) for i in range(players)]
    span_h = (end_ms - start_ms) / 3_600_000

    valid: list[dict] = []
    while len(valid) < events:
        player_id, country, platform = people[rng.choices(range(players), cum_weights=cum)[0]]
        ts = _diurnal_time(rng, start_ms, end_ms, span_h)
        attrs = {"country": country, "platform": platform} if rng.random() > 0.01 else {"platform": platform}
        valid.append(_event(rng, "session_start", player_id, ts, attrs))
        t = ts
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
            t = min(end_ms - 1, t + rng.randint(60_000, 900_000))
            valid.append(_event(rng, "match_end", player_id, t, {"platform": platform}))
        for _ in range(rng.choice((0, 0, 1, 2, 3, 6))):
            valid.append(
                _event(
                    rng,
                    "ad_impression",
                    player_id,
                    min(end_ms - 1, t + rng.randint(0, 600_000)),
                    {"platform": platform},
                )
            )
    valid = valid[:events]
    late = 0
    for event in valid:
        if rng.random() < LATE_SHARE:  # an offline client uploading hours to days later
            event["ts"] -= rng.randint(2 * 3_600_000, 3 * 86_400_000)
            late += 1
    valid.sort(key=lambda e: e["ts"])

    truth = Truth()
    sim = Simulation([], truth, late=late)
    for event in valid:
        _count(catalog, tz, event, truth.as_sent)
        _count(catalog, tz, event, truth.deduplicated)
        sim.records.append(_record(event))
        sim.valid += 1
        if rng.random() < DUPLICATE_SHARE:  # the client re-sends an event it already sent
            sim.records.insert(
                rng.randint(len(sim.records) - min(len(sim.records), 2000), len(sim.records)), _record(event)
            )
            _count(catalog, tz, event, truth.as_sent)
            sim.duplicates += 1
        if rng.random() < MALFORMED_SHARE:
            sim.records.append((_malformed(rng, end_ms), f"junk-{rng.random()}"))
            sim.malformed += 1
    _finish_distinct(truth)
    return sim


def _count(catalog: Catalog, tz: str, event: dict, tree: dict) -> None:
    for metric in catalog.for_event_type(event["type"]):
        cell = tree[metric.name][bucket_of(event["ts"], metric.granularity, tz)]
        group = metric.group_of(event["attrs"])
        if metric.kind is Kind.COUNT:
            cell[group] += 1
        else:
            cell.setdefault(("ids", group), set()).add(event["player_id"])  # turned into counts by _finish_distinct


def _finish_distinct(truth: Truth) -> None:
    for tree in (truth.as_sent, truth.deduplicated):
        for buckets in tree.values():
            for cell in buckets.values():
                for key in [k for k in cell if isinstance(k, tuple)]:
                    cell[key[1]] = len(cell.pop(key))


def _event(rng: random.Random, event_type: str, player_id: str, ts: int, attrs: dict) -> dict:
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "type": event_type,
        "player_id": player_id,
        "ts": ts,
        "attrs": attrs,
    }


def _record(event: dict) -> tuple[bytes, str]:
    # Producers send ISO-8601; the simulator alternates with epoch milliseconds, both allowed by the contract.
    doc = dict(event)
    if int(event["event_id"][-1], 16) % 2:
        doc["ts"] = (
            datetime.fromtimestamp(event["ts"] / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode(), event["player_id"]


def _malformed(rng: random.Random, now_ms: int) -> bytes:
    return rng.choice(
        [
            b'{"type": "session_start", "player_id": "p-1", "ts": ',
            b'["not", "an", "object"]\n',
            b'{"type": "Session Start", "player_id": "p-1", "ts": 1}\n',
            json.dumps({"type": "session_start", "ts": now_ms}).encode() + b"\n",
            json.dumps({"type": "match_end", "player_id": "p-1", "ts": now_ms + 86_400_000}).encode() + b"\n",
            json.dumps({"type": "match_end", "player_id": "p-1", "ts": "yesterday"}).encode() + b"\n",
            json.dumps(
                {"type": "ad_impression", "player_id": "p-1", "ts": now_ms, "attrs": {f"k{i}": i for i in range(20)}}
            ).encode()
            + b"\n",
        ]
    )


def _diurnal_time(rng: random.Random, start_ms: int, end_ms: int, span_h: float) -> int:
    """A time in [start, end) with more play in the evening (UTC 18-22h) than at dawn: rejection sampling."""
    while True:
        ts = rng.randint(start_ms, end_ms - 1)
        hour = (ts // 3_600_000) % 24
        if rng.random() < 0.55 + 0.45 * math.cos((hour - 20) / 24 * 2 * math.pi):
            return ts


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total
