"""The serving layer: the serve function behind an API Gateway REST API (stage prod), which checks every credential
before the function runs (headcount/access.py, the one table of who may call what):

- a method per resource of `access.RESOURCES`, each a Lambda proxy integration: the public ones (pages, health, the
  sign-in settings) take nothing; POST /v1/events takes an ingest key (an API key of the usage plan, each key with
  its own throttle and quota); the read and admin routes take an access token of the stack's user pool (a Cognito
  authorizer, with the scopes `access.SCOPES` names; the function checks the groups again);
- gateway responses in the API's error envelope, so a refusal reads like the function's own;
- per-method throttles, so reads and event posts never draw on one bucket, and a web ACL (infra/firewall.py).

Nothing secret is in any function's environment: the ingest keys live in API Gateway (the function only manages
them, through the admin routes), people and tools in Cognito, the notification channels' URLs in Secrets Manager (the
admin routes manage them too: infra/notifications.py grants that).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_logs as logs
from constructs import Construct

from headcount import access, names
from headcount.access import Access
from headcount.core import keys
from headcount.names import StackNames
from infra.firewall import Firewall
from infra.lambda_function import python_function
from infra.shared import acknowledge, managed_policy
from infra.users import Federation, Users

STAGE = names.API_STAGE
# The stage's default throttle (headcount:throttleRate / headcount:throttleBurst): API Gateway applies it to each
# method that has no throttle of its own (the public pages, health, the sign-in settings), each method its own bucket.
# The events and the read and admin methods have theirs (access.py), below.
THROTTLE_RATE_LIMIT = 500
THROTTLE_BURST_LIMIT = 1000
# A stage's method settings name a method by its HTTP verb, and an ANY method is matched per verb: its throttle is
# set for each of them.
VERBS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
# API Gateway's own default 4XX/5XX answers, in the envelope; messageString is the message as a quoted JSON string.
DEFAULT_ERROR_TEMPLATE = '{"error": {"code": "http_error", "message": $context.error.messageString}}'


def gateway_responses() -> dict[str, tuple[int | None, str]]:
    """Each gateway response type the API answers itself: its status (None: API Gateway's) and its JSON body."""
    answers: dict[str, tuple[int | None, str]] = {
        kind: (answer.status, json.dumps(answer.body())) for kind, answer in access.GATEWAY_RESPONSES.items()
    }
    answers["DEFAULT_4XX"] = (None, DEFAULT_ERROR_TEMPLATE)
    answers["DEFAULT_5XX"] = (None, DEFAULT_ERROR_TEMPLATE)
    return answers


def method_throttles() -> dict[str, tuple[float, int]]:
    """`/path/VERB` → (rate, burst) of every method but the public ones: the events at the ingest limits, the read
    and admin routes at the read limits (for all clients together; each ingest key has its own below these)."""
    throttles = {}
    for resource in access.RESOURCES:
        if resource.access is Access.PUBLIC:
            continue
        limits = (
            (access.INGEST_METHOD_RATE_LIMIT, access.INGEST_METHOD_BURST_LIMIT)
            if resource.access is Access.INGEST
            else (access.READ_RATE_LIMIT, access.READ_BURST_LIMIT)
        )
        verbs = VERBS if "ANY" in resource.methods else resource.methods
        for verb in verbs:
            throttles[f"{resource.path}/{verb}"] = limits
    return throttles


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
        extra_zones: tuple[str, ...] = (),
        throttle_rate: float = THROTTLE_RATE_LIMIT,
        throttle_burst: int = THROTTLE_BURST_LIMIT,
        ingest_rate: float = access.INGEST_RATE_LIMIT,
        ingest_burst: int = access.INGEST_BURST_LIMIT,
        ingest_quota_per_day: int = access.INGEST_QUOTA_PER_DAY,
        federation: Federation | None = None,
        tracing: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)

        self.api = self._rest_api(stack_names, throttle_rate, throttle_burst, tracing)
        # The dashboard's address, from the API's id rather than its deployment's stage (which depends on every
        # method, whose authorizer depends on the user pool: a cycle through the app client's callback URLs)
        self.app_url = f"https://{self.api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{STAGE}/"
        self.users = Users(self, "Users", stack_names=stack_names, app_url=self.app_url, federation=federation)

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
                **({"HEADCOUNT_EXTRA_ZONES": ",".join(extra_zones)} if extra_zones else {}),
                # Who may call (the function checks what API Gateway passed it against these; none of them secret)
                "HEADCOUNT_USER_POOL_ID": self.users.pool.user_pool_id,
                "HEADCOUNT_USER_POOL_CLIENT_ID": self.users.dashboard_client.user_pool_client_id,
                "HEADCOUNT_INGEST_USAGE_PLAN": stack_names.ingest_usage_plan,
                # With the company's identity provider: the dashboard offers it, through the pool's hosted UI
                **(
                    {
                        "HEADCOUNT_SIGN_IN_DOMAIN": self.users.domain.base_url(),
                        "HEADCOUNT_IDENTITY_PROVIDER": federation.name,
                    }
                    if federation is not None
                    else {}
                ),
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

        self._add_methods(stack_names)
        self._add_gateway_responses()

        self.usage_plan = apigw.UsagePlan(
            self,
            "IngestPlan",
            name=stack_names.ingest_usage_plan,
            description="The ingest keys (headcount keys create NAME): POST /v1/events only; these limits are each "
            "key's own",
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
            throttle=apigw.ThrottleSettings(rate_limit=ingest_rate, burst_limit=ingest_burst),
            quota=apigw.QuotaSettings(limit=ingest_quota_per_day, period=apigw.Period.DAY),
        )
        self._grant_ingest_keys(stack_names)

        self.firewall = Firewall(
            self,
            "Firewall",
            stack_names=stack_names,
            stage=self.api.deployment_stage,
            requests_per_5_minutes=access.WAF_REQUESTS_PER_5_MINUTES,
        )

    def _rest_api(
        self, stack_names: StackNames, throttle_rate: float, throttle_burst: int, tracing: bool
    ) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        logging_level, metrics_enabled = apigw.MethodLoggingLevel.ERROR, True
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=stack_names.api,
            description="headcount: counts of players, matches and ads, exact (batch) and real-time",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            api_key_source_type=apigw.ApiKeySourceType.HEADER,  # x-api-key (access.API_KEY_HEADER)
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
                logging_level=logging_level,
                metrics_enabled=metrics_enabled,
                tracing_enabled=tracing,
                throttling_rate_limit=throttle_rate,
                throttling_burst_limit=throttle_burst,
                # A method's own settings replace the stage's for it: logging and metrics are repeated
                method_options={
                    path: apigw.MethodDeploymentOptions(
                        logging_level=logging_level,
                        metrics_enabled=metrics_enabled,
                        throttling_rate_limit=rate,
                        throttling_burst_limit=burst,
                    )
                    for path, (rate, burst) in method_throttles().items()
                },
            ),
        )
        acknowledge(
            api,
            {
                "APIG2": "A proxy integration: the serve function validates every parameter and body itself (400 with "
                "a reason, per-event rejections for POST /v1/events), with the same validator as the fold.",
                managed_policy("service-role/AmazonAPIGatewayPushToCloudWatchLogs"): "API Gateway's own policy for "
                "the account-level role that writes execution and access logs.",
            },
        )
        return api

    def _add_methods(self, stack_names: StackNames) -> None:
        """A method per resource and verb of access.RESOURCES, with the credential its access asks for."""
        integration = apigw.LambdaIntegration(
            self.function,
            # one invoke permission per method (the console's test calls, which skip the authorizers, get none)
            allow_test_invoke=False,
        )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            authorizer_name=f"{stack_names.prefix}-users",
            cognito_user_pools=[self.users.pool],
            identity_source=f"method.request.header.{access.AUTHORIZATION_HEADER}",
        )
        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for resource in access.RESOURCES:
            node = self.api.root if resource.path == "/" else self.api.root.resource_for_path(resource.path[1:])
            for verb in resource.methods:
                method = node.add_method(verb, integration, **self._authorization(resource.access, authorizer))
                self.methods[(resource.path, verb)] = method
                _acknowledge_unauthorized(method, resource.access)

    @staticmethod
    def _authorization(kind: Access, authorizer: apigw.IAuthorizer) -> dict[str, Any]:
        if kind is Access.PUBLIC:
            return {"authorization_type": apigw.AuthorizationType.NONE}
        if kind is Access.INGEST:
            return {"authorization_type": apigw.AuthorizationType.NONE, "api_key_required": True}
        return {
            "authorization_type": apigw.AuthorizationType.COGNITO,
            "authorizer": authorizer,
            "authorization_scopes": list(access.SCOPES[kind]),
        }

    def _add_gateway_responses(self) -> None:
        for kind, (status, template) in gateway_responses().items():
            self.api.add_gateway_response(
                f"Response{kind.title().replace('_', '')}",
                type=apigw.ResponseType.of(kind),
                status_code=str(status) if status is not None else None,
                templates={"application/json": template},
            )

    def _grant_ingest_keys(self, stack_names: StackNames) -> None:
        """What the admin routes (`/v1/admin/keys`, headcount/views/ingest_keys.py) need to create, list and revoke the
        ingest keys, and nothing else of API Gateway. A separate policy, not the role's default one: the function
        depends on that, and the usage plan on the stage, whose deployment depends on the function (a cycle)."""
        plan = f"arn:{Aws.PARTITION}:apigateway:{Aws.REGION}::/usageplans"
        plan_keys = f"{plan}/{self.usage_plan.usage_plan_id}/keys"
        api_keys = f"arn:{Aws.PARTITION}:apigateway:{Aws.REGION}::/apikeys"
        policy = iam.Policy(
            self,
            "IngestKeysPolicy",
            roles=[self.function.role] if self.function.role else [],
            statements=[
                iam.PolicyStatement(
                    actions=["apigateway:GET"],
                    # GetUsagePlans: the plan's id from its name (HEADCOUNT_INGEST_USAGE_PLAN), the list takes no
                    # narrower resource; GetUsagePlanKeys: the plan's keys; GetApiKey: a key's name and state (API
                    # keys' ARNs hold only their generated id, so no narrower resource names ours). Not GetApiKeys
                    # (`/apikeys`): it lists every key of the region, values included.
                    resources=[plan, plan_keys, f"{api_keys}/*"],
                ),
                iam.PolicyStatement(
                    actions=["apigateway:POST"],
                    # CreateApiKey (a new key), CreateUsagePlanKey (into this plan only: what makes it an ingest key)
                    resources=[api_keys, plan_keys],
                ),
                iam.PolicyStatement(
                    actions=["apigateway:PATCH"],
                    resources=[f"{api_keys}/*"],  # UpdateApiKey: revoking disables the key
                ),
            ],
        )
        acknowledge(
            policy,
            {
                "IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/*]": "API keys are named by "
                "their generated id only (arn:…::/apikeys/<id>), and the keys are created at run time by the admin "
                "routes: reading a key's state and disabling it (revocation) cannot be scoped tighter than the "
                "region's keys. The function creates no other kind of resource with them.",
            },
        )


def _acknowledge_unauthorized(method: apigw.Method, kind: Access) -> None:
    """The methods without a Cognito authorizer, on purpose (access.RESOURCES): each acknowledged on its own, so a
    read or admin method without one still fails the synth."""
    if kind is Access.PUBLIC:
        reason = (
            "A public method (headcount/access.py, Access.PUBLIC): the dashboard's pages and files, the API's document "
            "and page, health and the sign-in settings hold no data, and a browser needs them before it has a token. "
            "The web ACL's rate rule and the stage's throttle still apply."
        )
    elif kind is Access.INGEST:
        reason = (
            "POST /v1/events is authorized by an ingest key (api_key_required): API Gateway refuses a missing, unknown "
            "or revoked key with 403 before the function runs, and each key has its own throttle and quota (the usage "
            "plan). Game clients and servers cannot sign in to the user pool; a key opens this method only."
        )
    else:
        return
    acknowledge(method, {"APIG4": reason, "COG4": reason})
