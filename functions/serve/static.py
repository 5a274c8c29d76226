"""The pages the API serves itself: the dashboard at `/` and its files under `/dashboard/` (public: they hold no data;
their API calls carry the token of the person signed in)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aws_lambda_powertools.event_handler import Response

import headcount

from .render import error_response

DASHBOARD = Path(headcount.__file__).resolve().parent / "dashboard"
# The pages' policy: their own scripts only (no inline script, nothing from another host), calls to their own API and
# to where people sign in (Cognito) only; inline styles stay allowed (uPlot's legend and Swagger UI write style
# attributes).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' {sign_in}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


_FILES: dict[str, str] = {}  # the folder's files a function has read (a handful; they do not change under it)


def _read(relative: str) -> str | None:
    if relative not in _FILES:
        path = (DASHBOARD / relative).resolve()
        if DASHBOARD.resolve() not in path.parents or not path.is_file():
            return None  # outside the folder (`..`) or absent (not remembered: `make` may copy it in)
        # text, not bytes: API Gateway REST would pass base64 through unless told which types are binary
        _FILES[relative] = path.read_text(encoding="utf-8")
    return _FILES[relative]


def static_file(relative: str, sign_in_origins: str) -> Response:
    """The dashboard's file `relative`; its pages may call `sign_in_origins` (Cognito's) besides the API."""
    body = _read(relative)
    if body is None:
        return error_response(404, "not_found", f"no file {relative!r}")
    kind = TYPES.get(Path(relative).suffix) or mimetypes.guess_type(relative)[0] or "application/octet-stream"
    # Vendored libraries are pinned (their names do not change with their content): cached a day, the pages revalidated.
    cache = "public, max-age=86400" if relative.startswith("vendor/") else "no-cache"
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if relative.endswith(".html"):
        policy = CONTENT_SECURITY_POLICY.format(sign_in=sign_in_origins)
        headers |= {"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer"}
    return Response(200, kind, body, headers=headers)
