"""Seeded games: realistic traffic for the stream and the lake, and the exact truths the layers must match.

`simulate`: a short stretch of play (hours to a few days) for the counts. Players have skewed activity (a few play a lot),
a country and a platform; sessions follow a diurnal curve; a session starts with `session_start` and brings `match_end`
and `ad_impression` events. About 1 % of events arrive late (hours to days), 0.5 % are re-sent duplicates (same
event_id) and 0.1 % are malformed. Two truths per metric, bucket and group: `as_sent` (every valid record sent, re-sent
duplicates included: what the real-time counts must equal) and `deduplicated` (after dropping re-sent duplicates by
event_id: what the batch layer must equal).

`simulate_game`: a game of many days for the game KPIs. New players join every day and come back less and less (a power
law: 30 % on D+1, 12 % on D+7, 6 % on D+30); some sessions are uploaded a day or two late, so a player's first day can
be learnt after a later one. Every record comes with its arrival time, to be archived by arrival day, and
`Game.truth` gives every count and KPI of every day as the batch layer must see it after the runs that happened.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from headcount.core.buckets import bucket_of, day_bounds_ms
from headcount.core.catalog import Catalog, Granularity, Kind, Metric
from headcount.core.events import FUTURE_LIMIT_MS

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
        valid += _session(rng, player_id, country, platform, _diurnal_time(rng, start_ms, end_ms, span_h), end_ms)
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
    for metric in catalog.counted_for(event["type"]):
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


# ----------------------------------------------------------------------------------------------- a game of many days

# A player's chance to play d days after their first day: RETURN_D1 * d ** -RETURN_DECAY, times their own engagement (a
# gamma of mean 1, so some players are loyal and most drift away). A power law, the shape published mobile-game
# retention curves have (a steep first week, a long tail): 30 % on D+1, 12 % on D+7, 6 % on D+30 on average.
RETURN_D1, RETURN_DECAY = 0.30, 0.47
ENGAGEMENT_SHAPE = 2.0  # gamma shape; scale 1 / shape, mean 1
SESSIONS_A_DAY = (1, 1, 1, 2, 2, 3)  # of a player who plays that day
GAME_LATE_SHARE = 0.015  # of sessions: played offline, every event uploaded 1 to 2 days later
GAME_DUPLICATE_SHARE, GAME_MALFORMED_SHARE = 0.005, 0.001  # of events: re-sent (seconds to hours later); junk beside it
ON_TIME_MS = 120_000  # an online client's event arrives within 2 minutes
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Sent:
    """A record as it reached the stream: its bytes, its Kinesis partition key, and when it arrived (epoch ms)."""

    data: bytes
    key: str
    arrival_ms: int


@dataclass(frozen=True)
class Played:
    """A valid event of the game (ts in epoch ms) and when its first copy arrived."""

    event: dict
    arrival_ms: int


@dataclass
class KpiTruth:
    """What the batch layer must hold, given what it knew of each day (see `Game.truth`)."""

    counts: dict[tuple[str, str, str], int]  # the counts table's cells with events: (metric, bucket, group) -> value
    kpis: dict[tuple[str, str, str | None], int]  # the kpis table's rows: (metric, bucket, group_value) -> value
    ratios: dict[tuple[str, str], float | None]  # (ratio metric, day) -> numerator / denominator; None: denominator 0
    new_players: dict[tuple[str, str, str | None], frozenset[str]]  # the players of each row of a new metric


@dataclass
class Game:
    catalog: Catalog
    tz: str
    days: list[str]  # the game's local days, first to last
    records: list[Sent]  # every record sent, re-sent duplicates and junk included, by arrival
    events: list[Played]  # the valid events, one per event_id, by ts
    joined: dict[str, str]  # player -> the local day of their first session (when they played, not when it arrived)
    late: int = 0  # sessions uploaded late
    duplicates: int = 0
    malformed: int = 0

    def play(self, event: dict, arrival_ms: int) -> None:
        """Add a valid event of the test's own (ts in epoch ms, an event_id of its own), arriving at `arrival_ms`: a
        case the test needs for certain, such as a player whose first session is learnt after a later one."""
        data, key = _record(event)
        self.records.append(Sent(data, key, arrival_ms))
        self.records.sort(key=lambda r: r.arrival_ms)
        self.events.append(Played(event, arrival_ms))
        self.events.sort(key=lambda p: p.event["ts"])
        day = bucket_of(event["ts"], Granularity.DAY, self.tz)
        if event["type"] == "session_start":
            self.joined[event["player_id"]] = min(day, self.joined.get(event["player_id"], day))

    def arrived(self, since_ms: int, until_ms: int) -> list[tuple[bytes, int]]:
        """(data, arrival ms) of the records that arrived in [since, until): what the archive got in that time."""
        return [(r.data, r.arrival_ms) for r in self.records if since_ms <= r.arrival_ms < until_ms]

    def sent_at(self, since_ms: int, until_ms: int, now_ms: int) -> list[tuple[bytes, str]]:
        """(data, partition key) of the records that arrived in [since, until), to be sent to a stream at `now_ms`,
        later than they arrived: a junk record dated more than 15 minutes after its arrival (to be rejected as
        ts_in_future) is dated as long after `now_ms`, or it would be a valid event once sent (every other record
        means the same whenever it is sent)."""
        out = []
        for r in self.records:
            if since_ms <= r.arrival_ms < until_ms:
                data = _in_future_of(r.data, r.arrival_ms, now_ms) if r.key.startswith("junk-") else r.data
                out.append((data, r.key))
        return out

    def truth(self, known_by: Callable[[str], int] | None = None) -> KpiTruth:
        """Every count and KPI of every day of the game, counting an event of local day X when its first copy arrived
        before `known_by(X)` (epoch ms; None: every event). The batch layer knows of day X what had arrived when the
        last run that computed X ran, so `known_by` is that run's time. (That run reads every arrival day that can
        hold events of X, and the game's events arrive at most 2 days late, so nothing else is lost to it.)"""
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        ids: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for played in self.events:
            event = played.event
            if known_by is not None and played.arrival_ms >= known_by(bucket_of(event["ts"], Granularity.DAY, self.tz)):
                continue
            for metric in self.catalog.counted_for(event["type"]):
                key = (
                    metric.name,
                    bucket_of(event["ts"], metric.granularity, self.tz),
                    metric.group_of(event["attrs"]),
                )
                if metric.kind is Kind.COUNT:
                    counts[key] += 1
                else:
                    ids[key].add(event["player_id"])
        counts.update({key: len(players) for key, players in ids.items()})

        def active(metric: str, day: str) -> set[str]:
            return ids.get((metric, day, ""), set())

        kpis, ratios = kpi_truth(self.catalog, self.days, active, counts)
        players: dict[tuple[str, str, str | None], frozenset[str]] = {}
        for metric in self.catalog.kpis():
            if metric.kind is Kind.NEW:
                players |= new_player_sets(metric, self.days, partial(active, self.catalog.base(metric).name))
        return KpiTruth(dict(counts), kpis, ratios, players)


