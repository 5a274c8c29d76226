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
        "headcount-archive-freshness",
        "headcount-dynamodb-throttled",
        "headcount-fold-throttles",
        "headcount-api-latency-p99",
        "headcount-nightly-days-without-input",
        # the business alarms (infra/business.py; tests/infra/test_business.py)
        "headcount-active-players-below-usual",
        "headcount-new-players-below-usual",
        "headcount-matches-played-below-usual",
        "headcount-business-metrics-missing",
        # failed deliveries of digests and alerts (infra/notifications.py; tests/infra/test_notifications.py)
        "headcount-deliveries-failed",
        "headcount-deliveries-dead-lettered",
        # erasure requests past their deadline (infra/erasure.py; tests/infra/test_erasure.py)
        "headcount-erasures-overdue",
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


def _dimension(props: dict, name: str):
    return next(d["Value"] for d in props["Dimensions"] if d["Name"] == name)


def test_archive_freshness_alarm_watches_firehose_delivery_to_s3(template):
    # Given Firehose's 300 s buffer / Then the alarm fires when its oldest record is three buffers old
    alarm = _alarms(template)["headcount-archive-freshness"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/Firehose",
        "DeliveryToS3.DataFreshness",
        "Maximum",
    )
    assert alarm["Threshold"] == 3 * names.ARCHIVE_BUFFER_INTERVAL_S == 900
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert _dimension(alarm, "DeliveryStreamName")["Ref"].startswith("IngestArchive")


def test_dynamodb_throttle_alarm_sums_read_and_write_throttles_of_both_tables(template):
    alarm = _alarms(template)["headcount-dynamodb-throttled"]
    [expression] = [m for m in alarm["Metrics"] if "Expression" in m]
    stats = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert expression["ReturnData"] is True
    assert all(m["Id"] in expression["Expression"] for m in alarm["Metrics"] if "MetricStat" in m)
    watched = sorted(
        (s["Metric"]["MetricName"], _dimension(s["Metric"], "TableName")["Ref"].split("Table")[0], s["Stat"])
        for s in stats
    )
    assert watched == [
        ("ReadThrottleEvents", "Batch", "Sum"),
        ("ReadThrottleEvents", "Realtime", "Sum"),
        ("WriteThrottleEvents", "Batch", "Sum"),
        ("WriteThrottleEvents", "Realtime", "Sum"),
    ]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["ComparisonOperator"]) == (
        1,
        2,
        "GreaterThanOrEqualToThreshold",
    )


def test_fold_throttles_alarm(template):
    alarm = _alarms(template)["headcount-fold-throttles"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Throttles", "Sum")
    assert _dimension(alarm, "FunctionName")["Ref"].startswith("RealtimeFold")
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (1, 2)


def test_api_latency_alarm_is_p99_above_two_seconds_for_three_of_three_periods(template):
    alarm = _alarms(template)["headcount-api-latency-p99"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["ExtendedStatistic"]) == (
        "AWS/ApiGateway",
        "Latency",
        "p99",
    )
    assert (alarm["Threshold"], alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (
        2000,
        300,
        3,
        3,
    )
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_no_email_subscription_without_alarm_email(template):
    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_a_night_without_input_after_traffic_started_alarms(template):
    # Given the nightly job's NightlyDaysWithoutInput (days it computed from no input although earlier days had some),
    # in the namespace and with the service dimension it puts its other metrics with (headcount/batch/job.py)
    alarm = _alarms(template)["headcount-nightly-days-without-input"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        names.POWERTOOLS_NAMESPACE,
        names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT,
        "Maximum",
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": names.POWERTOOLS_SERVICE}]
    # Then one such day in a run's day fires it; a night without a run (no data) does not
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"]) == (86400, 1, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_glue_job_failure_and_timeout_reach_the_topic(template):
    rules = {
        rule_id: rule
        for rule_id, rule in template.find_resources(
            "AWS::Events::Rule", {"Properties": {"EventPattern": Match.object_like({"source": ["aws.glue"]})}}
        ).items()
        # not the run of the business function after a success (tests/infra/test_notifications.py)
        if rule["Properties"]["EventPattern"]["detail"]["state"] != ["SUCCEEDED"]
    }
    states = sorted(s for r in rules.values() for s in r["Properties"]["EventPattern"]["detail"]["state"])
    assert states == ["FAILED", "TIMEOUT"]
    for rule in rules.values():
        assert rule["Properties"]["Targets"][0]["Arn"]["Ref"].startswith("AlarmsTopic")


def test_the_cost_model_prices_as_many_alarms_as_the_stack_has(template):
    from headcount.cost.bill import ALARMS

    assert len(template.find_resources("AWS::CloudWatch::Alarm")) == ALARMS
