"""Alarms on what can go wrong unseen, all to one SNS topic (subscribe an address or a chat integration to it)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from headcount import names

FIVE_MINUTES = Duration.minutes(5)
# The fold is meant to be seconds behind the stream; a minute behind for 15 minutes is a backlog that does not drain.
ITERATOR_AGE_LIMIT_MS = 60_000
# Producers send some malformed events (the simulator does too): alarm on a sustained stream of them, a broken client
# or a changed event format. Tune to the traffic: POST /v1/events already rejects bad events before the stream, so
# what the fold rejects comes from other producers or from events that aged past the limits in the stream.
REJECTED_PER_5_MINUTES_LIMIT = 1000


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fold: lambda_.IFunction,
        on_failure_queue: sqs.IQueue,
        api: apigw.RestApi,
        job: glue.IJob,
    ) -> None:
        super().__init__(scope, construct_id)

        # A customer managed key: CloudWatch and EventBridge can publish to an encrypted topic only through a key
        # whose policy lets them use it (the aws/sns key does not).
        key = kms.Key(self, "TopicKey", description="headcount alarm topic", enable_key_rotation=True)
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Topic", topic_name=names.ALARM_TOPIC, master_key=key, enforce_ssl=True)
        notify = actions.SnsAction(self.topic)

        self.alarms: dict[str, cloudwatch.Alarm] = {}

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, description: str, **options: object) -> None:
            created = cloudwatch.Alarm(
                self,
                alarm_id,
                alarm_name=f"headcount-{alarm_id}",
                alarm_description=description,
                metric=metric,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                **options,
            )
            created.add_alarm_action(notify)
            self.alarms[alarm_id] = created

        alarm(
            "fold-iterator-age",
            fold.metric("IteratorAge", statistic="Maximum", period=FIVE_MINUTES),
            "The fold is more than a minute behind the stream: real-time numbers are stale.",
            threshold=ITERATOR_AGE_LIMIT_MS,
            evaluation_periods=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        alarm(
            "fold-errors",
            fold.metric_errors(period=FIVE_MINUTES),
            "The fold function failed (not a DynamoDB write, which it reports as a partial batch failure).",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        alarm(
            "events-rejected",
            self._rejected(),
            f"The fold rejected more than {REJECTED_PER_5_MINUTES_LIMIT} events per 5 minutes for 15 minutes "
            "(EventsRejected; the reason dimension and the fold's logs say why).",
            threshold=REJECTED_PER_5_MINUTES_LIMIT,
            evaluation_periods=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        alarm(
            "fold-failures-queued",
            on_failure_queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=FIVE_MINUTES),
            "The fold gave a batch up (records about to leave the stream): its shard range is in the on-failure "
            "queue; the nightly job still counts those events from the archive.",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        alarm(
            "api-5xx",
            api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            "The API answered 5xx (serve function errors, timeouts, or the stream refusing events).",
            threshold=5,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )

        # Glue reports a run's end as an EventBridge event: FAILED or TIMEOUT means a day not recomputed.
        self.job_failed = job.on_failure(
            "JobFailed",
            description="The nightly counts job did not finish: the batch view was not published",
            target=events_targets.SnsTopic(self.topic),
        )
        self.job_timed_out = job.on_timeout(
            "JobTimedOut",
            description="The nightly counts job timed out: the batch view was not published",
            target=events_targets.SnsTopic(self.topic),
        )

    @staticmethod
    def _rejected() -> cloudwatch.Metric:
        """EventsRejected over all reasons: the fold emits it once per batch without the reason dimension (an alarm over
        the per-reason metrics would need one metric per reason, and an alarm takes at most 10)."""
        return cloudwatch.Metric(
            namespace=names.POWERTOOLS_NAMESPACE,
            metric_name=names.METRIC_EVENTS_REJECTED,
            dimensions_map={"service": names.POWERTOOLS_SERVICE},
            statistic="Sum",
            period=FIVE_MINUTES,
        )
