"""What the API serves besides numbers, none of it needing a key or a token: health, its OpenAPI document and page, the
dashboard, its files and where it signs in."""

from __future__ import annotations

import os
from urllib.parse import urlencode, urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from headcount import names

from .models import AuthConfig, Health, ok
from .runtime import runtime
from .static import static_file

router = Router()


@router.get("/v1/health", summary="Is the API up", responses=ok(Health, "up"), security=[], tags=["meta"])
def health():
    return {"status": "ok"}


def _region() -> str:
    return os.environ.get("AWS_REGION") or names.REGION


def _cognito_endpoint() -> str:
    """Where browsers sign in: Cognito's endpoint in the function's region, unless set (the local stack: moto)."""
    return runtime().settings.cognito_endpoint or f"https://cognito-idp.{_region()}.amazonaws.com/"


def _page(relative: str) -> Response:
    """A page, which may call the user pool's endpoint and (a federated sign-in's token exchange) its domain."""
    origins = []
    for url in (_cognito_endpoint(), runtime().settings.sign_in_domain):
        if url:
            parts = urlsplit(url)
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return static_file(relative, " ".join(dict.fromkeys(origins)))


@router.get(
    "/v1/auth/config",
    summary="Where the dashboard signs in",
    responses=ok(AuthConfig, "the user pool and its dashboard client (public identifiers, no secret)"),
    security=[],
    tags=["meta"],
)
def auth_config():
    settings = runtime().settings
    return {
        "region": _region(),
        "userPoolId": settings.user_pool_id,
        "clientId": settings.user_pool_client_id,
        "cognitoEndpoint": _cognito_endpoint(),
        "identityProvider": settings.identity_provider if settings.sign_in_domain else None,
        "signInDomain": settings.sign_in_domain if settings.identity_provider else None,
    }


@router.get("/v1/docs", include_in_schema=False)
def docs_page():
    return _page("api.html")


@router.get("/", include_in_schema=False)
def dashboard_page():
    # The stage's URL without its slash (`…/prod`) reaches this route too, and there the page's relative URLs would
    # resolve against the host's root: the browser is sent to `…/prod/` first.
    staged = (router.current_event.get("requestContext") or {}).get("path") or ""
    if staged and not staged.endswith("/"):
        query = urlencode(router.current_event.get("queryStringParameters") or {})
        location = f"{staged}/" + (f"?{query}" if query else "")
        return Response(
            301, "text/plain; charset=utf-8", "", headers={"Location": location, "Cache-Control": "no-cache"}
        )
    return _page("index.html")


@router.get("/dashboard/<name>", include_in_schema=False)
def dashboard_file(name: str):
    return _page(name)


@router.get("/dashboard/vendor/<name>", include_in_schema=False)
def vendored_file(name: str):
    return _page(f"vendor/{name}")
