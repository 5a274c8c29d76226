"""Several stacks in one account: headcount:prefix makes every physical name, and the metrics their alarms read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from headcount import names
from headcount.names import StackNames
from infra import parameters
from tests.infra.conftest import DEPLOY_ENV, cdk_context, synthesize

PREFIXES = ("headcount-dev", "headcount-prod")
# Properties called ...Name that are not an account's name of a resource: an inline policy's is unique within its role,
# a stage's within its API, a user pool group's within its pool (viewer, admin: headcount/access.py), and a metric's is
# what the dimensions (below) tell apart.
NOT_ACCOUNT_NAMES = {"PolicyName", "StageName", "MetricName", "GroupName"}
REF = "<ref>"  # how a reference is rendered in the dashboard's body: never a literal dimension value


def physical_names(template: dict) -> set[tuple[str, str, str]]:
    """(resource type, property, value) of every literal name in the template: each property called Name or ending in
    Name, the Glue database's, and the Glue tables' (qualified with their database, their scope)."""
    found: set[tuple[str, str, str]] = set()
    for resource in template["Resources"].values():
        kind, props = resource["Type"], resource.get("Properties", {})
        for key, value in props.items():
            if (key == "Name" or key.endswith("Name")) and isinstance(value, str) and key not in NOT_ACCOUNT_NAMES:
                found.add((kind, key, value))
        if "DatabaseInput" in props:
            found.add((kind, "DatabaseInput.Name", props["DatabaseInput"]["Name"]))
        if "TableInput" in props:
            database = props["DatabaseName"]
            found.add((kind, "TableInput.Name", f"{_database_name(template, database)}.{props['TableInput']['Name']}"))
    return found


def _database_name(template: dict, database: object) -> str:
    if isinstance(database, str):
        return database
    return template["Resources"][database["Ref"]]["Properties"]["DatabaseInput"]["Name"]  # type: ignore[index]


def custom_metrics(template: dict) -> set[tuple[str, str, frozenset]]:
    """(namespace, metric, dimensions) of every metric an alarm, an anomaly detector or the dashboard reads whose
    dimensions are all literal (a reference names a resource of its own stack): what two stacks could share."""
    found = set()
    for namespace, metric, dimensions in _metrics_read(template):
        if not namespace.startswith("AWS/") and all(isinstance(v, str) and REF not in v for v in dimensions.values()):
            found.add((namespace, metric, frozenset(dimensions.items())))
    return found


def _metrics_read(template: dict) -> Iterator[tuple[str, str, dict]]:
    for resource in template["Resources"].values():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::CloudWatch::Alarm":
            if "MetricName" in props:
                yield props["Namespace"], props["MetricName"], _dimensions(props.get("Dimensions", []))
            for query in props.get("Metrics", []):
                if "MetricStat" in query:
                    metric = query["MetricStat"]["Metric"]
                    yield metric["Namespace"], metric["MetricName"], _dimensions(metric.get("Dimensions", []))
        elif kind == "AWS::CloudWatch::AnomalyDetector":
            metric = props["SingleMetricAnomalyDetector"]
            yield metric["Namespace"], metric["MetricName"], _dimensions(metric.get("Dimensions", []))
        elif kind == "AWS::CloudWatch::Dashboard":
            parts = props["DashboardBody"]["Fn::Join"][1]
            body = json.loads("".join(p if isinstance(p, str) else REF for p in parts))
            for widget in body["widgets"]:
                for row in widget["properties"].get("metrics", []):
                    fields = [f for f in row if not isinstance(f, dict)]
                    if len(fields) >= 2:
                        namespace, metric, *dims = fields
                        yield namespace, metric, dict(zip(dims[::2], dims[1::2], strict=True))


def _dimensions(dimensions: list[dict]) -> dict:
    return {d["Name"]: d["Value"] for d in dimensions}


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The templates of two stacks of different prefixes, synthesized together in one app."""
    from aws_cdk import App, Environment
    from constructs import Construct

    from infra.stack import HeadcountStack

    app = App(context=cdk_context(), outdir=str(tmp_path_factory.mktemp("side-by-side")))
    env = Environment(account=DEPLOY_ENV["CDK_DEFAULT_ACCOUNT"], region=DEPLOY_ENV["CDK_DEFAULT_REGION"])
    for prefix in PREFIXES:
        # each stack reads its own headcount:prefix: context set on a scope above it, as -c sets it on the app
        scope = Construct(app, f"{prefix}-context")
        scope.node.set_context(parameters.PREFIX_CONTEXT, prefix)
        stack_name = StackNames(prefix).stack
        HeadcountStack(scope, stack_name, stack_name=stack_name, env=env)
    assembly = app.synth()
    return {prefix: assembly.get_stack_by_name(StackNames(prefix).stack).template for prefix in PREFIXES}


def test_two_stacks_in_one_account_share_no_physical_name(side_by_side):
    dev, prod = (physical_names(side_by_side[prefix]) for prefix in PREFIXES)
    # Given two stacks of different prefixes / Then each has all its named resources, and no name is in both
    assert len(dev) == len(prod) > 30
    assert {value for _, _, value in dev} & {value for _, _, value in prod} == set()
    # and each name starts with its stack's prefix (the Glue database's with its underscore spelling, the log groups'
    # after /aws/lambda/), but the Glue tables' (scoped by their database)
    for prefix, found in zip(PREFIXES, (dev, prod), strict=True):
        stems = (prefix, prefix.replace("-", "_"), f"/aws/lambda/{prefix}")
        assert [n for n in found if not n[2].startswith(stems)] == []


