"""The business function's schedule on this machine (headcount/local/scheduler.py: EventBridge Scheduler's rate, the
handler in its own process against a moto server, as `headcount up` runs it) and its lines in the bill."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from headcount import names
from headcount.cost import prices
from headcount.cost.bill import (
    ALARMS,
    BUSINESS_KPIS,
    ERASURE_ALARMS,
    NOTIFICATION_ALARMS,
    PIPELINE_ALARMS,
    business_lines,
)
from headcount.local.scheduler import BUSINESS_HANDLER, RateSchedule, ScheduledFunction, scheduled_event

START = datetime(2026, 11, 18, 10, 2, 37, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_a_rate_schedule_runs_every_period_from_its_start_with_the_scheduled_time():
    # Given a 5-minute schedule started at 10:02:37
    clock = Clock(START)
    schedule = RateSchedule(300, lambda ms: None, now=clock)
    # Then nothing is due before 10:07:37, then that time, once
    clock.at = START + 299
    assert schedule.due() is None
    clock.at = START + 303.5  # the thread looks a few seconds late
    assert schedule.due() == int((START + 300) * 1000)
    assert schedule.due() is None
    # And after a long stall only the latest time that has come runs (no catch-up)
    clock.at = START + 300 * 4 + 10
    assert schedule.due() == int((START + 1200) * 1000)
    clock.at = START + 1499
    assert schedule.due() is None
    clock.at = START + 1500
    assert schedule.due() == int((START + 1500) * 1000)


def test_a_failed_run_is_reported_and_the_schedule_goes_on(capsys):
    runs: list[int] = []

    def run(ms: int) -> None:
        runs.append(ms)
        if len(runs) == 1:
            raise ConnectionError("moto is restarting")

    clock = Clock(START)
    schedule = RateSchedule(300, run, now=clock, name="business")
    clock.at = START + 300
    schedule.tick()
    clock.at = START + 600
    schedule.tick()
    assert runs == [int((START + 300) * 1000), int((START + 600) * 1000)]
    assert "business-schedule run at" in capsys.readouterr().err


def test_the_event_is_what_eventbridge_scheduler_sends():
    ms = int(datetime(2026, 11, 18, 23, 30, tzinfo=UTC).timestamp() * 1000)
    assert scheduled_event(ms) == {"scheduled_time": "2026-11-18T23:30:00Z"}


@pytest.fixture
def moto_server(monkeypatch):
    """A moto server on 127.0.0.1 with the stack's tables, boto3 pointed at it (as `headcount up` points its
    processes at its moto)."""
    from moto.server import ThreadedMotoServer

    from headcount.local import resources
    from headcount.views.aws import client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    client.cache_clear()
    try:
        resources.create_table(names.REALTIME_TABLE, ttl_attribute="expires_at")
        resources.create_table(names.BATCH_TABLE)
        resources.create_notifications()  # digests and alerts: the function evaluates them on each run
        yield f"http://127.0.0.1:{port}"
    finally:
        client.cache_clear()
        server.stop()


def test_the_local_stack_runs_the_handler_in_its_own_process_against_moto(moto_server, tmp_path):
    # Given today's matches in the real-time table of the local stack's moto
    from headcount.views.realtime import DynamoRealtimeStore, ItemKey, RealtimeItem

    now = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)
    store = DynamoRealtimeStore(names.REALTIME_TABLE)
    store.add_days("shardId-0", {"2026-11-18"}, set())
    store.advance("shardId-0", int(now.timestamp() * 1000) - 2_000, 400)
    store.write(RealtimeItem(ItemKey("matches_played", "2026-11-18", "", "shardId-0"), 1, count=17), None, 0)
    function = ScheduledFunction(
        BUSINESS_HANDLER,
        tmp_path / "business.log",
        {"HEADCOUNT_TZ": "UTC", "POWERTOOLS_TRACE_DISABLED": "true"},
        names.BUSINESS_FUNCTION,
        pid_dir=tmp_path,
    )
    try:
        # When the schedule runs it at 23:30 UTC
        answer = function(int(now.timestamp() * 1000))
        assert (tmp_path / "business.pid").exists()  # a `headcount up` killed outright: the next start stops it
    finally:
        function.stop()
    # Then it put that day's matches into moto's CloudWatch, and logged in its own file
    assert answer["day"] == "2026-11-18" and answer["put"]["matches_played"] == 17
    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_server, region_name=names.REGION)
    [point] = cloudwatch.get_metric_statistics(
        Namespace=names.POWERTOOLS_NAMESPACE,
        MetricName=names.METRIC_TODAY_SO_FAR,
        Dimensions=[
            {"Name": "service", "Value": names.POWERTOOLS_SERVICE},
            {"Name": names.TODAY_SO_FAR_DIMENSION, "Value": "matches_played"},
        ],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=10),
        Period=300,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert point["Maximum"] == 17.0
    assert "today so far put into CloudWatch" in (tmp_path / "business.log").read_text()
    assert not (tmp_path / "business.pid").exists()


def test_the_bill_prices_the_business_function_and_its_alarms():
    # Given the stack's 10 pipeline alarms, and per KPI an anomaly detection alarm, plus the missing-values one (and the
    # 2 of digests and alerts, priced in docs/cost.md, and the erasures-overdue one)
    assert ALARMS == PIPELINE_ALARMS + BUSINESS_KPIS + 1 + NOTIFICATION_ALARMS + ERASURE_ALARMS == 17
    lines = {line.what: line for line in business_lines(n_shards=1)}
    runs = 730 * 12  # every 5 minutes, a 730-hour month
    assert lines["business function runs (every 5 min)"].monthly_units == runs
    # an anomaly detection alarm is 3 alarm metrics; the missing-values alarm's math reads one metric per KPI
    assert lines["3 anomaly detection alarms"].dollars == pytest.approx(3 * 3 * prices.CLOUDWATCH_ALARM_MONTH)
    assert lines["business-metrics-missing alarm"].dollars == pytest.approx(3 * prices.CLOUDWATCH_ALARM_MONTH)
    assert lines["TodaySoFar metrics (one per KPI)"].dollars == pytest.approx(3 * prices.CLOUDWATCH_METRIC_MONTH)
    assert lines["PutMetricData calls (one a run)"].dollars == pytest.approx(runs / 1000 * 0.01)
    # the reads grow with the shards (each shard's items of today), the rest does not
    reads = {
        n: {line.what: line for line in business_lines(n)}["business function reads of today (at most)"] for n in (1, 8)
    }
    assert reads[8].monthly_units > reads[1].monthly_units
    total = sum(line.dollars for line in business_lines(1))
    assert 2.0 < total < 3.0  # docs/cost.md quotes it
