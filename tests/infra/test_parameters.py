"""The stack's context parameters (infra/parameters.py): defaults, their effect on the template, and bad values refused at
synth with the key and what it expects."""

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template

from headcount import access, names
from infra import parameters
from infra.parameters import ContextError, Parameters, read_parameters
from tests.infra.conftest import DEPLOY_ENV, cdk_context, synthesize


def _read(**context) -> Parameters:
    app = App(context=context)
    return read_parameters(Stack(app, "Probe").node)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> Template:
    """Every parameter away from its default, as strings (what `-c key=value` passes)."""
    context = {
        parameters.SHARDS_CONTEXT: "3",
        parameters.BATCHING_WINDOW_CONTEXT: "10",
        parameters.THROTTLE_RATE_CONTEXT: "50",
        parameters.THROTTLE_BURST_CONTEXT: "100",
        parameters.ATHENA_SCAN_LIMIT_CONTEXT: "0.5",
        parameters.ALARM_EMAIL_CONTEXT: "ops@example.com",
        parameters.TRACING_CONTEXT: "off",
        parameters.INGEST_RATE_CONTEXT: "20",
        parameters.INGEST_BURST_CONTEXT: "40",
        parameters.INGEST_QUOTA_CONTEXT: "100000",
        parameters.EXTRA_ZONES_CONTEXT: "Asia/Tokyo,America/Los_Angeles",
    }
    synthesized = synthesize(tmp_path_factory.mktemp("tuned"), cdk_context(**context), DEPLOY_ENV)
    assert synthesized.error is None, synthesized.error
    return Template.from_json(synthesized.template)


def test_defaults_are_the_cheap_ones():
    assert _read() == Parameters()
    defaults = Parameters()
    assert (defaults.shards, defaults.batching_window_s) == (1, parameters.DEFAULT_BATCHING_WINDOW_S) == (1, 2)
    assert (defaults.throttle_rate, defaults.throttle_burst) == (500, 1000)
    assert (defaults.athena_scan_limit_gb, defaults.athena_scan_limit_bytes) == (10, 10_000_000_000)
    assert (defaults.tz, defaults.nightly_at, defaults.alarm_email, defaults.federation) == ("UTC", "02:00", None, None)
    assert defaults.email_from is None  # email channels then fail with that reason (docs/deploy.md)
    assert (defaults.ingest_rate, defaults.ingest_burst, defaults.ingest_quota_per_day) == (
        access.INGEST_RATE_LIMIT,
        access.INGEST_BURST_LIMIT,
        access.INGEST_QUOTA_PER_DAY,
    )
    # the fold's reservation: one per shard (and parallelization slot), plus one for `headcount replay`
    assert defaults.fold_reservation == 1 * names.FOLD_PARALLELIZATION_FACTOR + 1 == 2


def test_cdk_json_values_and_command_line_strings_read_alike():
    as_json = _read(
        **{parameters.SHARDS_CONTEXT: 3, parameters.BATCHING_WINDOW_CONTEXT: 0, parameters.THROTTLE_RATE_CONTEXT: 12.5}
    )
    as_text = _read(
        **{
            parameters.SHARDS_CONTEXT: "3",
            parameters.BATCHING_WINDOW_CONTEXT: "0",
            parameters.THROTTLE_RATE_CONTEXT: "12.5",
        }
    )
    assert as_json == as_text
    assert (as_json.shards, as_json.batching_window_s, as_json.throttle_rate) == (3, 0, 12.5)
    assert _read(**{parameters.SHARDS_CONTEXT: "On-Demand"}).shards == "on-demand"


def test_shards_make_a_provisioned_stream_of_that_many(tuned):
    tuned.has_resource_properties(
        "AWS::Kinesis::Stream", {"ShardCount": 3, "StreamModeDetails": {"StreamMode": "PROVISIONED"}}
    )


def test_on_demand_makes_an_on_demand_stream_without_a_shard_count(tmp_path):
    synthesized = synthesize(tmp_path, cdk_context(**{parameters.SHARDS_CONTEXT: "on-demand"}), DEPLOY_ENV)
    assert synthesized.error is None, synthesized.error
    template = Template.from_json(synthesized.template)
    template.has_resource_properties(
        "AWS::Kinesis::Stream", {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}, "ShardCount": Match.absent()}
    )
    # and the dashboard draws no provisioned capacity on the stream's graphs
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = "".join(p for p in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1] if isinstance(p, str))
    assert "shard(s)" not in body


