"""Digests and KPI alerts (infra/notifications.py): their table and dead-letter queue, the alarms on failed deliveries,
the run after the nightly job, and what the business and serve functions may do with channels, secrets and SES."""

from __future__ import annotations

import json

import pytest

from headcount import names
from headcount.names import StackNames
from infra import parameters
from tests.infra.conftest import DEPLOY_ENV, cdk_context, synthesize

SENDER = "alerts@example.com"
DEV = StackNames("headcount-dev")
NOTIFICATION_VARIABLES = {
    "HEADCOUNT_NOTIFICATIONS_TABLE",
    "HEADCOUNT_CHANNEL_SECRETS",
    "HEADCOUNT_DELIVERY_DEAD_LETTERS",
    "HEADCOUNT_DASHBOARD_URL",
}


@pytest.fixture(scope="module")
def with_email(tmp_path_factory):
    """Another prefix, with an SES sender."""
    from aws_cdk.assertions import Template

    context = {parameters.PREFIX_CONTEXT: DEV.prefix, parameters.EMAIL_FROM_CONTEXT: f" {SENDER} "}
    synthesized = synthesize(tmp_path_factory.mktemp("notifications"), cdk_context(**context), DEPLOY_ENV)
    assert synthesized.error is None, synthesized.error  # cdk-nag included
    return Template.from_json(json.loads((synthesized.outdir / f"{DEV.stack}.template.json").read_text()))


def _id(template, kind: str, **properties) -> str:
    (found,) = template.find_resources(kind, {"Properties": properties})
    return found


def _function(template, name: str) -> dict:
    (function,) = template.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": name}}).values()
    return function["Properties"]


