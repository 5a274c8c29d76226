"""The cost model's meter (headcount/local/meter.py) against what was actually written: on a small run of the fold and
of the publisher, the write units it counted at the SDK equal the units of the items DynamoDB holds afterwards (one
per started KiB of each item written), and a Query's read units those of the items it read (per started 4 KiB)."""

import json
import math
import random

import boto3

from headcount import names
from headcount.core import keys, sketches
from headcount.core.deltas import Record
from headcount.local.meter import Meter
from headcount.logic.folding import ShardMarks, fold_batch
from headcount.views.aws import item_size
from headcount.views.batch import BatchRow, DynamoBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import DynamoRealtimeStore

NOW = 1_795_000_000_000
SHARD = "shardId-000000000000"
CATALOG = load_catalog()


def metered(tmp_path, process: str):
    meter = Meter(tmp_path, process)
    ddb = boto3.session.Session().client("dynamodb")
    meter.attach("dynamodb", ddb)
    return meter, ddb


def lines(meter: Meter) -> list[dict]:
    return [json.loads(text) for text in meter.path.read_text().splitlines()]


def stored(table: str) -> dict[tuple[str, str], dict]:
    """What the table holds, read on a client the meter does not see."""
    pages = boto3.session.Session().client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {(i["pk"]["S"], i["sk"]["S"]): i for page in pages for i in page["Items"]}


def units(item: dict, per: int) -> int:
    return math.ceil(item_size(item) / per)


def game(n: int, seed: int, start_seq: int) -> list[Record]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        doc = {
            "event_id": f"e{seed}-{i}",
            "type": rng.choice(["session_start", "match_end", "ad_impression"]),
            "player_id": f"p{rng.randrange(5000)}",
            "ts": NOW - rng.randrange(2 * 86_400_000),
            "attrs": {"country": rng.choice(["DE", "US", "FR", "BR"])},
        }
        out.append(Record(json.dumps(doc).encode(), start_seq + i, NOW))
    return out


def test_the_folds_counted_write_units_are_those_of_the_items_it_wrote(aws, tmp_path):
    meter, ddb = metered(tmp_path, "fold-test")
    store, marks = DynamoRealtimeStore(names.REALTIME_TABLE, ddb=ddb), ShardMarks(every_ms=0)
    expected_put = 0
    before: dict = {}
    for batch in range(3):  # new items, then the same items again (sketches grown past a KiB, counters)
        report = fold_batch(game(1500, batch, 10**30 * (batch + 1)), SHARD, store, CATALOG, "UTC", 35, NOW, marks)
        assert report.first_failed_sequence_number is None
        after = stored(names.REALTIME_TABLE)
        written = {k: i for k, i in after.items() if k[0] != keys.SHARDS_PK and before.get(k) != i}
        assert len(written) == report.items_written > 0
        expected_put += sum(units(i, 1024) for i in written.values())
        before = after
    counted = lines(meter)
    puts = [line for line in counted if line["op"] == "PutItem"]
    assert sum(line["wru"] for line in puts) == expected_put  # every item write seen, once, at its size
    assert max(line["wru"] for line in puts) >= 3  # the day sketches are several KiB: the count follows the size
    # the shard's status, by UpdateItem (its days once, its watermark each batch), billed by its size after the update
    (status,) = [i for k, i in before.items() if k[0] == keys.SHARDS_PK]
    updates = [line["wru"] for line in counted if line["op"] == "UpdateItem"]
    assert updates == [units(status, 1024)] * 4


def test_the_publishers_counted_write_units_are_those_of_the_items_it_wrote(aws, tmp_path):
    meter, ddb = metered(tmp_path, "stack")
    view = DynamoBatchView(names.BATCH_TABLE)
    view.ddb = ddb
    day = "2026-11-20"
    sketch = sketches.new_sketch(12)
    sketches.update_all(sketch, (f"p{i}" for i in range(3000)))
    rows = [BatchRow("active_players_by_country", day, day, c, 3000, sketches.encode(sketch)) for c in ("DE", "US")]
    view.publish("active_players_by_country", day, rows, "run-1")
    held = stored(names.BATCH_TABLE)
    marker = held.pop(("active_players_by_country", keys.PUBLISHED_SK))  # the publications' version, by UpdateItem
    assert len(held) == 4  # two rows, the day's union row, the publication (the lease is gone)
    counted = lines(meter)
    written = sum(line["wru"] for line in counted if line["op"] in ("BatchWriteItem", "PutItem"))
    lease = [line for line in counted if line["op"] in ("PutItem", "DeleteItem") and line["wru"] == 1]
    # the rows, union and publication as held, plus the lease's put (well under a KiB)
    assert written == sum(units(i, 1024) for i in held.values()) + 1
    assert [line["wru"] for line in counted if line["op"] == "UpdateItem"] == [units(marker, 1024)]
    assert {line["op"] for line in lease} >= {"PutItem", "DeleteItem"}


def test_a_querys_counted_read_units_are_those_of_the_items_it_read(aws, tmp_path):
    fold_batch(game(800, 7, 10**30), SHARD, DynamoRealtimeStore(names.REALTIME_TABLE), CATALOG, "UTC", 35, NOW)
    meter, ddb = metered(tmp_path, "serve")
    day = next(k[0].split("#")[1] for k in stored(names.REALTIME_TABLE) if k[0].startswith("active_players#"))
    items = DynamoRealtimeStore(names.REALTIME_TABLE, ddb=ddb).day_items("active_players_by_country", day)
    assert items
    partition = [i for k, i in stored(names.REALTIME_TABLE).items() if k[0] == f"active_players_by_country#{day}"]
    (query,) = [line for line in lines(meter) if line["op"] == "Query"]
    # consistent: one unit per started 4 KiB of all the items read, whatever the projection returned
    assert query["rru"] == math.ceil(sum(item_size(i) for i in partition) / 4096)