def test_extra_zones_reach_the_job_the_api_and_athena(tuned):
    """The job computes them (its argument), the API answers them exactly (its setting), Athena has their tables, and
    the job's role writes under zones/ (and nowhere new besides)."""
    (job,) = tuned.find_resources("AWS::Glue::Job").values()
    assert job["Properties"]["DefaultArguments"]["--extra_zones"] == "Asia/Tokyo,America/Los_Angeles"
    tuned.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"HEADCOUNT_EXTRA_ZONES": "Asia/Tokyo,America/Los_Angeles"})}},
    )
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in tuned.find_resources("AWS::Glue::Table").values()
    }
    for zone, folder in (("asia_tokyo", "Asia.Tokyo"), ("america_los_angeles", "America.Los_Angeles")):
        assert {f"counts_{zone}", f"activity_{zone}", f"players_{zone}", f"kpis_{zone}"} <= set(tables)
        location = tables[f"counts_{zone}"]["StorageDescriptor"]["Location"]
        assert "".join(p for p in location["Fn::Join"][1] if isinstance(p, str)).endswith(f"/zones/{folder}/counts/")
        metrics = tables[f"kpis_{zone}"]["Parameters"]["projection.metric.values"].split(",")
        assert "weekly_active_players@" + folder in metrics and "weekly_active_players" not in metrics
    policies = json.dumps(tuned.find_resources("AWS::IAM::Policy"))
    assert "/zones/*" in policies


def test_extra_zones_are_iana_names_each_once_without_the_reporting_zone():
    read = _read(**{parameters.EXTRA_ZONES_CONTEXT: ["Asia/Kolkata", "UTC", "Asia/Kolkata", "America/New_York"]})
    assert read.extra_zones == ("Asia/Kolkata", "America/New_York")
    assert _read(**{parameters.EXTRA_ZONES_CONTEXT: "Asia/Kolkata, Asia/Tokyo"}).extra_zones == (
        "Asia/Kolkata",
        "Asia/Tokyo",
    )
    with pytest.raises(ContextError, match="headcount:extraZones.*'Mars/Olympus' is not a time zone"):
        _read(**{parameters.EXTRA_ZONES_CONTEXT: "Asia/Tokyo,Mars/Olympus"})


def test_batching_window_is_the_fold_mappings(tuned):
    tuned.has_resource_properties("AWS::Lambda::EventSourceMapping", {"MaximumBatchingWindowInSeconds": 10})


def test_a_zero_batching_window_is_written_as_zero(tmp_path):
    # Given headcount:batchingWindowS=0 (invoke as soon as records arrive) / Then 0 is written, not left to a default
    synthesized = synthesize(tmp_path, cdk_context(**{parameters.BATCHING_WINDOW_CONTEXT: 0}), DEPLOY_ENV)
    (mapping,) = Template.from_json(synthesized.template).find_resources("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["MaximumBatchingWindowInSeconds"] == 0


def test_throttle_is_the_api_stages(tuned):
    tuned.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": Match.array_with(
                [Match.object_like({"ResourcePath": "/*", "ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100})]
            )
        },
    )


def test_ingest_limits_are_the_usage_plans(tuned):
    tuned.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": 20, "BurstLimit": 40}, "Quota": {"Limit": 100_000, "Period": "DAY"}},
    )


def _fold(template: Template) -> dict:
    (fold,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": "headcount-fold"}}
    ).values()
    return fold["Properties"]