def kpi_truth(
    catalog: Catalog,
    days: list[str],
    active: Callable[[str, str], set[str]],
    counts: dict[tuple[str, str, str], int],
) -> tuple[dict[tuple[str, str, str | None], int], dict[tuple[str, str], float | None]]:
    """The KPI rows of `days` (consecutive, oldest first, the whole history) from the players active on each day
    (`active(base metric, day)`), by the definitions of docs/DESIGN.md, plainly in Python sets; and the ratios."""
    kpis: dict[tuple[str, str, str | None], int] = {}
    for metric in catalog.kpis():
        if metric.kind is Kind.RATIO:
            continue
        if metric.group_by is not None:
            raise ValueError(f"{metric.name}: the truth covers ungrouped KPIs (the batch contract's)")
        kpis.update(_KPI_TRUTH[metric.kind](metric, days, partial(active, catalog.base(metric).name)))
    ratios: dict[tuple[str, str], float | None] = {}
    for metric in catalog.kpis():
        if metric.kind is Kind.RATIO:
            for day in days:
                num, den = (_day_value(catalog, kpis, counts, n, day) for n in (metric.numerator, metric.denominator))
                ratios[(metric.name, day)] = num / den if den else None
    return kpis, ratios


def _rolling_truth(metric: Metric, days: list[str], active: Callable[[str], set[str]]) -> dict:
    window = metric.window_days or 1
    return {
        (metric.name, day, ""): len(set().union(*(active(d) for d in days[max(0, i - window + 1) : i + 1])))
        for i, day in enumerate(days)
    }


