"""The nightly job's own metrics (headcount/batch/job.py, `report_run`): what the dashboard's "last run" reads. Put from
a run's result against moto in-process; then a whole (tiny) run against a moto server, as the local stack runs it, and
against an endpoint nobody answers."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from headcount import names
from headcount.batch.job import report_run, run_job, run_metrics_wanted
from headcount.batch.plan import JobOptions, JobResult

RESULT = JobResult(
    run_id="20261126T020000Z-abc123",
    day="2026-11-25",
    days=["2026-11-23", "2026-11-24", "2026-11-25"],
    skipped=[],
    partitions=["2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"],
    counts_uri="s3://lake/counts/",
    seconds=123.5,
    without_input=["2026-11-25"],
    service="headcount-staging",
)


def _latest(cloudwatch, metric: str, service: str = names.POWERTOOLS_SERVICE) -> list[dict]:
    now = datetime.now(UTC)  # moto stamps a datapoint put without a Timestamp with its own clock
    return cloudwatch.get_metric_statistics(
        Namespace=names.POWERTOOLS_NAMESPACE,
        MetricName=metric,
        Dimensions=[{"Name": "service", "Value": service}],
        StartTime=now - timedelta(days=1),
        EndTime=now + timedelta(days=1),
        Period=86400,
        Statistics=["Maximum"],
    )["Datapoints"]


def test_a_run_puts_its_seconds_and_days_with_the_dashboards_namespace_and_dimension():
    from moto import mock_aws

    from headcount.views.aws import client

    client.cache_clear()
    said: list[str] = []
    with mock_aws():
        # When a run's result is reported with the job's own client (views.aws)
        assert report_run(RESULT, progress=said.append) is True
        # Then CloudWatch holds its metrics, under the service of its stack (the job's --service)
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        [seconds] = _latest(cloudwatch, names.METRIC_NIGHTLY_RUN_SECONDS, RESULT.service)
        [days] = _latest(cloudwatch, names.METRIC_NIGHTLY_DAYS_COMPUTED, RESULT.service)
        [without_input] = _latest(cloudwatch, names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT, RESULT.service)
    client.cache_clear()
    assert (seconds["Maximum"], seconds["Unit"]) == (123.5, "Seconds")
    assert (days["Maximum"], days["Unit"]) == (3, "Count")
    assert (without_input["Maximum"], without_input["Unit"]) == (1, "Count")
    assert said and names.METRIC_NIGHTLY_RUN_SECONDS in said[0]


def test_a_failed_put_is_logged_and_never_fails_the_run(caplog):
    class Denied:
        def put_metric_data(self, **_request):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "PutMetricData")

    said: list[str] = []
    with caplog.at_level(logging.WARNING, logger="headcount.batch.job"):
        assert report_run(RESULT, cloudwatch=Denied(), progress=said.append) is False
    assert "not put into CloudWatch" in caplog.text and "AccessDenied" in caplog.text
    assert len(said) == 1 and "the run is done" in said[0]


@pytest.mark.parametrize(("endpoint", "wanted"), [(None, False), ("http://127.0.0.1:4566", True)])
def test_metrics_are_put_on_glue_or_where_boto3_points_at_an_endpoint(monkeypatch, endpoint, wanted):
    # Given no Glue here: only the local stack's endpoint (moto) makes the job put its metrics, never the default account
    if endpoint is None:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    assert run_metrics_wanted() is wanted


def _tiny_lake(lake) -> JobOptions:
    from support.raw_lake import write_raw

    ts = int(datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp() * 1000)
    events = [
        (json.dumps({"event_id": f"m-{i}", "type": "match_end", "player_id": f"p-{i}", "ts": ts}).encode(), ts)
        for i in range(3)
    ]
    write_raw(lake, events)
    return JobOptions(day=date(2026, 11, 25), lake=str(lake), run_id="run-m", days_back=0)


@pytest.fixture
def moto_endpoint(monkeypatch):
    """A moto server on 127.0.0.1, and boto3 pointed at it (as the local stack points the job at its moto)."""
    from moto.server import ThreadedMotoServer

    from headcount.views.aws import client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    client.cache_clear()
    yield f"http://127.0.0.1:{port}"
    client.cache_clear()
    server.stop()


@pytest.mark.spark
def test_the_job_puts_its_metrics_at_the_end_of_a_run_against_the_local_stacks_endpoint(spark, tmp_path, moto_endpoint):
    # Given a day in the lake and boto3 pointed at a moto server / When the job runs
    said: list[str] = []
    result = run_job(spark, _tiny_lake(tmp_path), progress=said.append)
    # Then its metrics are in that CloudWatch
    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_endpoint, region_name="us-east-1")
    [days] = _latest(cloudwatch, names.METRIC_NIGHTLY_DAYS_COMPUTED)
    [seconds] = _latest(cloudwatch, names.METRIC_NIGHTLY_RUN_SECONDS)
    assert days["Maximum"] == len(result.days) == 1
    assert seconds["Maximum"] == pytest.approx(result.seconds)
    assert said[-1].startswith("put NightlyRunSeconds")


@pytest.mark.spark
def test_the_job_succeeds_when_cloudwatch_is_out_of_reach(spark, tmp_path, monkeypatch):
    # Given an endpoint nobody listens on (connection refused, on this machine)
    from headcount.views.aws import client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    client.cache_clear()
    said: list[str] = []
    try:
        # When the job runs / Then it finishes with its result and says the metrics were not put
        result = run_job(spark, _tiny_lake(tmp_path), progress=said.append)
    finally:
        client.cache_clear()
    assert result.days == ["2026-11-25"]
    assert "were not put into CloudWatch" in said[-1]
