"""Create the stack's resources on the emulators, under the names the CDK stack uses. Idempotent."""

from __future__ import annotations

import contextlib
import time

from botocore.exceptions import ClientError

from headcount import names
from headcount.views.aws import client

ACCOUNT = names.LOCAL_ACCOUNT_ID


def stream_arn(stream: str = names.STREAM) -> str:
    return f"arn:aws:kinesis:{names.REGION}:{ACCOUNT}:stream/{stream}"


def create_stream(shards: int, stream: str = names.STREAM) -> None:
    kinesis = client("kinesis")
    try:
        kinesis.create_stream(StreamName=stream, ShardCount=shards)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    for _ in range(100):
        if kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise TimeoutError(f"stream {stream} did not become ACTIVE")


def create_table(name: str, ttl_attribute: str | None = None, *, sort_key: bool = True) -> None:
    """A table keyed by (`pk`, `sk`) strings, or `pk` alone without `sort_key`."""
    ddb = client("dynamodb")
    keys = {"pk": "HASH", "sk": "RANGE"} if sort_key else {"pk": "HASH"}
    try:
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
            KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys.items()],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    if ttl_attribute:
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
        )


def recreate_table(name: str, ttl_attribute: str | None = None) -> None:
    """The table again, empty (the local stack's real-time view, rebuilt by `headcount replay`)."""
    ddb = client("dynamodb")
    with contextlib.suppress(ddb.exceptions.ResourceNotFoundException):
        ddb.delete_table(TableName=name)
        ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    create_table(name, ttl_attribute)


def create_queue(name: str) -> str:
    return client("sqs").create_queue(QueueName=name)["QueueUrl"]


LOCAL_EMAIL_FROM = "headcount@example.com"  # the local SES' verified sender (moto's SES sends from verified ones only)


def create_all(shards: int) -> None:
    create_stream(shards)
    create_table(names.REALTIME_TABLE, ttl_attribute="expires_at")
    create_table(names.BATCH_TABLE)
    create_queue(names.ON_FAILURE_QUEUE)
    create_notifications()
    create_erasures()


def create_erasures() -> None:
    """The erasures' table: the requests to forget players, their receipts and the players whose events are dropped,
    keyed by `pk` alone (headcount/views/erasure_store.py)."""
    create_table(names.ERASURES_TABLE, sort_key=False)


def create_notifications() -> str:
    """The notifications' table, dead-letter queue and SES sender; returns the queue's URL."""
    create_table(names.NOTIFICATIONS_TABLE, ttl_attribute="expires_at")
    client("ses").verify_email_identity(EmailAddress=LOCAL_EMAIL_FROM)
    return create_queue(names.DELIVERY_DEAD_LETTERS)
