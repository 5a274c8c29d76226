"""The alarms and their topic."""

from aws_cdk.assertions import Match

from headcount import names


def _alarms(template) -> dict[str, dict]:
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }


def test_every_alarm_exists_and_notifies_the_topic(template):
    alarms = _alarms(template)
    assert set(alarms) == {
        "headcount-fold-iterator-age",
        "headcount-fold-errors",
        "headcount-events-rejected",
        "headcount-fold-failures-queued",
        "headcount-api-5xx",
    }
    (topic_id,) = template.find_resources("AWS::SNS::Topic", {"Properties": {"TopicName": names.ALARM_TOPIC}})
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_alarm_metrics(template):
    alarms = _alarms(template)
    assert alarms["headcount-fold-iterator-age"]["MetricName"] == "IteratorAge"
    assert alarms["headcount-fold-errors"]["MetricName"] == "Errors"
    assert alarms["headcount-fold-failures-queued"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarms["headcount-api-5xx"]["MetricName"] == "5XXError"
    # every reason at once: the fold's total, without the reason dimension (observability.report_fold)
    rejected = alarms["headcount-events-rejected"]
    assert (rejected["MetricName"], rejected["Namespace"], rejected["Statistic"]) == (
        "EventsRejected",
        "Headcount",
        "Sum",
    )
    assert rejected["Dimensions"] == [{"Name": "service", "Value": "headcount"}]


def test_glue_job_failure_and_timeout_reach_the_topic(template):
    rules = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": Match.object_like({"source": ["aws.glue"]})}}
    )
    states = sorted(s for r in rules.values() for s in r["Properties"]["EventPattern"]["detail"]["state"])
    assert states == ["FAILED", "TIMEOUT"]
    for rule in rules.values():
        assert rule["Properties"]["Targets"][0]["Arn"]["Ref"].startswith("AlarmsTopic")
