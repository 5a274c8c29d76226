"""Erasure of players (infra/erasure.py, and the job's part of it in infra/batch.py): the requests' table without
backups, who may read and write it, what the nightly job may do to raw/ and the real-time view, the alarm on late
requests, and where the functions and the job find the table."""

from __future__ import annotations

import json

import pytest

from headcount import names
from headcount.names import StackNames
from infra import parameters
from infra.batch import JOB_WRITES, RAW_ERASURE_ACTIONS
from infra.erasure import JOB_REALTIME_ACTIONS
from infra.parameters import ContextError
from tests.infra.conftest import DEPLOY_ENV, cdk_context, synthesize
from tests.infra.policy_text import rendered

DEV = StackNames("headcount-dev")
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
VERSION_ACTIONS = ("s3:GetObjectVersion", "s3:DeleteObjectVersion", "s3:ListBucketVersions")


@pytest.fixture(scope="module")
def dev_template(tmp_path_factory) -> dict:
    """The stack of another prefix."""
    context = cdk_context(**{parameters.PREFIX_CONTEXT: DEV.prefix})
    synthesized = synthesize(tmp_path_factory.mktemp("erasure"), context, DEPLOY_ENV)
    assert synthesized.error is None, synthesized.error  # cdk-nag included
    return json.loads((synthesized.outdir / f"{DEV.stack}.template.json").read_text())


def _listed(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _id(template, kind: str, **properties) -> str:
    (found,) = template.find_resources(kind, {"Properties": properties})
    return found


def _table(template, name: str = names.ERASURES_TABLE) -> str:
    return f"<{_id(template, 'AWS::DynamoDB::Table', TableName=name)}>"


def _lake(template) -> str:
    (lake,) = [i for i in template.find_resources("AWS::S3::Bucket") if i.startswith("IngestLake")]
    return f"<{lake}>"


def _function(template, name: str) -> dict:
    (function,) = template.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": name}}).values()
    return function["Properties"]


def _granted(template, role_id: str) -> set[tuple[str, str, str]]:
    """(action, resource, condition as JSON) of every statement of the policies attached to this role."""
    return {
        (action, rendered(resource), json.dumps(statement.get("Condition"), sort_keys=True))
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in _listed(statement["Action"])
        for resource in _listed(statement["Resource"])
    }


def _function_grants(template, name: str) -> set[tuple[str, str, str]]:
    return _granted(template, _function(template, name)["Role"]["Fn::GetAtt"][0])


def _job_grants(template) -> set[tuple[str, str, str]]:
    (job,) = template.find_resources("AWS::Glue::Job").values()
    return _granted(template, job["Properties"]["Role"]["Fn::GetAtt"][0])


def _on(grants: set[tuple[str, str, str]], resource: str) -> set[str]:
    return {action for action, granted, _ in grants if granted == resource}


def test_the_table_is_keyed_by_pk_on_demand_encrypted_and_has_no_backup(template):
    # Given the table of the requests, which holds players' ids in clear until they are erased
    (table,) = template.find_resources("AWS::DynamoDB::Table", {"Properties": {"TableName": names.ERASURES_TABLE}})
    resource = template.to_json()["Resources"][table]
    props = resource["Properties"]
    # Then it is keyed by pk alone, on demand, encrypted with the AWS managed key, kept when the stack goes
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}  # no KMSMasterKeyId: aws/dynamodb
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    # and has no point-in-time recovery (a backup the erasure could not edit), where the views have theirs
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
    for view in (names.REALTIME_TABLE, names.BATCH_TABLE):
        template.has_resource_properties(
            "AWS::DynamoDB::Table",
            {"TableName": view, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}},
        )
    assert "TimeToLiveSpecification" not in props  # receipts and blocks stay


def test_the_serve_function_reads_and_writes_the_table_and_the_business_function_only_reads_it(template):
    table = _table(template)
    serve = _on(_function_grants(template, names.SERVE_FUNCTION), table)
    business = _on(_function_grants(template, names.BUSINESS_FUNCTION), table)
    # Given the admin routes (receipts: GetItem, Scan; a request: PutItem in a transaction) and ingest (the blocked
    # players: Scan) / Then the serve function reads and writes the table
    assert {"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:DeleteItem"} <= serve
    # and the business function (ErasuresOverdue) reads it, and writes nothing
    assert {"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query"} <= business
    assert not business & set(WRITES)
    # and the fold has nothing to do with it
    assert not _on(_function_grants(template, names.FOLD_FUNCTION), table)


