"""The business alarms (infra/business.py): the function that puts today's KPIs so far, its schedule, an anomaly
detection alarm per KPI, the alarm on missing values, and their widgets."""

import json

import pytest
from aws_cdk import App, Stack

from headcount import names
from headcount.cost.bill import BUSINESS_KPIS
from headcount.logic.business import today_so_far_metrics
from headcount.views.catalog_file import load_catalog
from infra import parameters
from infra.parameters import ContextError, read_parameters
from tests.infra.conftest import DEPLOY_ENV, cdk_context, synthesize

KPIS = [m.name for m in today_so_far_metrics(load_catalog())]


def _function(template) -> tuple[str, dict]:
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": names.BUSINESS_FUNCTION}}
    )
    assert len(functions) == 1
    return next(iter(functions.items()))


def _statements(template, role_id: str) -> list[dict]:
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def _alarms(template) -> dict[str, dict]:
    return {
        a["Properties"]["AlarmName"]: {**a["Properties"], "DependsOn": a.get("DependsOn", [])}
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }


def _today_so_far(stat: dict, kpi: str) -> bool:
    metric = stat["Metric"]
    return (
        metric["Namespace"] == names.POWERTOOLS_NAMESPACE
        and metric["MetricName"] == names.METRIC_TODAY_SO_FAR
        and {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        == {"service": names.POWERTOOLS_SERVICE, names.TODAY_SO_FAR_DIMENSION: kpi}
        and stat["Period"] == 60 * names.BUSINESS_EVERY_MINUTES
    )


def test_the_kpis_are_unique_players_new_players_and_matches():
    # The default catalog's; the bill prices as many (headcount/cost/bill.py)
    assert set(KPIS) == {"active_players", "new_players", "matches_played"}
    assert len(KPIS) == BUSINESS_KPIS


def test_the_function_reads_the_views_and_puts_only_its_namespace(template):
    _, function = _function(template)
    props = function["Properties"]
    assert props["Handler"] == "functions.business.handler.handler"
    assert props["Runtime"] == "python3.11"
    variables = props["Environment"]["Variables"]
    assert variables["HEADCOUNT_REALTIME_TABLE"]["Ref"].startswith("RealtimeTable")
    assert variables["HEADCOUNT_BATCH_TABLE"]["Ref"].startswith("BatchTable")
    assert variables["HEADCOUNT_STREAM"]["Ref"].startswith("IngestEvents")
    assert variables["HEADCOUNT_TZ"] == "UTC"
    (notifications,) = template.find_resources(
        "AWS::DynamoDB::Table", {"Properties": {"TableName": names.NOTIFICATIONS_TABLE}}
    )
    statements = _statements(template, props["Role"]["Fn::GetAtt"][0])
    actions = {a for s in statements for a in _actions(s)}
    # Given the serve function's reads (both views, the stream's shards) / Then the same, and nothing it could change
    # (its writes are the notifications' own: tests/infra/test_notifications.py)
    assert {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem", "kinesis:ListShards"} <= actions
    views = [s for s in statements if s["Resource"] != {"Fn::GetAtt": [notifications, "Arn"]}]
    assert not {
        a for s in views for a in _actions(s) if a.split(":")[1].startswith(("Put", "Update", "Delete", "BatchWrite"))
    } - {
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    [put] = [s for s in statements if "cloudwatch:PutMetricData" in _actions(s)]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": names.POWERTOOLS_NAMESPACE}}


def test_a_schedule_invokes_it_every_five_minutes_with_its_scheduled_time(template):
    function_id, _ = _function(template)
    [schedule] = [
        s["Properties"]
        for s in template.find_resources("AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert schedule["ScheduleExpression"] == f"rate({names.BUSINESS_EVERY_MINUTES} minutes)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(schedule["Target"]["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    # its role may invoke this function and nothing else
    role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    [invoke] = _statements(template, role_id)
    assert _actions(invoke) == ["lambda:InvokeFunction"]
    assert json.dumps(invoke["Resource"]).count(function_id) == 2  # the function, and its versions (":*")
    # and Lambda drops a run that waited more than two periods (its values would be stamped in the past)
    [config] = template.find_resources(
        "AWS::Lambda::EventInvokeConfig", {"Properties": {"FunctionName": {"Ref": function_id}}}
    ).values()
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 2 * 60 * names.BUSINESS_EVERY_MINUTES


def test_each_kpi_has_an_anomaly_detection_alarm_below_its_band_to_the_topic(template):
    alarms = _alarms(template)
    (topic_id,) = template.find_resources("AWS::SNS::Topic", {"Properties": {"TopicName": names.ALARM_TOPIC}})
    detectors = template.find_resources("AWS::CloudWatch::AnomalyDetector")
    for kpi in KPIS:
        alarm = alarms[f"headcount-{kpi.replace('_', '-')}-below-usual"]
        # Given the band expression on the KPI's metric, the one the threshold is / Then below its lower bound alarms
        [band] = [m for m in alarm["Metrics"] if "Expression" in m]
        [value] = [m for m in alarm["Metrics"] if "MetricStat" in m]
        assert alarm["ThresholdMetricId"] == band["Id"]
        assert band["Expression"] == f"ANOMALY_DETECTION_BAND({value['Id']}, 3)"
        assert _today_so_far(value["MetricStat"], kpi) and value["MetricStat"]["Stat"] == "Maximum"
        assert band["ReturnData"] is True and value["ReturnData"] is True  # CloudWatch wants both returned
        assert alarm["ComparisonOperator"] == "LessThanLowerThreshold"
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
        assert alarm["TreatMissingData"] == "ignore"  # missing values are the next alarm's news
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        # and its model is the stack's, made before it, for the same metric and statistic
        [detector_id] = alarm["DependsOn"]
        model = detectors[detector_id]["Properties"]["SingleMetricAnomalyDetector"]
        assert (model["MetricName"], model["Stat"]) == (names.METRIC_TODAY_SO_FAR, "Maximum")
        assert {d["Name"]: d["Value"] for d in model["Dimensions"]}[names.TODAY_SO_FAR_DIMENSION] == kpi
        assert "Configuration" not in detectors[detector_id]["Properties"]  # UTC: the model's own zone


def test_missing_values_of_any_kpi_alarm_as_breaching(template):
    alarm = _alarms(template)["headcount-business-metrics-missing"]
    (topic_id,) = template.find_resources("AWS::SNS::Topic", {"Properties": {"TopicName": names.ALARM_TOPIC}})
    [expression] = [m for m in alarm["Metrics"] if "Expression" in m]
    counts = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    # Given one SampleCount per KPI, each filled with 0 where no value came / Then the least of them under 1 alarms
    assert expression["Expression"] == f"MIN([{', '.join(f'FILL({i}, 0)' for i in counts)}])"
    assert expression["ReturnData"] is True and not any(
        m.get("ReturnData") for m in alarm["Metrics"] if "MetricStat" in m
    )
    assert sorted(kpi for kpi in KPIS for stat in counts.values() if _today_so_far(stat, kpi)) == sorted(KPIS)
    assert {stat["Stat"] for stat in counts.values()} == {"SampleCount"}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
    assert alarm["TreatMissingData"] == "breaching"  # no value at all: the function is not running
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_the_dashboard_draws_each_kpi_against_its_band(template):
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "<ref>" for p in parts))
    widgets = [w["properties"] for w in body["widgets"] if w["properties"].get("title", "").startswith("Today so far")]
    assert len(widgets) == len(KPIS)
    for kpi, widget in zip(KPIS, widgets, strict=True):
        value, band = widget["metrics"]
        assert value[:6] == [
            names.POWERTOOLS_NAMESPACE,
            names.METRIC_TODAY_SO_FAR,
            "metric",
            kpi,
            "service",
            "headcount",
        ]
        assert value[-1]["stat"] == "Maximum"
        assert band[0]["expression"] == f"ANOMALY_DETECTION_BAND({value[-1]['id']}, 3)"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A wider band, and a reporting zone with daylight saving."""
    from aws_cdk.assertions import Template

    context = {parameters.ANOMALY_BAND_CONTEXT: "4.5", parameters.TZ_CONTEXT: "Europe/Berlin"}
    synthesized = synthesize(tmp_path_factory.mktemp("business"), cdk_context(**context), DEPLOY_ENV)
    assert synthesized.error is None, synthesized.error
    return Template.from_json(synthesized.template)


def test_the_band_width_and_the_zone_reach_the_alarms_and_the_models(tuned):
    alarms = _alarms(tuned)
    for kpi in KPIS:
        [band] = [m for m in alarms[f"headcount-{kpi.replace('_', '-')}-below-usual"]["Metrics"] if "Expression" in m]
        assert band["Expression"].endswith(", 4.5)")
    models = tuned.find_resources("AWS::CloudWatch::AnomalyDetector").values()
    assert len(models) == len(KPIS)
    assert {m["Properties"]["Configuration"]["MetricTimeZone"] for m in models} == {"Europe/Berlin"}
    _, function = _function(tuned)
    assert function["Properties"]["Environment"]["Variables"]["HEADCOUNT_TZ"] == "Europe/Berlin"


@pytest.mark.parametrize("value", ["0", "-1", "wide", "nan"])
def test_a_bad_band_width_fails_the_synth_with_its_key(value):
    with pytest.raises(ContextError, match=parameters.ANOMALY_BAND_CONTEXT):
        read_parameters(Stack(App(context={parameters.ANOMALY_BAND_CONTEXT: value}), "Probe").node)
