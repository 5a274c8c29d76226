"""The local user pool domain's token endpoint (`POST /oauth2/token`, client credentials only), which moto does not
serve: tools get an access token for their app client as from Cognito's
`https://<domain>.auth.<region>.amazoncognito.com/oauth2/token`. The client and its secret, flows and scopes are moto's
(DescribeUserPoolClient); the token is signed with the key moto signs every pool's tokens with, so the local gateway's
authorizer checks it as it checks a person's."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from functools import cache
from urllib.parse import parse_qs

from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

from headcount import access, names
from headcount.views.aws import client

TOKEN_SECONDS = 3600


@cache
def signing_key() -> jwk.RSAKey:
    return jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def client_credentials_token(
    user_pool_id: str, body: bytes, authorization: str | None, clock: Callable[[], float] = time.time
) -> tuple[int, dict]:
    """Cognito's answer to a token request: 200 with the token, or 400 with an OAuth 2.0 error."""
    form = {name: values[-1] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if (authorization or "").lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(authorization[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return 400, {"error": "invalid_client"}
    if form.get("grant_type") != "client_credentials":
        return 400, {"error": "unsupported_grant_type"}
    try:
        app = client("cognito-idp").describe_user_pool_client(UserPoolId=user_pool_id, ClientId=client_id)
    except client("cognito-idp").exceptions.ResourceNotFoundException:
        return 400, {"error": "invalid_client"}
    app = app["UserPoolClient"]
    if not app.get("ClientSecret") or app["ClientSecret"] != secret:
        return 400, {"error": "invalid_client"}
    if "client_credentials" not in (app.get("AllowedOAuthFlows") or []):
        return 400, {"error": "unauthorized_client"}
    allowed = app.get("AllowedOAuthScopes") or []
    scopes = form["scope"].split() if form.get("scope") else allowed
    if not scopes or not set(scopes) <= set(allowed):
        return 400, {"error": "invalid_scope"}
    now = int(clock())
    claims = {
        "sub": client_id,
        "token_use": "access",
        "scope": " ".join(scopes),
        "auth_time": now,
        "iss": access.issuer(names.REGION, user_pool_id),
        "exp": now + TOKEN_SECONDS,
        "iat": now,
        "version": 2,
        "jti": str(uuid.uuid4()),
        "client_id": client_id,
    }
    token = jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, signing_key())  # moto's key id
    return 200, {"access_token": token, "expires_in": TOKEN_SECONDS, "token_type": "Bearer"}