def test_the_job_records_receipts_and_deletes_the_real_time_items_of_erased_days(template):
    grants = _job_grants(template)
    # Given the job's erasure / Then it reads and writes the requests (TransactWriteItems: its Put and Delete)
    assert {"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:DeleteItem"} <= _on(
        grants, _table(template)
    )
    # and finds and deletes the real-time items of the erased days, nothing more of that view
    assert _on(grants, _table(template, names.REALTIME_TABLE)) == set(JOB_REALTIME_ACTIONS)


def test_the_job_rewrites_raw_and_deletes_old_versions_there_only(template):
    grants = _job_grants(template)
    lake, raw = _lake(template), f"{_lake(template)}/{names.RAW_PREFIX}*"
    # Given the job's actions on objects' versions / Then each is on raw/'s objects only, not the bucket's others
    versions = {(action, resource) for action, resource, _ in grants if action in VERSION_ACTIONS}
    assert versions == {
        ("s3:DeleteObjectVersion", raw),
        ("s3:ListBucketVersions", lake),
    }
    # and it lists the versions of raw/ keys only
    [(_, _, condition)] = [g for g in grants if g[0] == "s3:ListBucketVersions"]
    assert json.loads(condition) == {"StringLike": {"s3:prefix": [f"{names.RAW_PREFIX}*"]}}
    # and its writes in raw/ are the rewrite and the versions' deletion: never a DeleteObject (a delete marker that
    # leaves the data in the old version), nothing on raw/ itself or its folder marker
    in_raw = {
        (action, resource)
        for action, resource, _ in grants
        if resource.startswith(f"{lake}/raw") and action.startswith(("s3:Put", "s3:Delete", "s3:Abort"))
    }
    assert in_raw == {(action, raw) for action in RAW_ERASURE_ACTIONS}
    assert "s3:DeleteObject" not in _on(grants, raw)
    # and no other principal of the stack but Firehose's (CDK's grant for its deliveries) deletes versions in the lake
    roles = {
        r for r in template.find_resources("AWS::IAM::Role") if not r.startswith(("BatchJobRole", "IngestArchive"))
    }
    for role in roles:
        assert not {a for a, resource, _ in _granted(template, role) if a.startswith("s3:DeleteObject")}


def test_the_job_writes_its_sidecar_under_erasure(template):
    grants = _job_grants(template)
    sidecar = f"{_lake(template)}/erasure/*"
    assert {"s3:PutObject", "s3:GetObject"} <= _on(grants, sidecar)


def test_an_overdue_request_alarms_the_topic_within_the_hour(template):
    (topic,) = template.find_resources("AWS::SNS::Topic", {"Properties": {"TopicName": names.ALARM_TOPIC}})
    (alarm,) = template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": f"{names.DEFAULT_PREFIX}-erasures-overdue"}}
    ).values()
    props = alarm["Properties"]
    # Given the business function's ErasuresOverdue, put every 5 minutes under the stack's service
    assert (props["Namespace"], props["MetricName"]) == (names.POWERTOOLS_NAMESPACE, names.METRIC_ERASURES_OVERDUE)
    assert props["Dimensions"] == [{"Name": "service", "Value": names.POWERTOOLS_SERVICE}]
    # Then one late request in an hour fires it, to the alarm topic; no data (the function not running) is not a late
    # request: business-metrics-missing says that
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Maximum", 3600, 1)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == [{"Ref": topic}]
    # and it says where the runbook is
    assert 'docs/operations.md, "Erasure"' in props["AlarmDescription"]


@pytest.mark.parametrize("name", [names.SERVE_FUNCTION, names.BUSINESS_FUNCTION])
def test_the_functions_are_told_the_table(template, name):
    variables = _function(template, name)["Environment"]["Variables"]
    table = _id(template, "AWS::DynamoDB::Table", TableName=names.ERASURES_TABLE)
    assert variables["HEADCOUNT_ERASURES_TABLE"] == {"Ref": table}


