"""For the tests that run `headcount up` as its own process: waiting for it, and clients of its emulators."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import boto3

from headcount.local.access import DEMO_KEY, TOKEN_REUSE_S, find_access, tools_token
from headcount.local.config import LocalConfig


def wait_healthy(config: LocalConfig, process: subprocess.Popen, state: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"headcount up exited: {(state / 'up.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{config.api_port}/v1/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("the local stack did not become healthy in 90 s")


def local_client(service: str, port: int):  # noqa: ANN201 - a boto3 client
    """A boto3 client of an emulator on 127.0.0.1 (fake credentials: never AWS)."""
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


_TOKENS: dict[int, tuple[float, str]] = {}  # per moto port: when fetched, the token


def read_headers(config: LocalConfig) -> dict[str, str]:
    """The headers a tool reads the stack's API with: a token of the tools' client (client credentials), kept for 50
    minutes of its hour. Every local stack's pool has the same id and moto one signing key, so a token stays good across
    the stacks and restarts of a test run."""
    fetched, token = _TOKENS.get(config.moto_port, (float("-inf"), ""))
    if time.monotonic() - fetched > TOKEN_REUSE_S:
        found = find_access(
            idp=local_client("cognito-idp", config.moto_port), apigateway=local_client("apigateway", config.moto_port)
        )
        token = tools_token(f"http://127.0.0.1:{config.api_port}", found)
        _TOKENS[config.moto_port] = (time.monotonic(), token)
    return {"Authorization": f"Bearer {token}"}


def ingest_headers() -> dict[str, str]:
    """The headers a game posts events to a local stack with: the demo's ingest key."""
    return {"x-api-key": DEMO_KEY, "content-type": "application/json"}
