"""Erasure of players on request (GDPR art. 12(3), 17): the request and its receipt, when a batch of requests is due,
and which lines of a raw object are the erased players'. Pure: no AWS, no clock it was not given.

A player id is the id as the game sends it: a JSON string, or a JSON integer taken as its decimal string (the events'
rule, headcount/core/events.py), so `123` and `"123"` are the same player. A receipt never holds an id: it holds one
salted SHA-256 per id, with its own salt, so whoever holds an id can check that a receipt covered it and nobody can
read the ids off the receipts. The ids themselves stay in the request (a separate item) until the erasure is done.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import orjson

from headcount.core.events import MAX_ID_CHARS, timestamp_ms

DAY_MS = 86_400_000
MAX_IDS_PER_REQUEST = 1000
# How long after its arrival a record may still be on its way into the raw archive: Firehose's buffer interval is at
# most 900 s. A batch erases the requests made at least this long before the archive was read for it.
ARCHIVE_SETTLE_MS = 20 * 60_000
# How long after its nightly run starts a batch may end (the night's own days, then the batch; a 25-hour DST night):
# a batch is due that much before a request would otherwise reach `every_days` at the next run
BATCH_MARGIN_MS = 4 * 3_600_000


class BadErasure(ValueError):
    """A request that cannot be taken: no ids, too many, or an id that is not a player id."""


class State(StrEnum):
    PENDING = "pending"  # waiting for its batch
    RUNNING = "running"  # a batch has taken it (a batch killed midway leaves it so: the next one finishes it)
    DONE = "done"
    FAILED = "failed"  # a batch failed on it; the next batch takes it again


# The steps of a batch, in order: the lines found (through the index), the raw objects rewritten and their old versions
# deleted, the lake's tables recomputed without the players, the days republished, the real-time items purged.
STEPS = ("found", "raw", "lake", "published", "realtime")


def canonical_id(value: object) -> str:
    """The player id as every layer keys it: a string as it is, an integer as its decimal string (not a bool)."""
    if type(value) is int:
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise BadErasure(
            f"a player id is a non-empty string of at most {MAX_ID_CHARS} characters or an integer: {value!r}"
        )
    return value


def canonical_ids(values: Iterable[object]) -> list[str]:
    """The request's ids, canonical, each once, in their order; BadErasure for none, too many or a bad one."""
    ids = list(dict.fromkeys(canonical_id(v) for v in values))
    if not ids:
        raise BadErasure("no player id to erase")
    if len(ids) > MAX_IDS_PER_REQUEST:
        raise BadErasure(f"at most {MAX_IDS_PER_REQUEST} player ids a request, got {len(ids)}")
    return ids


def salted_hash(salt: str, player_id: str) -> str:
    return hashlib.sha256(f"{salt}\0{player_id}".encode()).hexdigest()


