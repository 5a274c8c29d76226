"""The real-time layer: the fold function reading every shard into the real-time view (DynamoDB), and the queue where
batches the fold gave up on are recorded."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from headcount import names
from headcount.names import StackNames
from infra.lambda_function import python_function
from infra.shared import acknowledge, pk_sk_table


class Realtime(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        stream: kinesis.IStream,
        tz: str,
        batching_window_s: int,
        reserved_concurrency: int | None = None,
        tracing: bool = True,
    ) -> None:
        """`reserved_concurrency`: the fold's reserved concurrency (headcount:foldReservedConcurrency), None for none.
        Reserved, the other functions (the API's serve function first) can never take the invocations the fold needs
        for its shards; and it caps the fold, so it must cover every shard's invocations (infra/parameters.py)."""
        super().__init__(scope, construct_id)

        # Items expire (TTL on expires_at) once the batch layer has covered their day.
        self.table = pk_sk_table(self, "Table", stack_names.realtime_table, ttl_attribute="expires_at")

        self.on_failure_queue = sqs.Queue(
            self,
            "OnFailure",
            queue_name=stack_names.on_failure_queue,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),  # SQS' maximum: time to replay the shard range it names
        )
        acknowledge(
            self.on_failure_queue,
            {
                "SQS3": "This queue is the fold's on-failure destination, i.e. its dead-letter queue: it receives the "
                "metadata (shard, sequence range) of batches given up on, for a replay. A DLQ of the DLQ would add "
                "nothing; an alarm fires as soon as it holds a message.",
            },
        )

        self.function = python_function(
            self,
            "Fold",
            function_name=stack_names.fold_function,
            handler="functions.fold.handler.handler",
            description="Folds each Kinesis shard's batches into the real-time view (HLL sketches, counters)",
            service=stack_names.powertools_service,
            environment={
                "HEADCOUNT_REALTIME_TABLE": self.table.table_name,
                "HEADCOUNT_TZ": tz,
            },
            memory_size=1024,  # sketch merging is CPU bound; Lambda's CPU grows with memory
            timeout=Duration.minutes(2),  # a 1000-record batch plus DynamoDB's retries with backoff
            reserved_concurrency=reserved_concurrency,
            tracing=tracing,
        )
        self.table.grant_read_write_data(self.function)

        self.function.add_event_source(
            sources.KinesisEventSource(
                stream,
                starting_position=lambda_.StartingPosition(names.FOLD_STARTING_POSITION),
                batch_size=names.FOLD_BATCH_SIZE,
                # the stack's headcount:batchingWindowS (infra/parameters.py); the local runtime's is FOLD_BATCHING_WINDOW_S
                max_batching_window=Duration.seconds(batching_window_s),
                report_batch_item_failures=True,
                bisect_batch_on_error=names.FOLD_BISECT_ON_ERROR,
                # -1 (retry until the record expires) is Lambda's default; CDK accepts only 0..10000, so leave it unset.
                retry_attempts=None if names.FOLD_MAX_RETRY_ATTEMPTS == -1 else names.FOLD_MAX_RETRY_ATTEMPTS,
                max_record_age=Duration.seconds(names.FOLD_MAX_RECORD_AGE_S),
                parallelization_factor=names.FOLD_PARALLELIZATION_FACTOR,
                on_failure=sources.SqsDlq(self.on_failure_queue),
            )
        )
