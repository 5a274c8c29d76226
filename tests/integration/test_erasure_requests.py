"""Requests to forget players (headcount/logic/erasure.py) on moto's DynamoDB: through the serve function's admin routes
(the receipt, never an id; who may ask; bad ids) and `headcount forget`; the erasures' table as the nightly job reads
and finishes it; and how late the open requests are, which the business function puts into CloudWatch."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import orjson
import pytest

from headcount import names
from headcount.core.erasure import Receipt, State, blocked_hash
from headcount.local import resources
from headcount.local.esm import LocalLambdaContext
from headcount.local.gateway import proxy_event
from headcount.logic.erasure import request_erasure
from headcount.views.erasure_store import DynamoErasureStore
from support.credentials import ADMIN, TOOL, VIEWER, signed_in

NOW_MS = 1_795_000_000_000  # 2026-11-18T11:06:40Z: when the requests are received
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
EMAIL_ID, NUMBER_ID = "player.one@example.com", 98765432101  # ids that cannot hide in a hash's hex digits


@pytest.fixture
def store(aws):
    """The stack's tables in moto, the erasures' with them, and the serve function's runtime built afresh."""
    from headcount.functions.serve import runtime as module

    resources.create_erasures()
    module.runtime.cache_clear()
    yield DynamoErasureStore(names.ERASURES_TABLE)
    module.runtime.cache_clear()


def call(method: str, path: str, body: object = None, context: dict | None = None, at_ms: int = NOW_MS):
    """The serve function's answer (status, JSON) to a request API Gateway passed, with an admin's token unless
    `context` says otherwise; `body` as JSON unless it is bytes."""
    from headcount.functions.serve.handler import handler

    data = body if isinstance(body, bytes) else b"" if body is None else orjson.dumps(body)
    event = proxy_event(method, path, {}, data, at_ms, {**(ADMIN if context is None else context)})
    response = handler(event, LocalLambdaContext("serve", "r-1", "arn:aws:lambda:x"))
    return response["statusCode"], json.loads(response["body"])


def every_value(doc: object) -> list[object]:
    if isinstance(doc, dict):
        return [v for value in doc.values() for v in every_value(value)]
    if isinstance(doc, list):
        return [v for value in doc for v in every_value(value)]
    return [doc]


def test_an_admin_asks_to_forget_players_and_gets_a_receipt_that_holds_none_of_their_ids(store):
    # Given an admin's request naming a player by an email-like id and another by a number, twice (integer and string)
    body = {"player_ids": [EMAIL_ID, NUMBER_ID, str(NUMBER_ID)]}
    # When it is posted
    status, answer = call("POST", "/v1/admin/erasures", body)
    # Then it is taken (202) with its receipt, pending, naming 2 players, at the request's time
    assert status == 202
    assert (answer["state"], answer["players"], answer["requested_at_ms"]) == ("pending", 2, NOW_MS)
    assert answer["no_more"] is False and answer["steps"] == {} and answer["nothing_found"] is False
    # And no value of the receipt is either id, in any form; the receipt still covers both, the number either way
    values = every_value(answer)
    assert not {EMAIL_ID, NUMBER_ID, str(NUMBER_ID)} & set(values)
    assert not any(EMAIL_ID in str(v) for v in values)
    receipt = Receipt.from_json(answer)
    assert receipt.covers(EMAIL_ID) and receipt.covers(NUMBER_ID) and receipt.covers(str(NUMBER_ID))
    # And the receipt is there to read, as it was answered; the ids are held apart until the erasure is done
    assert call("GET", f"/v1/admin/erasures/{answer['receipt']}") == (200, answer)
    assert store.open_requests() == [(receipt, [EMAIL_ID, str(NUMBER_ID)])]