def blocked_hash(player_id: str) -> str:
    """The key of a player whose future events are dropped ("no more"). Not salted per receipt: ingest and the job
    must find it from an event's id. (Whoever reads the table can test a guessed id against it; never the ids.)"""
    return hashlib.sha256(f"headcount-blocked\0{player_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Receipt:
    """What a request became: its state, when each step finished, and what was removed."""

    id: str
    requested_ms: int
    players: int
    salt: str
    hashes: tuple[str, ...]
    no_more: bool = False
    state: State = State.PENDING
    batch: str | None = None
    steps: dict[str, int] = field(default_factory=dict)  # step -> when it finished (epoch ms)
    removed: dict[str, Any] = field(default_factory=dict)  # what the batch removed (Removed.to_json)
    error: str | None = None
    finished_ms: int | None = None

    @staticmethod
    def new(ids: list[str], requested_ms: int, no_more: bool = False) -> Receipt:
        salt = secrets.token_hex(16)
        return Receipt(
            id=f"er-{secrets.token_hex(8)}",
            requested_ms=requested_ms,
            players=len(ids),
            salt=salt,
            hashes=tuple(salted_hash(salt, i) for i in ids),
            no_more=no_more,
        )

    def covers(self, player_id: object) -> bool:
        """Whether this receipt's request named that player."""
        return salted_hash(self.salt, canonical_id(player_id)) in self.hashes

    def with_step(self, step: str, at_ms: int) -> Receipt:
        return replace(self, steps={**self.steps, step: at_ms})

    def to_json(self) -> dict[str, Any]:
        found = self.removed.get("events")
        return {
            "receipt": self.id,
            "state": self.state.value,
            "requested_at_ms": self.requested_ms,
            "players": self.players,
            "no_more": self.no_more,
            "batch": self.batch,
            "steps": {step: self.steps[step] for step in STEPS if step in self.steps},
            "removed": self.removed,
            "nothing_found": self.state is State.DONE and found == 0,
            "error": self.error,
            "finished_at_ms": self.finished_ms,
            "salt": self.salt,
            "hashes": list(self.hashes),
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Receipt:
        return Receipt(
            id=doc["receipt"],
            requested_ms=int(doc["requested_at_ms"]),
            players=int(doc["players"]),
            salt=doc["salt"],
            hashes=tuple(doc["hashes"]),
            no_more=bool(doc.get("no_more")),
            state=State(doc["state"]),
            batch=doc.get("batch"),
            steps={k: int(v) for k, v in (doc.get("steps") or {}).items()},
            removed=dict(doc.get("removed") or {}),
            error=doc.get("error"),
            finished_ms=doc.get("finished_at_ms"),
        )


@dataclass(frozen=True)
class ErasurePolicy:
    """When the nightly run erases the pending requests: a batch a week by default (`every_days`: no request waits
    longer than that for its batch), or as soon as `max_pending` are waiting. `deadline_days`: what the alarm holds
    the requests to (GDPR allows a month; headcount promises this)."""

    every_days: int = 7
    max_pending: int = 50
    deadline_days: int = 7
    settle_ms: int = ARCHIVE_SETTLE_MS  # how long a record may take into the archive (the local archiver: seconds)

    def __post_init__(self) -> None:
        if not 1 <= self.every_days <= self.deadline_days:
            raise ValueError(f"every_days must be 1 .. deadline_days ({self.deadline_days}), got {self.every_days}")
        if self.max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {self.max_pending}")

    def eligible(self, requested: Iterable[int], read_ms: int) -> list[int]:
        """The requests a batch can take when the archive was read (indexed) at `read_ms`: those made at least
        `settle_ms` earlier, so every record that arrived before them is in the archive."""
        return [r for r in requested if r <= read_ms - self.settle_ms]

    def due(self, requested: Iterable[int], now_ms: int) -> str | None:
        """Why a batch is due now (the nightly run, once a day), or None. A batch is due when the oldest eligible
        request would be `every_days` old by the end of the next nightly run (BATCH_MARGIN_MS after it starts), or
        `max_pending` are eligible."""
        eligible = self.eligible(requested, now_ms)
        if not eligible:
            return None
        if len(eligible) >= self.max_pending:
            return f"{len(eligible)} requests are waiting (a batch at {self.max_pending})"
        oldest = now_ms - min(eligible)
        # by the next nightly run it would be a day older, and that run's batch ends hours after it starts
        if oldest + DAY_MS + BATCH_MARGIN_MS >= self.every_days * DAY_MS:
            return (
                f"the oldest request is {oldest / DAY_MS:.1f} days old (a batch at least every {self.every_days} days)"
            )
        return None


# ------------------------------------------------------------------------------------------------ the raw archive


@dataclass(frozen=True)
class Filtered:
    """A raw object's bytes without the erased players' lines, and per erased player the ts (epoch ms; None where the
    line had no valid one) of each line that went: how many, and the days they counted in."""

    data: bytes
    removed: dict[str, list[int | None]]

    @property
    def lines(self) -> int:
        return sum(len(ts) for ts in self.removed.values())


def filter_lines(data: bytes, ids: frozenset[str]) -> Filtered:
    """Drop every line (one event each; records are newline-terminated) whose player_id is one of `ids` (canonical),
    in whichever form it was sent; other lines, empty ones included, stay byte for byte. A line that names the
    player_id twice (rejected by the validator, `duplicate_key`) goes if either is an erased player."""
    removed: dict[str, list[int | None]] = {}
    if not ids:
        return Filtered(data, removed)
    lines = data.split(b"\n")
    kept: list[bytes] = []
    for line in lines:
        # (a key may be spelt with escapes, `"player\u005fid"`: every JSON reader takes it for player_id)
        named = b"player_id" in line or b"\\" in line
        erased = [pid for pid in line_player_ids(line) if pid in ids] if named else []
        if erased:
            removed.setdefault(erased[0], []).append(_ts_ms(line))
            continue
        kept.append(line)
    return Filtered(b"\n".join(kept) if removed else data, removed)


def line_player_ids(line: bytes) -> list[str]:
    """Every top-level player_id of a record line, canonical (an object may repeat the key); empty if none parses."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(doc, dict):
        return []
    # orjson keeps the last of a repeated key; DuckDB and Athena read the first
    if line.count(b'"player_id"') > 1 or b"\\" in line:
        top: list[tuple[str, object]] = []

        def keep(items: list[tuple[str, object]]) -> dict[str, object]:
            top[:] = items  # the outermost object is the last one decoded
            return dict(items)

        json.loads(line, object_pairs_hook=keep)
        values = [v for k, v in top if k == "player_id"]
    else:
        values = [doc.get("player_id")]
    found = []
    for value in values:
        try:
            found.append(canonical_id(value))
        except BadErasure:
            continue
    return found


def _ts_ms(line: bytes) -> int | None:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return timestamp_ms(doc.get("ts")) if isinstance(doc, dict) else None
