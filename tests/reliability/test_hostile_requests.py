"""Every method on every route, and bodies that are not text, through the local API Gateway into the real serve
function: each answer is the error envelope with the right status, never a 5xx and never an HTML page."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from headcount.local.access import DEMO_KEY
from support.access_gateway import AccessHarness, access_gateway

MOTO_PORT = 29567  # none of the other tests' ports
NOT_UTF8 = b'{"events": [{"type": "session_start", "player_id": "\xff\xfe", "ts": 1}]}'


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with access_gateway(tmp_path_factory.mktemp("api"), MOTO_PORT) as harness:
        yield harness


@pytest.fixture(scope="module")
def admitted(api: AccessHarness) -> dict[str, str]:
    """Both credentials: an admin's token (every read and admin route) and the demo's ingest key (events)."""
    return {"Authorization": f"Bearer {api.admin_token()}", "x-api-key": DEMO_KEY}


def call(api: AccessHarness, method: str, path: str, body: bytes | None = None, headers=None) -> tuple[int, dict]:
    request = urllib.request.Request(api.gateway.url + path, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", ["/v1/metrics", "/v1/metrics/active_players", "/v1/events", "/v1/health"])
def test_a_method_a_route_does_not_have_is_405_after_the_credential_check(api, admitted, method: str, path: str):
    # Without a credential, every route but health is refused first, by the gateway
    status, body = call(api, method, path)
    if path == "/v1/health":
        assert status == 405 and body["error"]["code"] == "method_not_allowed"
    else:
        assert (status, body["error"]["code"]) in {(403, "forbidden"), (401, "unauthorized")}
    # With it, the route exists but not for this method
    status, body = call(api, method, path, headers=admitted)
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    assert method in body["error"]["message"]


def test_an_unknown_path_is_404_in_the_envelope_for_any_method(api) -> None:
    for method in ("GET", "PUT", "DELETE"):
        status, body = call(api, method, "/v1/nope")
        assert status == 404 and body["error"]["code"] == "not_found"


def test_a_body_that_is_not_utf8_is_a_400(api, admitted) -> None:
    status, body = call(api, "POST", "/v1/events", NOT_UTF8, admitted)
    assert status == 400 and body["error"]["code"] == "bad_request" and "not JSON" in body["error"]["message"]


def test_too_many_bytes_that_are_not_utf8_are_a_413(api, admitted) -> None:
    # 3 MiB of such bytes: the size is checked on the bytes, before anything decodes them
    status, body = call(api, "POST", "/v1/events", b"\xff" * (3 * 1024 * 1024), admitted)
    assert status == 413 and body["error"]["code"] == "too_large"


def test_head_is_a_method_like_the_others_and_its_answer_has_no_body(api) -> None:
    request = urllib.request.Request(api.gateway.url + "/v1/health", method="HEAD")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET" and refused.value.read() == b""


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + b'{"events": []}',  # a byte-order mark
        b'{"events": [{"type": "session_start", "player_id": "a\x00", "ts": 1}]}',  # a raw NUL in a string
        b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # nested far deeper than any parser goes
        b'{"events": [{"type": "session_start", "player_id": "a", "ts": NaN}]}',
        b'{"events": [{"ts": Infinity}]}',
        b"   ",
        b"",
        b'{"events": {"0": {}}}',  # events not a list
        b"[]",
    ],
)
def test_a_hostile_body_is_a_400_in_the_envelope(api, admitted, body: bytes) -> None:
    status, answer = call(api, "POST", "/v1/events", body, admitted)
    assert status == 400 and answer["error"]["code"] == "bad_request"
