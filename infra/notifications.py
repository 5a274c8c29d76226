"""Digests and KPI alerts (headcount/logic/notify.py): the channels, subscriptions, alert rules and deliveries in one
table; the channels' URLs and signing secrets in Secrets Manager under one name prefix (StackNames.channel_secrets),
created by the admin routes at run time; the queue of deliveries that failed after their retries; an alarm on each
way a delivery fails; and the rule that runs the business function as soon as the nightly job succeeds, so the
digests of the day that closed go out at once rather than at the next 5-minute run.

The business function evaluates the alert rules and sends the digests on each run; the serve function's admin routes
manage the definitions and send a test message. Both reach Slack and webhooks over the internet (functions outside a
VPC have it) and email through SES, as the one sender `headcount:emailFrom` only.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from headcount import names
from headcount.names import StackNames
from infra.alarms import FIVE_MINUTES, Alarms, headcount_metric
from infra.shared import acknowledge, environment_as_nag_names_it, pk_sk_table

# What a channel's secret needs from the admin routes: create it, change its URL, read it back (the test message),
# delete it with its recovery window and restore it (a channel made again within the window).
MANAGE_SECRETS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:GetSecretValue",
    "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret",
    "secretsmanager:DescribeSecret",
)
READ_SECRETS = ("secretsmanager:GetSecretValue",)
SEND_EMAIL = ("ses:SendEmail",)  # the senders call SES' SendEmail (headcount/views/channels.py), nothing else
# EventBridge's retries of the nightly run's invocation, and how long it keeps trying: the next scheduled run (every
# BUSINESS_EVERY_MINUTES) sends what a lost one would have.
NIGHTLY_RETRY_ATTEMPTS = 2
NIGHTLY_MAX_EVENT_AGE = Duration.minutes(2 * names.BUSINESS_EVERY_MINUTES)
GLUE_SUCCEEDED = "SUCCEEDED"


class Notifications(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        business: lambda_.Function,
        serve: lambda_.Function,
        alarms: Alarms,
        dashboard_url: str,
        email_from: str | None = None,
    ) -> None:
        """`business` sends (every run, and after the nightly job); `serve` manages the definitions and sends a test
        message; `alarms` are the stack's (their topic, the dashboard's list); `dashboard_url` is where the messages
        link to (the API's root); `email_from` the SES sender (headcount:emailFrom), None for no email channels."""
        super().__init__(scope, construct_id)
        self.stack_names, self.email_from = stack_names, email_from

        # Definitions, their state and every delivery; a delivery's record expires (TTL on expires_at).
        self.table = pk_sk_table(self, "Table", stack_names.notifications_table, ttl_attribute="expires_at")

        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=stack_names.delivery_dead_letters,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),  # SQS' maximum: time to look at what failed, and send it again
        )
        acknowledge(
            self.dead_letters,
            {
                "SQS3": "This queue is the deliveries' dead-letter queue: a delivery that failed its 3 attempts is "
                "put here (and recorded failed in the table) by the function that sent it. A DLQ of the DLQ would "
                "add nothing; an alarm fires as soon as it holds a message.",
            },
        )

        self.environment = {
            "HEADCOUNT_NOTIFICATIONS_TABLE": self.table.table_name,
            "HEADCOUNT_CHANNEL_SECRETS": stack_names.channel_secrets,
            "HEADCOUNT_DELIVERY_DEAD_LETTERS": self.dead_letters.queue_url,
            **({"HEADCOUNT_EMAIL_FROM": email_from} if email_from else {}),
            "HEADCOUNT_DASHBOARD_URL": dashboard_url,
        }
        self._sender(business, READ_SECRETS, "reads a channel's URL to send to it")
        self._sender(serve, MANAGE_SECRETS, "creates, changes and deletes the channels' secrets (the admin routes)")

        self.after_nightly = self._run_after_nightly(business)
        self.alarms = self._alarms(alarms)

    def secrets_arn(self) -> str:
        """The channels' secrets: every secret whose name starts with the prefix (and its random 6-character suffix)."""
        return Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{self.stack_names.channel_secrets}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _sender(self, function: lambda_.Function, secret_actions: tuple[str, ...], secrets_use: str) -> None:
        """A function that sends deliveries: its settings, the table, the channels' secrets (these actions), the
        dead-letter queue, and SES as the one sender."""
        for key, value in self.environment.items():
            function.add_environment(key, value)
        self.table.grant_read_write_data(function)
        self.dead_letters.grant_send_messages(function)
        function.add_to_role_policy(iam.PolicyStatement(actions=list(secret_actions), resources=[self.secrets_arn()]))
        stack = Stack.of(self)
        partition, region, account = environment_as_nag_names_it(stack)
        reasons = {
            f"IAM5[Resource::arn:{partition}:secretsmanager:{region}:{account}:secret:"
            f"{self.stack_names.channel_secrets}*]": f"The function {secrets_use}. The admin routes create a secret "
            "per channel at run time, named with the stack's prefix (StackNames.channel_secrets) and a suffix "
            "Secrets Manager adds: only the prefix can name them, and no other secret starts with it.",
        }
        if self.email_from:
            # The identity may be the address, its domain or a parent domain, whichever the account verified; in
            # SES' sandbox the recipients are identities too and each is authorized like the sender: the condition,
            # not the resource, is what keeps the function to its one sender.
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=list(SEND_EMAIL),
                    resources=[
                        stack.format_arn(
                            service="ses",
                            resource="identity",
                            resource_name="*",
                            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                        )
                    ],
                    conditions={"StringEquals": {"ses:FromAddress": self.email_from}},
                )
            )
            reasons[f"IAM5[Resource::arn:{partition}:ses:{region}:{account}:identity/*]"] = (
                f"Email is sent only as {self.email_from} (condition ses:FromAddress). SES authorizes a send on the "
                "identity that verifies the sender (the address, its domain or a parent domain, whichever the account "
                "verified) and, while the account is in the SES sandbox, on each recipient's identity too."
            )
        acknowledge(function, reasons)

    def _run_after_nightly(self, business: lambda_.Function) -> events.Rule:
        """Glue reports a run's end as an EventBridge event: SUCCEEDED means yesterday's numbers are exact now."""
        job = self.stack_names.nightly_job
        return events.Rule(
            self,
            "AfterNightly",
            description=f"Runs {self.stack_names.business_function} as soon as {job} succeeds: the digests of the day "
            "that closed",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [job], "state": [GLUE_SUCCEEDED]},
            ),
            targets=[
                events_targets.LambdaFunction(
                    business,
                    # the run's "now": when the job's run ended (functions/business tells it from a scheduled run)
                    event=events.RuleTargetInput.from_object({"trigger": "nightly", "time": events.EventField.time}),
                    retry_attempts=NIGHTLY_RETRY_ATTEMPTS,
                    max_event_age=NIGHTLY_MAX_EVENT_AGE,
                )
            ],
        )

    def _alarms(self, alarms: Alarms) -> dict[str, cloudwatch.Alarm]:
        """The stack's alarms' way (infra/alarms.py): to the alarm topic, missing data not breaching (no deliveries is
        no news), on the dashboard."""
        watched = {
            "deliveries-failed": (
                headcount_metric(self.stack_names.powertools_service, names.METRIC_DELIVERIES_FAILED),
                "A digest or an alert could not be delivered after its 3 attempts (DeliveriesFailed): the channel's "
                "URL or address is wrong or refused it (the delivery's record in the admin routes says why).",
            ),
            "deliveries-dead-lettered": (
                self.dead_letters.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=FIVE_MINUTES
                ),
                f"Failed deliveries wait in {self.stack_names.delivery_dead_letters}: read them to see what did not "
                "reach its channel, then delete them.",
            ),
        }
        return {
            alarm_id: alarms.add(
                alarm_id,
                metric,
                description,
                scope=self,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            )
            for alarm_id, (metric, description) in watched.items()
        }
