"""End to end, erasure of players (GDPR art. 17): an admin asks the API to forget players, a person asks `headcount
forget`; the receipts are pending, hold no player id; the nightly job's erasure batch (`headcount batch --erase-now`)
takes the players' lines out of the raw archive, recomputes and republishes the day they counted in, purges the day's
real-time items, and marks the receipts done, step by step. A player forgotten with "no more" has their next events
taken and dropped at ingest, never put into the stream."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import orjson
import pytest

from headcount import names
from headcount.cli.batch import LOCAL_ARCHIVE_SETTLE_MS
from headcount.core.buckets import day_bounds_ms, local_date
from headcount.core.erasure import STEPS, Receipt
from headcount.core.keys import partition_key
from headcount.local.access import user_token
from headcount.local.shards import wait_caught_up
from headcount.views.aws import client
from headcount.views.lake import data_files, lake_filesystem, raw_uri
from headcount.views.stream import Producer, send
from support.stack_process import ingest_headers, read_headers
from tests.e2e.conftest import stack_env
from tests.e2e.test_realtime import api

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

PLAYERS = [f"e2e-keep-{i}" for i in range(6)]  # they stay
VICTIM_NUMBER, VICTIM_NAME = (
    777,
    "e2e-victim-ana",
)  # forgotten through the API: an integer id (sent both ways), a string
GHOST, QUITTER = "e2e-ghost-x", "e2e-quitter-9"  # forgotten through the CLI: they never played (the quitter "no more")
BLOCK_REFRESH_S = 60  # BlockedPlayers' max_age_s (headcount/logic/erasure.py): how soon ingest sees a new block


def call(config, path: str, headers: dict[str, str], body: object | None = None) -> tuple[int, dict]:
    """The API's status and JSON answer to a GET (or, with a body, a POST)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{config.api_port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={**headers, "content-type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def headcount(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "headcount", *argv], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def forget(env: dict[str, str], *argv: str) -> str:
    """`headcount forget ...` as a person runs it; the receipt's id it prints."""
    said = headcount(env, "forget", *argv)
    (receipt,) = re.findall(r"receipt (er-[0-9a-f]{16}), pending", said)
    assert f"headcount forget --status {receipt}" in said
    return receipt


def active_players(config, day) -> dict:
    (point,) = api(config, f"/v1/metrics/active_players?from={day}&to={day}")["points"]
    return point


def raw_player_ids(config) -> list[str]:
    """The player id of every line of the raw archive (gzip JSON lines), as the layers key it (123 is "123")."""
    fs, _ = lake_filesystem(raw_uri(config.lake))
    ids = []
    for path in data_files(raw_uri(config.lake), ".gz"):
        with fs.open_input_stream(path, compression=None) as stream:
            for line in gzip.decompress(stream.read()).splitlines():
                if line.strip():
                    player_id = orjson.loads(line).get("player_id")
                    ids.append(str(player_id) if type(player_id) is int else player_id)
    return ids


def realtime_items(day, metric: str = "active_players") -> int:
    """How many items the real-time view (the stack's moto) holds for the metric's day."""
    answer = client("dynamodb").query(
        TableName=names.REALTIME_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": partition_key(metric, str(day))}},
        ConsistentRead=True,
    )
    return answer["Count"]


def leaves(doc: object) -> list[object]:
    if isinstance(doc, dict):
        return [leaf for key, value in doc.items() for leaf in (key, *leaves(value))]
    if isinstance(doc, list):
        return [leaf for value in doc for leaf in leaves(value)]
    return [doc]


def stream_player_ids() -> set[str]:
    """The player id of every event in the stream, every shard read from its start."""
    kinesis, found = client("kinesis"), set()
    for shard in kinesis.list_shards(StreamName=names.STREAM)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=names.STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in page["Records"]:
                for line in record["Data"].splitlines():
                    if line.strip():
                        player_id = orjson.loads(line).get("player_id")
                        found.add(str(player_id) if type(player_id) is int else player_id)
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return found


