"""Hostile records, each with the reason every layer must reject it for (arrival at ARRIVAL_MS)."""

from __future__ import annotations

import json

ARRIVAL_MS = 1_795_000_000_000
TS = ARRIVAL_MS - 60_000


def _event(**fields: object) -> dict:
    return {"type": "session_start", "player_id": "p-1", "ts": TS, **fields}


def _line(doc: object) -> bytes:
    return json.dumps(doc).encode()


HOSTILE: list[tuple[str, bytes, str]] = [
    ("a key twice", b'{"type":"session_start","player_id":"a","ts":%d,"player_id":"b"}' % TS, "duplicate_key"),
    (
        "an attribute twice",
        b'{"type":"match_end","player_id":"a","ts":%d,"attrs":{"c":"DE","c":"FR"}}' % TS,
        "duplicate_key",
    ),
    ("invalid UTF-8", b'{"type":"session_start","player_id":"\xff\xfe","ts":%d}' % TS, "not_json"),
    ("a byte-order mark", b"\xef\xbb\xbf" + _line(_event()), "not_json"),
    ("a NUL in a string", b'{"type":"session_start","player_id":"a\x00b","ts":%d}' % TS, "not_json"),
    (
        "nested 4,000 deep",
        b'{"type":"session_start","player_id":"a","ts":%d,"x":' % TS + b"[" * 4000 + b"]" * 4000 + b"}",
        "not_json",
    ),
    ("a 1 MiB string", _line(_event(player_id="x" * (1 << 20))), "too_large"),
    ("NaN", b'{"type":"session_start","player_id":"a","ts":NaN}', "not_json"),
    ("Infinity", b'{"type":"session_start","player_id":"a","ts":Infinity}', "not_json"),
    ("a list for a player", _line(_event(player_id=["p-1"])), "bad_player_id"),
    ("a number for a type", _line(_event(type=7)), "bad_type"),
    ("a boolean for a time", _line(_event(ts=True)), "bad_ts"),
    ("the year 9999", _line(_event(ts="9999-12-31T23:59:59Z")), "ts_in_future"),
    ("the year 1970", _line(_event(ts=0)), "ts_too_old"),
    ("17 attributes", _line(_event(attrs={f"k{i}": "v" for i in range(17)})), "bad_attrs"),
    ("10,000 attributes", _line(_event(attrs={f"k{i}": "v" for i in range(10_000)})), "too_large"),
    ("whitespace", b"   \t ", "not_json"),
    ("a JSON string", b'"session_start"', "not_object"),
]
