"""AWS clients, made on first use and cached.

Endpoints come from boto3's standard variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS, ...), so the same code talks to
AWS or to the emulators on 127.0.0.1.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config


@cache
def client(service: str, region: str | None = None, *, call_budget_s: int | None = None) -> Any:
    """A client with boto's standard retries; with `call_budget_s`, one that gives up on a call within about that many
    seconds and leaves retrying to the caller (a request that must answer before API Gateway's 29 s)."""
    if call_budget_s is None:
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
    else:
        connect = max(1, call_budget_s // 3)
        config = Config(
            retries={"mode": "standard", "max_attempts": 1},
            connect_timeout=connect,
            read_timeout=call_budget_s - connect,
        )
    return boto3.session.Session().client(service, region_name=region, config=config)
