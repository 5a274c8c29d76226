"""The CloudWatch dashboard, named after the stack's prefix (`headcount` by default): the pipeline's health, layer by
layer, then the business numbers the functions and the nightly job report (docs/operations.md says what to look at for
each alarm)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from headcount import names
from headcount.core.events import Reason
from headcount.logic.ingest import STREAM_THROTTLED, STREAM_UNCONFIRMED
from headcount.names import StackNames
from infra.alarms import (
    API_P99_LATENCY_LIMIT_MS,
    ARCHIVE_FRESHNESS_LIMIT_S,
    FIVE_MINUTES,
    ITERATOR_AGE_LIMIT_MS,
    Alarms,
    headcount_metric,
)
from infra.business import Business, today_so_far

ONE_DAY = Duration.days(1)
# What a provisioned shard takes (Kinesis' limits per shard), drawn on the stream's graphs.
SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = 1024 * 1024
# The reasons an event can be rejected: by the validator (the fold's EventsRejected, and POST /v1/events'), and by the
# stream at POST /v1/events (PostedEventsRejected only).
FOLD_REASONS = tuple(reason.value for reason in Reason)
POSTED_REASONS = (*FOLD_REASONS, STREAM_THROTTLED, STREAM_UNCONFIRMED)
# The functions' EMF metrics (headcount/observability.py) and the nightly job's (headcount/batch/job.py) read here.
EVENTS_ACCEPTED = "EventsAccepted"
EVENTS_FOLDED = "EventsFolded"
POSTED_EVENTS_REJECTED = "PostedEventsRejected"
WRITE_UNITS = "WriteUnits"
ITEMS_WRITTEN = "ItemsWritten"
EMF_METRICS = (EVENTS_ACCEPTED, EVENTS_FOLDED, names.METRIC_EVENTS_REJECTED, POSTED_EVENTS_REJECTED)
EMF_METRICS += (WRITE_UNITS, ITEMS_WRITTEN)


def per_second(metric: cloudwatch.IMetric, label: str) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(expression="m / PERIOD(m)", using_metrics={"m": metric}, label=label)


def limit(value: float, label: str) -> cloudwatch.HorizontalAnnotation:
    return cloudwatch.HorizontalAnnotation(value=value, label=label, color=cloudwatch.Color.RED)


class Dashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        stream: kinesis.IStream,
        shards: int | Literal["on-demand"],
        fold: lambda_.IFunction,
        tables: Mapping[str, dynamodb.ITable],
        archive: firehose.IDeliveryStream,
        api: apigw.RestApi,
        alarms: Alarms,
        business: Business,
    ) -> None:
        super().__init__(scope, construct_id)
        service = stack_names.powertools_service

        def metric(
            name: str, *, statistic: str = "Sum", period: Duration = FIVE_MINUTES, **dimensions: str
        ) -> cloudwatch.Metric:
            """The functions' and the job's metrics as they put them (namespace Headcount, this stack's service),
            labelled with their name or reason."""
            return headcount_metric(service, name, statistic=statistic, period=period, **dimensions).with_(
                label=dimensions.get("reason", name)
            )

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=stack_names.dashboard,
            default_interval=Duration.days(1),
            period_override=cloudwatch.PeriodOverride.AUTO,
        )
        add = self.dashboard.add_widgets

        add(
            cloudwatch.TextWidget(
                markdown="# headcount\nEvents in (stream, API), the fold behind the stream, the views' capacity, the "
                "archive, the nightly job, the API; then the business numbers. Runbook: `docs/operations.md` in the "
                "repository.",
                width=24,
                height=2,
            ),
            cloudwatch.AlarmStatusWidget(
                alarms=[*alarms.alarms.values(), *business.alarms.values()], title="Alarms", width=24, height=3
            ),
        )

        # The stream and the fold
        provisioned = shards != "on-demand"
        records = per_second(stream.metric_incoming_records(statistic="Sum"), "IncomingRecords /s")
        add(
            cloudwatch.GraphWidget(
                title="Stream in (records/s) vs the fold behind it (IteratorAge ms)",
                left=[records],
                right=[fold.metric("IteratorAge", statistic="Maximum", label="IteratorAge (max, ms)")],
                left_annotations=[limit(int(shards) * SHARD_RECORDS_PER_S, f"{shards} shard(s): records/s")]
                if provisioned
                else None,
                right_annotations=[limit(ITERATOR_AGE_LIMIT_MS, "alarm: fold-iterator-age")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Stream in (bytes/s)",
                left=[per_second(stream.metric_incoming_bytes(statistic="Sum"), "IncomingBytes /s")],
                left_annotations=[limit(int(shards) * SHARD_BYTES_PER_S, f"{shards} shard(s): bytes/s")]
                if provisioned
                else None,
                width=12,
            ),
        )
        add(
            cloudwatch.GraphWidget(
                title="Fold: errors and throttles",
                left=[
                    fold.metric_errors(statistic="Sum", label="Errors"),
                    fold.metric_throttles(statistic="Sum", label="Throttles"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Fold: duration (ms)",
                left=[
                    fold.metric_duration(statistic="p50", label="Duration p50"),
                    fold.metric_duration(statistic="p99", label="Duration p99"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Fold: concurrent executions (one per shard at most)",
                left=[fold.metric("ConcurrentExecutions", statistic="Maximum", label="ConcurrentExecutions")],
                width=8,
            ),
        )

        # The views (DynamoDB)
        add(
            cloudwatch.GraphWidget(
                title="DynamoDB: consumed write units",
                left=[
                    t.metric_consumed_write_capacity_units(statistic="Sum", label=f"{name} ConsumedWriteCapacityUnits")
                    for name, t in tables.items()
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="DynamoDB: consumed read units",
                left=[
                    t.metric_consumed_read_capacity_units(statistic="Sum", label=f"{name} ConsumedReadCapacityUnits")
                    for name, t in tables.items()
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="DynamoDB: throttle events",
                left=[
                    t.metric(f"{kind}ThrottleEvents", statistic="Sum", label=f"{name} {kind}ThrottleEvents")
                    for name, t in tables.items()
                    for kind in ("Read", "Write")
                ],
                width=8,
            ),
        )

        # The archive (Firehose) and the nightly job (its own metrics, and the EventBridge rules that alarm on its end)
        run_seconds = metric(names.METRIC_NIGHTLY_RUN_SECONDS, statistic="Maximum", period=ONE_DAY)
        days_computed = metric(names.METRIC_NIGHTLY_DAYS_COMPUTED, statistic="Maximum", period=ONE_DAY)
        add(
            cloudwatch.GraphWidget(
                title="Archive: DeliveryToS3.DataFreshness (s) and its read of the stream (ms)",
                left=[archive.metric("DeliveryToS3.DataFreshness", statistic="Maximum", label="DataFreshness (s)")],
                # how far Firehose's own read of the stream is behind (a slow reader, not a failing delivery)
                right=[
                    archive.metric("KinesisMillisBehindLatest", statistic="Maximum", label="behind the stream (ms)")
                ],
                left_annotations=[limit(ARCHIVE_FRESHNESS_LIMIT_S, "alarm: archive-freshness")],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Archive: DeliveryToS3.Success (1 = every delivery)",
                left=[archive.metric("DeliveryToS3.Success", statistic="Average", label="Success")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
                width=6,
            ),
            cloudwatch.SingleValueWidget(
                title="Nightly job: last run (past 7 days)",
                metrics=[run_seconds.with_(label="run seconds"), days_computed.with_(label="days computed")],
                start="-P7D",
                width=4,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title="Nightly job: per run (30 days)",
                left=[run_seconds.with_(label=names.METRIC_NIGHTLY_RUN_SECONDS)],
                right=[
                    days_computed.with_(label=names.METRIC_NIGHTLY_DAYS_COMPUTED),
                    # what the nightly-days-without-input alarm watches
                    metric(names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT, statistic="Maximum", period=ONE_DAY),
                ],
                period=ONE_DAY,
                start="-P30D",
                width=4,
            ),
            cloudwatch.GraphWidget(
                title="Nightly job: failed or timed out (30 days)",
                left=[
                    cloudwatch.Metric(
                        namespace="AWS/Events",
                        metric_name="TriggeredRules",
                        dimensions_map={"RuleName": rule.rule_name},
                        statistic="Sum",
                        period=ONE_DAY,
                        label=label,
                    )
                    for rule, label in ((alarms.job_failed, "FAILED"), (alarms.job_timed_out, "TIMEOUT"))
                ],
                start="-P30D",
                width=4,
            ),
        )

        # The API
        add(
            cloudwatch.GraphWidget(
                title="API: requests and errors",
                left=[api.metric_count(statistic="Sum", label="Count")],
                right=[
                    api.metric_client_error(statistic="Sum", label="4XXError"),
                    api.metric_server_error(statistic="Sum", label="5XXError"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API: latency (ms)",
                left=[
                    api.metric_latency(statistic="p50", label="Latency p50"),
                    api.metric_latency(statistic="p99", label="Latency p99"),
                ],
                left_annotations=[limit(API_P99_LATENCY_LIMIT_MS, "alarm: api-latency-p99")],
                width=12,
            ),
        )

        # The business numbers (EMF, namespace Headcount)
        add(
            cloudwatch.GraphWidget(
                title="Events: accepted by the API, folded, rejected by the fold",
                left=[
                    metric(EVENTS_ACCEPTED),
                    metric(EVENTS_FOLDED),
                    metric(names.METRIC_EVENTS_REJECTED),
                ],
                width=8,
            ),
            self._by_reason(metric, "EventsRejected by reason (the fold)", names.METRIC_EVENTS_REJECTED, FOLD_REASONS),
            self._by_reason(
                metric, "PostedEventsRejected by reason (POST /v1/events)", POSTED_EVENTS_REJECTED, POSTED_REASONS
            ),
        )
        add(
            cloudwatch.GraphWidget(
                title="The fold's writes: write units and items written",
                left=[metric(WRITE_UNITS), metric(ITEMS_WRITTEN)],
                right=[metric(EVENTS_FOLDED)],
                width=24,
            ),
        )
        # Today so far (the business function, every 5 minutes), each KPI against the band its alarm watches
        width = max(6, 24 // len(business.kpis))
        add(
            *(
                cloudwatch.GraphWidget(
                    title=f"Today so far: {kpi}, and the band of its below-usual alarm",
                    left=[today_so_far(service, kpi), business.band(kpi)],
                    width=width,
                )
                for kpi in business.kpis
            )
        )

    @staticmethod
    def _by_reason(
        metric: Callable[..., cloudwatch.Metric], title: str, metric_name: str, reasons: Sequence[str]
    ) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title=title,
            left=[metric(metric_name, reason=reason) for reason in reasons],
            stacked=True,
            width=8,
        )
