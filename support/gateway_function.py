"""A tiny Lambda proxy handler for the local gateway's tests: answers its process id, or dies on /dashboard/crash
(public paths: the gateway lets them through without a credential)."""

import json
import os


def handler(event: dict, context: object) -> dict:
    if event["path"] == "/dashboard/crash":
        os._exit(1)  # the execution environment dies mid-invocation
    body = {
        "pid": os.getpid(),
        "path": event["path"],
        "query": event["queryStringParameters"],
        "body": event["body"],
        "received_ms": event["requestContext"]["requestTimeEpoch"],
    }
    return {"statusCode": 201, "headers": {"x-echo": "yes"}, "body": json.dumps(body)}
