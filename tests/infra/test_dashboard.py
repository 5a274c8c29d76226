"""The CloudWatch dashboard: one widget set per layer, and the business numbers the functions and the job report."""

import json
import re

from headcount import names
from headcount.core.events import Reason
from headcount.logic.ingest import STREAM_THROTTLED, STREAM_UNCONFIRMED
from infra.dashboard import EMF_METRICS
from tests.infra.conftest import REPO_ROOT


def _body(template) -> dict:
    """The dashboard's body, its references rendered as <Ref> / <Arn of ...>."""
    dashboards = template.find_resources("AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    props = next(iter(dashboards.values()))["Properties"]
    assert props["DashboardName"] == names.DEFAULT_NAMES.dashboard == "headcount"
    parts = props["DashboardBody"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "<ref>" for p in parts))


def _metrics(body: dict) -> list[tuple[str, str, dict[str, str], dict]]:
    """Every metric of every widget: (namespace, name, dimensions, options); math expressions left out."""
    found = []
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            options = row[-1] if isinstance(row[-1], dict) else {}
            fields = [f for f in row if not isinstance(f, dict)]
            if len(fields) >= 2:
                namespace, name, *dims = fields
                found.append((namespace, name, dict(zip(dims[::2], dims[1::2], strict=True)), options))
    return found


def _widget(body: dict, title: str) -> dict:
    [widget] = [w for w in body["widgets"] if w["properties"].get("title", "").startswith(title)]
    return widget["properties"]


def test_pipeline_health_widgets_have_their_metrics(template):
    metrics = {(ns, name, options.get("stat")) for ns, name, _, options in _metrics(_body(template))}
    assert {
        ("AWS/Kinesis", "IncomingRecords", "Sum"),
        ("AWS/Kinesis", "IncomingBytes", "Sum"),
        ("AWS/Lambda", "IteratorAge", "Maximum"),
        ("AWS/Lambda", "Errors", "Sum"),
        ("AWS/Lambda", "Throttles", "Sum"),
        ("AWS/Lambda", "Duration", "p50"),
        ("AWS/Lambda", "Duration", "p99"),
        ("AWS/Lambda", "ConcurrentExecutions", "Maximum"),
        ("AWS/DynamoDB", "ConsumedWriteCapacityUnits", "Sum"),
        ("AWS/DynamoDB", "ConsumedReadCapacityUnits", "Sum"),
        ("AWS/DynamoDB", "ReadThrottleEvents", "Sum"),
        ("AWS/DynamoDB", "WriteThrottleEvents", "Sum"),
        ("AWS/Firehose", "DeliveryToS3.DataFreshness", "Maximum"),
        ("AWS/Firehose", "DeliveryToS3.Success", None),  # Average, the default
        ("AWS/ApiGateway", "Count", "Sum"),
        ("AWS/ApiGateway", "4XXError", "Sum"),
        ("AWS/ApiGateway", "5XXError", "Sum"),
        ("AWS/ApiGateway", "Latency", "p99"),
        ("AWS/Events", "TriggeredRules", "Sum"),  # the nightly job's FAILED / TIMEOUT rules
    } <= metrics


def test_stream_records_are_drawn_per_second_against_the_fold_and_the_shards_capacity(template):
    widget = _widget(_body(template), "Stream in (records/s)")
    assert widget["metrics"][0][0]["expression"] == "m / PERIOD(m)"
    assert widget["metrics"][2][1] == "IteratorAge" and widget["metrics"][2][-1]["yAxis"] == "right"
    # one shard (the default): 1,000 records/s
    assert {(a["value"], a["yAxis"]) for a in widget["annotations"]["horizontal"]} == {(1000, "left"), (60000, "right")}


def test_both_tables_are_on_the_dynamodb_widgets(template):
    labels = {options["label"] for ns, _, _, options in _metrics(_body(template)) if ns == "AWS/DynamoDB"}
    for view in ("real-time", "batch"):
        for name in ("ConsumedWriteCapacityUnits", "ConsumedReadCapacityUnits", "ReadThrottleEvents"):
            assert f"{view} {name}" in labels


def test_every_alarm_is_on_the_dashboard(template):
    widget = _widget(_body(template), "Alarms")
    from headcount.cost.bill import ALARMS

    assert len(widget["alarms"]) == len(template.find_resources("AWS::CloudWatch::Alarm")) == ALARMS


def test_business_metrics_are_the_functions_emf_metrics_with_the_service_dimension(template):
    metrics = [(name, dims) for ns, name, dims, _ in _metrics(_body(template)) if ns == names.POWERTOOLS_NAMESPACE]
    assert all(dims["service"] == names.POWERTOOLS_SERVICE for _, dims in metrics)
    totals = {name for name, dims in metrics if set(dims) == {"service"}}
    assert {"EventsAccepted", "EventsFolded", "EventsRejected", "WriteUnits", "ItemsWritten"} <= totals
    # each name is one the functions emit (headcount/observability.py), not a typo that would draw nothing
    source = (REPO_ROOT / "headcount" / "observability.py").read_text()
    emitted = set(re.findall(r'name="(\w+)"|count_by\("(\w+)"', source))
    emitted = {name for pair in emitted for name in pair if name} | {names.METRIC_EVENTS_REJECTED}
    assert set(EMF_METRICS) <= emitted


def test_rejected_events_are_drawn_by_every_reason(template):
    metrics = [(name, dims) for ns, name, dims, _ in _metrics(_body(template)) if ns == names.POWERTOOLS_NAMESPACE]
    by_reason = {(name, dims["reason"]) for name, dims in metrics if "reason" in dims}
    reasons = {reason.value for reason in Reason}
    assert {reason for name, reason in by_reason if name == "EventsRejected"} == reasons
    assert {reason for name, reason in by_reason if name == "PostedEventsRejected"} == reasons | {
        STREAM_THROTTLED,
        STREAM_UNCONFIRMED,
    }


def test_nightly_job_metrics_show_the_last_run_and_a_series(template):
    body = _body(template)
    last = _widget(body, "Nightly job: last run")
    assert last["view"] == "singleValue" and last["start"] == "-P7D"
    series = _widget(body, "Nightly job: per run")
    assert series["view"] == "timeSeries"
    run = {(names.METRIC_NIGHTLY_RUN_SECONDS, "Maximum", 86400), (names.METRIC_NIGHTLY_DAYS_COMPUTED, "Maximum", 86400)}
    # the series shows the days without input too, what the nightly-days-without-input alarm watches
    without_input = (names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT, "Maximum", 86400)
    for widget, expected in ((last, run), (series, run | {without_input})):
        shown = {(row[1], row[-1]["stat"], row[-1]["period"]) for row in widget["metrics"]}
        assert shown == expected


def test_the_stack_outputs_the_dashboard_url(template):
    outputs = template.to_json()["Outputs"]
    url = "".join(p if isinstance(p, str) else "<region>" for p in outputs["DashboardUrl"]["Value"]["Fn::Join"][1])
    assert url.endswith("#dashboards/dashboard/headcount")
    assert {"AlarmTopicArn", "LakeBucketName"} <= set(outputs)
