"""Who may call: API Gateway has checked the key or the token before this function runs (headcount/access.py); the
function checks again what API Gateway passed it, and decides what only it can: the groups. It fails closed: without
its auth settings, or without what the gateway should have passed, it refuses."""

from __future__ import annotations

import json
import os

from headcount import access, names
from headcount.access import Access
from headcount.settings import Settings

NO_ROLE = "your account has no headcount role: ask an admin to add you to the viewer group"


def refusal(kind: Access, context: dict, issuer: str) -> tuple[int, str, str] | None:
    """Why a request of this kind, with this requestContext, may not go on (status, code, message); None if it may."""
    if kind is Access.PUBLIC:
        return None
    if kind is Access.INGEST:
        if not (context.get("identity") or {}).get("apiKeyId"):
            return 403, "forbidden", "POST /v1/events needs a valid ingest key in x-api-key"
        return None
    claims = (context.get("authorizer") or {}).get("claims") or {}
    if claims.get("iss") != issuer:
        return 401, "unauthorized", "this route needs a valid token of the stack's user pool"
    groups = access.groups_of(claims)
    if kind is Access.ADMIN:
        return None if access.ADMIN_GROUP in groups else (403, "forbidden", "this route is for the admin group only")
    if groups & set(access.GROUPS) or access.READ_SCOPE in access.scopes_of(claims):
        return None
    return 403, "no_role", NO_ROLE


def refused(event: dict, settings: Settings) -> dict | None:
    """The answer to a request that may not go on (a proxy response, in the error envelope), or None. First of all,
    before the routes' parameters are validated (Powertools validates them before any middleware) and before 404 and
    405: nothing about the API shows to a caller who may not call it."""
    if not settings.auth_configured:
        return _answer(
            500,
            "auth_not_configured",
            "the API's auth settings are missing (HEADCOUNT_USER_POOL_ID, HEADCOUNT_USER_POOL_CLIENT_ID, "
            "HEADCOUNT_INGEST_USAGE_PLAN): it refuses every request",
        )
    resource = access.resource_for(event.get("path") or "")
    if resource is None:  # API Gateway routes nothing else here
        return _answer(404, "not_found", "no such route")
    pool_issuer = access.issuer(os.environ.get("AWS_REGION") or names.REGION, settings.user_pool_id or "")
    denied = refusal(resource.access, event.get("requestContext") or {}, pool_issuer)
    return _answer(*denied) if denied is not None else None


def _answer(status: int, code: str, message: str) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": {"code": code, "message": message}}),
        "isBase64Encoded": False,
    }
