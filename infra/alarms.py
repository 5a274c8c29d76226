"""Alarms on what can go wrong unseen, all to one SNS topic (subscribe an address or a chat integration to it)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from headcount import names
from headcount.names import StackNames

FIVE_MINUTES = Duration.minutes(5)
ONE_DAY = Duration.days(1)
# The fold is meant to be seconds behind the stream; a minute behind for 15 minutes is a backlog that does not drain.
ITERATOR_AGE_LIMIT_MS = 60_000
# Producers send some malformed events (the simulator does too): alarm on a sustained stream of them, a broken client
# or a changed event format. Tune to the traffic: POST /v1/events already rejects bad events before the stream, so
# what the fold rejects comes from other producers or from events that aged past the limits in the stream.
REJECTED_PER_5_MINUTES_LIMIT = 1000
# Firehose delivers every ARCHIVE_BUFFER_INTERVAL_S (300 s), so its oldest undelivered record is up to 5 minutes old;
# three intervals means deliveries are failing or falling behind (the stream keeps the records 24 h meanwhile).
ARCHIVE_FRESHNESS_LIMIT_S = 3 * names.ARCHIVE_BUFFER_INTERVAL_S
# On-demand tables throttle only past their limits (twice the previous peak at once, or a hot partition): the fold
# retries a throttled write (partial batch failure) and the serve function answers 503, so one burst is absorbed;
# throttling in two 5-minute periods in a row is not.
THROTTLED_PERIODS = 2
# The fold has no reserved concurrency: it is throttled only when the account's concurrency is used up (by other
# functions too). Lambda retries; the shard falls behind meanwhile.
FOLD_THROTTLED_PERIODS = 2
# The API's p99 measured locally is under 200 ms (make bench-api): 2 s for 15 minutes is something wrong (a slow
# store, cold starts all the time, a range query gone quadratic), well before API Gateway's 29 s.
API_P99_LATENCY_LIMIT_MS = 2000
API_LATENCY_PERIODS = 3
# The nightly job runs once a day: its metrics are read per day (a run puts each once).
NIGHTLY_PERIOD = ONE_DAY


def headcount_metric(
    service: str, name: str, *, statistic: str = "Sum", period: Duration = FIVE_MINUTES, **dimensions: str
) -> cloudwatch.Metric:
    """A metric of namespace Headcount with the stack's service dimension (StackNames.powertools_service: every stack
    puts into the same namespace, so the service keeps one stack's alarms off another's data) and these others, as
    Powertools and the nightly job put them."""
    return cloudwatch.Metric(
        namespace=names.POWERTOOLS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service, **dimensions},
        statistic=statistic,
        period=period,
    )


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        fold: lambda_.IFunction,
        on_failure_queue: sqs.IQueue,
        api: apigw.RestApi,
        job: glue.IJob,
        archive: firehose.IDeliveryStream,
        tables: Sequence[dynamodb.ITable],
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        # A customer managed key: CloudWatch and EventBridge can publish to an encrypted topic only through a key
        # whose policy lets them use it (the aws/sns key does not).
        key = kms.Key(self, "TopicKey", description="headcount alarm topic", enable_key_rotation=True)
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Topic", topic_name=stack_names.alarm_topic, master_key=key, enforce_ssl=True)
        if alarm_email:  # AWS mails a confirmation link first: nothing arrives until it is followed
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._stack_names, self._notify = stack_names, actions.SnsAction(self.topic)

        self.alarms: dict[str, cloudwatch.Alarm] = {}

        self.add(
            "fold-iterator-age",
            fold.metric("IteratorAge", statistic="Maximum", period=FIVE_MINUTES),
            "The fold is more than a minute behind the stream: real-time numbers are stale.",
            threshold=ITERATOR_AGE_LIMIT_MS,
            evaluation_periods=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self.add(
            "fold-errors",
            fold.metric_errors(period=FIVE_MINUTES),
            "The fold function failed (not a DynamoDB write, which it reports as a partial batch failure).",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self.add(
            "events-rejected",
            self._rejected(stack_names.powertools_service),
            f"The fold rejected more than {REJECTED_PER_5_MINUTES_LIMIT} events per 5 minutes for 15 minutes "
            "(EventsRejected; the reason dimension and the fold's logs say why).",
            threshold=REJECTED_PER_5_MINUTES_LIMIT,
            evaluation_periods=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self.add(
            "fold-failures-queued",
            on_failure_queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=FIVE_MINUTES),
            "The fold gave a batch up (records about to leave the stream): its shard range is in the on-failure "
            "queue; the nightly job still counts those events from the archive.",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self.add(
            "api-5xx",
            api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            "The API answered 5xx (serve function errors, timeouts, or the stream refusing events).",
            threshold=5,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )

        self.add(
            "archive-freshness",
            archive.metric("DeliveryToS3.DataFreshness", statistic="Maximum", period=FIVE_MINUTES),
            f"Firehose holds records older than {ARCHIVE_FRESHNESS_LIMIT_S} s (its buffer is "
            f"{names.ARCHIVE_BUFFER_INTERVAL_S} s): deliveries to the lake fail or fall behind, and the nightly job "
            "would miss what is not in raw/.",
            threshold=ARCHIVE_FRESHNESS_LIMIT_S,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self.add(
            "dynamodb-throttled",
            self.throttle_events(tables),
            f"DynamoDB throttled reads or writes of the views in {THROTTLED_PERIODS} 5-minute periods in a row: the "
            "fold falls behind (it retries), the API answers 503 store_unavailable.",
            threshold=1,
            evaluation_periods=THROTTLED_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self.add(
            "fold-throttles",
            fold.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            f"Lambda throttled the fold in {FOLD_THROTTLED_PERIODS} 5-minute periods in a row (the account's "
            "concurrency is used up): the shards fall behind.",
            threshold=1,
            evaluation_periods=FOLD_THROTTLED_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self.add(
            "api-latency-p99",
            api.metric_latency(period=FIVE_MINUTES, statistic="p99"),
            f"The API's p99 latency was above {API_P99_LATENCY_LIMIT_MS} ms for {API_LATENCY_PERIODS} 5-minute "
            "periods in a row (measured locally: under 200 ms).",
            threshold=API_P99_LATENCY_LIMIT_MS,
            evaluation_periods=API_LATENCY_PERIODS,
            datapoints_to_alarm=API_LATENCY_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

        # The nightly job's own report (headcount/batch/job.py): its day without any input, after days that had some, is
        # an archive (or a game) that stopped, not a game without players yet; the job leaves that day as it is. Missing data (no run, or a run that put
        # nothing) is not breaching: a run that did not finish is what the job-failed rules below are for.
        self.add(
            "nightly-days-without-input",
            headcount_metric(
                stack_names.powertools_service,
                names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT,
                statistic="Maximum",
                period=NIGHTLY_PERIOD,
            ),
            "The nightly job found no input in raw/ for its day although earlier days had some: the archive stopped "
            "delivering, or the producers went quiet; the day was left as it is (the API answers it from the "
            "real-time view, not exact).",
            threshold=1,
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

    def add(
        self,
        alarm_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        scope: Construct | None = None,
        **options: object,
    ) -> cloudwatch.Alarm:
        """An alarm named StackNames.alarm(alarm_id), to the topic, missing data not breaching, among `alarms` (the
        dashboard shows them all): made here, or in `scope`, the construct of the layer it watches."""
        created = cloudwatch.Alarm(
            scope or self,
            alarm_id,
            alarm_name=self._stack_names.alarm(alarm_id),
            alarm_description=description,
            metric=metric,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            **options,
        )
        created.add_alarm_action(self._notify)
        self.alarms[alarm_id] = created
        return created

    @staticmethod
    def throttle_events(tables: Sequence[dynamodb.ITable]) -> cloudwatch.MathExpression:
        """Read and write throttle events of these tables, summed (4 metrics for 2 tables; an alarm takes 10)."""
        using: dict[str, cloudwatch.IMetric] = {}
        for i, table in enumerate(tables):
            for kind in ("Read", "Write"):
                using[f"{kind.lower()}{i}"] = table.metric(
                    f"{kind}ThrottleEvents", statistic="Sum", period=FIVE_MINUTES
                )
        return cloudwatch.MathExpression(
            expression=" + ".join(f"FILL({name}, 0)" for name in using),
            using_metrics=using,
            label="throttle events (reads and writes, both views)",
            period=FIVE_MINUTES,
        )

    @staticmethod
    def _rejected(service: str) -> cloudwatch.Metric:
        """EventsRejected over all reasons: the fold emits it once per batch without the reason dimension (an alarm over
        the per-reason metrics would need one metric per reason, and an alarm takes at most 10)."""
        return headcount_metric(service, names.METRIC_EVENTS_REJECTED)
