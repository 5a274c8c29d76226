"""The API sender (headcount/local/api_client.py) against a fake `POST /v1/events` on 127.0.0.1: every event arrives
once, in requests within the API's limits, the throttled ones resent, the rejected ones reported and never resent."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from headcount.local.api_client import (
    ApiRefused,
    ApiUnavailable,
    EventSender,
    api_events,
    plan_requests,
    request_body,
)
from headcount.logic.ingest import MAX_BODY_BYTES, MAX_EVENTS

KEY = "test-key"


class FakeApi:
    """`POST /v1/events` as the API answers it: the limits (413), the key (403), a validator (a non-object is
    `not_object`, type "Bad" is `bad_type`), the stream's outcomes scripted: events whose ids are in `throttle` are
    `stream_throttled` the first time, those in `unconfirmed` are `stream_unconfirmed` (and in), the requests numbered
    in `unavailable` are a 503 `stream_unavailable` (none in) and those in `drop` close the connection unanswered."""

    def __init__(
        self,
        throttle: set[str] = frozenset(),
        unconfirmed: set[str] = frozenset(),
        unavailable: set[int] = frozenset(),
        drop: set[int] = frozenset(),
    ) -> None:
        self.throttle, self.unconfirmed, self.unavailable, self.drop = set(throttle), unconfirmed, unavailable, drop
        self.arrived: Counter[str] = Counter()  # event ids in the "stream"
        self.seen: Counter[str] = Counter()  # event ids in any request the fake read
        self.requests: list[tuple[int, int]] = []  # (events, body bytes) of each request with the right key
        self.posts = 0  # every request
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, answer = fake.answer(self.path, self.headers.get("x-api-key"), body)
                if status is None:
                    self.close_connection = True  # gone without a word
                    return
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, path: str, key: str | None, body: bytes) -> tuple[int | None, dict]:
        with self.lock:
            self.posts += 1
            number = len(self.requests) + 1
            if path != "/v1/events":
                return 404, {"error": {"code": "not_found", "message": "no such route"}}
            if key != KEY:
                return 403, {"error": {"code": "forbidden", "message": "missing or wrong x-api-key header"}}
            events = json.loads(body)["events"]
            self.requests.append((len(events), len(body)))
            if len(body) > MAX_BODY_BYTES or len(events) > MAX_EVENTS:
                return 413, {"error": {"code": "too_large", "message": "too large"}}
            if number in self.drop:
                return None, {}
            if number in self.unavailable:
                return 503, {"error": {"code": "stream_unavailable", "message": "the stream refused all"}}
            accepted, rejected = 0, []
            for index, event in enumerate(events):
                if not isinstance(event, dict):
                    rejected.append({"index": index, "reason": "not_object", "detail": "not an object"})
                    continue
                self.seen[event["event_id"]] += 1
                if event["type"] == "Bad":
                    rejected.append({"index": index, "reason": "bad_type", "detail": "bad type"})
                elif event["event_id"] in self.throttle:
                    self.throttle.discard(event["event_id"])
                    rejected.append({"index": index, "reason": "stream_throttled", "detail": "send it again"})
                elif event["event_id"] in self.unconfirmed:
                    self.arrived[event["event_id"]] += 1  # it is in, though the API could not say so
                    rejected.append({"index": index, "reason": "stream_unconfirmed", "detail": "may be in"})
                else:
                    self.arrived[event["event_id"]] += 1
                    accepted += 1
            return 200, {"accepted": accepted, "rejected": rejected}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_api():
    started: list[FakeApi] = []

    def start(**script: set) -> FakeApi:
        started.append(FakeApi(**script))
        return started[-1]

    yield start
    for api in started:
        api.stop()


def event(i: int, kind: str = "match_end", pad: int = 0) -> bytes:
    doc = {"event_id": f"e-{i}", "type": kind, "player_id": f"p-{i % 97}", "ts": 1_764_000_000_000 + i}
    if pad:
        doc["attrs"] = {"pad": "x" * pad}
    return json.dumps(doc).encode()


def test_every_event_arrives_once_the_throttled_resent_and_the_rejected_reported_not_resent(fake_api) -> None:
    # Given 2,600 events, every 100th a bad type and 3 not objects at all; an API that throttles 40 events the first
    # time they come, cannot confirm 2, answers the 2nd request with a 503 and drops the 4th without an answer
    values = [event(i, "Bad" if i % 100 == 7 else "match_end") for i in range(2_600)] + [b'"junk"', b"[1]", b"2"]
    throttled = {f"e-{i}" for i in range(0, 2_600, 65)}
    api = fake_api(throttle=throttled, unconfirmed={"e-1001", "e-2002"}, unavailable={2}, drop={4})
    sleeps: list[float] = []
    progress: list[int] = []
    sender = EventSender(api.url, KEY, threads=4, sleep=sleeps.append, progress=progress.append)

    # When they are sent
    report = sender.send(values)

    # Then each valid event is in the stream exactly once, the unconfirmed ones included (not resent)
    valid = {f"e-{i}" for i in range(2_600) if i % 100 != 7}
    assert set(api.arrived) == valid and set(api.arrived.values()) == {1}
    # the throttled ones were sent again, once each; the rejected ones never (the fake reads no event of a request it
    # answers 503 or drops)
    assert report.resent_throttled == len(throttled) == 40 and {api.seen[e] for e in throttled} == {2}
    bad = {f"e-{i}" for i in range(2_600) if i % 100 == 7}
    assert {api.seen[e] for e in bad} == {1}
    assert report.rejected == Counter({"bad_type": 26, "not_object": 3})
    assert report.unconfirmed == 2 and report.accepted == len(valid) - 2
    assert report.resent_not_taken == api.requests[1][0] and report.resent_unanswered == api.requests[3][0]
    # and every request kept the API's limits
    assert all(n <= MAX_EVENTS and size <= MAX_BODY_BYTES for n, size in api.requests)
    assert report.requests == len(api.requests) and report.done == report.events == len(values)
    # with short backoffs between the attempts, and progress up to every event
    assert len(sleeps) == 2 + len({i // 500 for i in range(0, 2_600, 65)}) and max(sleeps) <= 2.0
    assert progress and progress[-1] == len(values) and progress == sorted(progress)
    assert "2,603 events" in report.summary() and "bad_type 26, not_object 3" in report.summary()


def test_requests_stay_within_1_mib_when_the_events_are_large(fake_api) -> None:
    # Given 700 events of about 3 KB (500 of them would be 1.5 MB) and one larger than any request may be
    values = [event(i, pad=3_000) for i in range(700)]
    values.insert(350, event(9_999, pad=MAX_BODY_BYTES))
    api = fake_api()
    # When they are sent
    report = EventSender(api.url, KEY, threads=2, sleep=lambda _: None).send(values)
    # Then every request is at most 1 MiB (the fake API answers 413 beyond), and every event but the huge one arrived
    assert all(size <= MAX_BODY_BYTES for _, size in api.requests) and len(api.requests) == 3
    assert set(api.arrived) == {f"e-{i}" for i in range(700)} and set(api.arrived.values()) == {1}
    assert report.accepted == 700 and report.unsendable == 1


def test_the_plan_cuts_at_500_events_and_at_1_mib_exactly() -> None:
    assert [len(batch) for batch in plan_requests([event(i) for i in range(1_001)])[0]] == [500, 500, 1]
    # an event that fills a body to the byte still fits, one byte more does not
    fits = b'"' + b"x" * (MAX_BODY_BYTES - len(request_body([b'""']))) + b'"'
    assert len(request_body([fits])) == MAX_BODY_BYTES
    assert plan_requests([fits, b"1", fits + b" "]) == ([[0], [1]], [2])
    # two halves that fit together to the byte share a request; one byte more and they do not
    half = b"1" * ((MAX_BODY_BYTES - len(request_body([b"", b""]))) // 2)
    assert len(request_body([half, half])) == MAX_BODY_BYTES
    assert plan_requests([half, half])[0] == [[0, 1]] and plan_requests([half, half + b"11"])[0] == [[0], [1]]


def test_an_api_that_never_takes_the_events_fails_clearly_after_bounded_attempts(fake_api) -> None:
    # Given an API whose stream is always unavailable
    api = fake_api(unavailable=set(range(1, 1_000)))
    sleeps: list[float] = []
    sender = EventSender(api.url, KEY, threads=1, attempts=5, sleep=sleeps.append)
    # When events are sent, Then it gives up after 5 requests, saying what was not delivered
    with pytest.raises(ApiUnavailable, match=r"did not take 3 events in 5 attempts.*503 stream_unavailable.*3 not"):
        sender.send([event(i) for i in range(3)])
    assert len(api.requests) == 5 and not api.arrived
    assert len(sleeps) == 4 and sleeps == sorted(sleeps) and sleeps[0] <= 0.05  # short, growing (jitter below ×2)


def test_the_backoff_is_capped(fake_api) -> None:
    api = fake_api(unavailable=set(range(1, 1_000)))
    sleeps: list[float] = []
    sender = EventSender(api.url, KEY, threads=1, attempts=8, backoff_s=0.5, max_backoff_s=2.0, sleep=sleeps.append)
    with pytest.raises(ApiUnavailable):
        sender.send([event(1)])
    assert len(sleeps) == 7 and max(sleeps) <= 2.0 and sum(sleeps) >= 0.5 * (0.5 + 1 + 2 * 5)


def test_no_api_at_all_fails_after_bounded_attempts(fake_api) -> None:
    api = fake_api()
    api.stop()  # nothing listens on its port any more
    with pytest.raises(ApiUnavailable, match="no answer"):
        EventSender(api.url, KEY, attempts=3, sleep=lambda _: None).send([event(1)])


def test_a_wrong_key_is_an_error_at_once_never_retried(fake_api) -> None:
    api = fake_api()
    with pytest.raises(ApiRefused, match="403 forbidden"):
        EventSender(api.url, "wrong", threads=1, sleep=lambda _: None).send([event(i) for i in range(3)])
    assert api.posts == 1  # one request of the 3 events, not sent again


def test_records_become_json_values_verbatim_and_non_json_lines_json_strings() -> None:
    records = [
        (b'{"type":"a","type":"b"}\n', "k"),  # a repeated key reaches the validator as sent
        (b'{"type": "session_start", "ts": ', "junk"),  # not JSON, no newline
        (b'{"a":1}\n{"b":2}\n', "k"),  # a record of two lines: two events
        (b"\n", "k"),  # an empty line holds no event
    ]
    events = api_events(records)
    assert events.values == [
        b'{"type":"a","type":"b"}',
        b'"{\\"type\\": \\"session_start\\", \\"ts\\": "',
        b'{"a":1}',
        b'{"b":2}',
    ]
    assert events.as_strings == 1
    assert json.loads(request_body(events.values))["events"][1] == '{"type": "session_start", "ts": '
