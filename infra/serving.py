"""The serving layer: the serve function behind an API Gateway REST API (proxy integration, stage prod).

The API key: a Secrets Manager secret the stack generates, handed to the function as HEADCOUNT_API_KEY through a
CloudFormation dynamic reference, i.e. resolved at deploy time and never written into the template or cdk.out (the
handler reads the key from its environment). Changing the key is `put-secret-value` then a deploy with
`-c headcount:apiKeyVersion=<the new VersionId>`: a changed reference makes CloudFormation resolve it again.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from headcount import names
from headcount.core import keys
from headcount.names import StackNames
from infra.lambda_function import python_function
from infra.shared import acknowledge, managed_policy

STAGE = names.API_STAGE
# The stage's defaults (headcount:throttleRate / headcount:throttleBurst): per stage, for all clients together (API
# Gateway's account limit is 10,000 rps); a client's POST carries up to 500 events: the stream's shards (1,000 records/s
# each) throttle first, and the function answers 503 then.
THROTTLE_RATE_LIMIT = 500
THROTTLE_BURST_LIMIT = 1000


class Serving(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        realtime_table: dynamodb.ITable,
        batch_table: dynamodb.ITable,
        stream: kinesis.IStream,
        tz: str,
        api_key_version: str | None = None,
        throttle_rate: float = THROTTLE_RATE_LIMIT,
        throttle_burst: int = THROTTLE_BURST_LIMIT,
        tracing: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)

        self.api_key = secretsmanager.Secret(
            self,
            "ApiKey",
            secret_name=stack_names.api_key_secret,
            description="The x-api-key every headcount data route needs (all but /v1/health and the pages)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=40, exclude_punctuation=True, include_space=False
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.api_key,
            {
                "SMG4": "Not rotated automatically: the serve function reads the key from its environment "
                "(HEADCOUNT_API_KEY, resolved from this secret at deploy time), so a rotation only takes effect with "
                "a deploy, and every API client must be given the new key at the same time. See docs/deploy.md, "
                "'The API key'.",
            },
        )
        api_key_value = SecretValue.secrets_manager(self.api_key.secret_arn, version_id=api_key_version)

        self.function = python_function(
            self,
            "Serve",
            function_name=stack_names.serve_function,
            handler="functions.serve.handler.handler",
            description="The headcount REST API: batch (exact) and real-time views merged per bucket; event intake",
            service=stack_names.powertools_service,
            environment={
                "HEADCOUNT_REALTIME_TABLE": realtime_table.table_name,
                "HEADCOUNT_BATCH_TABLE": batch_table.table_name,
                "HEADCOUNT_STREAM": stream.stream_name,
                "HEADCOUNT_TZ": tz,
                # A dynamic reference ({{resolve:secretsmanager:...}}): CloudFormation puts the value in place.
                "HEADCOUNT_API_KEY": api_key_value.unsafe_unwrap(),
            },
            memory_size=1024,
            timeout=Duration.seconds(29),  # API Gateway's integration timeout
            tracing=tracing,
        )
        realtime_table.grant_read_data(self.function)
        batch_table.grant_read_data(self.function)
        stream.grant_write(self.function)  # POST /v1/events
        stream.grant(self.function, "kinesis:ListShards")  # freshness: a closed shard's watermark no longer counts
        # POST /v1/events notes when it put records into a shard, on the shard's status item, and on nothing else
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[realtime_table.table_arn],
                conditions={
                    "ForAllValues:StringEquals": {
                        "dynamodb:LeadingKeys": [keys.SHARDS_PK],
                        "dynamodb:Attributes": ["pk", "sk", "put_ms"],
                    },
                    "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
                },
            )
        )

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.api = apigw.LambdaRestApi(
            self,
            "Api",
            rest_api_name=stack_names.api,
            description="headcount: counts of players, matches and ads, exact (batch) and real-time",
            handler=self.function,
            proxy=True,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,  # the account-level role API Gateway needs to write execution and access logs
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                tracing_enabled=tracing,
                throttling_rate_limit=throttle_rate,
                throttling_burst_limit=throttle_burst,
            ),
        )
        acknowledge(
            self.api,
            {
                "APIG2": "A proxy integration: the serve function validates every parameter and body itself (400 with "
                "a reason, per-event rejections for POST /v1/events), with the same validator as the fold.",
                "APIG3": "No WAF web ACL: the stage is throttled, every data route needs the API key, and "
                "malformed events are rejected by the function; a web ACL can be attached without changing the stack.",
                "APIG4": "Authorization is the x-api-key header, checked by the serve function in constant time on "
                "every route but /v1/health (open for health checks) and the pages that hold no data (the dashboard, "
                "its files, the API's document and its page; their calls to the API carry the key).",
                "COG4": "No Cognito users: clients are game servers and dashboards holding the API key.",
                managed_policy("service-role/AmazonAPIGatewayPushToCloudWatchLogs"): "API Gateway's own policy for "
                "the account-level role that writes execution and access logs.",
            },
        )
