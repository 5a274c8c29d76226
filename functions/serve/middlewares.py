"""What every request goes through before its route: the API key, then the query parameters the route takes."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from .render import error_response
from .static import is_public

Middleware = Callable[[APIGatewayRestResolver, NextMiddleware], Response]
QUERY_PARAMETERS = {
    "/v1/metrics/": ("from", "to", "group"),
    "/v1/retention/": ("from", "to", "group"),
}  # routes with parameters, by path prefix; others take none


def api_key_check(api_key: Callable[[], str]) -> Middleware:
    """Every route but the public ones (health, the pages) needs the key; before any other answer, 404 and 405
    included, so nothing about the API shows without it."""

    def require_api_key(router: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        if not is_public(router.current_event.path):
            given = router.current_event.headers.get("x-api-key") or ""  # case-insensitive, as HTTP header names are
            if not hmac.compare_digest(given.encode(), api_key().encode()):
                return error_response(403, "forbidden", "missing or wrong x-api-key header")
        return next_middleware(router)

    return require_api_key


def known_parameters_only(router: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    """A parameter a route does not take is a 400, not ignored: `form=` for `from=` would silently answer today."""
    path = router.current_event.path
    if path.startswith("/v1/"):
        taken = next((names for prefix, names in QUERY_PARAMETERS.items() if path.startswith(prefix)), ())
        unknown = sorted(set(router.current_event.query_string_parameters or {}) - set(taken))
        if unknown:
            takes = f"it takes {', '.join(taken)}" if taken else "it takes none"
            return error_response(400, "bad_request", f"unknown parameter {unknown[0]!r} for {path}: {takes}")
    return next_middleware(router)
