"""The ingest keys: API Gateway API keys in the stack's usage plan (headcount/access.py). API Gateway keeps them and
checks them before any function runs; headcount keeps nothing of them: a key's value is shown once, when it is made.
`headcount keys` and the admin routes (functions/serve/admin.py) both manage them through this."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from headcount.views.aws import client

NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


class KeyRefused(ValueError):
    """A request about keys that cannot be done: a bad or taken name (400/409), no such key (404)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class IngestKey:
    id: str
    name: str
    enabled: bool
    created: str  # ISO 8601, UTC

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def usage_plan_named(apigateway: Any, name: str) -> dict | None:
    """The usage plan of that name (API Gateway does not require names to be unique: the stacks' prefixes make them)."""
    for page in apigateway.get_paginator("get_usage_plans").paginate():
        for plan in page["items"]:
            if plan["name"] == name:
                return plan
    return None


class IngestKeys:
    """The keys of the usage plan named `plan_name`; each key's API Gateway name is the plan's, `-`, and its own."""

    def __init__(self, plan_name: str, apigateway: Any = None) -> None:
        self.plan_name, self.key_prefix = plan_name, f"{plan_name}-"
        self.apigateway = apigateway or client("apigateway")
        self._plan_id: str | None = None

    @property
    def plan_id(self) -> str:
        if self._plan_id is None:
            plan = usage_plan_named(self.apigateway, self.plan_name)
            if plan is None:
                raise LookupError(f"no usage plan {self.plan_name!r} (is the stack deployed, or up?)")
            self._plan_id = plan["id"]
        return self._plan_id

    def list(self) -> list[IngestKey]:
        """Every key of the plan, revoked ones too (disabled), by name; never their values."""
        keys = [self._key(self.apigateway.get_api_key(apiKey=k["id"], includeValue=False)) for k in self._plan_keys()]
        return sorted(keys, key=lambda k: k.name)

    def create(self, name: str) -> tuple[IngestKey, str]:
        """A new enabled key in the plan: the key, and its value (the only time anyone sees it)."""
        if not NAME.fullmatch(name):
            raise KeyRefused(400, "bad_request", f"a key's name is 1-64 letters, digits, '.', '_' or '-': {name!r}")
        if any(k["name"] == self.key_prefix + name for k in self._plan_keys()):
            raise KeyRefused(409, "conflict", f"there is a key named {name!r} already (revoked keys keep their names)")
        made = self.apigateway.create_api_key(
            name=self.key_prefix + name,
            description=f"headcount ingest key {name!r}: POST /v1/events only",
            enabled=True,
        )
        self.apigateway.create_usage_plan_key(usagePlanId=self.plan_id, keyId=made["id"], keyType="API_KEY")
        return self._key(made), made["value"]

    def revoke(self, name: str) -> IngestKey:
        """Disable the key named `name` (API Gateway refuses it within seconds); it stays listed, revoked."""
        found = [k for k in self._plan_keys() if k["name"] == self.key_prefix + name]
        if not found:
            raise KeyRefused(404, "not_found", f"no ingest key named {name!r}")
        updated = self.apigateway.update_api_key(
            apiKey=found[0]["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
        )
        return self._key(updated)

    def _plan_keys(self) -> list[dict]:
        return [
            key
            for page in self.apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=self.plan_id)
            for key in page["items"]
        ]

    def _key(self, api_key: dict) -> IngestKey:
        created = api_key.get("createdDate")
        return IngestKey(
            id=api_key["id"],
            name=api_key["name"].removeprefix(self.key_prefix),
            enabled=bool(api_key.get("enabled")),
            created=created.isoformat() if isinstance(created, datetime) else str(created or ""),
        )