def test_the_fold_reserves_one_invocation_per_shard_and_one_for_replay(template, tuned):
    # Given 1 shard (the default) / 3 shards (tuned) / Then the fold reserves 2 / 4 concurrent executions
    assert _fold(template)["ReservedConcurrentExecutions"] == 2
    assert _fold(tuned)["ReservedConcurrentExecutions"] == 3 * names.FOLD_PARALLELIZATION_FACTOR + 1


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({parameters.FOLD_RESERVED_CONCURRENCY_CONTEXT: "0"}, None),  # none: an account whose limit refuses one
        ({parameters.FOLD_RESERVED_CONCURRENCY_CONTEXT: 7}, 7),
        ({parameters.SHARDS_CONTEXT: "on-demand"}, None),  # the shard count changes: no cap unless one is set
        ({parameters.SHARDS_CONTEXT: "on-demand", parameters.FOLD_RESERVED_CONCURRENCY_CONTEXT: "9"}, 9),
    ],
)
def test_fold_reservation_from_the_parameters(context, expected):
    assert _read(**context).fold_reservation == expected


def test_athena_scan_limit_is_the_workgroups_cutoff_in_bytes(tuned):
    tuned.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {"WorkGroupConfiguration": Match.object_like({"BytesScannedCutoffPerQuery": 500_000_000})},
    )


def test_alarm_email_subscribes_the_address_to_the_alarm_topic(tuned):
    (topic_id,) = tuned.find_resources("AWS::SNS::Topic")
    tuned.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": topic_id}}
    )


def test_email_from_is_read_trimmed():
    # Given the sender with stray spaces (a -c value) / Then the address itself (infra/notifications.py's condition)
    assert _read(**{parameters.EMAIL_FROM_CONTEXT: " alerts@example.com "}).email_from == "alerts@example.com"


def test_tracing_off_traces_neither_function_nor_the_stage(tuned):
    functions = tuned.find_resources("AWS::Lambda::Function")
    ours = [f["Properties"] for f in functions.values() if "POWERTOOLS_SERVICE_NAME" in str(f)]
    assert len(ours) == 3  # fold, serve, business
    for props in ours:
        assert props.get("TracingConfig", {}).get("Mode") != "Active"
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    (stage,) = tuned.find_resources("AWS::ApiGateway::Stage").values()
    assert not stage["Properties"].get("TracingEnabled")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (parameters.SHARDS_CONTEXT, "0", "a positive number of shards or 'on-demand'"),
        (parameters.SHARDS_CONTEXT, "two", "a positive number of shards or 'on-demand'"),
        (parameters.SHARDS_CONTEXT, 2.5, "a positive number of shards or 'on-demand'"),
        (parameters.SHARDS_CONTEXT, True, "a positive number of shards or 'on-demand'"),
        (parameters.BATCHING_WINDOW_CONTEXT, "301", "an integer from 0 to 300"),
        (parameters.BATCHING_WINDOW_CONTEXT, "-1", "an integer from 0 to 300"),
        (parameters.THROTTLE_RATE_CONTEXT, "0", "a number > 0"),
        (parameters.THROTTLE_RATE_CONTEXT, "fast", "a number > 0"),
        (parameters.THROTTLE_BURST_CONTEXT, "0", "an integer >= 1"),
        (parameters.THROTTLE_BURST_CONTEXT, "1.5", "an integer >= 1"),
        (parameters.ATHENA_SCAN_LIMIT_CONTEXT, "0.001", "a number >= 0.01"),
        (parameters.ATHENA_SCAN_LIMIT_CONTEXT, "nan", "a number >= 0.01"),
        (parameters.ALARM_EMAIL_CONTEXT, "ops", "an email address"),
        (parameters.EMAIL_FROM_CONTEXT, "example.com", "an email address verified in SES"),
        (parameters.EMAIL_FROM_CONTEXT, "Alerts <alerts@example.com>", "an email address verified in SES"),
        (parameters.EMAIL_FROM_CONTEXT, 7, "an email address verified in SES"),
        (parameters.TRACING_CONTEXT, "sometimes", "active or off"),
        (parameters.TZ_CONTEXT, "Mars/Olympus", "an IANA time zone"),
        (parameters.INGEST_RATE_CONTEXT, "0", "a number > 0"),
        (parameters.INGEST_BURST_CONTEXT, "0", "an integer >= 1"),
        (parameters.INGEST_QUOTA_CONTEXT, "1e6", "an integer >= 1"),
        (parameters.FOLD_RESERVED_CONCURRENCY_CONTEXT, "-1", "an integer >= 0"),
        (parameters.FOLD_RESERVED_CONCURRENCY_CONTEXT, "two", "an integer >= 0"),
        (parameters.OIDC_NAME_CONTEXT, "Corp", "headcount:oidcIssuer and the others with it"),
        (parameters.PREFIX_CONTEXT, "aws-headcount", "a prefix without aws"),
        (parameters.NIGHTLY_AT_CONTEXT, "25:00", "HH:MM"),
        (parameters.PREFIX_CONTEXT, "Headcount", "lowercase letters, digits and single hyphens"),
        (parameters.PREFIX_CONTEXT, "headcount_dev", "lowercase letters, digits and single hyphens"),
        (parameters.PREFIX_CONTEXT, "headcount-", "lowercase letters, digits and single hyphens"),
        (parameters.PREFIX_CONTEXT, "2headcount", "lowercase letters, digits and single hyphens"),
        (parameters.PREFIX_CONTEXT, "h" * 41, "at most 40 characters"),
        (parameters.PREFIX_CONTEXT, 7, "lowercase letters, digits and single hyphens"),
    ],
)
def test_a_bad_value_is_refused_with_the_key_and_what_it_expects(key, value, expected):
    with pytest.raises(ContextError) as refused:
        _read(**{key: value})
    message = str(refused.value)
    assert f"{key}={value!r}" in message
    assert expected in message
    assert f"-c {key}=" in message


