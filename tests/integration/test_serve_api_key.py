"""The API key is compared whole: through the serve handler's public entry, on API Gateway proxy events, anything but
the exact key is a 403 (a prefix, a longer string, another case, an empty header), on every kind of route."""

import json

import pytest
from headcount.functions.serve import handler as serve

from headcount.local.esm import LocalLambdaContext
from headcount.local.gateway import proxy_event

THE_KEY = "local-dev-key"  # Settings.api_key when HEADCOUNT_API_KEY is unset (tests/conftest.py unsets it)
NOW_MS = 1_795_000_000_000  # every request is received at 2026-11-18T11:06:40Z (requestTimeEpoch)
NOT_THE_KEY = [
    pytest.param("l", id="one-letter-prefix"),
    pytest.param(THE_KEY[:-1], id="all-but-the-last-letter"),
    pytest.param(THE_KEY + "x", id="longer"),
    pytest.param(" " + THE_KEY, id="leading-space"),
    pytest.param(THE_KEY.upper(), id="upper-case"),
    pytest.param("Local-dev-key", id="one-letter-in-another-case"),
    pytest.param("", id="empty"),
]
ROUTES = [("GET", "/v1/metrics"), ("GET", "/v1/metrics/nope"), ("POST", "/v1/events")]


@pytest.fixture(autouse=True)
def _fresh_runtime():
    """Whatever the handler module caches (settings, clients) is built again inside this test's moto."""
    cached = [value for value in vars(serve).values() if callable(getattr(value, "cache_clear", None))]
    for function in cached:
        function.cache_clear()
    yield
    for function in cached:
        function.cache_clear()


def call(method, path, headers):
    body = b'{"events": []}' if method == "POST" else b""
    event = proxy_event(method, path, headers, body, NOW_MS)
    response = serve.handler(event, LocalLambdaContext("serve", "r", "arn:x"))
    return response["statusCode"], json.loads(response["body"])


def test_the_exact_key_is_let_in(aws):
    # Given the key the API holds
    # When the catalog is asked for with it, the header's name in any case
    # Then it answers
    assert call("GET", "/v1/metrics", {"x-api-key": THE_KEY})[0] == 200
    assert call("GET", "/v1/metrics", {"X-Api-Key": THE_KEY})[0] == 200


@pytest.mark.parametrize("given", NOT_THE_KEY)
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anything_but_the_exact_key_is_forbidden(aws, method, path, given):
    # Given a request whose x-api-key header is close to the key but not it
    headers = {"x-api-key": given}
    # When it reaches the handler
    status, body = call(method, path, headers)
    # Then it is refused before its route says anything
    assert status == 403, f"{given!r} got {status}"
    assert body["error"]["code"] == "forbidden"
