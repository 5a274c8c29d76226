"""The local stack's access resources, on moto, as the CDK stack makes them (infra/serving.py): the user pool with its
groups, resource server and two app clients, the ingest usage plan; and, for the demo, a user and an ingest key.

moto keeps them in memory; they are made again whenever moto starts (idempotent). moto is started with ids derived
from names (MOTO_COGNITO_IDP_*_ID_STRATEGY=HASH), so the pool and its clients keep their ids across a restart, and
moto signs every pool's tokens with one key: a token issued before a restart stays valid after it. A key made with
`headcount keys create` is lost with moto's memory (the demo's is made again, with its value).

The demo credentials are the local stack's only: nothing on AWS has a default user, password or key."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from headcount import access, names
from headcount.views.aws import client
from headcount.views.ingest_keys import usage_plan_named

MOTO_ID_STRATEGIES = {
    "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
    "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH",
}
DEMO_USER, DEMO_PASSWORD = "demo", "Headcount-demo-1"  # in `admin`
DEMO_KEY_NAME = "demo"
DEMO_KEY = "local-demo-ingest-key-0123456789abcdef"  # API Gateway's keys are 20-128 characters
PASSWORD_POLICY = {
    "MinimumLength": 12,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}
ACCESS_TOKEN_MINUTES = 60
TOKEN_REUSE_S = 50 * 60  # a token is fetched again after this much of its hour


@dataclass(frozen=True)
class LocalAccess:
    user_pool_id: str
    dashboard_client_id: str
    tools_client_id: str
    tools_client_secret: str
    usage_plan_id: str


def find_access(
    stack_names: names.StackNames = names.DEFAULT_NAMES, idp: Any = None, apigateway: Any = None
) -> LocalAccess:
    """What `create_access` made (the local stack is up): nothing is made. The clients: the environment's unless
    given."""
    idp, apigateway = idp or client("cognito-idp"), apigateway or client("apigateway")
    pool_id = _find_pool(idp, stack_names.user_pool)
    if pool_id is None:
        raise LookupError(f"no user pool {stack_names.user_pool!r}: is the local stack up?")
    dashboard = _find_client(idp, pool_id, stack_names.dashboard_client) or {}
    tools = _find_client(idp, pool_id, stack_names.machine_client) or {}
    plan = _find_plan(apigateway, stack_names.ingest_usage_plan) or ""
    return LocalAccess(
        pool_id, dashboard.get("ClientId", ""), tools.get("ClientId", ""), tools.get("ClientSecret", ""), plan
    )


def tools_token(api_url: str, found: LocalAccess | None = None) -> str:
    """An access token of the tools' client (client credentials, scope headcount/read), from the local user pool
    domain's token endpoint: how the local commands read the API (`headcount report`), as a company's tool would."""
    found = found or find_access()
    request = urllib.request.Request(  # noqa: S310 - the local API, 127.0.0.1
        f"{api_url}/oauth2/token",
        data=urlencode({"grant_type": "client_credentials", "scope": access.READ_SCOPE}).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic "
            + base64.b64encode(f"{found.tools_client_id}:{found.tools_client_secret}".encode()).decode(),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local API, 127.0.0.1
        return json.loads(response.read())["access_token"]


_TOKENS: dict[str, tuple[float, str]] = {}  # per API: when fetched, the token


def tools_headers(api_url: str) -> dict[str, str]:
    """The headers a local command reads the API with: a tool's token, fetched again after 50 minutes of its hour."""
    fetched, token = _TOKENS.get(api_url, (float("-inf"), ""))
    if time.monotonic() - fetched > TOKEN_REUSE_S:
        token = tools_token(api_url)
        _TOKENS[api_url] = (time.monotonic(), token)
    return {access.AUTHORIZATION_HEADER: f"Bearer {token}"}


