"""The local API Gateway with its access checks, in front of the real serve function, on a moto server of its own
(the stack's tables, stream and access resources): what the access and hostile-request tests drive, without the rest
of the local stack. And the credentials of every kind those tests present."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import RSAKey

from headcount import names
from headcount.local import resources
from headcount.local.access import (
    DEMO_PASSWORD,
    DEMO_USER,
    MOTO_ID_STRATEGIES,
    LocalAccess,
    create_access,
    function_environment,
    tools_token,
    user_token,
)
from headcount.local.authorizer import GatewayAccess
from headcount.local.gateway import LocalApiGateway
from headcount.local.token_endpoint import LocalUserPoolDomain, signing_key
from headcount.views.aws import client


@dataclass
class AccessHarness:
    gateway: LocalApiGateway
    access: LocalAccess
    moto_url: str

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict | None]:
        """The status and JSON answer (None for a page or an empty body)."""
        headers = dict(headers or {})
        if body is not None and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"  # not urllib's default, a form
        request = urllib.request.Request(self.gateway.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        try:
            return status, json.loads(data)
        except ValueError:
            return status, None

    def user(self, name: str, password: str, *groups: str) -> str:
        """A person of the pool in `groups`, signed in: their access token."""
        idp, pool = client("cognito-idp"), self.access.user_pool_id
        with contextlib.suppress(idp.exceptions.UsernameExistsException):
            idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=password, Permanent=True)
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=group)
        return user_token(name, password)

    def admin_token(self) -> str:
        return user_token(DEMO_USER, DEMO_PASSWORD)

    def tool_token(self) -> str:
        return tools_token(self.gateway.url)

    def other_pool_token(self) -> str:
        """A person's token of another user pool (moto signs every pool's tokens with one key: only `iss` differs)."""
        idp = client("cognito-idp")
        pool = idp.create_user_pool(PoolName="someone-else")["UserPool"]["Id"]
        app = idp.create_user_pool_client(
            UserPoolId=pool, ClientName="theirs", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        idp.admin_create_user(UserPoolId=pool, Username="them", MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username="them", Password=DEMO_PASSWORD, Permanent=True)
        answer = idp.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH", ClientId=app, AuthParameters={"USERNAME": "them", "PASSWORD": DEMO_PASSWORD}
        )
        return answer["AuthenticationResult"]["AccessToken"]

    def expired_token(self) -> str:
        """The admin's token as Cognito would have issued it two hours ago: the pool's, signed by its key, expired."""
        claims = jwt.decode(self.admin_token(), signing_key()).claims
        issued = int(time.time()) - 7200
        claims |= {"iat": issued, "auth_time": issued, "exp": issued + 3600}
        return jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, signing_key())

    def unsigned_token(self) -> str:
        """The admin's claims in a token that says it needs no signature (`alg: none`)."""
        claims = jwt.decode(self.admin_token(), signing_key()).claims
        part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{part({'kid': 'dummy', 'alg': 'none'})}.{part(claims)}."

    def id_token(self) -> str:
        """The admin's ID token (signed by the pool, in date): not an access token, which the authorizer wants."""
        found = client("cognito-idp").initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=self.access.dashboard_client_id,
            AuthParameters={"USERNAME": DEMO_USER, "PASSWORD": DEMO_PASSWORD},
        )
        return found["AuthenticationResult"]["IdToken"]

    def forged_token(self) -> str:
        """The admin's claims, signed with a key that is not the pool's (under the pool key's id)."""
        claims = jwt.decode(self.admin_token(), signing_key()).claims
        return jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, RSAKey.generate_key(2048))


@contextlib.contextmanager
def access_gateway(log_dir: Path, moto_port: int) -> Iterator[AccessHarness]:
    from moto.server import ThreadedMotoServer

    saved = dict(os.environ)
    os.environ.update(MOTO_ID_STRATEGIES)  # read by the in-process moto when it makes the pool
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    moto_url = f"http://127.0.0.1:{moto_port}"
    aws_env = {"AWS_ENDPOINT_URL": moto_url, "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    os.environ.update(aws_env)
    os.environ.pop("AWS_ENDPOINT_URL_KINESIS", None)
    client.cache_clear()
    gateway = None
    try:
        resources.create_all(1)
        local = create_access()
        gateway = LocalApiGateway(
            "headcount.functions.serve.handler.handler",
            0,
            str(log_dir / "serve.log"),
            {**aws_env, **function_environment(local, moto_url)},
            instances=1,
            access_checks=GatewayAccess(
                local.user_pool_id,
                names.DEFAULT_NAMES.ingest_usage_plan,
                f"{moto_url}/{local.user_pool_id}/.well-known/jwks.json",
            ),
            user_pool_domain=LocalUserPoolDomain(local.user_pool_id, None),
        )
        gateway.start()
        yield AccessHarness(gateway, local, moto_url)
    finally:
        if gateway is not None:
            gateway.stop()
        server.stop()
        os.environ.clear()
        os.environ.update(saved)
        client.cache_clear()
