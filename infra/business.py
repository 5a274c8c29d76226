"""Alarms on the business, not only on the pipeline: the business function puts today's KPIs so far into CloudWatch
every few minutes (EventBridge Scheduler), and an anomaly detection alarm per KPI fires when one is far below what the
same time of past days and weeks had (CloudWatch's model of the metric), e.g. unique players so far today. One more
alarm fires when the values stop coming (the function not running, or a KPI it cannot read). The same runs send the
digests and KPI alerts, and one more runs after each nightly job: infra/notifications.py."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from headcount import names
from headcount.names import StackNames
from infra.lambda_function import python_function
from infra.shared import acknowledge, arn_of

EVERY = Duration.minutes(names.BUSINESS_EVERY_MINUTES)
# The band's width in standard deviations of CloudWatch's model (headcount:anomalyBandWidth): CloudWatch's default is
# 2; a game's days vary more than a server's load (weekends, events, a patch day), and the alarm is for "far below".
DEFAULT_BAND_WIDTH = 3
# Below the band for 3 runs in a row (15 minutes): one low run (a slow fold, a quiet five minutes) does not page.
BELOW_BAND_PERIODS = 3
# No values for 3 runs in a row: Lambda retries a failed run twice, so a missing period is not yet news.
MISSING_PERIODS = 3
MAX_ALARM_METRICS = 10  # CloudWatch: an alarm's metric math uses at most 10 metrics


def today_so_far(service: str, kpi: str, statistic: str = "Maximum") -> cloudwatch.Metric:
    """The business function's value of a KPI (one per run, so each 5-minute period holds one), in `service` (the
    stack's StackNames.powertools_service)."""
    return cloudwatch.Metric(
        namespace=names.POWERTOOLS_NAMESPACE,
        metric_name=names.METRIC_TODAY_SO_FAR,
        dimensions_map={"service": service, names.TODAY_SO_FAR_DIMENSION: kpi},
        statistic=statistic,
        period=EVERY,
        label=kpi,
    )


def alarm_id(kpi: str) -> str:
    return f"{kpi.replace('_', '-')}-below-usual"