def test_the_receipts_are_listed_newest_first(store):
    # Given two requests, an hour apart
    first = call("POST", "/v1/admin/erasures", {"player_ids": ["a"]}, at_ms=NOW_MS - HOUR_MS)[1]
    second = call("POST", "/v1/admin/erasures", {"player_ids": [1, 2], "no_more": True})[1]
    # When an admin lists them / Then the newest comes first
    status, answer = call("GET", "/v1/admin/erasures")
    assert status == 200 and answer == {"receipts": [second, first]}


def test_no_more_blocks_the_players_future_events(store):
    # When a request says no more
    call("POST", "/v1/admin/erasures", {"player_ids": [42, "bob"], "no_more": True})
    # Then both players are blocked (by hash: ingest and the job drop their events), however the id was written
    assert store.blocked() == {blocked_hash("42"), blocked_hash("bob")}


@pytest.mark.parametrize(
    "context", [VIEWER, TOOL, signed_in(), {}, signed_in("admin", pool_id="us-east-1_OtherPool")], ids=str
)
def test_only_an_admin_may_ask_or_read_receipts(store, context):
    # Given a receipt an admin asked for
    receipt = call("POST", "/v1/admin/erasures", {"player_ids": ["alice"]})[1]["receipt"]
    # When a reader, a tool, a person without a role, nobody or another pool's admin asks or reads
    answers = [
        call("POST", "/v1/admin/erasures", {"player_ids": ["bob"]}, context),
        call("GET", "/v1/admin/erasures", context=context),
        call("GET", f"/v1/admin/erasures/{receipt}", context=context),
    ]
    # Then every one is refused (403 with a token of the pool, else 401), and nothing more was asked
    expected = 403 if context in (VIEWER, TOOL, signed_in()) else 401
    assert {status for status, _ in answers} == {expected}
    assert all("receipt" not in answer for _, answer in answers)
    assert [r.id for r in store.receipts()] == [receipt]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"player_ids": []}, "no player id to erase"),
        ({"player_ids": ["alice", True]}, "a player id is a non-empty string"),
        ({"player_ids": [""]}, "a player id is a non-empty string"),
        ({"player_ids": ["x" * 129]}, "a player id is a non-empty string"),
        ({"player_ids": [1.5]}, "a player id is a non-empty string"),
        ({"player_ids": [{"id": "a"}]}, "a player id is a non-empty string"),
        ({"player_ids": [f"p{i}" for i in range(1001)]}, "at most 1000 player ids a request, got 1001"),
        ({"player_ids": "alice"}, "player_ids:"),
        ({"player_ids": ["alice"], "no_more": "yes"}, "no_more:"),
        ({"player_ids": ["alice"], "player": "bob"}, "player:"),
        ({}, "player_ids:"),
        (b"player_ids=alice", "body is"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_a_bad_request_is_a_400_saying_why_and_asks_nothing(store, body, says):
    status, answer = call("POST", "/v1/admin/erasures", body)
    assert status == 400 and answer["error"]["code"] == "bad_request" and says in answer["error"]["message"]
    assert store.receipts() == []


def test_an_unknown_receipt_is_a_404(store):
    for receipt in ("er-0123456789abcdef", "nope", "er-" + "0" * 200):
        status, answer = call("GET", f"/v1/admin/erasures/{receipt}")
        assert status == 404 and answer["error"]["code"] == "not_found"


def test_the_job_reads_the_open_requests_and_finishing_one_deletes_its_ids(store):
    # Given two requests, a day apart, and one of them finished by the job (done, steps and figures recorded)
    older = request_erasure(store, [EMAIL_ID, NUMBER_ID], NOW_MS - DAY_MS)
    newer = request_erasure(store, ["bob"], NOW_MS)
    assert store.open_requests() == [(older, [EMAIL_ID, str(NUMBER_ID)]), (newer, ["bob"])]  # oldest first
    running = replace(older, state=State.RUNNING, batch="run-9")
    store.save(running)
    assert store.open_requests()[0] == (running, [EMAIL_ID, str(NUMBER_ID)])  # a batch killed midway: still open
    done = replace(
        running.with_step("found", NOW_MS + HOUR_MS).with_step("realtime", NOW_MS + 2 * HOUR_MS),
        state=State.DONE,
        removed={"events": 3},
        finished_ms=NOW_MS + 2 * HOUR_MS,
    )
    # When the job finishes it
    store.finish(done)
    # Then only the other is open, the finished one's ids are gone from the table, and no item holds them any more
    assert store.open_requests() == [(newer, ["bob"])]
    ddb = boto3.client("dynamodb", region_name=names.REGION)
    assert "Item" not in ddb.get_item(TableName=names.ERASURES_TABLE, Key={"pk": {"S": f"request#{older.id}"}})
    items = ddb.scan(TableName=names.ERASURES_TABLE)["Items"]
    assert EMAIL_ID not in json.dumps(items) and str(NUMBER_ID) not in json.dumps(items)
    # And its receipt says what happened, through the API too (steps in the order of a batch)
    assert store.receipt(older.id) == done
    status, answer = call("GET", f"/v1/admin/erasures/{older.id}")
    assert status == 200 and answer["state"] == "done" and answer["finished_at_ms"] == NOW_MS + 2 * HOUR_MS
    assert list(answer["steps"]) == ["found", "realtime"] and answer["removed"] == {"events": 3}
    assert [r.id for r in store.receipts()] == [newer.id, older.id]


# ---------------------------------------------------------------------------------------------------- lateness


@pytest.fixture
def business(aws, monkeypatch):
    from headcount.functions.business import handler as module

    monkeypatch.setenv("HEADCOUNT_TZ", "UTC")
    module.runtime.cache_clear()
    yield module
    module.runtime.cache_clear()


def run_business(module, now_ms: int) -> dict:
    at = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    return module.handler({"scheduled_time": at}, LocalLambdaContext(names.BUSINESS_FUNCTION, "r-1", "arn:x"))


def erasure_metric(name: str, now_ms: int) -> list[float]:
    at = datetime.fromtimestamp(now_ms / 1000, UTC)
    points = boto3.client("cloudwatch", region_name=names.REGION).get_metric_statistics(
        Namespace=names.POWERTOOLS_NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "service", "Value": names.POWERTOOLS_SERVICE}],
        StartTime=at - timedelta(minutes=10),
        EndTime=at + timedelta(minutes=10),
        Period=300,
        Statistics=["Maximum"],
    )["Datapoints"]
    return [p["Maximum"] for p in points]


