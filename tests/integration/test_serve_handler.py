"""The serve Lambda handler on API Gateway proxy events: routes, merge, errors, and what it checks of the gateway's
context."""

import json

import pytest
from headcount.functions.serve.handler import handler

from headcount.core import sketches
from headcount.core.buckets import bucket_of, day_bounds_ms, local_date
from headcount.core.catalog import Granularity
from headcount.local.esm import LocalLambdaContext
from headcount.local.gateway import proxy_event
from headcount.settings import Settings
from headcount.views.batch import BatchRow, DynamoBatchView
from headcount.views.realtime import DynamoRealtimeStore, ItemKey, RealtimeItem
from support.credentials import ADMIN, INGEST, TOOL, VIEWER, admitted, signed_in

NOW_MS = 1_795_000_000_000  # every request is received at 2026-11-18T11:06:40Z (requestTimeEpoch)


@pytest.fixture(autouse=True)
def _fresh_runtime():
    from headcount.functions.serve import runtime as module

    module.runtime.cache_clear()
    yield
    module.runtime.cache_clear()


def _service():
    from headcount.functions.serve import runtime as module

    return module.runtime().service


def get(path, context=None):
    """GET `path` as API Gateway passes it once it has checked the route's credential (or with `context`)."""
    event = proxy_event("GET", path, {}, b"", NOW_MS, admitted("GET", path) if context is None else context)
    response = handler(event, LocalLambdaContext("serve", "r", "arn:x"))
    return response["statusCode"], json.loads(response["body"])


def sketch_of(ids):
    s = sketches.new_sketch(14)
    for i in ids:
        s.update(i)
    return sketches.encode(s)


def test_the_stage_url_without_its_slash_redirects_and_the_pages_send_their_policy(aws):
    # Given the stage's URL without its slash (API Gateway hands it to the `/` route, the stage in the context's path)
    event = proxy_event("GET", "/", {}, b"", NOW_MS)
    event["requestContext"]["path"] = "/prod"
    event["queryStringParameters"] = {"metric": "active_players"}
    response = handler(event, LocalLambdaContext("serve", "r", "arn:x"))
    # Then the browser is sent to the stage's root, where the page's relative URLs resolve under the stage
    assert response["statusCode"] == 301
    assert response["multiValueHeaders"]["Location"] == ["/prod/?metric=active_players"]
    # And the pages (not the API's answers) say what they may load: their own scripts, no inline ones
    for path in ("/", "/v1/docs"):
        page = handler(proxy_event("GET", path, {}, b"", NOW_MS), LocalLambdaContext("serve", "r", "arn:x"))
        assert page["statusCode"] == 200
        policy = page["multiValueHeaders"]["Content-Security-Policy"][0]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        assert "<script>" not in page["body"]


def test_health_needs_nothing(aws):
    assert get("/v1/health", {}) == (200, {"status": "ok"})


def test_the_read_routes_take_viewers_admins_and_tools_and_nothing_else(aws):
    # Given what API Gateway would pass: a token of each kind, of another pool, or none (a gateway misconfigured)
    for context in (VIEWER, ADMIN, TOOL):
        assert get("/v1/metrics", context)[0] == 200
    for context in ({}, INGEST, signed_in("viewer", pool_id="us-east-1_OtherPool")):
        status, body = get("/v1/metrics", context)
        assert status == 401 and body["error"]["code"] == "unauthorized"
    # A person in no group is signed in, and denied: the dashboard says so
    status, body = get("/v1/metrics", signed_in())
    assert status == 403 and body["error"]["code"] == "no_role"


def test_a_function_without_its_auth_settings_refuses_everything(aws, monkeypatch):
    from headcount.functions.serve import runtime as module

    monkeypatch.delenv("HEADCOUNT_USER_POOL_ID")
    module.runtime.cache_clear()
    for path in ("/v1/health", "/v1/metrics", "/", "/v1/metrics/active_players?from=someday", "/v1/nope"):
        status, body = get(path)
        assert status == 500 and body["error"]["code"] == "auth_not_configured"


@pytest.mark.parametrize("path", ["/v1/metrics/active_players?from=someday", "/v1/metrics/x?form=1", "/v1/nope/x"])
def test_without_its_credential_a_request_learns_nothing_of_its_parameters_or_the_routes(aws, path):
    status, body = get(path, {})
    assert status in (401, 404) and body["error"]["code"] in ("unauthorized", "not_found")
    assert status == 404 or "from" not in body["error"]["message"]


def test_the_catalog_is_listed(aws):
    status, body = get("/v1/metrics")
    assert status == 200 and [m["name"] for m in body["metrics"]][:2] == ["active_players", "active_players_by_country"]


