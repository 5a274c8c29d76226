"""The local user pool domain, which moto does not serve (on AWS: `https://<domain>.auth.<region>.amazoncognito.com`):

- `POST /oauth2/token`, client credentials: tools get an access token for their app client. The client, its secret,
  flows and scopes are moto's (DescribeUserPoolClient); the token is signed with the key moto signs every pool's tokens
  with, so the local gateway's authorizer checks it as it checks a person's.
- `GET /oauth2/authorize` and `POST /oauth2/token` with an authorization code (PKCE, S256): the hosted UI's way in
  for a person of the company's identity provider, which the dashboard offers when one is configured. Locally the
  company's provider is stood in for by a sign-in form of the pool itself (a person of the pool, by password): the
  code, the PKCE check, the redirect and the tokens are the protocol's; the tokens are the pool's own (moto's).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

from headcount import access, names
from headcount.views.aws import client

TOKEN_SECONDS = 3600
CODE_SECONDS = 300  # an authorization code is good once, for 5 minutes
JSON = {"content-type": "application/json"}
Answer = tuple[int, dict[str, str], bytes]


@cache
def signing_key() -> jwk.RSAKey:
    return jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


@dataclass(frozen=True)
class _Code:
    tokens: dict
    client_id: str
    redirect_uri: str
    challenge: str
    expires: float


class LocalUserPoolDomain:
    """The domain of `user_pool_id`. With an `identity_provider`, its hosted UI signs people in for the dashboard's
    app client (`app_client_id`) and sends them back only to that client's `callback_urls`, as Cognito does."""

    def __init__(
        self,
        user_pool_id: str,
        identity_provider: str | None = None,
        app_client_id: str = "",
        callback_urls: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ):
        self.user_pool_id, self.identity_provider, self.clock = user_pool_id, identity_provider, clock
        self.app_client_id, self.callback_urls = app_client_id, callback_urls
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    def answer(self, method: str, raw_path: str, authorization: str | None, body: bytes) -> Answer:
        url = urlsplit(raw_path)
        query = _form(url.query.encode())
        if url.path == "/oauth2/token" and method == "POST":
            form = _form(body)
            if form.get("grant_type") == "authorization_code":
                return _json(*self._exchange(form))
            return _json(*client_credentials_token(self.user_pool_id, body, authorization, self.clock))
        if url.path == "/oauth2/authorize" and self.identity_provider is not None and method in ("GET", "POST"):
            return self._authorize(method, {**query, **(_form(body) if method == "POST" else {})})
        return _json(404, {"error": "not_found"})

    def _authorize(self, method: str, params: dict[str, str]) -> Answer:
        """The company's provider's sign-in, then back to the app with a code (or the form again, with why not)."""
        if params.get("response_type") != "code" or params.get("code_challenge_method") != "S256":
            return _json(400, {"error": "invalid_request", "error_description": "code with PKCE (S256) only"})
        if params.get("identity_provider") != self.identity_provider or not params.get("code_challenge"):
            return _json(400, {"error": "invalid_request", "error_description": "unknown identity provider"})
        if params.get("client_id") != self.app_client_id or params.get("redirect_uri") not in self.callback_urls:
            return _json(400, {"error": "invalid_request", "error_description": "unknown client or callback URL"})
        error = ""
        if method == "POST":
            try:
                answer = client("cognito-idp").initiate_auth(
                    AuthFlow="USER_PASSWORD_AUTH",
                    ClientId=params.get("client_id", ""),
                    AuthParameters={"USERNAME": params.get("username", ""), "PASSWORD": params.get("password", "")},
                )
                result = answer["AuthenticationResult"]
            except Exception:  # noqa: BLE001 - any refusal of the pool is the form's "wrong user name or password"
                error = "Wrong user name or password."
            else:
                code = secrets.token_urlsafe(24)
                with self._lock:
                    self._codes[code] = _Code(
                        {
                            "access_token": result["AccessToken"],
                            "id_token": result["IdToken"],
                            "refresh_token": result["RefreshToken"],
                            "expires_in": result["ExpiresIn"],
                            "token_type": "Bearer",
                        },
                        params.get("client_id", ""),
                        params.get("redirect_uri", ""),
                        params["code_challenge"],
                        self.clock() + CODE_SECONDS,
                    )
                back = urlencode({"code": code, "state": params.get("state", "")})
                callback = params["redirect_uri"]
                return 302, {"location": f"{callback}{'&' if '?' in callback else '?'}{back}"}, b""
        return 200, {"content-type": "text/html; charset=utf-8"}, self._form_page(params, error).encode()

    def _exchange(self, form: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)  # good once, whatever the outcome
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if (
            code is None
            or code.expires < self.clock()
            or code.client_id != form.get("client_id")
            or code.redirect_uri != form.get("redirect_uri")
            or code.challenge != challenge
        ):
            return 400, {"error": "invalid_grant"}
        return 200, code.tokens

    def _form_page(self, params: dict[str, str], error: str) -> str:
        kept = ("response_type", "client_id", "redirect_uri", "identity_provider", "state", "scope")
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
            for name in (*kept, "code_challenge", "code_challenge_method")
        )
        provider = html.escape(self.identity_provider or "")
        alert = f'<p role="alert">{html.escape(error)}</p>' if error else ""
        return (
            f"<!doctype html><title>{provider}: sign in</title><h1>{provider}</h1>"
            "<p>The local stack's stand-in for the company's identity provider: a person of the user pool.</p>"
            f'{alert}<form method="post">{hidden}'
            '<label>User name <input name="username" autocomplete="username"></label>'
            '<label>Password <input name="password" type="password" autocomplete="current-password"></label>'
            '<button type="submit">Sign in</button></form>'
        )


def client_credentials_token(
    user_pool_id: str, body: bytes, authorization: str | None, clock: Callable[[], float] = time.time
) -> tuple[int, dict]:
    """Cognito's answer to a client credentials request: 200 with the token, or 400 with an OAuth 2.0 error."""
    form = _form(body)
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if (authorization or "").lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode((authorization or "")[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return 400, {"error": "invalid_client"}
    if form.get("grant_type") != "client_credentials":
        return 400, {"error": "unsupported_grant_type"}
    idp = client("cognito-idp")
    try:
        app = idp.describe_user_pool_client(UserPoolId=user_pool_id, ClientId=client_id)["UserPoolClient"]
    except idp.exceptions.ResourceNotFoundException:
        return 400, {"error": "invalid_client"}
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


def _form(body: bytes) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}


def _json(status: int, answer: dict) -> Answer:
    return status, JSON, json.dumps(answer).encode()