def user_token(username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> str:
    """A person's access token, as the dashboard gets it (USER_PASSWORD_AUTH with the dashboard's client)."""
    found = find_access()
    answer = client("cognito-idp").initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=found.dashboard_client_id,
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return answer["AuthenticationResult"]["AccessToken"]


def create_access(stack_names: names.StackNames = names.DEFAULT_NAMES) -> LocalAccess:
    idp, apigateway = client("cognito-idp"), client("apigateway")
    pool_id = _user_pool(idp, stack_names.user_pool)
    for group in access.GROUPS:
        with contextlib.suppress(idp.exceptions.GroupExistsException):
            idp.create_group(UserPoolId=pool_id, GroupName=group)
    with contextlib.suppress(idp.exceptions.InvalidParameterException):  # moto: the identifier exists already
        idp.create_resource_server(
            UserPoolId=pool_id,
            Identifier=access.RESOURCE_SERVER,
            Name=access.RESOURCE_SERVER,
            Scopes=[{"ScopeName": access.READ_SCOPE.split("/")[1], "ScopeDescription": "read every number"}],
        )
    dashboard = _client(
        idp,
        pool_id,
        stack_names.dashboard_client,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AccessTokenValidity=ACCESS_TOKEN_MINUTES,
        IdTokenValidity=ACCESS_TOKEN_MINUTES,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes"},
        PreventUserExistenceErrors="ENABLED",
    )
    tools = _client(
        idp,
        pool_id,
        stack_names.machine_client,
        GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=[access.READ_SCOPE],
        AllowedOAuthFlowsUserPoolClient=True,
    )
    _demo_user(idp, pool_id)
    plan_id = _usage_plan(apigateway, stack_names.ingest_usage_plan)
    _demo_key(apigateway, plan_id, f"{stack_names.ingest_usage_plan}-{DEMO_KEY_NAME}")
    return LocalAccess(pool_id, dashboard["ClientId"], tools["ClientId"], tools["ClientSecret"], plan_id)


def _find_pool(idp, name: str) -> str | None:  # noqa: ANN001
    for page in idp.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == name:
                return pool["Id"]
    return None


def _find_client(idp, pool_id: str, name: str) -> dict | None:  # noqa: ANN001
    for page in idp.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60):
        for made in page["UserPoolClients"]:
            if made["ClientName"] == name:
                return idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=made["ClientId"])["UserPoolClient"]
    return None


def _find_plan(apigateway, name: str) -> str | None:  # noqa: ANN001
    plan = usage_plan_named(apigateway, name)
    return plan["id"] if plan is not None else None


def _user_pool(idp, name: str) -> str:  # noqa: ANN001
    found = _find_pool(idp, name)
    if found is not None:
        return found
    return idp.create_user_pool(
        PoolName=name,
        Policies={"PasswordPolicy": PASSWORD_POLICY},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        AliasAttributes=["email"],
    )["UserPool"]["Id"]


def _client(idp, pool_id: str, name: str, **settings) -> dict:  # noqa: ANN001, ANN003
    found = _find_client(idp, pool_id, name)
    if found is not None:
        return found
    return idp.create_user_pool_client(UserPoolId=pool_id, ClientName=name, **settings)["UserPoolClient"]


def _demo_user(idp, pool_id: str) -> None:  # noqa: ANN001
    with contextlib.suppress(idp.exceptions.UsernameExistsException):
        idp.admin_create_user(UserPoolId=pool_id, Username=DEMO_USER, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username=DEMO_USER, Password=DEMO_PASSWORD, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username=DEMO_USER, GroupName=access.ADMIN_GROUP)


def _usage_plan(apigateway, name: str) -> str:  # noqa: ANN001
    found = _find_plan(apigateway, name)
    if found is not None:
        return found
    return apigateway.create_usage_plan(
        name=name,
        description="headcount's ingest keys: each its own throttle and quota",
        throttle={"rateLimit": access.INGEST_RATE_LIMIT, "burstLimit": access.INGEST_BURST_LIMIT},
        quota={"limit": access.INGEST_QUOTA_PER_DAY, "period": "DAY"},
    )["id"]


def _demo_key(apigateway, plan_id: str, name: str) -> None:  # noqa: ANN001
    planned = {
        k["name"]
        for p in apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan_id)
        for k in p["items"]
    }
    if name in planned:
        return
    made = apigateway.create_api_key(name=name, value=DEMO_KEY, enabled=True, description="the local demo's")
    apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=made["id"], keyType="API_KEY")


def function_environment(
    local: LocalAccess, moto_url: str, api_port: int | None = None, identity_provider: str | None = None
) -> dict[str, str]:
    """The serve function's auth settings (headcount/settings.py), as the stack gives them (infra/serving.py): the
    browser signs in at moto's Cognito; with an `identity_provider` (HEADCOUNT_IDENTITY_PROVIDER) the dashboard also
    offers it, through the local user pool domain on the API's port (headcount/local/token_endpoint.py)."""
    federated = (
        {"HEADCOUNT_IDENTITY_PROVIDER": identity_provider, "HEADCOUNT_SIGN_IN_DOMAIN": f"http://127.0.0.1:{api_port}"}
        if identity_provider and api_port
        else {}
    )
    return {
        "HEADCOUNT_USER_POOL_ID": local.user_pool_id,
        "HEADCOUNT_USER_POOL_CLIENT_ID": local.dashboard_client_id,
        "HEADCOUNT_INGEST_USAGE_PLAN": names.DEFAULT_NAMES.ingest_usage_plan,
        "HEADCOUNT_COGNITO_ENDPOINT": f"{moto_url}/",
        **federated,
    }
