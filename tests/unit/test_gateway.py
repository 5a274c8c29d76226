"""The local API Gateway: HTTP requests become REST proxy events for a handler in its own processes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from headcount.local.gateway import LocalApiGateway

RECEIVED = 1_795_000_000.25  # the gateway's clock: 2026-11-18T11:06:40.250Z


@pytest.fixture
def gateway(tmp_path):
    api = LocalApiGateway(
        "support.gateway_function.handler", 0, str(tmp_path / "serve.log"), {}, instances=1, clock=lambda: RECEIVED
    )
    api.start()
    yield api
    api.stop()


def call(api: LocalApiGateway, path: str, body: bytes | None = None) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(api.url + path, data=body), timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_a_request_becomes_a_proxy_event_and_the_answer_a_response(gateway) -> None:
    status, headers, body = call(gateway, "/dashboard/things?a=1&b=2", b'{"x": 1}')
    assert status == 201 and headers["x-echo"] == "yes"
    assert body["path"] == "/dashboard/things" and body["query"] == {"a": "1", "b": "2"} and body["body"] == '{"x": 1}'
    assert body["received_ms"] == 1_795_000_000_250  # requestTimeEpoch, from the gateway's clock


def test_a_dead_function_process_answers_502_and_fresh_ones_serve_the_next_requests(gateway) -> None:
    # Given a function instance that answers
    _, _, first = call(gateway, "/dashboard/pid")
    # When its process dies during an invocation
    status, _, body = call(gateway, "/dashboard/crash")
    # Then that request gets API Gateway's 502, and the next ones are served by a fresh instance
    assert status == 502 and body == {"message": "Internal server error"}
    status, _, after = call(gateway, "/dashboard/pid")
    assert status == 201 and after["pid"] != first["pid"]


def test_without_its_access_checks_the_gateway_lets_only_public_resources_through(gateway) -> None:
    for path, answer in (("/v1/metrics", 401), ("/v1/events", 403), ("/v1/nope", 404)):
        status, _, body = call(gateway, path)
        assert status == answer and set(body) == {"error"}
    assert gateway.invocations == 0
