"""The serving layer: the serve function, its API key, the REST API."""

from aws_cdk.assertions import Match

from headcount import names


def _serve(template) -> dict:
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": names.SERVE_FUNCTION}})
    assert len(functions) == 1
    return next(iter(functions.values()))["Properties"]


def test_api_key_is_resolved_from_the_secret_at_deploy_time(template):
    # Given the generated secret / Then the function's HEADCOUNT_API_KEY is a dynamic reference to it, not a value
    secrets = template.find_resources("AWS::SecretsManager::Secret", {"Properties": {"Name": names.API_KEY_SECRET}})
    assert len(secrets) == 1
    (secret_id,) = secrets
    assert "GenerateSecretString" in secrets[secret_id]["Properties"]
    assert _serve(template)["Environment"]["Variables"]["HEADCOUNT_API_KEY"] == {
        "Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": secret_id}, ":SecretString:::}}"]]
    }


def test_api_key_version_context_pins_the_reference(tmp_path):
    # Given a deploy with -c headcount:apiKeyVersion=v1 / Then the reference names that version
    from infra.parameters import API_KEY_VERSION_CONTEXT
    from tests.infra.conftest import cdk_context, synthesize

    synthesized = synthesize(tmp_path, cdk_context(**{API_KEY_VERSION_CONTEXT: "v-123"}), {})
    functions = [
        r
        for r in synthesized.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == names.SERVE_FUNCTION
    ]
    key = functions[0]["Properties"]["Environment"]["Variables"]["HEADCOUNT_API_KEY"]["Fn::Join"][1]
    assert key[-1] == ":SecretString:::v-123}}"


def test_serve_function_reads_both_views_and_writes_the_stream(template):
    serve = _serve(template)
    assert serve["Handler"] == "functions.serve.handler.handler"
    assert serve["Runtime"] == "python3.11"
    variables = serve["Environment"]["Variables"]
    assert variables["HEADCOUNT_REALTIME_TABLE"]["Ref"].startswith("RealtimeTable")
    assert variables["HEADCOUNT_BATCH_TABLE"]["Ref"].startswith("BatchTable")
    assert variables["HEADCOUNT_STREAM"]["Ref"].startswith("IngestEvents")
    role = serve["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    actions = {
        a
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem", "kinesis:PutRecords"} <= actions
    assert "kinesis:ListShards" in actions  # freshness: which shards are open
    assert not {"dynamodb:PutItem", "dynamodb:DeleteItem"} & actions
    # It updates only the shards' status items (when it put records into them), never a count
    [update] = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:UpdateItem" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert update["Condition"] == {
        "ForAllValues:StringEquals": {
            "dynamodb:LeadingKeys": ["~shards"],
            "dynamodb:Attributes": ["pk", "sk", "put_ms"],
        },
        "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
    }


def test_rest_api_proxies_to_serve_with_logged_throttled_prod_stage(template):
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "{proxy+}"})
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "ANY", "Integration": Match.object_like({"Type": "AWS_PROXY"})},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "TracingEnabled": True,
            "MethodSettings": [
                Match.object_like(
                    {
                        "LoggingLevel": "ERROR",
                        "MetricsEnabled": True,
                        "ThrottlingRateLimit": 500,
                        "ThrottlingBurstLimit": 1000,
                    }
                )
            ],
        },
    )
