"""The cost model's arithmetic: DynamoDB's and Kinesis' unit rules, and a bill from metered usage, priced by the table."""

import json

import pytest

from headcount import names
from headcount.cost import prices
from headcount.cost.bill import FOLD_LAYER, Disk, bill, read_lines, usage_between
from headcount.cost.run import Load, Measurement, Phase
from headcount.local.meter import put_payload_units
from headcount.views.aws import item_size, read_units, write_units


def test_an_items_size_is_its_names_and_values_as_dynamodb_counts_them():
    # names count; strings and binaries by their bytes; a number by about one byte per two significant digits, plus one
    assert item_size({"pk": {"S": "ab#ü"}}) == 2 + 5
    assert item_size({"b": {"B": b"\x00" * 10}}) == 1 + 10
    assert item_size({"n": {"N": "12345"}}) == 1 + 3 + 1
    assert item_size({"n": {"N": "-0.0012"}}) == 1 + 1 + 1
    assert item_size({"days": {"SS": ["2026-11-30", "2026-12-01"]}}) == 4 + 20


@pytest.mark.parametrize(("size", "wru", "strong", "eventual"), [(1, 1, 1, 0.5), (1024, 1, 1, 0.5), (1025, 2, 1, 0.5),
                                                                  (4096, 4, 1, 0.5), (4097, 5, 2, 1.0)])  # fmt: skip
def test_write_units_per_started_kib_read_units_per_started_4_kib(size, wru, strong, eventual):
    item = {"k": {"B": b"x" * (size - 1)}}
    assert item_size(item) == size
    assert write_units(item) == wru
    assert (read_units(size, consistent=True), read_units(size, consistent=False)) == (strong, eventual)


def test_a_kinesis_record_costs_a_put_payload_unit_per_started_25_kib():
    assert put_payload_units(b"x" * (25 * 1024 - 3), "abc") == 1
    assert put_payload_units(b"x" * (25 * 1024 - 2), "abc") == 2


