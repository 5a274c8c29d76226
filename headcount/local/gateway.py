"""A local API Gateway: HTTP requests on 127.0.0.1 become REST API proxy events for the serve handler."""

from __future__ import annotations

import base64
import importlib
import json
import multiprocessing
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from headcount import access, names
from headcount.local.authorizer import GatewayAccess, Refusal
from headcount.local.esm import LocalLambdaContext, lambda_arn
from headcount.local.meter import install_from_env
from headcount.local.processes import record_pid
from headcount.local.token_endpoint import LocalUserPoolDomain

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
PID_PREFIX = "serve-"  # the function processes' pid records: serve-<pid>.pid
DOMAIN_PREFIX = "/oauth2/"  # the local user pool domain's paths (its token endpoint, its hosted UI's authorize)


class _Server(ThreadingHTTPServer):
    """Connections of a burst wait to be accepted, as at API Gateway: socketserver's backlog of 5 dropped the rest,
    which the clients' TCP sent again a second later (a dashboard's dozen requests at once)."""

    request_queue_size = 128


def _staged(path: str) -> str:
    """The local API answers at its root and, as the deployed one, under its stage (`/prod…`)."""
    stage = f"/{names.API_STAGE}"
    return path if path == stage or path.startswith(f"{stage}/") else f"{stage}{path}"


def unstaged(raw_path: str) -> str:
    """A request's path as API Gateway routes it: without the stage, the query."""
    return _staged(urlsplit(raw_path).path).removeprefix(f"/{names.API_STAGE}") or "/"


def proxy_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    received_ms: int,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The event API Gateway's REST proxy integration sends to Lambda, for a request received at `received_ms` (epoch
    milliseconds: its `requestTimeEpoch`): the event's path is without the stage, the context's path with it.
    `context`: what the gateway's checks added to the requestContext (the resource, the key's identity, the
    authorizer's claims: authorizer.GatewayAccess)."""
    url = urlsplit(raw_path)
    staged = _staged(url.path)
    url = url._replace(path=staged.removeprefix(f"/{names.API_STAGE}") or "/")
    query = parse_qs(url.query, keep_blank_values=True)
    text_body: str | None = None
    is_base64 = False
    if body:
        try:
            text_body = body.decode()
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
    context = context or {}
    resource = context.get("resourcePath", "/{proxy+}")
    return {
        "resource": resource,
        "path": url.path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": (
            {"proxy": url.path.removeprefix(resource.removesuffix("{proxy+}"))}
            if resource.endswith("{proxy+}")
            else None
        ),
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": staged,
            "stage": names.API_STAGE,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": received_ms,
            "identity": {
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
                **context.get("identity", {}),
            },
            "accountId": names.LOCAL_ACCOUNT_ID,
            "apiId": "local",
            **({"authorizer": context["authorizer"]} if "authorizer" in context else {}),
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }


_handler: Any = None


def _start_function(handler_path: str, log_path: str, environment: dict[str, str], pid_dir: str | None) -> None:
    """A function instance, as Lambda runs one: its own process, its output (logs, EMF metrics) in its log, its pid
    recorded (a pool's process outlives a `headcount up` killed outright, and would wait forever on its queue, whose
    both ends it holds: the next start stops it)."""
    global _handler
    if pid_dir is not None:
        record_pid(Path(pid_dir) / f"{PID_PREFIX}{os.getpid()}.pid", os.getpid())
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(environment)
    install_from_env("serve")
    module, name = handler_path.rsplit(".", 1)
    _handler = getattr(importlib.import_module(module), name)


def _invoke(event: dict[str, Any], function_name: str) -> tuple[dict[str, Any], float]:
    """The handler's response, and how long it ran (what Lambda bills)."""
    context = LocalLambdaContext(
        function_name,
        event["requestContext"]["requestId"],
        lambda_arn(function_name),
        timeout_s=29,
    )
    started = time.perf_counter()
    response = _handler(event, context)
    return response, time.perf_counter() - started


