"""Credentials for tests: what API Gateway passes the serve function once a request has passed its checks (an
in-process handler has no gateway in front of it), and the auth settings a stack gives the function."""

from __future__ import annotations

from headcount import access, names
from headcount.local.gateway import unstaged

POOL_ID = "us-east-1_TestPool1"
FUNCTION_AUTH = {  # the serve function's auth settings (headcount/settings.py), as a stack gives them
    "HEADCOUNT_USER_POOL_ID": POOL_ID,
    "HEADCOUNT_USER_POOL_CLIENT_ID": "test-dashboard-client",
    "HEADCOUNT_INGEST_USAGE_PLAN": names.DEFAULT_NAMES.ingest_usage_plan,
}


def signed_in(*groups: str, scope: str = access.USER_SCOPE, pool_id: str = POOL_ID) -> dict:
    """A token's claims as API Gateway's Cognito authorizer passes them (strings; groups joined)."""
    claims = {
        "iss": access.issuer(names.REGION, pool_id),
        "token_use": "access",
        "scope": scope,
        "sub": "test-user",
        **({"cognito:groups": ",".join(groups)} if groups else {}),
    }
    return {"authorizer": {"claims": claims}}


VIEWER = signed_in(access.VIEWER_GROUP)
ADMIN = signed_in(access.ADMIN_GROUP)
TOOL = signed_in(scope=access.READ_SCOPE)
INGEST = {"identity": {"apiKey": "test-ingest-key-0123456789", "apiKeyId": "testkey01"}}


def admitted(method: str, path: str) -> dict:
    """The context of a request that passed the gateway's checks for its route: a viewer's token for reads, an admin's
    for admin routes, an ingest key for events, nothing for the public pages."""
    resource = access.resource_for(unstaged(path))
    kind = resource.access if resource is not None else access.Access.PUBLIC
    context = {
        access.Access.PUBLIC: {},
        access.Access.INGEST: INGEST,
        access.Access.READ: VIEWER,
        access.Access.ADMIN: ADMIN,
    }[kind]
    return {**context, **({"resourcePath": resource.path} if resource is not None else {})}


def gateway_refusal(method: str, path: str, headers: dict[str, str]) -> access.GatewayAnswer | None:
    """API Gateway's answer to a request without any value in the header its route's credential goes in."""
    resource = access.resource_for(unstaged(path))
    if resource is None or not resource.allows(method):
        return access.GATEWAY_RESPONSES["MISSING_AUTHENTICATION_TOKEN"]
    given = {name.lower() for name, value in headers.items() if value}
    if resource.access is access.Access.INGEST and access.API_KEY_HEADER not in given:
        return access.GATEWAY_RESPONSES["INVALID_API_KEY"]
    if resource.access in (access.Access.READ, access.Access.ADMIN) and "authorization" not in given:
        return access.GATEWAY_RESPONSES["UNAUTHORIZED"]
    return None
