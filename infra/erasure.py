"""Erasure of players on request (GDPR art. 17; headcount/logic/erasure.py): the table of the requests, their receipts
and the blocked players (headcount/views/erasure_store.py), who may do what with it, and the alarm on requests past
their deadline.

- The serve function takes the requests and shows the receipts (the admin routes, POST /v1/admin/erasures) and, at
  ingest (POST /v1/events), drops the events of blocked players: it reads and writes the table.
- The business function puts ErasuresOverdue on each run (headcount/logic/erasure.py `lateness`): it reads the table.
- The nightly job, when a batch is due, reads the open requests, rewrites the raw/ objects holding the players' lines
  and deletes those objects' older versions (its S3 grants are the lake's, in infra/batch.py), recomputes and
  republishes the days, deletes the real-time items of those days, and records the receipts: it reads and writes the
  table and deletes from the real-time view.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from headcount import names
from headcount.names import StackNames
from infra.alarms import Alarms, headcount_metric
from infra.shared import acknowledge

# What the job does to the real-time view: finds the items of the days it erased (Query) and deletes them
# (BatchWriteItem of DeleteRequests, DeleteItem), so the API answers those days from the republished batch view.
JOB_REALTIME_ACTIONS = ("dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
# The business function puts ErasuresOverdue every names.BUSINESS_EVERY_MINUTES (0 when nothing is late): the alarm
# reads the hour's maximum, so one late request fires it within the hour.
OVERDUE_PERIOD = Duration.hours(1)
OVERDUE_ALARM = "erasures-overdue"
RUNBOOK = 'docs/operations.md, "Erasure"'
NO_BACKUP_REASON = (
    "No point-in-time recovery on purpose: the table holds the ids of the players to forget in clear until their "
    "erasure is done (the request# items, deleted in the transaction that marks the receipt done). A continuous backup "
    "keeps every item it saw for its whole recovery window (35 days by default) and cannot be edited: the ids would "
    "outlive the erasure, and a restore would bring them back. A lost table loses the open requests (their requesters "
    "hold their receipts, and ask again) and the list of blocked players."
)


class Erasure(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        serve: lambda_.Function,
        business: lambda_.Function,
        job_role: iam.IRole,
        realtime_table: dynamodb.ITable,
        alarms: Alarms,
    ) -> None:
        """`serve` takes the requests and drops blocked players' events at ingest; `business` puts the metric the
        alarm watches; `job_role` is the nightly job's (it erases: its arguments name this table and the real-time
        view, infra/batch.py); `alarms` the stack's (the alarm's topic, the dashboard's list)."""
        super().__init__(scope, construct_id)

        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=stack_names.erasures_table,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # No point-in-time recovery: a backup of player ids that an erasure could not edit (NO_BACKUP_REASON)
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=False
            ),
            removal_policy=RemovalPolicy.RETAIN,  # as the views: a deleted stack keeps the open requests
        )
        acknowledge(self.table, {"DDB3": NO_BACKUP_REASON})

        self.environment = {"HEADCOUNT_ERASURES_TABLE": self.table.table_name}
        for function in (serve, business):
            for key, value in self.environment.items():
                function.add_environment(key, value)
        self.table.grant_read_write_data(serve)  # requests and receipts; the blocked players (Scan) at ingest
        self.table.grant_read_data(business)  # the open requests' ages, for ErasuresOverdue
        self.table.grant_read_write_data(job_role)  # open requests, receipts (TransactWriteItems: Put and Delete)
        realtime_table.grant(job_role, *JOB_REALTIME_ACTIONS)

        # Missing data is not breaching (Alarms.add): the function puts 0 when nothing is late, so no data means it did
        # not run, which business-metrics-missing (infra/business.py) reports.
        self.overdue = alarms.add(
            OVERDUE_ALARM,
            headcount_metric(
                stack_names.powertools_service,
                names.METRIC_ERASURES_OVERDUE,
                statistic="Maximum",
                period=OVERDUE_PERIOD,
            ),
            f"An erasure request is older than its deadline (HEADCOUNT_ERASURE_DEADLINE_DAYS) and not done "
            f"({names.METRIC_ERASURES_OVERDUE}, put by {stack_names.business_function} every "
            f"{names.BUSINESS_EVERY_MINUTES} minutes): the nightly job did not erase it, or failed doing so (its "
            f"receipt says which). Runbook: {RUNBOOK}.",
            scope=self,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
