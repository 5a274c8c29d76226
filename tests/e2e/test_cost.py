"""`headcount cost` on a small run: a metered one-shard local stack driven at a low rate, then billed. What the meter
counted must be what the pipeline did: every record the API put was folded, every request billed."""

import pytest

from headcount.cost import prices
from headcount.cost.bill import read_lines
from headcount.cost.report import bill_of, print_bill, usage_of
from headcount.cost.run import Load, cleanup, measure
from headcount.local.meter import PUT_PAYLOAD_UNIT_BYTES
from headcount.views.catalog_file import load_catalog

pytestmark = pytest.mark.e2e  # starts processes of the local stack: `-m "not e2e"` leaves it out

PORTS = {
    "moto_port": 15566,
    "kinesis_port": 15567,
    "api_port": 18180,
    "sink_port": 15591,
}  # none of the other tests' ports


def test_a_short_metered_run_bills_what_the_pipeline_did():
    # Given a small load: 40 events/s from 20,000 daily players, in requests of 10 events, one dashboard polling
    load = Load("small", events_per_s=40.0, daily_players=20_000, shards=1, dashboards=1)
    # When the stack is driven through the day's three moments, 4 s each, with a 1 s batching window
    run = measure(load, 1.0, 4.0, load_catalog(), progress=lambda _line: None, ports=PORTS)
    try:
        lines = read_lines(run.meter_dir)
        usage = usage_of(run)
        b = bill_of(run, 1)
    finally:
        cleanup(run)
    # Then every event sent went in, one record per request (a player's events share a record)...
    sent = sum(phase.events for phase in run.phases)
    assert sent >= 300 and run.requests_refused == 0
    puts = [line for line in lines if line.get("op") == "PutRecords" and line["process"].startswith("serve")]
    assert sum(line["records"] for line in puts) == sent // load.events_per_request
    assert all(size < PUT_PAYLOAD_UNIT_BYTES for line in puts for size in line["sizes"])
    # ... and the fold folded every record the API put, and the marker the run puts after each moment (unmetered: the
    # run's own) to know when the fold has caught up
    folded = sum(line["records"] for line in lines if line.get("function") == "fold")
    put = sum(line["records"] for line in lines if line.get("op") in ("PutRecords", "PutRecord"))
    assert put == sum(line["records"] for line in puts)
    assert folded == put + len(run.phases)
    # the fold wrote units, the API answered each request it was billed for, and records waited a few seconds at most
    assert usage.wru["realtime/fold"] > 0 and usage.serve_requests >= sent // load.events_per_request
    assert 0 < b.freshness_p50_s <= b.freshness_p95_s < 30
    dollars = {line.what: line.dollars for line in b.lines}
    assert dollars["1 shard(s)"] == prices.HOURS_PER_MONTH * prices.KINESIS_SHARD_HOUR
    assert b.total() > b.total("real-time") > dollars["1 shard(s)"]
    printed: list[str] = []
    print_bill(b, printed.append)
    assert any(line.startswith("real-time layer: $") for line in printed)
