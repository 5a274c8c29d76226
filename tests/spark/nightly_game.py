"""What the nightly job's tests share: the simulated game of three Berlin days (2026-10-25 is 25 hours long),
what it must count, and the events that make its archive hard to count (copies, events without an id, junk)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from headcount.batch.validation import HOUR_MS
from headcount.core.buckets import bucket_of, day_bounds_ms
from headcount.core.catalog import Catalog, Kind
from headcount.local.simulator import Simulation
from headcount.views.lake import read_counts

TZ = "Europe/Berlin"
DAY = date(2026, 10, 26)  # the run's day; 2026-10-25 is the autumn DST change in Berlin: 25 hours
DAYS = ["2026-10-24", "2026-10-25", "2026-10-26"]
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "events.jsonl"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@dataclass
class Game:
    catalog: Catalog
    sim: Simulation
    expected: dict[tuple[str, str, str], int]  # (metric, bucket, group) -> exact value, for buckets of DAYS


def add(expected: dict, catalog: Catalog, event: dict, copies: int, seen: dict) -> None:
    """Count an event (sent `copies` times, without event_id: every copy counts) into `expected`."""
    for metric in catalog.counted_for(event["type"]):
        bucket = bucket_of(event["ts"], metric.granularity, TZ)
        key = (metric.name, bucket, metric.group_of(event["attrs"]))
        if metric.kind is Kind.COUNT:
            expected[key] += copies
        elif event["player_id"] not in seen[key]:
            seen[key].add(event["player_id"])
            expected[key] += 1


def no_id_events() -> list[dict]:
    """Events without event_id: never deduplicated (the lake holds each twice)."""
    events = [
        {
            "type": "session_start",
            "player_id": f"anon-{i}",
            "ts": ms("2026-10-25T12:00:00+01:00") + i * 1000,
            "attrs": {"country": "ZZ"},
        }
        for i in range(10)
    ]
    events += [
        {"type": "match_end", "player_id": "anon-1", "ts": ms("2026-10-25T02:30:00+01:00") + i * 1000, "attrs": {}}
        for i in range(7)
    ]  # the second 02:00-03:00 of the DST night
    return events


def corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def counted(catalog: Catalog) -> Catalog:
    """The metrics of the counts table (distinct and count), without the KPIs."""
    return Catalog(tuple(m for m in catalog.metrics if m.kind.counted))


def counts_by_cell(lake: Path, days: list[str]) -> dict[tuple[str, str, str], dict]:
    return {(r["metric"], r["bucket"], r["group_value"]): r for r in read_counts(lake, days).to_pylist()}


RESENT_EVERY = 30  # one event of the days' in 30 is re-sent twice, long after its first copy


def resent_copies(records: list[tuple[bytes, str]]) -> list[tuple[bytes, int]]:
    """Copies of some of the events of DAYS (their bytes, their event_id) that a client re-sent long after it first sent
    them: the archive files one 2 hours after the event (another `hr=`) and one 26 hours after (another `dt=`), both in
    partitions the run for DAY reads. The first copy arrived within minutes of the event: however far apart the copies
    landed, one of them counts."""
    first_ms, _ = day_bounds_ms(date.fromisoformat(DAYS[0]), TZ)
    with_id = []
    for data, _key in records:
        try:
            event = json.loads(data)
        except ValueError:
            continue  # junk
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("event_id"), str)
            or type(event.get("ts")) is not int
        ):
            continue
        if event["ts"] >= first_ms:  # not the events uploaded late, of days before DAYS
            with_id.append((data, event["ts"]))
    chosen = with_id[::RESENT_EVERY]
    return [(data, ts + delay) for data, ts in chosen for delay in (2 * HOUR_MS, 26 * HOUR_MS)]
