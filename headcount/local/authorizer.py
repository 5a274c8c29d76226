"""What API Gateway checks before it invokes the serve function, done by the local gateway (gateway.py) as API Gateway
does it, against the local AWS (moto): the rules are headcount/access.py's.

- Ingest keys: the usage plan's API keys, read from moto (API Gateway's own store) and read again every
  KEYS_REFRESH_S, so a revoked key is refused within that; each key has its own token bucket (the plan's rate and burst)
  and its own quota per UTC day, as API Gateway applies a usage plan's limits to every key.
- Tokens: a Cognito user pool authorizer: the JWT's RS256 signature against the pool's signing keys (moto serves the
  JWKS, as Cognito does), its issuer (this pool), `token_use` access, its expiry, and at least one of the method's
  scopes. The claims go to the function as API Gateway's REST authorizer passes them: every value a string.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from headcount import access, names
from headcount.views.aws import client
from headcount.views.ingest_keys import usage_plan_named

KEYS_REFRESH_S = 10.0  # API Gateway applies a disabled key within about 10 s; headcount promises 60 s


@dataclass
class Refusal(Exception):  # noqa: N818 - a gateway answer, not an error of the gateway
    response_type: str  # a key of access.GATEWAY_RESPONSES


@dataclass
class _Bucket:
    tokens: float
    at: float
    day: int = -1
    used: int = 0


@dataclass
class _Keys:
    by_value: dict[str, tuple[str, bool]] = field(default_factory=dict)  # value -> (key id, enabled)
    rate: float = access.INGEST_RATE_LIMIT
    burst: int = access.INGEST_BURST_LIMIT
    quota: int | None = access.INGEST_QUOTA_PER_DAY
    read_at: float = float("-inf")


class IngestKeyCheck:
    """API Gateway's API key requirement with the stack's usage plan (by name, so a moto restart that made it again
    under a new id changes nothing)."""

    def __init__(self, plan_name: str, clock: Callable[[], float] = time.time) -> None:
        self.plan_name, self.clock = plan_name, clock
        self._keys = _Keys()
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, value: str | None) -> str:
        """The key's id, or a Refusal: INVALID_API_KEY, THROTTLED or QUOTA_EXCEEDED."""
        keys = self._current()
        found = keys.by_value.get(value or "")
        if found is None or not found[1]:
            raise Refusal("INVALID_API_KEY")
        key_id, now = found[0], self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(key_id, _Bucket(float(keys.burst), now))
            bucket.tokens = min(float(keys.burst), bucket.tokens + (now - bucket.at) * keys.rate)
            bucket.at = now
            day = int(now // 86_400)
            if bucket.day != day:
                bucket.day, bucket.used = day, 0
            if keys.quota is not None and bucket.used >= keys.quota:
                raise Refusal("QUOTA_EXCEEDED")
            if bucket.tokens < 1:
                raise Refusal("THROTTLED")
            bucket.tokens -= 1
            bucket.used += 1
        return key_id

    def _current(self) -> _Keys:
        with self._lock:
            if self.clock() - self._keys.read_at < KEYS_REFRESH_S:
                return self._keys
        read = self._read()
        with self._lock:
            self._keys = read
            return read

    def _read(self) -> _Keys:
        apigateway = client("apigateway")
        plan = usage_plan_named(apigateway, self.plan_name)
        if plan is None:
            return _Keys(read_at=self.clock())  # no plan (yet): every key is refused
        planned = [
            k for page in apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"])
            for k in page["items"]
        ]  # fmt: skip
        enabled = {
            k["id"]: bool(k.get("enabled"))
            for page in apigateway.get_paginator("get_api_keys").paginate(includeValues=False)
            for k in page["items"]
        }
        throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
        return _Keys(
            by_value={k["value"]: (k["id"], enabled.get(k["id"], False)) for k in planned},
            rate=float(throttle.get("rateLimit", access.INGEST_RATE_LIMIT)),
            burst=int(throttle.get("burstLimit", access.INGEST_BURST_LIMIT)),
            quota=int(quota["limit"]) if "limit" in quota else None,
            read_at=self.clock(),
        )


class CognitoAuthorizer:
    """API Gateway's COGNITO_USER_POOLS authorizer for one user pool; the pool's keys from its JWKS URL."""

    def __init__(self, user_pool_id: str, jwks_url: str, clock: Callable[[], float] = time.time) -> None:
        self.issuer = access.issuer(names.REGION, user_pool_id)
        self.jwks_url, self.clock = jwks_url, clock
        self._keys: KeySet | None = None

    def claims(self, authorization: str | None, scopes: tuple[str, ...]) -> dict[str, str]:
        """The token's claims, as the function receives them, or a Refusal("UNAUTHORIZED")."""
        raw = (authorization or "").strip()
        raw = raw[len("Bearer ") :].strip() if raw[:7].lower() == "bearer " else raw
        if not raw:
            raise Refusal("UNAUTHORIZED")
        try:
            token = jwt.decode(raw, self._key_set(), algorithms=["RS256"])
        except (JoseError, ValueError, TypeError, KeyError):
            raise Refusal("UNAUTHORIZED") from None
        claims = token.claims
        if (
            claims.get("iss") != self.issuer
            or claims.get("token_use") != "access"
            or not isinstance(claims.get("exp"), int)
            or claims["exp"] <= self.clock()
            or not access.scopes_of(claims) & set(scopes)
        ):
            raise Refusal("UNAUTHORIZED")
        return {name: _as_claim(value) for name, value in claims.items()}

    def _key_set(self) -> KeySet:
        if self._keys is None:
            with urllib.request.urlopen(self.jwks_url, timeout=10) as response:  # noqa: S310 - moto, 127.0.0.1
                self._keys = KeySet.import_key_set(json.loads(response.read()))
        return self._keys


def _as_claim(value: object) -> str:
    """A claim as API Gateway's REST Cognito authorizer hands it on: a string (a list joined: access.groups_of reads
    it either way)."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


class GatewayAccess:
    """Every check API Gateway makes before the function, for one request: its resource and method, then the key or
    the token that resource needs. What the checks found goes into the event's requestContext, as API Gateway puts it
    there; a refusal is API Gateway's answer (access.GATEWAY_RESPONSES)."""

    def __init__(self, user_pool_id: str, plan_name: str, jwks_url: str, clock: Callable[[], float] = time.time):
        self.keys = IngestKeyCheck(plan_name, clock)
        self.cognito = CognitoAuthorizer(user_pool_id, jwks_url, clock)

    def admit(self, method: str, path: str, header: Callable[[str], str | None]) -> dict:
        """The requestContext's additions for `method` on `path` (without the stage), or a Refusal."""
        resource = access.resource_for(path)
        if resource is None or not resource.allows(method):
            raise Refusal("MISSING_AUTHENTICATION_TOKEN")
        context: dict = {"resourcePath": resource.path}
        if resource.access is access.Access.INGEST:
            value = header(access.API_KEY_HEADER)
            context["identity"] = {"apiKey": value, "apiKeyId": self.keys.check(value)}
        elif resource.access is not access.Access.PUBLIC:
            scopes = access.SCOPES[resource.access]
            context["authorizer"] = {"claims": self.cognito.claims(header(access.AUTHORIZATION_HEADER), scopes)}
        return context
