"""Shared fixtures. Nothing here reaches beyond 127.0.0.1: AWS calls go to moto, in-process or as a local server."""

from __future__ import annotations

import os

import pytest

# Fake credentials and no endpoint leaks from the developer's shell: tests never talk to real AWS.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Headcount",
    }
)


@pytest.fixture
def aws():
    """In-process moto with the stack's tables and queue."""
    from moto import mock_aws

    from headcount import names
    from headcount.aws import client
    from headcount.local import resources

    client.cache_clear()
    with mock_aws():
        resources.create_table(names.REALTIME_TABLE, ttl_attribute="expires_at")
        resources.create_table(names.BATCH_TABLE)
        yield
    client.cache_clear()
