"""AWS clients, made on first use and cached.

Endpoints come from boto3's standard variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS, ...), so the same code talks to
AWS or to the emulators on 127.0.0.1.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str, region: str | None = None) -> Any:
    return boto3.session.Session().client(service, region_name=region, config=_CONFIG)