def _statements(template, function: dict) -> list[dict]:
    role = function["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _grants(statements: list[dict], service: str) -> list[tuple[set[str], list, dict]]:
    """(actions, resources, condition) of each statement with an action of this service."""
    return [
        ({a for a in _listed(s["Action"]) if a.startswith(f"{service}:")}, _listed(s["Resource"]), s.get("Condition"))
        for s in statements
        if any(a.startswith(f"{service}:") for a in _listed(s["Action"]))
    ]


def _secrets_arn(stack_names: StackNames) -> str:
    account, region = DEPLOY_ENV["CDK_DEFAULT_ACCOUNT"], DEPLOY_ENV["CDK_DEFAULT_REGION"]
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{stack_names.channel_secrets}*"


def test_the_table_is_keyed_like_the_views_and_expires_deliveries(template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": names.NOTIFICATIONS_TABLE,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )


def test_the_dead_letter_queue_is_encrypted_refuses_plain_http_and_keeps_two_weeks(template):
    queue_id = _id(template, "AWS::SQS::Queue", QueueName=names.DELIVERY_DEAD_LETTERS)
    queue = template.to_json()["Resources"][queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 86400
    (policy,) = template.find_resources(
        "AWS::SQS::QueuePolicy", {"Properties": {"Queues": [{"Ref": queue_id}]}}
    ).values()
    [deny] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_the_business_function_runs_as_soon_as_the_nightly_job_succeeds(template):
    business = _id(template, "AWS::Lambda::Function", FunctionName=names.BUSINESS_FUNCTION)
    [(rule_id, rule)] = [
        (rule_id, r["Properties"])
        for rule_id, r in template.find_resources("AWS::Events::Rule").items()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [business, "Arn"]}
    ]
    assert rule["EventPattern"] == {
        "source": ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        "detail": {"jobName": [names.NIGHTLY_JOB], "state": ["SUCCEEDED"]},
    }
    [target] = rule["Targets"]
    # Given the event's time as the run's "now" / Then the function is told it is the nightly run, and when
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"time": "$.time"}
    sent = json.loads(transformer["InputTemplate"].replace("<time>", '"2026-11-25T02:14:00Z"'))
    assert sent == {"trigger": "nightly", "time": "2026-11-25T02:14:00Z"}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600}
    # and EventBridge may invoke it for this rule
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Principal": "events.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [business, "Arn"]},
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def test_failed_deliveries_and_dead_letters_alarm_to_the_topic(template):
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    topic = _id(template, "AWS::SNS::Topic", TopicName=names.ALARM_TOPIC)
    failed, queued = alarms["headcount-deliveries-failed"], alarms["headcount-deliveries-dead-lettered"]
    # Given DeliveriesFailed of this stack's service, summed per 5 minutes / Then one failure fires it
    assert (failed["Namespace"], failed["MetricName"], failed["Statistic"], failed["Period"]) == (
        names.POWERTOOLS_NAMESPACE,
        names.METRIC_DELIVERIES_FAILED,
        "Sum",
        300,
    )
    assert failed["Dimensions"] == [{"Name": "service", "Value": names.POWERTOOLS_SERVICE}]
    # and one message waiting in the dead-letter queue fires the other
    queue = _id(template, "AWS::SQS::Queue", QueueName=names.DELIVERY_DEAD_LETTERS)
    assert (queued["Namespace"], queued["MetricName"], queued["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert queued["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    for alarm in (failed, queued):
        assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (
            1,
            "GreaterThanOrEqualToThreshold",
            1,
        )
        assert alarm["TreatMissingData"] == "notBreaching"  # no deliveries is no news
        assert alarm["AlarmActions"] == [{"Ref": topic}]


@pytest.mark.parametrize("name", [names.BUSINESS_FUNCTION, names.SERVE_FUNCTION])
def test_both_functions_are_told_where_the_notifications_are(template, name):
    variables = _function(template, name)["Environment"]["Variables"]
    assert set(variables) >= NOTIFICATION_VARIABLES
    assert variables["HEADCOUNT_NOTIFICATIONS_TABLE"] == {
        "Ref": _id(template, "AWS::DynamoDB::Table", TableName=names.NOTIFICATIONS_TABLE)
    }
    assert variables["HEADCOUNT_CHANNEL_SECRETS"] == names.CHANNEL_SECRETS == "headcount/channels/"
    # the queue's URL (its Ref), what SendMessage takes
    assert variables["HEADCOUNT_DELIVERY_DEAD_LETTERS"] == {
        "Ref": _id(template, "AWS::SQS::Queue", QueueName=names.DELIVERY_DEAD_LETTERS)
    }
    # the dashboard: the API's root, from its id (no dependency on the stage, whose methods depend on the functions)
    api = _id(template, "AWS::ApiGateway::RestApi", Name=names.DEFAULT_NAMES.api)
    parts = variables["HEADCOUNT_DASHBOARD_URL"]["Fn::Join"][1]
    assert parts[:2] == ["https://", {"Ref": api}] and parts[-1] == f"/{names.API_STAGE}/"
    # without headcount:emailFrom no sender, and never the local stack's loopback targets
    assert "HEADCOUNT_EMAIL_FROM" not in variables
    assert "HEADCOUNT_ALLOW_LOOPBACK_TARGETS" not in variables


def test_the_business_function_has_time_for_the_retries(template):
    # Given a delivery's 3 attempts of 5 s, 1 s and 4 s apart (20 s at most) / Then a run has room for several
    assert _function(template, names.BUSINESS_FUNCTION)["Timeout"] >= 180


def test_the_business_function_reads_the_channels_secrets_and_nothing_else_of_secrets_manager(template):
    statements = _statements(template, _function(template, names.BUSINESS_FUNCTION))
    assert _grants(statements, "secretsmanager") == [
        ({"secretsmanager:GetSecretValue"}, [_secrets_arn(names.DEFAULT_NAMES)], None)
    ]


def test_the_serve_function_manages_the_channels_secrets_only(template):
    statements = _statements(template, _function(template, names.SERVE_FUNCTION))
    [(actions, resources, condition)] = _grants(statements, "secretsmanager")
    assert actions == {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DeleteSecret",
        "secretsmanager:RestoreSecret",
        "secretsmanager:DescribeSecret",
    }
    assert (resources, condition) == ([_secrets_arn(names.DEFAULT_NAMES)], None)


@pytest.mark.parametrize("name", [names.BUSINESS_FUNCTION, names.SERVE_FUNCTION])
def test_each_function_writes_the_notifications_and_the_dead_letters_and_no_other_table(template, name):
    table = _id(template, "AWS::DynamoDB::Table", TableName=names.NOTIFICATIONS_TABLE)
    queue = _id(template, "AWS::SQS::Queue", QueueName=names.DELIVERY_DEAD_LETTERS)
    statements = _statements(template, _function(template, name))
    writes = ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
    own = [{"Fn::GetAtt": [table, "Arn"]}]
    if name == names.SERVE_FUNCTION:  # and the erasure requests, the admin routes' (tests/infra/test_erasure.py)
        own.append({"Fn::GetAtt": [_id(template, "AWS::DynamoDB::Table", TableName=names.ERASURES_TABLE), "Arn"]})
    # Given the actions that add or delete items / Then only on the notifications table (the views: read only)
    for actions, resources, _ in _grants(statements, "dynamodb"):
        if actions & set(writes):
            assert [r for r in resources if r not in own] == []
    assert any(set(writes) <= actions for actions, _, _ in _grants(statements, "dynamodb"))
    [(actions, resources, _)] = _grants(statements, "sqs")
    assert "sqs:SendMessage" in actions and resources == [{"Fn::GetAtt": [queue, "Arn"]}]
    # and nothing is granted on every resource but what takes none (X-Ray, PutMetricData in its namespace)
    for statement in statements:
        if statement["Resource"] == "*":
            assert {a.split(":")[0] for a in _listed(statement["Action"])} <= {"xray", "cloudwatch"}
    assert not [a for s in statements for a in _listed(s["Action"]) if a.endswith(":*")]


def test_without_a_sender_neither_function_may_send_email(template):
    for name in (names.BUSINESS_FUNCTION, names.SERVE_FUNCTION):
        assert _grants(_statements(template, _function(template, name)), "ses") == []


def test_with_a_sender_both_send_email_as_that_address_only(with_email):
    for name in (DEV.business_function, DEV.serve_function):
        function = _function(with_email, name)
        assert function["Environment"]["Variables"]["HEADCOUNT_EMAIL_FROM"] == SENDER  # trimmed
        [(actions, resources, condition)] = _grants(_statements(with_email, function), "ses")
        assert actions == {"ses:SendEmail"}
        # the identity may be the address, its domain or a parent domain (and, in the sandbox, the recipients'):
        # the sender is held by the condition
        assert resources == [
            f"arn:aws:ses:{DEPLOY_ENV['CDK_DEFAULT_REGION']}:{DEPLOY_ENV['CDK_DEFAULT_ACCOUNT']}:identity/*"
        ]
        assert condition == {"StringEquals": {"ses:FromAddress": SENDER}}


def test_another_prefix_has_its_own_secrets_table_queue_and_alarms(with_email):
    for name in (DEV.business_function, DEV.serve_function):
        function = _function(with_email, name)
        assert function["Environment"]["Variables"]["HEADCOUNT_CHANNEL_SECRETS"] == "headcount-dev/channels/"
        [(_, resources, _)] = _grants(_statements(with_email, function), "secretsmanager")
        assert resources == [_secrets_arn(DEV)]
    _id(with_email, "AWS::DynamoDB::Table", TableName=DEV.notifications_table)
    _id(with_email, "AWS::SQS::Queue", QueueName=DEV.delivery_dead_letters)
    _id(with_email, "AWS::CloudWatch::Alarm", AlarmName="headcount-dev-deliveries-failed")
    (rule,) = with_email.find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": {"detail": {"state": ["SUCCEEDED"]}}}}
    ).values()
    assert rule["Properties"]["EventPattern"]["detail"]["jobName"] == [DEV.nightly_job]


def test_the_stack_outputs_the_table_and_the_queue(template):
    outputs = template.to_json()["Outputs"]
    assert outputs["NotificationsTableName"]["Value"] == {
        "Ref": _id(template, "AWS::DynamoDB::Table", TableName=names.NOTIFICATIONS_TABLE)
    }
    assert outputs["DeliveryDeadLettersUrl"]["Value"] == {
        "Ref": _id(template, "AWS::SQS::Queue", QueueName=names.DELIVERY_DEAD_LETTERS)
    }