def test_bad_requests_say_what_is_wrong(aws):
    assert get("/v1/metrics/nope")[0] == 404
    assert get("/v1/metrics/active_players?from=2026-13-01")[0] == 400
    assert get("/v1/metrics/active_players?from=2026-11-02&to=2026-11-01")[0] == 400
    status, body = get("/v1/metrics/active_players?from=2024-01-01&to=2026-01-01")
    assert status == 400 and "400 days" in body["error"]["message"]
    assert get("/v1/metrics/matches_played/distinct")[0] == 400
    status, body = get("/v1/metrics/active_players?group=DE")
    assert status == 400 and body["error"] == {
        "code": "bad_request",
        "message": "active_players has no groups; group= is for metrics with a group_by attribute",
    }
    assert get("/v1/metrics/active_players/distinct?group=DE")[0] == 400
    assert get("/v1/metrics/active_players_by_country?group=DE")[0] == 200


def test_realtime_shards_are_merged_and_buckets_are_dense(aws):
    today = local_date(NOW_MS, Settings().tz).isoformat()
    store = DynamoRealtimeStore(Settings().realtime_table)
    store.write(
        RealtimeItem(ItemKey("active_players", today, "", "shardId-0"), 1, sketch=sketch_of(range(0, 600))), None, 0
    )
    store.write(
        RealtimeItem(ItemKey("active_players", today, "", "shardId-1"), 1, sketch=sketch_of(range(400, 1000))), None, 0
    )
    hour = bucket_of(NOW_MS, Granularity.HOUR, Settings().tz)
    store.write(RealtimeItem(ItemKey("ad_impressions", hour, "", "shardId-0"), 5, count=7), None, 0)
    store.write(RealtimeItem(ItemKey("ad_impressions", hour, "", "shardId-1"), 9, count=5), None, 0)
    for shard, watermark in (("shardId-0", NOW_MS - 4_000), ("shardId-1", NOW_MS - 1_000)):  # the fold's statuses
        store.add_days(shard, {today}, set())
        store.advance(shard, watermark, 500)

    status, body = get("/v1/metrics/active_players?from=today&to=today")
    point = body["points"][0]
    assert status == 200 and point["source"] == "realtime" and point["exact"] is False
    assert point["low"] <= 1000 <= point["high"]

    status, body = get("/v1/metrics/ad_impressions?from=yesterday&to=today")
    assert len(body["points"]) == 48
    filled = [p for p in body["points"] if p["source"] != "none"]
    as_of = "2026-11-18T11:06:36Z"  # the older shard's watermark: everything that arrived before it is in
    assert filled == [
        {
            "bucket": hour,
            "value": 12,
            "exact": False,
            "source": "realtime",
            "low": 12,
            "high": 12,
            "as_of": as_of,
            "stale": False,
            "run_id": None,
        }
    ]


def test_a_real_time_day_says_it_is_behind_when_records_put_into_a_shard_wait_past_the_threshold(aws):
    tz = Settings().tz
    today, yesterday = local_date(NOW_MS, tz), local_date(NOW_MS - 86_400_000, tz)
    store = DynamoRealtimeStore(Settings().realtime_table)
    for shard, n in (("shardId-0", 1), ("shardId-1", 2)):
        store.add_days(shard, {today.isoformat(), yesterday.isoformat()}, set())
        store.write(RealtimeItem(ItemKey("matches_played", today.isoformat(), "", shard), n, count=n), None, 0)
    # Given shard 1's fold stopped 5 minutes ago while the API kept putting records into it (threshold: 60 s)
    store.advance("shardId-0", NOW_MS - 1_000, 800)
    store.advance("shardId-1", NOW_MS - 300_000, 800)
    store.note_put("shardId-1", NOW_MS - 20_000)
    status, body = get("/v1/metrics/matches_played?from=yesterday&to=today")
    by_day = {p["bucket"]: p for p in body["points"]}
    # Then today is stale, as of shard 1's watermark; yesterday ended before it, so it is not behind
    assert by_day[today.isoformat()]["stale"] is True and by_day[today.isoformat()]["value"] == 3
    assert by_day[today.isoformat()]["as_of"] == "2026-11-18T11:01:40Z"
    assert by_day[yesterday.isoformat()]["stale"] is False
    status, body = get("/v1/metrics/active_players/distinct?from=yesterday&to=today")
    assert body["stale"] is True and body["as_of"] == "2026-11-18T11:01:40Z"
    # And once it has caught up, nothing is behind (a second later: a function reads the statuses once a second)
    store.advance("shardId-1", NOW_MS - 2_000, 900)
    _service().reads._moment = _service().reads._ahead = None  # the second has passed
    status, body = get("/v1/metrics/matches_played?from=today")
    assert body["points"][0]["stale"] is False and body["points"][0]["as_of"] == "2026-11-18T11:06:38Z"


def test_an_idle_shard_is_not_behind_however_old_its_watermark(aws):
    today = local_date(NOW_MS, Settings().tz).isoformat()
    store = DynamoRealtimeStore(Settings().realtime_table)
    store.add_days("shardId-0", {today}, set())
    store.advance("shardId-0", NOW_MS - 3_600_000, 900)  # its last records, an hour ago, all applied
    store.note_put("shardId-0", NOW_MS - 3_600_500)
    point = get("/v1/metrics/matches_played?from=today")[1]["points"][0]
    assert (point["stale"], point["as_of"]) == (False, "2026-11-18T10:06:40Z")