def test_the_job_is_told_the_table_and_the_real_time_view_by_the_stacks_names(template, dev_template):
    from aws_cdk.assertions import Template

    # Given the default stack and another prefix's / Then the job's arguments name each stack's own tables
    for stack_names, found in ((names.DEFAULT_NAMES, template), (DEV, Template.from_json(dev_template))):
        (job,) = found.find_resources("AWS::Glue::Job").values()
        arguments = job["Properties"]["DefaultArguments"]
        assert arguments["--erasures_table"] == stack_names.erasures_table
        assert arguments["--realtime_table"] == stack_names.realtime_table
        _id(found, "AWS::DynamoDB::Table", TableName=stack_names.erasures_table)  # the tables those names are
        _id(found, "AWS::DynamoDB::Table", TableName=stack_names.realtime_table)
    assert DEV.erasures_table == "headcount-dev-erasures"


def test_the_stack_outputs_the_tables_name(template):
    outputs = template.to_json()["Outputs"]
    table = _id(template, "AWS::DynamoDB::Table", TableName=names.ERASURES_TABLE)
    assert outputs["ErasuresTableName"]["Value"] == {"Ref": table}


def test_the_job_writes_the_players_index(template):
    grants = _job_grants(template)
    assert {"s3:PutObject", "s3:GetObject"} <= _on(grants, f"{_lake(template)}/player_index/*")


def test_what_an_erasure_cannot_edit_is_gone_within_its_deadline(template):
    """Athena's results and Firehose's failed records expire (current and older versions) within the 7 days, and the
    views' backups are kept that long only."""
    (lake,) = [b for i, b in template.find_resources("AWS::S3::Bucket").items() if i.startswith("IngestLake")]
    rules = {r["Id"]: r for r in lake["Properties"]["LifecycleConfiguration"]["Rules"]}
    for rule in ("expire-archive-errors", "expire-athena-results"):
        days = rules[rule]["ExpirationInDays"] + rules[rule]["NoncurrentVersionExpiration"]["NoncurrentDays"]
        assert days <= 7, rule
    for name in (names.REALTIME_TABLE, names.BATCH_TABLE, names.NOTIFICATIONS_TABLE):
        (table,) = template.find_resources("AWS::DynamoDB::Table", {"Properties": {"TableName": name}}).values()
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 7,
        }


def test_the_batching_of_erasures_is_a_context_parameter(tmp_path):
    # Given a stack asked to erase every 3 days or at 20 requests / Then the job is told so
    context = cdk_context(**{parameters.ERASURE_EVERY_DAYS_CONTEXT: "3", parameters.ERASURE_MAX_PENDING_CONTEXT: 20})
    synthesized = synthesize(tmp_path, context, DEPLOY_ENV)
    assert synthesized.error is None, synthesized.error
    stack = json.loads((synthesized.outdir / f"{names.DEFAULT_NAMES.stack}.template.json").read_text())
    (job,) = [r for r in stack["Resources"].values() if r["Type"] == "AWS::Glue::Job"]
    assert job["Properties"]["DefaultArguments"]["--erasure_every_days"] == "3"
    assert job["Properties"]["DefaultArguments"]["--erasure_max_pending"] == "20"
    # And a batching longer than the deadline fails the synth, naming the key
    with pytest.raises(ContextError, match=parameters.ERASURE_EVERY_DAYS_CONTEXT):
        synthesize(tmp_path / "late", cdk_context(**{parameters.ERASURE_EVERY_DAYS_CONTEXT: 8}), DEPLOY_ENV)


def test_the_jobs_tables_replaced_versions_go_the_next_day(template):
    """An erasure recomputes the tables holding ids (or sketches of them): their replaced versions must not stay the
    bucket's 30 days."""
    (lake,) = [b for i, b in template.find_resources("AWS::S3::Bucket").items() if i.startswith("IngestLake")]
    rules = lake["Properties"]["LifecycleConfiguration"]["Rules"]
    # every prefix the job writes but the erasure's plans (no ids): the extra zones' tables too
    written = [p for p in JOB_WRITES if p != names.ERASURE_PREFIX]
    assert {"counts/", "activity/", "players/", "kpis/", "player_index/", "zones/"} <= set(written)
    for prefix in written:
        (rule,) = [r for r in rules if r.get("Prefix") == prefix]
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1 and rule["ExpiredObjectDeleteMarker"]
