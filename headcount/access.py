"""Who may call what: the API's resources, the credential each one needs, and the answers API Gateway gives before any
function runs. One table, read by the CDK app (infra/serving.py: a method per resource, with its Cognito authorizer or
its key requirement), by the local gateway (headcount/local/gateway.py enforces it as API Gateway does) and by the
serve function (functions/serve/access.py checks again what the gateway passed it, and fails closed).

- Game clients and servers send events with an ingest key (`x-api-key`): API Gateway API keys of the stack's usage
  plan, each with its own throttle and quota (the plan's limits apply per key), revoked by disabling them
  (`headcount keys`). An ingest key opens `POST /v1/events` and nothing else.
- People sign in to the stack's Cognito user pool: `viewer`s read, `admin`s also manage (`/v1/admin/…`). Tools read
  with a token of the pool's machine client (client credentials, scope `headcount/read`), never a person's password.
- The pages and health hold no data and need nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Access(StrEnum):
    PUBLIC = "public"  # the pages, health, the sign-in settings: no data
    INGEST = "ingest"  # an ingest key (x-api-key) of the stack's usage plan
    READ = "read"  # a token of the stack's user pool: a person in `viewer` or `admin`, or a tool with READ_SCOPE
    ADMIN = "admin"  # a person's token, in `admin`


VIEWER_GROUP, ADMIN_GROUP = "viewer", "admin"
GROUPS = (VIEWER_GROUP, ADMIN_GROUP)
RESOURCE_SERVER = "headcount"  # the user pool's resource server (its identifier); tools get its `read` scope
READ_SCOPE = f"{RESOURCE_SERVER}/read"
USER_SCOPE = "aws.cognito.signin.user.admin"  # the scope of every token a person gets by signing in (InitiateAuth)
SCOPES = {  # the scopes a method's Cognito authorizer takes, any one of them (API Gateway: access tokens only)
    Access.READ: (USER_SCOPE, READ_SCOPE),
    Access.ADMIN: (USER_SCOPE,),
}
API_KEY_HEADER = "x-api-key"
AUTHORIZATION_HEADER = "Authorization"  # `Bearer <access token>` (or the bare token, as API Gateway takes it too)

# Each ingest key's own limits (the usage plan's: API Gateway applies them to every key on its own). The reference load
# is 100 events/s from all clients; a key is a platform, a build or a server fleet, posting up to 500 events a request.
INGEST_RATE_LIMIT = 100.0  # requests per second, per key
INGEST_BURST_LIMIT = 200
INGEST_QUOTA_PER_DAY = 2_000_000  # requests per key and UTC day
# The stage's method throttles: reads and writes each their own, so neither can starve the other.
READ_RATE_LIMIT, READ_BURST_LIMIT = 100.0, 200
INGEST_METHOD_RATE_LIMIT, INGEST_METHOD_BURST_LIMIT = 1000.0, 2000
WAF_REQUESTS_PER_5_MINUTES = 150_000  # per client address (500/s): above any one client or server fleet behind one
# address (a key may send 100/s, bursts of 200), below a flood: the rate-based rule of the stage's web ACL


@dataclass(frozen=True)
class Resource:
    """A resource of the REST API: `{proxy+}` takes the rest of the path (API Gateway's greedy variable)."""

    path: str
    access: Access
    methods: tuple[str, ...] = ("ANY",)

    def matches(self, path: str) -> bool:
        if self.path.endswith("/{proxy+}"):
            parent = self.path.removesuffix("{proxy+}")
            return path.startswith(parent) and len(path) > len(parent)
        return path == self.path

    def allows(self, method: str) -> bool:
        return "ANY" in self.methods or method in self.methods


# Every resource takes any method (ANY): a method a route does not have reaches the function only with the route's
# credential, and is answered 405 with `Allow` there.
RESOURCES = (
    Resource("/", Access.PUBLIC),
    Resource("/dashboard/{proxy+}", Access.PUBLIC),
    Resource("/v1/health", Access.PUBLIC),
    Resource("/v1/openapi.json", Access.PUBLIC),
    Resource("/v1/docs", Access.PUBLIC),
    Resource("/v1/auth/config", Access.PUBLIC),
    Resource("/v1/events", Access.INGEST),
    Resource("/v1/metrics", Access.READ),
    Resource("/v1/metrics/{proxy+}", Access.READ),
    Resource("/v1/retention/{proxy+}", Access.READ),
    Resource("/v1/admin/{proxy+}", Access.ADMIN),
)


def resource_for(path: str) -> Resource | None:
    """The resource API Gateway would route `path` (without the stage) to: an exact one first, else the deepest
    `{proxy+}`; None when there is none (API Gateway's MISSING_AUTHENTICATION_TOKEN, answered 404 here)."""
    exact = [r for r in RESOURCES if not r.path.endswith("{proxy+}") and r.matches(path)]
    if exact:
        return exact[0]
    greedy = sorted(
        (r for r in RESOURCES if r.path.endswith("{proxy+}") and r.matches(path)), key=lambda r: -len(r.path)
    )
    return greedy[0] if greedy else None


@dataclass(frozen=True)
class GatewayAnswer:
    """A gateway response, in the API's error envelope: what API Gateway answers when it refuses a request itself."""

    status: int
    code: str
    message: str

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


GATEWAY_RESPONSES = {  # API Gateway's response types we answer ourselves, by type
    "UNAUTHORIZED": GatewayAnswer(
        401,
        "unauthorized",
        "this route needs a valid token of the stack's user pool (Authorization: Bearer <access token>): sign in, or "
        "use a tool's client credentials; an ingest key only sends events",
    ),
    "INVALID_API_KEY": GatewayAnswer(
        403, "forbidden", "POST /v1/events needs a valid ingest key in x-api-key (missing, unknown or revoked)"
    ),
    "ACCESS_DENIED": GatewayAnswer(403, "forbidden", "access denied"),
    "MISSING_AUTHENTICATION_TOKEN": GatewayAnswer(404, "not_found", "no such route, or not with this method"),
    "THROTTLED": GatewayAnswer(429, "throttled", "too many requests: slow down, then send again"),
    "QUOTA_EXCEEDED": GatewayAnswer(429, "quota_exceeded", "this ingest key's requests for the day are used up"),
    "WAF_FILTERED": GatewayAnswer(403, "blocked", "too many requests from this address: wait, then send again"),
    "REQUEST_TOO_LARGE": GatewayAnswer(413, "too_large", "request body exceeds 10 MiB"),
    "AUTHORIZER_FAILURE": GatewayAnswer(500, "authorizer_failure", "the credential could not be checked: retry"),
}


def groups_of(claims: dict) -> set[str]:
    """The `cognito:groups` claim as API Gateway's REST Cognito authorizer passes it (a string: one group, or several
    as `[a, b]` / `a,b`), or as the token holds it (a list)."""
    value = claims.get("cognito:groups") or ""
    if isinstance(value, list):
        return {str(v) for v in value}
    return {g for g in re.split(r"[\s,\[\]]+", str(value)) if g}


def scopes_of(claims: dict) -> set[str]:
    return set(str(claims.get("scope") or "").split())


def issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
