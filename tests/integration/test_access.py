"""Who may call what, through the local API Gateway's checks (API Gateway's rules: headcount/access.py) into the real
serve function, on moto's Cognito and API keys: every route × every kind of credential gets its status in the error
envelope, and a request the gateway refuses never reaches the function."""

from __future__ import annotations

import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from headcount import access
from headcount.access import Access
from headcount.local.access import DEMO_KEY
from headcount.views.aws import client
from support.access_gateway import AccessHarness, access_gateway

MOTO_PORT = 29566  # none of the other tests' ports
_names = itertools.count()

# (method, path, body, the resource's access, the status a caller allowed in gets)
ROUTES = [
    ("GET", "/v1/health", None, Access.PUBLIC, 200),
    ("GET", "/", None, Access.PUBLIC, 200),
    ("GET", "/v1/auth/config", None, Access.PUBLIC, 200),
    ("POST", "/v1/events", b'{"events": []}', Access.INGEST, 200),
    ("GET", "/v1/metrics", None, Access.READ, 200),
    ("GET", "/v1/metrics/matches_played?from=today", None, Access.READ, 200),
    ("GET", "/v1/metrics/active_players/distinct?from=today", None, Access.READ, 200),
    ("GET", "/v1/retention/retention?from=today", None, Access.READ, 200),
    ("GET", "/v1/admin/keys", None, Access.ADMIN, 200),
    ("POST", "/v1/admin/keys", "new-key", Access.ADMIN, 201),
    ("DELETE", "/v1/admin/keys/{key}", None, Access.ADMIN, 200),
]
CREDENTIALS = [
    "none",
    "wrong key",
    "prefix of a key",
    "key in another case",
    "revoked key",
    "expired token",
    "token of another pool",
    "forged signature",
    "unsigned token",
    "id token",
    "ingest key",
    "viewer",
    "admin",
    "tool",
    "person without a role",
]


def expected(kind: Access, credential: str, allowed: int) -> int:
    """The table: the status each credential gets on a route of each kind."""
    if kind is Access.PUBLIC:
        return allowed
    if kind is Access.INGEST:
        return allowed if credential == "ingest key" else 403  # API Gateway: INVALID_API_KEY
    if kind is Access.READ:
        if credential in ("viewer", "admin", "tool"):
            return allowed
        return 403 if credential == "person without a role" else 401
    if credential == "admin":
        return allowed
    return 403 if credential in ("viewer", "person without a role") else 401  # a tool's scope is not a person's


def reaches_function(kind: Access, credential: str) -> bool:
    """Whether API Gateway lets the request through to the function (which may still refuse it: the groups)."""
    if kind is Access.PUBLIC:
        return True
    if kind is Access.INGEST:
        return credential == "ingest key"
    people = ("viewer", "admin", "person without a role")
    return credential in people or (kind is Access.READ and credential == "tool")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with access_gateway(tmp_path_factory.mktemp("access"), MOTO_PORT) as harness:
        yield harness


@pytest.fixture(scope="module")
def headers(api: AccessHarness) -> dict[str, dict[str, str]]:
    revoked = _new_key(api)
    assert api.call("DELETE", f"/v1/admin/keys/{revoked[0]}", _bearer(api.admin_token()))[0] == 200
    bearer = {
        "expired token": api.expired_token(),
        "token of another pool": api.other_pool_token(),
        "forged signature": api.forged_token(),
        "unsigned token": api.unsigned_token(),
        "id token": api.id_token(),
        "viewer": api.user("vera", "Viewer-pass-12", access.VIEWER_GROUP),
        "admin": api.admin_token(),
        "tool": api.tool_token(),
        "person without a role": api.user("nobody", "Nobody-pass-12"),
    }
    made = {name: _bearer(token) for name, token in bearer.items()}
    keys = {
        "none": "",
        "wrong key": "x" * 40,
        "prefix of a key": DEMO_KEY[:-1],
        "key in another case": DEMO_KEY.upper(),
        "revoked key": revoked[1],
        "ingest key": DEMO_KEY,
    }
    made |= {name: ({access.API_KEY_HEADER: key} if key else {}) for name, key in keys.items()}
    time.sleep(11)  # the gateway reads the keys again every 10 s: the revoked one is refused from now on
    return made


def _bearer(token: str) -> dict[str, str]:
    return {access.AUTHORIZATION_HEADER: f"Bearer {token}"}


