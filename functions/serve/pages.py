"""What the API serves besides numbers, none of it needing the key: health, its OpenAPI document and page, the
dashboard and its files."""

from __future__ import annotations

from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from .models import Health, ok
from .static import static_file

router = Router()


@router.get("/v1/health", summary="Is the API up", responses=ok(Health, "up"), security=[], tags=["meta"])
def health():
    return {"status": "ok"}


@router.get("/v1/docs", include_in_schema=False)
def docs_page():
    return static_file("api.html")


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
    return static_file("index.html")


@router.get("/dashboard/<name>", include_in_schema=False)
def dashboard_file(name: str):
    return static_file(name)


@router.get("/dashboard/vendor/<name>", include_in_schema=False)
def vendored_file(name: str):
    return static_file(f"vendor/{name}")