class LocalApiGateway:
    def __init__(
        self,
        handler_path: str,
        port: int,
        log_path: str,
        environment: dict[str, str],
        function_name: str = names.SERVE_FUNCTION,
        instances: int = 2,
        clock: Callable[[], float] = time.time,
        observe: Callable[[str, str, int, float], None] | None = None,
        pid_dir: Path | None = None,
        access_checks: GatewayAccess | None = None,
        user_pool_domain: LocalUserPoolDomain | None = None,
    ) -> None:
        """`observe(method, path, status, duration_s)` is told of every request the function answered, with how long
        it ran (the local meter's). `pid_dir`: where the function processes record themselves (the stack's).
        `access_checks`: API Gateway's keys and authorizer (without them only the public resources are let through);
        `user_pool_domain`: the local user pool domain's `/oauth2/…` (headcount/local/token_endpoint.py), served on
        this port too (on AWS the domain is a host of its own)."""
        self.function_name, self.clock, self.observe, self.pid_dir = function_name, clock, observe, pid_dir
        self.environment = environment  # the function's (a benchmark's other functions run with it too)
        self.access_checks, self.user_pool_domain = access_checks, user_pool_domain
        self.invocations = 0  # how many requests reached the function: a refused one never does
        self._invocations_lock = threading.Lock()
        self._new_functions = lambda: ProcessPoolExecutor(
            instances,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_function,
            initargs=(handler_path, log_path, environment, str(pid_dir) if pid_dir is not None else None),
        )
        self.functions = self._new_functions()
        self._functions_lock = threading.Lock()
        gateway = self

        class _Request(BaseHTTPRequestHandler):
            def _any(self) -> None:
                gateway._proxy(self)

            # Every method of a resource (access.RESOURCES: ANY) reaches the function past the checks (it answers 405).
            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _any  # noqa: N815

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), _Request)
        self.thread = threading.Thread(target=self.server.serve_forever, name="api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.functions.shutdown(cancel_futures=True)
        if self.pid_dir is not None:
            for pid_file in self.pid_dir.glob(f"{PID_PREFIX}*.pid"):
                pid_file.unlink(missing_ok=True)

    def _proxy(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(
                request,
                413,
                {"content-type": "application/json"},
                json.dumps({"error": {"code": "too_large", "message": "request body exceeds 10 MiB"}}).encode(),
            )
            return
        body = request.rfile.read(length) if length else b""
        if self.user_pool_domain is not None and urlsplit(request.path).path.startswith(DOMAIN_PREFIX):
            status, headers, data = self.user_pool_domain.answer(
                request.command, request.path, request.headers.get("Authorization"), body
            )
            self._reply(request, status, headers, data)
            return
        try:
            context = self._admit(request.command, unstaged(request.path), request.headers.get)
        except Refusal as refusal:
            self._refuse(request, refusal.response_type)
            return
        except Exception as exc:  # noqa: BLE001 - a check that failed is API Gateway's 500, never a hang-up
            print(f"api: checking {request.command} {request.path} failed: {exc!r}", file=sys.stderr, flush=True)
            self._refuse(request, "AUTHORIZER_FAILURE")
            return
        event = proxy_event(
            request.command, request.path, dict(request.headers.items()), body, int(self.clock() * 1000), context
        )
        functions = self.functions
        with self._invocations_lock:
            self.invocations += 1
        try:
            response, ran_s = functions.submit(_invoke, event, self.function_name).result(timeout=29)
        except Exception as exc:  # noqa: BLE001 - API Gateway answers 502 when the integration fails
            if isinstance(exc, BrokenProcessPool):
                self._replace_functions(functions)
            print(
                f"api: {request.command} {request.path} failed: {type(exc).__name__}: {exc}",
                file=sys.stderr,
                flush=True,
            )
            self._reply(request, 502, {"content-type": "application/json"}, b'{"message": "Internal server error"}')
            return
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        status = int(response.get("statusCode", 200))
        if self.observe is not None:
            self.observe(request.command, request.path, status, ran_s)
        self._reply(request, status, headers, data)

    def _refuse(self, request: BaseHTTPRequestHandler, response_type: str) -> None:
        """API Gateway's own answer (a gateway response, in the envelope): the function is not invoked."""
        answer = access.GATEWAY_RESPONSES[response_type]
        self._reply(request, answer.status, {"content-type": "application/json"}, json.dumps(answer.body()).encode())

    def _admit(self, method: str, path: str, header: Callable[[str], str | None]) -> dict[str, Any]:
        if self.access_checks is not None:
            return self.access_checks.admit(method, path, header)
        resource = access.resource_for(path)
        if resource is None or not resource.allows(method):
            raise Refusal("MISSING_AUTHENTICATION_TOKEN")
        if resource.access is not access.Access.PUBLIC:
            raise Refusal("INVALID_API_KEY" if resource.access is access.Access.INGEST else "UNAUTHORIZED")
        return {"resourcePath": resource.path}

    def _replace_functions(self, broken: ProcessPoolExecutor) -> None:
        """A function process died (killed, out of memory): like Lambda, start fresh execution environments for the
        next requests instead of failing every one of them. (A ProcessPoolExecutor breaks as a whole, so requests in
        flight on its other processes get a 502 too.)"""
        with self._functions_lock:
            if self.functions is broken:
                self.functions = self._new_functions()
                broken.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":  # a HEAD answer has the GET answer's headers and no body
            request.wfile.write(data)
