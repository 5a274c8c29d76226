"""The serve handler as a WSGI app, in-process: what schemathesis drives (requests become API Gateway proxy events,
received at a fixed moment, as the local gateway makes them). A request without the credential header its route needs
gets the gateway's refusal; with one, it is passed on as if the gateway had checked it (who may call what is
tests/integration/test_access.py's, through the local gateway)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable, Iterable
from http import HTTPStatus

from headcount.local.esm import LocalLambdaContext
from headcount.local.gateway import proxy_event
from support.credentials import admitted, gateway_refusal

NOW_MS = 1_795_000_000_000  # 2026-11-18T11:06:40Z: every request's requestTimeEpoch


def serve_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    from headcount.functions.serve.handler import handler

    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    query = environ.get("QUERY_STRING")
    # schemathesis joins the document's relative server ("..") to the paths without their slash
    # and WSGI decodes the path: quoted again, as it was on the request line the local gateway reads
    path = "/" + urllib.parse.quote(environ.get("PATH_INFO", "").lstrip("/")) + (f"?{query}" if query else "")
    method = environ["REQUEST_METHOD"]
    refused = gateway_refusal(method, path, headers)
    if refused is not None:
        start_response(f"{refused.status} {HTTPStatus(refused.status).phrase}", [("Content-Type", "application/json")])
        return [json.dumps(refused.body()).encode()]
    event = proxy_event(method, path, headers, body, NOW_MS, admitted(method, path))  # as past API Gateway's checks
    response = handler(event, LocalLambdaContext("serve", "r", "arn:x"))
    payload = response.get("body") or ""
    data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
    status = response["statusCode"]
    headers_out = [(k, v) for k, values in (response.get("multiValueHeaders") or {}).items() for v in values]
    headers_out += list((response.get("headers") or {}).items())
    start_response(f"{status} {HTTPStatus(status).phrase}", headers_out)
    return [data]