def test_posting_notes_the_shards_that_took_records(aws):
    from headcount.local import resources

    resources.create_stream(2)
    status, body = post("/v1/events", {"events": [{"type": "match_end", "player_id": "p-1", "ts": NOW_MS}]})
    assert body["accepted"] == 1
    [status] = DynamoRealtimeStore(Settings().realtime_table).shard_statuses()
    assert status.put_ms == NOW_MS and status.watermark_ms is None


def test_a_published_batch_day_wins_and_is_exact(aws):
    today = local_date(NOW_MS, Settings().tz).isoformat()
    store = DynamoRealtimeStore(Settings().realtime_table)
    store.write(
        RealtimeItem(ItemKey("active_players_by_country", today, "DE", "shardId-0"), 1, sketch=sketch_of(range(90))),
        None,
        0,
    )
    store.add_days("shardId-0", {today}, set())
    DynamoBatchView(Settings().batch_table, clock=lambda: NOW_MS / 1000 + 60).publish(
        "active_players_by_country",
        today,
        [
            BatchRow("active_players_by_country", today, today, "DE", 100, sketch_of(range(100))),
            # 40 players who also played from DE (travellers): the day's unique players are 100, not 140
            BatchRow("active_players_by_country", today, today, "US", 40, sketch_of(range(60, 100))),
        ],
        "run-1",
    )
    status, body = get("/v1/metrics/active_players_by_country?from=today")
    assert [(p["group"], p["value"], p["exact"], p["source"]) for p in body["points"]] == [
        ("DE", 100, True, "batch"),
        ("US", 40, True, "batch"),
    ]
    # A batch point is as of its run's publication
    assert {(p["as_of"], p["run_id"], p["stale"]) for p in body["points"]} == {("2026-11-18T11:07:40Z", "run-1", False)}
    status, body = get("/v1/metrics/active_players_by_country?from=today&group=US")
    assert [(p["group"], p["value"]) for p in body["points"]] == [("US", 40)]
    status, body = get("/v1/metrics/active_players_by_country/distinct?from=today")
    assert body["value"] == 100 and body["exact"] is False and body["low"] <= 100 <= body["high"]
    status, body = get("/v1/metrics/active_players_by_country/distinct?from=today&group=US")
    assert (body["value"], body["exact"], body["sources"]) == (40, True, ["batch"])


def test_a_published_day_is_exact_in_its_empty_buckets_too(aws):
    tz = Settings().tz
    today = local_date(NOW_MS, tz).isoformat()
    noon = bucket_of(day_bounds_ms(local_date(NOW_MS, tz), tz)[0] + 12 * 3_600_000, Granularity.HOUR, tz)
    DynamoBatchView(Settings().batch_table).publish(
        "ad_impressions", today, [BatchRow("ad_impressions", today, noon, "", 9, None)], "run-1"
    )
    status, body = get("/v1/metrics/ad_impressions?from=today")
    assert len(body["points"]) == 24 and all(p["source"] == "batch" and p["exact"] for p in body["points"])
    assert [p["value"] for p in body["points"] if p["bucket"] == noon] == [9] and sum(
        p["value"] for p in body["points"]
    ) == 9


def post(path, body, context=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    event = proxy_event("POST", path, {}, data, NOW_MS, admitted("POST", path) if context is None else context)
    response = handler(event, LocalLambdaContext("serve", "r", "arn:x"))
    return response["statusCode"], json.loads(response["body"])


def test_posted_events_are_validated_and_the_valid_ones_reach_the_stream(aws):
    from headcount import names
    from headcount.local import resources
    from headcount.views.aws import client

    resources.create_stream(1)
    events = [
        {"event_id": "a", "type": "session_start", "player_id": "p-1", "ts": NOW_MS, "attrs": {"country": "DE"}},
        {"type": "session_start", "ts": NOW_MS},  # no player
        {"event_id": "c", "type": "match_end", "player_id": 42, "ts": NOW_MS + 86_400_000},  # tomorrow
        {"event_id": "d", "type": "match_end", "player_id": 42, "ts": NOW_MS - 60_000},
    ]
    status, body = post("/v1/events", {"events": events})
    assert status == 200 and body["accepted"] == 2
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [(1, "bad_player_id"), (2, "ts_in_future")]

    kinesis = client("kinesis")
    shard = kinesis.list_shards(StreamName=names.STREAM)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=names.STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [json.loads(r["Data"])["event_id"] for r in records] == ["a", "d"]
    assert [r["PartitionKey"] for r in records] == ["p-1", "42"] and all(r["Data"].endswith(b"\n") for r in records)


def test_posting_too_much_or_nonsense_is_refused(aws):
    assert post("/v1/events", {"events": [{}] * 501})[0] == 413
    assert post("/v1/events", b"x" * (1024 * 1024 + 1))[0] == 413
    assert post("/v1/events", b"{not json")[0] == 400
    assert post("/v1/events", {"event": []})[0] == 400
    assert post("/v1/events", {"events": []}, {})[0] == 403  # no key passed the gateway
    assert post("/v1/events", {"events": []}, VIEWER)[0] == 403