def test_the_business_function_puts_how_many_requests_are_past_their_deadline(business):
    # Given requests 8 days and 2 days old, and one 10 days old that is done (the deadline: 7 days)
    resources.create_erasures()
    store = DynamoErasureStore(names.ERASURES_TABLE)
    request_erasure(store, ["late"], NOW_MS - 8 * DAY_MS)
    request_erasure(store, ["recent"], NOW_MS - 2 * DAY_MS)
    finished = request_erasure(store, ["done"], NOW_MS - 10 * DAY_MS)
    store.finish(replace(finished, state=State.DONE, finished_ms=NOW_MS - 4 * DAY_MS))
    # When the schedule runs the function
    answer = run_business(business, NOW_MS)
    # Then it put one request overdue, and the oldest open one's age (8 days) in hours, with its KPIs as ever
    assert erasure_metric(names.METRIC_ERASURES_OVERDUE, NOW_MS) == [1.0]
    assert erasure_metric(names.METRIC_ERASURE_OLDEST_HOURS, NOW_MS) == [192.0]
    assert answer["failed"] == [] and "matches_played" in answer["put"]


def test_a_run_without_the_erasures_table_still_does_its_other_work(business):
    # Given a stack whose erasures' table is out of reach
    ddb = boto3.client("dynamodb", region_name=names.REGION)
    if names.ERASURES_TABLE in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=names.ERASURES_TABLE)
    # When the schedule runs the function / Then it puts its KPIs, and no erasure metric
    answer = run_business(business, NOW_MS)
    assert answer["failed"] == [] and "matches_played" in answer["put"]
    assert erasure_metric(names.METRIC_ERASURES_OVERDUE, NOW_MS) == []