def test_forgotten_players_leave_every_layer_and_a_no_more_player_is_dropped_at_ingest(local_stack):
    config = local_stack
    env = stack_env(config)
    # Given a few players of yesterday, folded and archived; one victim sends its id as a JSON integer and as a string
    now_ms = int(time.time() * 1000)
    yesterday = local_date(now_ms, "UTC") - timedelta(days=1)
    noon_ms = day_bounds_ms(yesterday, "UTC")[0] + 12 * 3_600_000
    events = [
        {"event_id": f"e2e-er-{i}", "type": "session_start", "player_id": player, "ts": noon_ms + i * 60_000}
        for i, player in enumerate(PLAYERS)
    ]
    events += [
        {"event_id": "e2e-er-v1", "type": "session_start", "player_id": VICTIM_NUMBER, "ts": noon_ms + 1_000},
        {"event_id": "e2e-er-v2", "type": "session_start", "player_id": str(VICTIM_NUMBER), "ts": noon_ms + 2_000},
        {"event_id": "e2e-er-v3", "type": "match_end", "player_id": VICTIM_NUMBER, "ts": noon_ms + 3_000},
        {"event_id": "e2e-er-v4", "type": "session_start", "player_id": VICTIM_NAME, "ts": noon_ms + 4_000},
        {"event_id": "e2e-er-v5", "type": "match_end", "player_id": VICTIM_NAME, "ts": noon_ms + 5_000},
    ]
    victims = {str(VICTIM_NUMBER), VICTIM_NAME}
    producer = Producer(client("kinesis"))
    send([(orjson.dumps(e) + b"\n", str(e["player_id"])) for e in events], producer)
    wait_caught_up(config, producer.last_sequence, "fold", timeout=120)
    wait_caught_up(config, producer.last_sequence, "archive", timeout=120)
    assert sorted(raw_player_ids(config)) == sorted(str(e["player_id"]) for e in events)
    # and counted by the real-time layer (the nightly run below publishes the day, then erases)
    before = active_players(config, yesterday)
    assert (before["value"], before["exact"], before["source"]) == (len(PLAYERS) + 2, False, "realtime")
    assert realtime_items(yesterday) > 0

    # When an admin asks the API to forget the two victims (the integer one by its integer), and a person asks
    # `headcount forget` for a player who never played, and for another "no more"
    admin = {"Authorization": f"Bearer {user_token()}"}
    # (a tool's token, whose scope reads, is refused by the gateway as API Gateway's Cognito authorizer refuses it)
    assert call(config, "/v1/admin/erasures", read_headers(config), {"player_ids": [VICTIM_NAME]})[0] == 401
    status, by_number = call(config, "/v1/admin/erasures", admin, {"player_ids": [VICTIM_NUMBER]})
    assert status == 202, by_number
    status, by_name = call(config, "/v1/admin/erasures", admin, {"player_ids": [VICTIM_NAME]})
    assert status == 202, by_name
    ghost = forget(env, GHOST)
    quitter = forget(env, "--no-more", QUITTER)
    blocked_at = time.monotonic()
    receipts = [by_number["receipt"], by_name["receipt"], ghost, quitter]

    # Then every receipt is pending, and none holds a player id: salted hashes only, which cover the ids named
    assert by_number["state"] == by_name["state"] == "pending" and by_number["players"] == by_name["players"] == 1
    for receipt in receipts:
        status, shown = call(config, f"/v1/admin/erasures/{receipt}", admin)
        assert status == 200 and shown["state"] == "pending" and shown["steps"] == {}, shown
        assert shown["no_more"] is (receipt == quitter)
        named = {VICTIM_NUMBER, str(VICTIM_NUMBER), VICTIM_NAME, GHOST, QUITTER}
        assert not named & {leaf for leaf in leaves(shown) if isinstance(leaf, str | int)}, shown
        assert not any(name in json.dumps(shown) for name in (VICTIM_NAME, GHOST, QUITTER))
    assert Receipt.from_json(by_number).covers(VICTIM_NUMBER) and Receipt.from_json(by_number).covers("777")
    assert Receipt.from_json(by_name).covers(VICTIM_NAME) and not Receipt.from_json(by_name).covers(VICTIM_NUMBER)
    status, listed = call(config, "/v1/admin/erasures", admin)
    assert status == 200 and {r["receipt"]: r["state"] for r in listed["receipts"]} == dict.fromkeys(
        receipts, "pending"
    )

    # When the nightly job runs for yesterday (publishing it, every player counted) with its erasure batch forced,
    # once the requests are older than what records take into the local archive
    time.sleep(LOCAL_ARCHIVE_SETTLE_MS / 1000 + 1)
    said = headcount(env, "batch", "--day", str(yesterday), "--days-back", "0", "--erase-now")

    # Then it says what it erased: 5 events of the 4 requests' players, yesterday recomputed, its items purged
    assert re.search(r"erasure batch \S+: 4 requests done in [\d.]+ s: 5 events removed from [1-9]\d* raw", said), said
    assert all(f"receipt {r}: done" in said for r in receipts), said
    # and every receipt is done, each step stamped in order, with what went
    done = {r: call(config, f"/v1/admin/erasures/{r}", admin)[1] for r in receipts}
    for shown in done.values():
        assert shown["state"] == "done" and shown["error"] is None, shown
        assert list(shown["steps"]) == list(STEPS), shown
        stamps = [shown["steps"][step] for step in STEPS]
        assert stamps == sorted(stamps) and shown["finished_at_ms"] >= stamps[-1]
    assert [done[r]["removed"]["events"] for r in receipts] == [3, 2, 0, 0]
    assert [done[r]["nothing_found"] for r in receipts] == [False, False, True, True]
    assert done[by_number["receipt"]]["removed"]["days_recomputed"] == [str(yesterday)]
    assert done[by_name["receipt"]]["removed"]["realtime_days_left"] == []
    assert done[ghost]["removed"]["batch"]["realtime_items_purged"] > 0
    status_said = headcount(env, "forget", "--status", ghost)
    assert re.search(r"^state\s+done\s+\(no event of these players was found\)", status_said, re.M), status_said
    assert re.search(r"^state\s+done$", headcount(env, "forget", "--status", by_number["receipt"]), re.M)
    # and yesterday's players are exactly the two fewer, still exact
    after = active_players(config, yesterday)
    assert (after["value"], after["exact"], after["source"]) == (before["value"] - 2, True, "batch")
    # and no line of the raw archive is theirs, the others' all are still there
    assert sorted(raw_player_ids(config)) == sorted(
        str(e["player_id"]) for e in events if str(e["player_id"]) not in victims
    )
    # and the real-time view holds nothing of yesterday's players
    assert realtime_items(yesterday) == 0 and realtime_items(yesterday, "new_players") == 0

    # When the "no more" player's game sends an event (once ingest has read the block), with another player's
    time.sleep(max(0.0, blocked_at + BLOCK_REFRESH_S + 1 - time.monotonic()))
    today_ms = int(time.time() * 1000)
    posted = [
        {"event_id": "e2e-er-q1", "type": "session_start", "player_id": QUITTER, "ts": today_ms},
        {"event_id": "e2e-er-k1", "type": "session_start", "player_id": PLAYERS[0], "ts": today_ms},
    ]
    status, answer = call(config, "/v1/events", ingest_headers(), {"events": posted})

    # Then both are taken, the quitter's dropped: it never reaches the stream, the other one does
    assert status == 200 and answer == {"accepted": 2, "rejected": [], "dropped": 1}, answer
    in_stream = stream_player_ids()
    assert PLAYERS[0] in in_stream and QUITTER not in in_stream