def _new_truth(metric: Metric, days: list[str], active: Callable[[str], set[str]]) -> dict:
    """Group "": the players whose first day is the day; group None: those whose first day is the day or earlier."""
    return {key: len(players) for key, players in new_player_sets(metric, days, active).items()}


def new_player_sets(
    metric: Metric, days: list[str], active: Callable[[str], set[str]]
) -> dict[tuple[str, str, str | None], frozenset[str]]:
    """The players of each row of a new-players metric (what its Theta sketches must hold)."""
    first = _first_days(days, active)
    rows: dict[tuple[str, str, str | None], frozenset[str]] = {}
    seen: frozenset[str] = frozenset()
    for day in days:
        new = frozenset(p for p, f in first.items() if f == day)
        seen |= new
        rows[(metric.name, day, "")] = new
        rows[(metric.name, day, None)] = seen
    return rows


def _retention_truth(metric: Metric, days: list[str], active: Callable[[str], set[str]]) -> dict:
    """Bucket `D+k`: of the players whose first day is D, those active on D+k, for every D+k of `days`."""
    first = _first_days(days, active)
    rows: dict[tuple[str, str, str | None], int] = {}
    for cohort_day in days:
        cohort = {p for p, f in first.items() if f == cohort_day}
        for k in metric.returned_after:
            later = (date.fromisoformat(cohort_day) + timedelta(days=k)).isoformat()
            if later in days:
                rows[(metric.name, f"{cohort_day}+{k}", "")] = len(cohort & active(later))
    return rows


_KPI_TRUTH = {Kind.ROLLING: _rolling_truth, Kind.NEW: _new_truth, Kind.RETENTION: _retention_truth}


def _first_days(days: list[str], active: Callable[[str], set[str]]) -> dict[str, str]:
    first: dict[str, str] = {}
    for day in days:
        for player in active(day):
            first.setdefault(player, day)
    return first


def _day_value(catalog: Catalog, kpis: dict, counts: dict, name: str | None, day: str) -> int:
    metric = catalog.get(name or "")
    if metric is None or metric.group_by is not None:
        raise ValueError(f"a ratio of {name!r}: the truth covers ratios of ungrouped metrics")
    return counts.get((metric.name, day, ""), 0) if metric.kind.counted else kpis[(metric.name, day, "")]


@dataclass(frozen=True)
class _Player:
    player_id: str
    country: str
    platform: str
    joined: int  # the index of their first day
    engagement: float


def simulate_game(
    catalog: Catalog,
    tz: str,
    first_day: date,
    days: int,
    new_per_day: int,
    seed: int = 7,
    late_share: float = GAME_LATE_SHARE,
) -> Game:
    """A game of `days` local days (in `tz`) from `first_day`: about `new_per_day` players join each day (±20 %), play
    their first day and come back by the return curve above; sessions follow the evening-heavy diurnal curve of local
    time and bring match_end and ad_impression events. `late_share` of sessions (1.5 %) are uploaded 1-2 days late,
    0.5 % of events re-sent, 0.1 % have a junk record beside them (mostly near-valid session_starts: too old, in the future, a bad id).
    Deterministic for a seed."""
    rng = random.Random(seed)
    game_days = [first_day + timedelta(days=i) for i in range(days)]
    game_end = day_bounds_ms(game_days[-1], tz)[1]
    players: list[_Player] = []
    played: list[Played] = []
    late = 0
    for index, day in enumerate(game_days):
        for _ in range(round(new_per_day * rng.uniform(0.8, 1.2))):
            engagement = rng.gammavariate(ENGAGEMENT_SHAPE, 1 / ENGAGEMENT_SHAPE)
            players.append(
                _Player(f"g-{len(players):07d}", _pick(rng, COUNTRIES), _pick(rng, PLATFORMS), index, engagement)
            )
        start, end = day_bounds_ms(day, tz)
        for player in players:
            if index > player.joined and rng.random() >= player.engagement * _returns(index - player.joined):
                continue
            for _ in range(rng.choice(SESSIONS_A_DAY)):
                ts = _local_diurnal_time(rng, start, end)
                session = _session(rng, player.player_id, player.country, player.platform, ts, game_end)
                delay = rng.randint(DAY_MS, 2 * DAY_MS) if rng.random() < late_share else None
                late += delay is not None
                played += [Played(e, e["ts"] + (delay or rng.randint(0, ON_TIME_MS))) for e in session]
    game = Game(catalog, tz, [d.isoformat() for d in game_days], [], [], {}, late=late)
    for player in players:
        game.joined[player.player_id] = game.days[player.joined]
    for event in played:
        data, key = _record(event.event)
        game.records.append(Sent(data, key, event.arrival_ms))
        if rng.random() < GAME_DUPLICATE_SHARE:  # the client did not get the answer and sends the record again
            game.records.append(Sent(data, key, event.arrival_ms + rng.randint(1_000, 6 * 3_600_000)))
            game.duplicates += 1
        if rng.random() < GAME_MALFORMED_SHARE:
            game.records.append(
                Sent(_near_miss(rng, event.event, event.arrival_ms), f"junk-{rng.random()}", event.arrival_ms)
            )
            game.malformed += 1
    game.records.sort(key=lambda r: r.arrival_ms)
    game.events = sorted(played, key=lambda p: p.event["ts"])
    return game