def test_two_stacks_alarms_read_only_their_own_metrics(side_by_side):
    # Given both stacks' custom metrics (namespace Headcount, the same for every stack)
    dev, prod = (custom_metrics(side_by_side[prefix]) for prefix in PREFIXES)
    # Then their alarms, anomaly models and dashboards read disjoint series: each with its own service dimension
    assert dev and prod
    assert dev & prod == set()
    for prefix, found in zip(PREFIXES, (dev, prod), strict=True):
        assert {dict(dims)["service"] for _, _, dims in found} == {prefix}
    # and each stack's functions put theirs with that service
    for prefix in PREFIXES:
        functions = [
            r["Properties"] for r in side_by_side[prefix]["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
        ]
        services = {f["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME") for f in functions}
        assert services == {prefix}


def test_the_default_prefix_keeps_the_names_of_today(synthesized):
    # Given no headcount:prefix / Then the stack and every name are what they were before the parameter
    assert (synthesized.outdir / "Headcount.template.json").exists()
    by_type: dict[str, set[str]] = {}
    for kind, _key, value in physical_names(synthesized.template):
        by_type.setdefault(kind, set()).add(value)
    alarms, tables = by_type.pop("AWS::CloudWatch::Alarm"), by_type.pop("AWS::Glue::Table")
    assert by_type == {
        "AWS::Kinesis::Stream": {"headcount-events"},
        "AWS::KinesisFirehose::DeliveryStream": {"headcount-archive"},
        "AWS::DynamoDB::Table": {
            "headcount-realtime",
            "headcount-batch",
            "headcount-notifications",
            "headcount-erasures",
        },
        "AWS::SQS::Queue": {"headcount-fold-failures", "headcount-delivery-dead-letters"},
        "AWS::Lambda::Function": {"headcount-fold", "headcount-serve", "headcount-business"},
        "AWS::Logs::LogGroup": {
            "/aws/lambda/headcount-fold",
            "/aws/lambda/headcount-serve",
            "/aws/lambda/headcount-business",
        },
        "AWS::Glue::Database": {"headcount"},
        "AWS::Glue::Job": {"headcount-nightly-counts"},
        "AWS::Athena::WorkGroup": {"headcount"},
        "AWS::ApiGateway::RestApi": {"headcount"},
        "AWS::ApiGateway::Authorizer": {"headcount-users"},
        "AWS::ApiGateway::UsagePlan": {"headcount-ingest"},
        "AWS::Cognito::UserPool": {"headcount"},
        "AWS::Cognito::UserPoolClient": {"headcount-dashboard", "headcount-tools"},
        "AWS::Cognito::UserPoolResourceServer": {"headcount"},
        "AWS::WAFv2::WebACL": {"headcount-api"},
        "AWS::SNS::Topic": {"headcount-alarms"},
        "AWS::Scheduler::Schedule": {"headcount-business"},
        "AWS::CloudWatch::Dashboard": {"headcount"},
    }
    assert {"headcount-fold-iterator-age", "headcount-business-metrics-missing"} <= alarms
    assert all(alarm.startswith("headcount-") for alarm in alarms)
    assert {"headcount.raw", "headcount.counts"} <= tables
    assert {dict(dims)["service"] for _, _, dims in custom_metrics(synthesized.template)} == {"headcount"}
    # and the local stack's names (headcount/names.py) are the default stack's
    assert StackNames() == names.DEFAULT_NAMES and names.DEFAULT_NAMES.stack == "Headcount"
    assert (names.STREAM, names.REALTIME_TABLE, names.BATCH_TABLE, names.ON_FAILURE_QUEUE) == (
        "headcount-events",
        "headcount-realtime",
        "headcount-batch",
        "headcount-fold-failures",
    )
    assert (names.GLUE_DATABASE, names.ATHENA_WORKGROUP, names.POWERTOOLS_SERVICE) == ("headcount",) * 3


def test_a_prefix_names_the_stack_and_a_bad_one_fails_the_synth(tmp_path):
    # Given -c headcount:prefix=headcount-dev / Then the stack is Headcount-dev, its names start with the prefix
    synthesized = synthesize(tmp_path / "dev", cdk_context(**{parameters.PREFIX_CONTEXT: "headcount-dev"}), DEPLOY_ENV)
    assert synthesized.error is None, synthesized.error
    template = json.loads((tmp_path / "dev" / "Headcount-dev.template.json").read_text())
    assert ("AWS::Glue::Database", "DatabaseInput.Name", "headcount_dev") in physical_names(template)
    # and a prefix that some name could not take is refused with the key
    with pytest.raises(parameters.ContextError, match="headcount:prefix"):
        synthesize(tmp_path / "bad", cdk_context(**{parameters.PREFIX_CONTEXT: "Headcount_Dev"}), DEPLOY_ENV)