OIDC = {
    parameters.OIDC_ISSUER_CONTEXT: "https://idp.example.com",
    parameters.OIDC_CLIENT_ID_CONTEXT: "client",
    parameters.OIDC_CLIENT_SECRET_NAME_CONTEXT: "headcount/oidc",
}


def test_federation_reads_all_its_parameters_or_none():
    from infra.users import Federation

    assert _read().federation is None
    assert _read(**OIDC).federation == Federation(
        issuer="https://idp.example.com", client_id="client", client_secret_name="headcount/oidc", name="Company"
    )
    assert _read(**OIDC, **{parameters.OIDC_NAME_CONTEXT: "Okta"}).federation.name == "Okta"


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({parameters.OIDC_CLIENT_ID_CONTEXT: None}, parameters.OIDC_CLIENT_ID_CONTEXT, "federation needs"),
        ({parameters.OIDC_ISSUER_CONTEXT: "http://idp.example.com"}, parameters.OIDC_ISSUER_CONTEXT, "https://"),
        ({parameters.OIDC_CLIENT_SECRET_NAME_CONTEXT: "a secret"}, parameters.OIDC_CLIENT_SECRET_NAME_CONTEXT, "name"),
        ({parameters.OIDC_NAME_CONTEXT: "_x"}, parameters.OIDC_NAME_CONTEXT, "3 to 32"),
        ({parameters.OIDC_NAME_CONTEXT: "Cognito"}, parameters.OIDC_NAME_CONTEXT, "3 to 32"),
    ],
)
def test_incomplete_or_bad_federation_is_refused(changes, key, expected):
    context = {k: v for k, v in {**OIDC, **changes}.items() if v is not None}
    with pytest.raises(ContextError) as refused:
        _read(**context)
    assert f"context {key}=" in str(refused.value)
    assert expected in str(refused.value)


def test_a_bad_value_fails_the_synth(tmp_path):
    from infra.app import build_app

    with pytest.raises(ContextError, match="headcount:shards"):
        build_app(cdk_context(**{parameters.SHARDS_CONTEXT: "-1"}), outdir=str(tmp_path))


def test_cdk_synth_says_what_is_wrong_without_a_traceback(monkeypatch, tmp_path):
    # Given `npx cdk synth -c headcount:shards=0` (the CLI hands the context to the app's node process, which the tests
    # share: so the app is built with it here)
    from infra import app

    build_app = app.build_app
    context = cdk_context(**{parameters.SHARDS_CONTEXT: "0"})
    monkeypatch.setattr(app, "build_app", lambda: build_app(context, outdir=str(tmp_path)))
    # When the app runs / Then it exits with the parameter's message
    with pytest.raises(SystemExit) as exited:
        app.main()
    assert str(exited.value).startswith("headcount: context headcount:shards='0': expected a positive number")