def _new_key(api: AccessHarness) -> tuple[str, str]:
    name = f"k{next(_names)}"
    status, body = api.call("POST", "/v1/admin/keys", _bearer(api.admin_token()), json.dumps({"name": name}).encode())
    assert status == 201, body
    return name, body["value"]


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize(("method", "path", "body", "kind", "allowed"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_every_route_gives_every_credential_its_status(api, headers, method, path, body, kind, allowed, credential):
    # Given a route, and a request with one kind of credential
    if path.endswith("{key}"):
        path = path.format(key=_new_key(api)[0])
    if body == "new-key":
        body = json.dumps({"name": f"k{next(_names)}"}).encode()
    before = api.gateway.invocations
    # When it is sent
    status, answer = api.call(method, path, headers[credential], body)
    # Then its status is the table's, an error in the envelope, and the function ran only if the gateway let it in
    assert status == expected(kind, credential, allowed), answer
    if status >= 400:
        assert set(answer) == {"error"} and answer["error"]["code"] and answer["error"]["message"]
    assert (api.gateway.invocations > before) == reaches_function(kind, credential)


def test_an_unknown_route_is_404_before_any_function_and_an_unknown_method_405_after_the_credential(api):
    before = api.gateway.invocations
    for method, path in (("GET", "/v1/nope"), ("DELETE", "/v1/nope/deeper"), ("GET", "/oauth"), ("GET", "/v1/admin")):
        status, answer = api.call(method, path)
        assert status == 404 and answer["error"]["code"] == "not_found"
    assert api.gateway.invocations == before
    assert api.call("PUT", "/v1/metrics")[0] == 401  # the credential first: nothing shows without it
    status, answer = api.call("PUT", "/v1/metrics", _bearer(api.admin_token()))
    assert status == 405 and answer["error"]["code"] == "method_not_allowed"


def test_a_revoked_key_is_refused_within_a_minute(api):
    # Given a key a game build sends events with
    name, value = _new_key(api)
    post = lambda: api.call("POST", "/v1/events", {access.API_KEY_HEADER: value}, b'{"events": []}')[0]  # noqa: E731
    deadline = time.monotonic() + 60
    while post() != 200:  # a new key is taken within the gateway's refresh too
        assert time.monotonic() < deadline
        time.sleep(0.5)
    # When an admin revokes it
    assert api.call("DELETE", f"/v1/admin/keys/{name}", _bearer(api.admin_token()))[1]["enabled"] is False
    revoked = time.monotonic()
    # Then it is refused within 60 s, and listed as revoked
    while post() != 403:
        assert time.monotonic() - revoked < 60, "still let in a minute after it was revoked"
        time.sleep(0.5)
    keys = api.call("GET", "/v1/admin/keys", _bearer(api.admin_token()))[1]["keys"]
    assert [k["enabled"] for k in keys if k["name"] == name] == [False]
    assert all("value" not in k for k in keys)  # a key's value is never shown again


def test_a_flood_from_one_key_is_throttled_while_another_key_and_the_dashboard_are_served(api):
    # Given two builds' keys, and the plan's limits (each key's own) lowered to 5 requests a second, burst 5
    plan = client("apigateway")
    flooder, other = _new_key(api)[1], _new_key(api)[1]
    viewer = _bearer(api.user("vera", "Viewer-pass-12", access.VIEWER_GROUP))
    limits = [("/throttle/rateLimit", "5"), ("/throttle/burstLimit", "5")]
    plan.update_usage_plan(
        usagePlanId=api.access.usage_plan_id,
        patchOperations=[{"op": "replace", "path": p, "value": v} for p, v in limits],
    )
    try:
        time.sleep(11)  # the gateway reads the plan again
        # When one key sends 40 requests at once (8 at a time)
        with ThreadPoolExecutor(8) as senders:
            statuses = list(
                senders.map(
                    lambda _: api.call("POST", "/v1/events", {access.API_KEY_HEADER: flooder}, b'{"events": []}')[0],
                    range(40),
                )
            )
        # Then most are throttled (429 in the envelope), and meanwhile the other key and the dashboard's reads are served
        assert statuses.count(429) >= 25 and statuses.count(200) >= 5
        assert api.call("POST", "/v1/events", {access.API_KEY_HEADER: other}, b'{"events": []}')[0] == 200
        assert api.call("GET", "/v1/metrics", viewer)[0] == 200
    finally:
        restore = [
            ("/throttle/rateLimit", f"{access.INGEST_RATE_LIMIT:g}"),
            ("/throttle/burstLimit", str(access.INGEST_BURST_LIMIT)),
        ]
        plan.update_usage_plan(
            usagePlanId=api.access.usage_plan_id,
            patchOperations=[{"op": "replace", "path": p, "value": v} for p, v in restore],
        )


def test_a_tool_reads_with_client_credentials_and_a_wrong_secret_gets_no_token(api):
    token = api.tool_token()
    assert api.call("GET", "/v1/metrics", _bearer(token))[0] == 200
    status, answer = api.call(
        "POST",
        "/oauth2/token",
        {"Content-Type": "application/x-www-form-urlencoded"},
        f"grant_type=client_credentials&client_id={api.access.tools_client_id}&client_secret=wrong".encode(),
    )
    assert (status, answer) == (400, {"error": "invalid_client"})
