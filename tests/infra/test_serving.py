"""The serving layer: the serve function, the REST API's methods and the credential each takes (headcount/access.py),
its gateway responses, throttles, usage plan and web ACL, and that no function's environment holds a secret."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match

from headcount import access, names
from headcount.access import Access
from infra.serving import VERBS

# How the template spells the apigateway ARNs of the serve function's key management: (action, path after `::`)
KEY_MANAGEMENT = {
    ("apigateway:GET", "/usageplans"),
    ("apigateway:GET", "/usageplans/<plan>/keys"),
    ("apigateway:GET", "/apikeys/*"),
    ("apigateway:POST", "/apikeys"),
    ("apigateway:POST", "/usageplans/<plan>/keys"),
    ("apigateway:PATCH", "/apikeys/*"),
}


def _serve(template) -> dict:
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": names.SERVE_FUNCTION}})
    assert len(functions) == 1
    return next(iter(functions.values()))["Properties"]


def _resources(template) -> dict[str, dict]:
    return template.to_json()["Resources"]


def _of_type(template, kind: str) -> dict[str, dict]:
    return {rid: r for rid, r in _resources(template).items() if r["Type"] == kind}


def _paths(template) -> dict[object, str]:
    """The path of every resource of the REST API, by how a method names it (a Ref, or the root's GetAtt)."""
    resources = _of_type(template, "AWS::ApiGateway::Resource")
    (api_id,) = _of_type(template, "AWS::ApiGateway::RestApi")

    def path_of(ref: object) -> str:
        if ref == {"Fn::GetAtt": [api_id, "RootResourceId"]}:
            return ""
        props = resources[ref["Ref"]]["Properties"]  # type: ignore[index]
        return f"{path_of(props['ParentId'])}/{props['PathPart']}"

    paths = {json.dumps({"Ref": rid}): path_of({"Ref": rid}) for rid in resources}
    paths[json.dumps({"Fn::GetAtt": [api_id, "RootResourceId"]})] = "/"
    return paths


def _methods(template) -> dict[tuple[str, str], dict]:
    """(path, verb) → the method's properties."""
    paths = _paths(template)
    return {
        (paths[json.dumps(m["Properties"]["ResourceId"])], m["Properties"]["HttpMethod"]): m["Properties"]
        for m in _of_type(template, "AWS::ApiGateway::Method").values()
    }


def _statements(template, role: str) -> list[dict]:
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def _rendered(value: object) -> str:
    """An ARN of the template as text: references as <Ref> (the usage plan's as <plan>)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:  # type: ignore[operator]
        return "".join(_rendered(part) for part in value["Fn::Join"][1])  # type: ignore[index]
    ref = value.get("Ref", "")  # type: ignore[union-attr]
    return "<plan>" if ref.startswith("ServingIngestPlan") else f"<{ref}>"


def test_serve_function_reads_both_views_and_writes_the_stream(template):
    serve = _serve(template)
    assert serve["Handler"] == "functions.serve.handler.handler"
    assert serve["Runtime"] == "python3.11"
    variables = serve["Environment"]["Variables"]
    assert variables["HEADCOUNT_REALTIME_TABLE"]["Ref"].startswith("RealtimeTable")
    assert variables["HEADCOUNT_BATCH_TABLE"]["Ref"].startswith("BatchTable")
    assert variables["HEADCOUNT_STREAM"]["Ref"].startswith("IngestEvents")
    statements = _statements(template, serve["Role"]["Fn::GetAtt"][0])
    actions = {a for s in statements for a in _actions(s)}
    assert {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem", "kinesis:PutRecords"} <= actions
    assert "kinesis:ListShards" in actions  # freshness: which shards are open
    # and writes no view (its writes are the notifications' and the erasure requests' own:
    # tests/infra/test_notifications.py, tests/infra/test_erasure.py)
    own = [
        {"Fn::GetAtt": [table, "Arn"]}
        for name in (names.NOTIFICATIONS_TABLE, names.ERASURES_TABLE)
        for table in template.find_resources("AWS::DynamoDB::Table", {"Properties": {"TableName": name}})
    ]
    assert len(own) == 2
    views = [
        s
        for s in statements
        if not all(r in own for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]))
    ]
    assert not {"dynamodb:PutItem", "dynamodb:DeleteItem"} & {a for s in views for a in _actions(s)}
    # It updates only the shards' status items (when it put records into them), never a count
    [update] = [s for s in views if "dynamodb:UpdateItem" in _actions(s)]
    assert update["Condition"] == {
        "ForAllValues:StringEquals": {
            "dynamodb:LeadingKeys": ["~shards"],
            "dynamodb:Attributes": ["pk", "sk", "put_ms"],
        },
        "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
    }


def test_serve_function_knows_the_pool_its_client_and_the_plan_by_reference(template):
    # Given the serve function / Then it finds who may call through the user pool, the dashboard's client and the
    # ingest plan's name: references and a name, nothing secret
    variables = _serve(template)["Environment"]["Variables"]
    (pool_id,) = _of_type(template, "AWS::Cognito::UserPool")
    dashboard = template.find_resources(
        "AWS::Cognito::UserPoolClient", {"Properties": {"ClientName": "headcount-dashboard"}}
    )
    assert variables["HEADCOUNT_USER_POOL_ID"] == {"Ref": pool_id}
    assert variables["HEADCOUNT_USER_POOL_CLIENT_ID"] == {"Ref": next(iter(dashboard))}
    assert variables["HEADCOUNT_INGEST_USAGE_PLAN"] == names.DEFAULT_NAMES.ingest_usage_plan == "headcount-ingest"
    assert "HEADCOUNT_API_KEY" not in variables


SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL)", re.IGNORECASE)
# Variables named after secrets that hold none: the name prefix of the channels' secrets in Secrets Manager, which the
# functions read at run time with their role (infra/notifications.py)
NOT_SECRETS = {"HEADCOUNT_CHANNEL_SECRETS": names.CHANNEL_SECRETS}
RANDOM_LOOKING = re.compile(r"^[A-Za-z0-9+/=_-]{24,}$")  # a generated key or password, not a name


def test_no_function_environment_holds_a_secret(template):
    # Given every function of the stack / Then no environment variable holds a secret: no Secrets Manager (or SSM
    # secure string) dynamic reference, no secret-named variable, no literal that looks generated
    functions = _of_type(template, "AWS::Lambda::Function")
    assert len(functions) >= 3
    for function in functions.values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for name, value in variables.items():
            rendered = json.dumps(value)
            assert "resolve:secretsmanager" not in rendered and "resolve:ssm-secure" not in rendered, name
            assert not SECRET_NAME.search(name) or NOT_SECRETS.get(name) == value, name
            assert not (isinstance(value, str) and RANDOM_LOOKING.match(value) and not value.startswith("headcount")), (
                name
            )
    # and the stack keeps no secret of its own (the API key secret is gone; ingest keys live in API Gateway)
    assert _of_type(template, "AWS::SecretsManager::Secret") == {}


def test_every_method_is_the_access_tables_and_no_other(template):
    # Given headcount/access.py's resources / Then the API has exactly their methods, each a proxy to the function
    expected = {(r.path, verb): r for r in access.RESOURCES for verb in r.methods}
    methods = _methods(template)
    assert set(methods) == set(expected)
    serve_id = next(
        iter(template.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": "headcount-serve"}}))
    )
    for (path, verb), props in methods.items():
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY", (path, verb)
        assert serve_id in json.dumps(integration["Uri"]), (path, verb)


def test_no_method_without_a_credential_but_the_public_ones(template):
    # Given every method / Then each one is: public (exactly the PUBLIC resources), an ingest key's (ApiKeyRequired,
    # no authorizer), or the Cognito authorizer's with the scopes of its access
    (authorizer_id,) = _of_type(template, "AWS::ApiGateway::Authorizer")
    public = set()
    for (path, verb), props in _methods(template).items():
        resource = access.resource_for(path) if path != "/" else access.RESOURCES[0]
        assert resource is not None and resource.path == path
        if props.get("AuthorizationType", "NONE") == "NONE" and not props.get("ApiKeyRequired"):
            public.add((path, verb))
            continue
        if resource.access is Access.INGEST:
            assert props["ApiKeyRequired"] is True and props["AuthorizationType"] == "NONE"
            assert "AuthorizerId" not in props
        else:
            assert resource.access in (Access.READ, Access.ADMIN), (path, verb)
            assert props["AuthorizationType"] == "COGNITO_USER_POOLS"
            assert props["AuthorizerId"] == {"Ref": authorizer_id}
            assert props["AuthorizationScopes"] == list(access.SCOPES[resource.access])
            assert not props.get("ApiKeyRequired")
    assert public == {(r.path, v) for r in access.RESOURCES if r.access is Access.PUBLIC for v in r.methods}
    # The admin routes take a person's token only: no tool's scope
    assert access.READ_SCOPE not in access.SCOPES[Access.ADMIN]


def test_the_authorizer_is_the_pools_on_the_authorization_header(template):
    (pool_id,) = _of_type(template, "AWS::Cognito::UserPool")
    template.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {
            "Type": "COGNITO_USER_POOLS",
            "IdentitySource": "method.request.header.Authorization",
            "ProviderARNs": [{"Fn::GetAtt": [pool_id, "Arn"]}],
        },
    )
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"ApiKeySourceType": "HEADER"})


def test_no_catch_all_proxy(template):
    # Given the API's resources / Then no `{proxy+}` hangs off the root (`ANY /{proxy+}`): only under the parents
    # access.py names, and each greedy resource has only its table's methods
    paths = _paths(template)
    greedy = {p for p in paths.values() if p.endswith("{proxy+}")}
    assert greedy == {r.path for r in access.RESOURCES if r.path.endswith("{proxy+}")}
    assert "/{proxy+}" not in greedy
    # and the root has only the methods of its own entry (the dashboard's page), not the whole API's
    root = next(r for r in access.RESOURCES if r.path == "/")
    assert root.access is Access.PUBLIC
    assert {verb for path, verb in _methods(template) if path == "/"} == set(root.methods)


def test_gateway_responses_answer_in_the_error_envelope(template):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in _of_type(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {*access.GATEWAY_RESPONSES, "DEFAULT_4XX", "DEFAULT_5XX"}
    for kind, answer in access.GATEWAY_RESPONSES.items():
        props = responses[kind]
        assert props["StatusCode"] == str(answer.status)
        body = props["ResponseTemplates"]["application/json"]
        assert json.loads(body) == {"error": {"code": answer.code, "message": answer.message}}
        # A response template is VTL: a literal body must hold nothing it would evaluate
        assert "$" not in body and "#" not in body, kind
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        body = responses[kind]["ResponseTemplates"]["application/json"]
        assert "StatusCode" not in responses[kind]  # API Gateway's own status
        # $context.error.messageString is already a quoted JSON string: substituted, the body is the envelope
        assert json.loads(body.replace("$context.error.messageString", '"Missing Authentication Token"')) == {
            "error": {"code": "http_error", "message": "Missing Authentication Token"}
        }


def test_usage_plan_limits_each_ingest_key_on_the_prod_stage(template):
    (api_id,) = _of_type(template, "AWS::ApiGateway::RestApi")
    (stage_id,) = _of_type(template, "AWS::ApiGateway::Stage")
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "UsagePlanName": "headcount-ingest",
            "ApiStages": [Match.object_like({"ApiId": {"Ref": api_id}, "Stage": {"Ref": stage_id}})],
            "Throttle": {"RateLimit": access.INGEST_RATE_LIMIT, "BurstLimit": access.INGEST_BURST_LIMIT},
            "Quota": {"Limit": access.INGEST_QUOTA_PER_DAY, "Period": "DAY"},
        },
    )
    # Keys are made by operators (headcount keys create), never by CloudFormation
    assert _of_type(template, "AWS::ApiGateway::ApiKey") == {}
    assert _of_type(template, "AWS::ApiGateway::UsagePlanKey") == {}


def _method_settings(template) -> dict[tuple[str, str], dict]:
    (stage,) = _of_type(template, "AWS::ApiGateway::Stage").values()
    return {
        # "/~1v1~1events": the path, its slashes as ~1 after the leading one
        (s["ResourcePath"][1:].replace("~1", "/") or "/", s["HttpMethod"]): s
        for s in stage["Properties"]["MethodSettings"]
    }


def test_reads_and_event_posts_have_their_own_method_throttles(template):
    # Given the stage's method settings / Then every verb of the events resource has the ingest throttle, every verb
    # of each read and admin resource the read throttle: two different buckets, neither the stage default
    settings = _method_settings(template)
    ingest = (access.INGEST_METHOD_RATE_LIMIT, access.INGEST_METHOD_BURST_LIMIT)
    read = (access.READ_RATE_LIMIT, access.READ_BURST_LIMIT)
    assert ingest != read
    for resource in access.RESOURCES:
        verbs = VERBS if "ANY" in resource.methods else resource.methods
        for verb in verbs:
            setting = settings.get((resource.path, verb))
            if resource.access is Access.PUBLIC:
                assert setting is None, resource.path
                continue
            assert setting is not None, (resource.path, verb)
            limits = (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"])
            assert limits == (ingest if resource.access is Access.INGEST else read), (resource.path, verb)
            # a method's settings replace the stage's for it: still logged and measured
            assert (setting["LoggingLevel"], setting["MetricsEnabled"]) == ("ERROR", True)
    assert ("/v1/events", "POST") in settings and ("/v1/metrics/{proxy+}", "GET") in settings


def test_rest_api_stage_is_logged_traced_and_throttled(template):
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "TracingEnabled": True,
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "ResourcePath": "/*",
                            "HttpMethod": "*",
                            "LoggingLevel": "ERROR",
                            "MetricsEnabled": True,
                            "ThrottlingRateLimit": 500,
                            "ThrottlingBurstLimit": 1000,
                        }
                    )
                ]
            ),
        },
    )


def test_web_acl_limits_each_address_and_guards_the_stage(template):
    (acl_id, acl), *others = _of_type(template, "AWS::WAFv2::WebACL").items()
    assert others == []
    props = acl["Properties"]
    assert (props["Name"], props["Scope"], props["DefaultAction"]) == ("headcount-api", "REGIONAL", {"Allow": {}})
    rules = {rule["Name"]: rule for rule in props["Rules"]}
    [rate] = [r for r in rules.values() if "RateBasedStatement" in r["Statement"]]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {
        "AggregateKeyType": "IP",
        "Limit": access.WAF_REQUESTS_PER_5_MINUTES,
        "EvaluationWindowSec": 300,
    }
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules.values()
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {"AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesKnownBadInputsRuleSet"}
    assert "AWSManagedRulesCommonRuleSet" not in json.dumps(props)  # its 8 KB body limit would block event posts
    for config in [props["VisibilityConfig"], *(r["VisibilityConfig"] for r in rules.values())]:
        assert config["CloudWatchMetricsEnabled"] is True
    assert len({r["Priority"] for r in rules.values()}) == len(rules)
    # and it is associated with the prod stage
    (api_id,) = _of_type(template, "AWS::ApiGateway::RestApi")
    (stage_id,) = _of_type(template, "AWS::ApiGateway::Stage")
    (association,) = _of_type(template, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    arn = _rendered(association["Properties"]["ResourceArn"])
    assert re.fullmatch(rf"arn:aws:apigateway:us-east-1::/restapis/<{api_id}>/stages/<{stage_id}>", arn), arn


def test_serve_function_manages_only_the_ingest_keys_of_api_gateway(template):
    # Given the serve function's role / Then its apigateway actions are exactly what creating, listing and revoking the
    # plan's keys take: the plan's keys by its id, API keys, and the plan list (to find the plan by its name)
    role = _serve(template)["Role"]["Fn::GetAtt"][0]
    granted = set()
    for statement in _statements(template, role):
        for action in _actions(statement):
            if not action.startswith("apigateway:"):
                continue
            assert statement["Effect"] == "Allow" and "Condition" not in statement
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                arn = _rendered(resource)
                prefix = "arn:<AWS::Partition>:apigateway:<AWS::Region>::"
                assert arn.startswith(prefix), arn
                granted.add((action, arn.removeprefix(prefix)))
    assert granted == KEY_MANAGEMENT


@pytest.fixture(scope="module")
def unguarded_read_route(tmp_path_factory):
    """The app with the read routes' methods built as if public (no authorizer): what cdk-nag says of them."""
    from aws_cdk import aws_apigateway as apigw
    from cdk_nag import AwsSolutionsChecks

    from infra.app import build_app
    from infra.serving import Serving
    from tests.infra.conftest import cdk_context

    authorization = Serving._authorization

    def careless(kind, authorizer):
        if kind is Access.READ:
            return {"authorization_type": apigw.AuthorizationType.NONE}
        return authorization(kind, authorizer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Serving, "_authorization", staticmethod(careless))
        app = build_app(cdk_context(), outdir=str(tmp_path_factory.mktemp("unguarded")))
    return AwsSolutionsChecks().validate_scope(app)


def test_a_read_method_without_the_authorizer_fails_the_checks(unguarded_read_route):
    # Given the read methods without their authorizer / Then cdk-nag reports each of them (APIG4, COG4): the public
    # and the ingest methods are acknowledged one by one, never the API as a whole
    found: dict[str, set[str]] = {}
    for violation in unguarded_read_route.violations:
        for resource in violation.violating_resources:
            found.setdefault(violation.rule_name, set()).add(resource.construct_path)
    read_methods = {
        f"Headcount/Serving/Api/Default{r.path}/{verb}/Resource"
        for r in access.RESOURCES
        if r.access is Access.READ
        for verb in r.methods
    }
    for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
        assert found.get(rule) == read_methods, found