def test_a_bill_prices_the_metered_rates_for_a_month_of_the_deployed_shards(tmp_path):
    # Given 10 s of one shard's traffic: 1,000 events in 100 records, 10 fold invocations, 200 write units of the fold
    load = Load("test", events_per_s=200.0, daily_players=1000, shards=2, dashboards=0)
    run = Measurement(load, 2.0, tmp_path, phases=[Phase(0.5, 100.0, 10.0, 110.0, 1000)])
    meter = tmp_path / "meter"
    meter.mkdir()
    lines = [
        {"t": 101.0, "process": "serve", "kind": "call", "service": "kinesis", "op": "PutRecords", "records": 100,
         "put_units": 100, "sizes": [2000] * 100},
        *({"t": 100.5 + i, "process": "fold-shardId-0", "kind": "call", "service": "dynamodb", "op": "PutItem",
           "table": names.REALTIME_TABLE, "wru": 20} for i in range(10)),
        *({"t": 100.7 + i, "process": "fold-shardId-0", "kind": "invoke", "function": "fold", "ms": 50.0,
           "records": 10, "waited_ms": [1000 + 100 * j for j in range(10)]} for i in range(10)),
        {"t": 99.0, "process": "fold-shardId-0", "kind": "call", "service": "dynamodb", "op": "PutItem",
         "table": names.REALTIME_TABLE, "wru": 10**6},  # before the phase: not its usage
    ]  # fmt: skip
    (meter / "all.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    usage = usage_between(read_lines(meter), [(100.0, 110.0)], 1000, 10.0)
    # When it is billed
    b = bill(run, usage, Disk(0.0, 0.0, 50.0, 0.0, 0), shards=2)
    dollars = {line.what: line.dollars for line in b.lines}
    month = prices.SECONDS_PER_MONTH
    # Then each line is the rate per second, for a month, times the 2 shards, at the table's price
    assert dollars["2 shard(s)"] == pytest.approx(2 * 730 * prices.KINESIS_SHARD_HOUR)
    assert dollars["PUT payload units"] == pytest.approx(10 * month * 2 / 1e6 * prices.KINESIS_PUT_UNITS_PER_MILLION)
    assert dollars["real-time table writes (fold)"] == pytest.approx(
        20 * month * 2 / 1e6 * prices.DYNAMODB_WRITE_UNITS_PER_MILLION
    )
    assert dollars["ingested (records rounded to 5 KiB)"] == pytest.approx(
        10 * 5 * 1024 * month * 2 / 1e9 * prices.FIREHOSE_INGEST_GB
    )
    assert b.events_per_month == pytest.approx(100 * month * 2)
    assert b.total(FOLD_LAYER) == pytest.approx(sum(line.dollars for line in b.lines if line.layer == FOLD_LAYER))
    # and freshness is the records' wait, arrival to folded: p50 and p95 of the 100 waits
    assert (b.freshness_p50_s, b.freshness_p95_s) == (pytest.approx(1.45), pytest.approx(1.9))


def test_a_batch_write_counts_the_requests_dynamodb_carried_out_not_those_it_returned(tmp_path):
    from headcount.local.meter import Meter

    big, small = {"pk": {"S": "a"}, "b": {"B": b"x" * 3000}}, {"pk": {"S": "b"}}
    params = {"RequestItems": {"t": [{"PutRequest": {"Item": big}}, {"PutRequest": {"Item": small}}]}}
    # DynamoDB returned the first (3 units) as unprocessed: only the second's unit was spent
    parsed = {"UnprocessedItems": {"t": [{"PutRequest": {"Item": big}}]}}
    assert Meter(tmp_path, "test")._batch_write(params, parsed) == {"table": "t", "wru": 1}


def test_the_ingests_front_doors_are_priced_from_the_runs_posts(tmp_path):
    # Given 10 s of one shard's traffic: 1,000 events in 100 POSTs of 10 events (5 ms each), and 10 dashboard GETs
    load = Load("test", events_per_s=100.0, daily_players=1000, shards=1, dashboards=1, events_per_request=10)
    run = Measurement(load, 2.0, tmp_path, phases=[Phase(0.5, 100.0, 10.0, 110.0, 1000)])
    meter = tmp_path / "meter"
    meter.mkdir()
    lines = [
        *({"t": 100.0 + i / 10, "process": "stack", "kind": "invoke", "function": "serve", "ms": 5.0,
           "method": "POST", "path": "/v1/events", "status": 200} for i in range(100)),
        *({"t": 100.0 + i, "process": "stack", "kind": "invoke", "function": "serve", "ms": 20.0,
           "method": "GET", "path": "/v1/metrics/active_players", "status": 200} for i in range(10)),
    ]  # fmt: skip
    (meter / "all.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    usage = usage_between(read_lines(meter), [(100.0, 110.0)], 1000, 10.0)
    assert (usage.ingest_requests, usage.serve_requests) == (100, 110)
    # When it is billed
    b = bill(run, usage, Disk(0.0, 0.0, 50.0, 0.0, 0), shards=1)
    month = prices.SECONDS_PER_MONTH
    rest, fifty, hundred, most, http, stream = b.front_doors
    assert [door.name for door in (fifty, hundred)] == [
        "REST API, 50 events a request",
        "REST API, 100 events a request",
    ]
    assert hundred.requests == pytest.approx(fifty.requests / 2)
    # Then the REST API as run has the run's POSTs a month, and the API's and web ACL's prices per request in its cost
    assert rest.requests == pytest.approx(10 * month)
    assert (
        rest.dollars > rest.requests * (prices.API_GATEWAY_REQUESTS_PER_MILLION + prices.WAF_REQUESTS_PER_MILLION) / 1e6
    )
    # 500 events a request: 50 times fewer requests, and cheaper
    assert most.requests == pytest.approx(rest.requests / 50)
    assert most.dollars < rest.dollars / 10
    # an HTTP API: the same requests at its price, without the web ACL
    assert http.requests == rest.requests
    saved = (
        rest.requests
        * (
            prices.API_GATEWAY_REQUESTS_PER_MILLION
            - prices.API_GATEWAY_HTTP_REQUESTS_PER_MILLION
            + prices.WAF_REQUESTS_PER_MILLION
        )
        / 1e6
    )
    assert rest.dollars - http.dollars == pytest.approx(saved)
    # game servers writing to the stream: no front door to pay (the stream's PUT units are in the real-time layer)
    assert (stream.requests, stream.dollars) == (0.0, 0.0)
    assert "web ACL" in rest.checks and "web ACL" in most.checks and "IAM" in stream.checks
