"""The local stack's moto (headcount/local/moto_server.py): a Query reads its partition only and answers exactly what
moto's own Query answers, page for page, for the Queries the views send and the edges of the key conditions."""

from __future__ import annotations

import random

import boto3
import pytest
from moto import mock_aws

from headcount.local import moto_server

QUERIES = [
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "m#2026-12-01"}}},
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "nobody"}}},
    {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
        "ExpressionAttributeValues": {":pk": {"S": "m#2026-12-02"}, ":p": {"S": "b1#"}},
    },
    {
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":pk": {"S": "m#2026-12-03"}, ":a": {"S": "b0"}, ":b": {"S": "b2"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :pk AND sk > :a",
        "ExpressionAttributeValues": {":pk": {"S": "m#2026-12-01"}, ":a": {"S": "b2"}, ":n": {"N": "20"}},
        "FilterExpression": "n < :n",
        "ProjectionExpression": "sk, n",
    },
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "m#2026-12-02"}}, "Limit": 7},
    {
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "m#2026-12-03"}},
        "ConsistentRead": True,
        "Select": "COUNT",
    },
]


def _answers(ddb) -> list:
    """Every query's pages (Items, Count, ScannedCount, LastEvaluatedKey), and a Scan."""
    answers = []
    for query in QUERIES:
        pages = ddb.get_paginator("query").paginate(TableName="t", **query)
        answers.append(
            [{k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")} for page in pages]
        )
    answers.append(ddb.scan(TableName="t")["Items"])
    answers.append(
        ddb.query(TableName="u", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "k3"}})[
            "Items"
        ]
    )
    return answers


@pytest.fixture
def tables():
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        for name, keys in (("t", ("pk", "sk")), ("u", ("pk",))):
            ddb.create_table(
                TableName=name,
                KeySchema=[
                    {"AttributeName": k, "KeyType": t}
                    for k, t in zip(keys, ("HASH", "RANGE")[: len(keys)], strict=True)
                ],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        rng = random.Random(7)
        for i in range(300):  # partitions of 0 to 40 items, put in no order
            day = rng.choice(["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"])
            item = {
                "pk": {"S": f"m#{day}"},
                "sk": {"S": f"b{rng.randrange(4)}#g{i}"},
                "n": {"N": str(rng.randrange(40))},
            }
            ddb.put_item(TableName="t", Item=item)
        for i in range(10):
            ddb.put_item(TableName="u", Item={"pk": {"S": f"k{i}"}, "v": {"S": "x" * i}})
        yield ddb


def test_a_query_answers_what_motos_own_query_answers(tables):
    was_patched = moto_server.is_patched()
    moto_server.unpatch()
    try:
        theirs = _answers(tables)
        moto_server.patch()
        ours = _answers(tables)
    finally:
        (moto_server.patch if was_patched else moto_server.unpatch)()
    assert ours == theirs
    assert any(len(pages) > 1 for pages in ours[: len(QUERIES)])  # a Limit paged
    assert all(ours[i][0]["Count"] > 0 for i in (0, 2, 3, 6))


def test_a_query_reads_its_partition_only(tables, monkeypatch):
    """The items moto's Query goes through are the partition's, not the whole table's (300 items)."""
    from moto.dynamodb.models.table import Table

    moto_server.patch()
    read = []
    patched = Table.all_items
    monkeypatch.setattr(Table, "all_items", lambda self: read.append(len(items := patched(self))) or items)
    answer = tables.query(
        TableName="t", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "m#2026-12-01"}}
    )
    assert read == [answer["Count"]] and 0 < answer["Count"] < 300
    tables.scan(TableName="t")
    assert read[1:] == [300]