class Business(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        kpis: Sequence[str],
        realtime_table: dynamodb.ITable,
        batch_table: dynamodb.ITable,
        stream: kinesis.IStream,
        topic: sns.ITopic,
        tz: str,
        band_width: float = DEFAULT_BAND_WIDTH,
        tracing: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 0 < len(kpis) <= MAX_ALARM_METRICS:
            raise ValueError(
                f"{len(kpis)} today-so-far KPIs: the business-metrics-missing alarm watches 1 to {MAX_ALARM_METRICS}"
            )
        self.kpis, self.band_width, self.service = tuple(kpis), band_width, stack_names.powertools_service

        self.function = python_function(
            self,
            "Function",
            function_name=stack_names.business_function,
            handler="functions.business.handler.handler",
            description="Today's KPIs so far (unique players, new players, matches) into CloudWatch, every "
            f"{names.BUSINESS_EVERY_MINUTES} minutes, for the anomaly detection alarms; digests and KPI alerts",
            service=self.service,
            environment={
                "HEADCOUNT_REALTIME_TABLE": realtime_table.table_name,
                "HEADCOUNT_BATCH_TABLE": batch_table.table_name,
                "HEADCOUNT_STREAM": stream.stream_name,
                "HEADCOUNT_TZ": tz,
            },
            memory_size=512,
            # the digests and alerts (infra/notifications.py) are sent in the run: each delivery up to 3 attempts of
            # 5 s with 1 s and 4 s between them, so a few channels that time out still fit
            timeout=Duration.minutes(3),
            tracing=tracing,
        )
        # It reads what the serve function reads (both views, and which shards are open), and writes nothing of them.
        realtime_table.grant_read_data(self.function)
        batch_table.grant_read_data(self.function)
        stream.grant(self.function, "kinesis:ListShards")
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource: its condition key is the namespace
                conditions={"StringEquals": {"cloudwatch:namespace": names.POWERTOOLS_NAMESPACE}},
            )
        )
        # Scheduler invokes it asynchronously: Lambda retries a failed run twice; a run older than two periods says
        # nothing the next runs will not (its values would be stamped at its own, past, scheduled time).
        self.function.configure_async_invoke(max_event_age=Duration.minutes(2 * names.BUSINESS_EVERY_MINUTES))
        acknowledge(
            self.function,
            {
                "IAM5[Resource::*]": "X-Ray's PutTraceSegments/PutTelemetryRecords (tracing=ACTIVE) and CloudWatch's "
                "PutMetricData take no resource ARN; PutMetricData is limited to the Headcount namespace "
                "(cloudwatch:namespace).",
            },
        )

        # The schedule's own role (the target would make one at the stack's root): it may invoke this function only.
        schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}
            ),
            description=f"EventBridge Scheduler: invokes {stack_names.business_function}",
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule_name=stack_names.business_function,
            description=f"Runs {stack_names.business_function} every {names.BUSINESS_EVERY_MINUTES} minutes: today's "
            "KPIs so far into CloudWatch",
            schedule=scheduler.ScheduleExpression.rate(EVERY),
            target=targets.LambdaInvoke(
                self.function,
                # the run's "now": its scheduled time, so each period holds one run's values (functions/business)
                input=scheduler.ScheduleTargetInput.from_object(
                    {"scheduled_time": scheduler.ContextAttribute.scheduled_time}
                ),
                role=schedule_role,
                retry_attempts=2,
                max_event_age=Duration.minutes(2 * names.BUSINESS_EVERY_MINUTES),
            ),
        )
        acknowledge(
            schedule_role,
            {
                f"IAM5[Resource::{arn_of(self.function)}:*]": "CDK's grant_invoke for the schedule's role: the "
                "function and its versions and aliases, this function only.",
            },
        )

        notify = actions.SnsAction(topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.detectors: dict[str, cloudwatch.CfnAnomalyDetector] = {}
        for kpi in self.kpis:
            metric = today_so_far(self.service, kpi)
            # The model, made here rather than by the alarm: the stack owns it (a deleted stack deletes it), and in a
            # reporting zone with daylight saving it follows the zone's clock (the KPIs start again at its midnight).
            detector = cloudwatch.CfnAnomalyDetector(
                self,
                f"Model-{kpi}",
                single_metric_anomaly_detector=cloudwatch.CfnAnomalyDetector.SingleMetricAnomalyDetectorProperty(
                    namespace=metric.namespace,
                    metric_name=metric.metric_name,
                    dimensions=[
                        cloudwatch.CfnAnomalyDetector.DimensionProperty(name=k, value=v)
                        for k, v in (metric.dimensions or {}).items()
                    ],
                    stat=metric.statistic,
                ),
                configuration=cloudwatch.CfnAnomalyDetector.ConfigurationProperty(metric_time_zone=tz)
                if tz != "UTC"
                else None,
            )
            alarm = cloudwatch.AnomalyDetectionAlarm(
                self,
                alarm_id(kpi),
                alarm_name=stack_names.alarm(alarm_id(kpi)),
                alarm_description=f"{kpi} so far today is below CloudWatch's expected band ({band_width} standard "
                f"deviations) for the same time of past days and weeks, for {BELOW_BAND_PERIODS} runs in a row "
                f"({BELOW_BAND_PERIODS * names.BUSINESS_EVERY_MINUTES} minutes). Missing values keep the state: "
                f"{stack_names.alarm('business-metrics-missing')} says when they stop.",
                metric=metric,
                std_devs=band_width,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_LOWER_THRESHOLD,
                evaluation_periods=BELOW_BAND_PERIODS,
                datapoints_to_alarm=BELOW_BAND_PERIODS,
                # Missing is not low: the separate alarm below tells it, and an alarm already firing stays so.
                treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
            )
            alarm.node.add_dependency(detector)
            alarm.add_alarm_action(notify)
            self.alarms[alarm_id(kpi)] = alarm
            self.detectors[kpi] = detector

        # How many values each KPI got per period, the least of them: under 1 when a KPI was not put (a run that did
        # not happen or failed, a KPI it could not read); no data at all is breaching too.
        counts = {f"k{i}": today_so_far(self.service, kpi, statistic="SampleCount") for i, kpi in enumerate(self.kpis)}
        missing = cloudwatch.Alarm(
            self,
            "business-metrics-missing",
            alarm_name=stack_names.alarm("business-metrics-missing"),
            alarm_description=f"The business function put no value of at least one KPI for {MISSING_PERIODS} runs in "
            f"a row ({MISSING_PERIODS * names.BUSINESS_EVERY_MINUTES} minutes): it is not running, fails, or cannot "
            "read that KPI; the below-usual alarms cannot see the business meanwhile.",
            metric=cloudwatch.MathExpression(
                expression=f"MIN([{', '.join(f'FILL({k}, 0)' for k in counts)}])",
                using_metrics=counts,
                label="values put per period (the least of the KPIs)",
                period=EVERY,
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=MISSING_PERIODS,
            datapoints_to_alarm=MISSING_PERIODS,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        missing.add_alarm_action(notify)
        self.alarms["business-metrics-missing"] = missing

    def band(self, kpi: str) -> cloudwatch.MathExpression:
        """The band a KPI's alarm compares it with, for a graph."""
        return cloudwatch.MathExpression(
            expression=f"ANOMALY_DETECTION_BAND(m, {self.band_width})",
            using_metrics={"m": today_so_far(self.service, kpi)},
            label="expected (band)",
            period=EVERY,
        )
