"""What every request goes through before its route, after its access (access.py): the query parameters it takes."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from .render import error_response

Middleware = Callable[[APIGatewayRestResolver, NextMiddleware], Response]
QUERY_PARAMETERS = {
    "/v1/metrics/": ("from", "to", "group", "tz"),
    "/v1/retention/": ("from", "to", "group", "tz"),
}  # routes with parameters, by path prefix; others take none


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
