"""The stack's context parameters (infra/parameters.py): defaults, their effect on the template, and bad values refused at
synth with the key and what it expects."""

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template

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
    assert (defaults.tz, defaults.nightly_at, defaults.alarm_email, defaults.api_key_version) == (
        "UTC",
        "02:00",
        None,
        None,
    )


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
        {"MethodSettings": [Match.object_like({"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100})]},
    )


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
        (parameters.TRACING_CONTEXT, "sometimes", "active or off"),
        (parameters.TZ_CONTEXT, "Mars/Olympus", "an IANA time zone"),
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