def _returns(days_after: int) -> float:
    return RETURN_D1 * days_after**-RETURN_DECAY


def _session(rng: random.Random, pid: str, country: str, platform: str, ts: int, game_end: int) -> list[dict]:
    """A session from `ts`: its session_start (1 % without a country), some matches and ad impressions after it, all
    before `game_end`."""
    attrs = {"country": country, "platform": platform} if rng.random() > 0.01 else {"platform": platform}
    events = [_event(rng, "session_start", pid, ts, attrs)]
    t = ts
    for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
        t = min(game_end - 1, t + rng.randint(60_000, 900_000))
        events.append(_event(rng, "match_end", pid, t, {"platform": platform}))
    for _ in range(rng.choice((0, 0, 1, 2, 3, 6))):
        events.append(
            _event(rng, "ad_impression", pid, min(game_end - 1, t + rng.randint(0, 600_000)), {"platform": platform})
        )
    return events


def _local_diurnal_time(rng: random.Random, start_ms: int, end_ms: int) -> int:
    """A time of the local day [start, end) with more play in the evening (around 20:00 local) than at dawn."""
    while True:
        ts = rng.randint(start_ms, end_ms - 1)
        hour = (ts - start_ms) / 3_600_000  # hours since local midnight (a DST day's 23 or 25 stretch it a little)
        if rng.random() < 0.55 + 0.45 * math.cos((hour - 20) / 24 * 2 * math.pi):
            return ts


def _in_future_of(data: bytes, arrival_ms: int, now_ms: int) -> bytes:
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    if not isinstance(doc, dict) or type(doc.get("ts")) is not int or doc["ts"] <= arrival_ms + FUTURE_LIMIT_MS:
        return data
    doc["ts"] += now_ms - arrival_ms
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def _near_miss(rng: random.Random, event: dict, arrival_ms: int) -> bytes:
    """A record every layer must reject; most are session_starts that would change a KPI if one were let through
    (a player of their own, `x-…`, would be a new player)."""
    stranger = {**event, "type": "session_start", "player_id": f"x-{rng.getrandbits(32):08x}", "ts": arrival_ms}
    doc = rng.choice(
        [
            {**stranger, "ts": arrival_ms + 2 * 3_600_000},  # ts_in_future
            {**stranger, "ts": arrival_ms - 31 * DAY_MS},  # ts_too_old
            {**stranger, "event_id": ""},  # bad_event_id
            {**stranger, "player_id": ""},  # bad_player_id
            {**stranger, "type": "Session Start"},  # bad_type
            {**stranger, "attrs": {f"k{i}": "v" for i in range(20)}},  # bad_attrs
            None,  # duplicate_key
            b"",  # not_json
        ]
    )
    if doc is None:
        text = json.dumps(stranger, separators=(",", ":"))
        return (text[:-1] + ',"player_id":"' + event["player_id"] + '"}\n').encode()
    if doc == b"":
        return json.dumps(stranger).encode()[: rng.randint(5, 40)] + b"\n"
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"