# ---------------------------------------------------------------------------------------------------- the command


@pytest.fixture
def local_moto(monkeypatch):
    """A moto server on 127.0.0.1 as the local stack's (HEADCOUNT_MOTO_PORT), with the erasures' table; the variables
    the command sets to reach it are put back afterwards."""
    from moto.server import ThreadedMotoServer

    from headcount.local.config import LocalConfig
    from headcount.views.aws import client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("HEADCOUNT_MOTO_PORT", str(port))
    for name, value in LocalConfig(moto_port=port).aws_environment().items():
        monkeypatch.setenv(name, value)
    client.cache_clear()
    try:
        _reset_moto(port)  # a moto server in this process shares moto's state with the other tests' servers
        resources.create_erasures()
        yield DynamoErasureStore(names.ERASURES_TABLE)
    finally:
        client.cache_clear()
        _reset_moto(port)
        server.stop()


def _reset_moto(port: int) -> None:
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")).close()


def test_headcount_forget_asks_prints_the_receipt_and_reads_it_back(local_moto, capsys):
    from headcount.cli import main

    # When an operator asks to forget two players, one by its number
    assert main(["forget", EMAIL_ID, str(NUMBER_ID), "--no-more"]) == 0
    said = capsys.readouterr().out
    # Then the command says the receipt's id, its state and how to check it, and no id
    receipt_id = re.search(r"receipt (er-[0-9a-f]{16}), pending \(2 players\)", said)[1]
    assert f"headcount forget --status {receipt_id}" in said and EMAIL_ID not in said and str(NUMBER_ID) not in said
    (receipt,) = local_moto.receipts()
    assert receipt.id == receipt_id and receipt.covers(NUMBER_ID) and receipt.no_more
    # When the job has done it, and the operator checks the receipt
    local_moto.finish(
        replace(
            receipt.with_step("found", NOW_MS).with_step("raw", NOW_MS + 60_000),
            state=State.DONE,
            batch="run-3",
            removed={"events": 5, "days_recomputed": ["2026-11-17", "2026-11-18"]},
            finished_ms=NOW_MS + HOUR_MS,
        )
    )
    assert main(["forget", "--status", receipt_id]) == 0
    status = capsys.readouterr().out
    # Then it shows the state, each step's time in UTC (the ones not run: -) and what was removed
    assert re.search(r"state\s+done", status) and re.search(r"batch\s+run-3", status)
    assert re.search(r"found\s+2026-11-18T11:06:40Z", status) and re.search(r"raw\s+2026-11-18T11:07:40Z", status)
    assert re.search(r"lake\s+-", status) and re.search(r"finished\s+2026-11-18T12:06:40Z", status)
    assert "events: 5" in status and "days_recomputed: 2026-11-17, 2026-11-18" in status
    # And the list has it
    assert main(["erasures"]) == 0
    assert re.search(rf"{receipt_id}\s+done\s+2 players\s+finished 2026-11-18T12:06:40Z", capsys.readouterr().out)


def test_headcount_forget_refuses_bad_input_with_status_2(local_moto, capsys):
    from headcount.cli import main

    for argv in (["forget"], ["forget", ""], ["forget", "x" * 129], ["forget", "a", "--status", "er-1"]):
        assert main(argv) == 2
        assert capsys.readouterr().err.startswith("headcount forget")
    assert main(["forget", "--status", "er-0123456789abcdef"]) == 1
    assert "no receipt 'er-0123456789abcdef'" in capsys.readouterr().err
    assert local_moto.receipts() == []
