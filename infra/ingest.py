"""The ingest layer: the Kinesis stream every event enters, and its raw archive (Firehose → the lake bucket's raw/)."""

from __future__ import annotations

from typing import Literal

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3
from constructs import Construct

from headcount import names
from headcount.core.erasure import ErasurePolicy
from headcount.names import StackNames
from infra.shared import acknowledge, arn_of

# Firehose's timestamp namespace is the record's arrival time at Firehose, in UTC: the raw archive's dt/hr layout
# (defined in headcount/views/lake.py, which the local archiver, the nightly job and the tables use), here in Firehose's
# prefix language; the Athena `raw` table reads it.
RAW_OUTPUT_PREFIX = f"{names.RAW_PREFIX}dt=!{{timestamp:yyyy-MM-dd}}/hr=!{{timestamp:HH}}/"
ERROR_OUTPUT_PREFIX = f"{names.ARCHIVE_ERRORS_PREFIX}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"
# Fewer, larger files for Spark and Athena; the nightly job runs hours after the day ends, so 5 minutes late is fine.
ARCHIVE_BUFFER_INTERVAL = Duration.seconds(names.ARCHIVE_BUFFER_INTERVAL_S)
ARCHIVE_BUFFER_SIZE = Size.mebibytes(64)


EXPIRE_WITHIN_ERASURE_DAYS = ErasurePolicy.deadline_days
# The lake's prefixes the nightly job writes that hold player ids or sketches of them
DERIVED_PREFIXES = (
    names.COUNTS_PREFIX,
    names.ACTIVITY_PREFIX,
    names.PLAYERS_PREFIX,
    names.KPIS_PREFIX,
    names.PLAYER_INDEX_PREFIX,
    names.ZONES_PREFIX,  # the extra zones' own counts/, activity/, players/ and kpis/
)


class Ingest(Construct):
    """`stream`: the events; `lake`: the bucket holding raw/ (archive), counts/ (nightly job) and Athena's results."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stack_names: StackNames, shards: int | Literal["on-demand"]
    ) -> None:
        """`shards`: a provisioned stream of that many shards (1,000 records/s and 1 MiB/s each), or "on-demand"
        (Kinesis adds and removes shards itself, billed per stream-hour and per GB)."""
        super().__init__(scope, construct_id)

        on_demand = shards == "on-demand"
        self.stream = kinesis.Stream(
            self,
            "Events",
            stream_name=stack_names.stream,
            stream_mode=kinesis.StreamMode.ON_DEMAND if on_demand else kinesis.StreamMode.PROVISIONED,
            shard_count=None if on_demand else int(shards),
            # 24 h, Kinesis' default: the fold gives a batch up to the on-failure queue an hour before (FOLD_MAX_RECORD_AGE_S).
            retention_period=Duration.hours(names.STREAM_RETENTION_HOURS),
            # The AWS managed key: producers and consumers need no KMS grants, and no per-call KMS charges.
            encryption=kinesis.StreamEncryption.MANAGED,
        )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.lake = s3.Bucket(
            self,
            "Lake",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Versioned: raw/ is the only copy of every event ever sent. The nightly job overwrites counts/ partitions
            # and Spark writes temporary files, so old versions expire instead of piling up.
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="lake/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="old-versions-and-uploads",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
                # Raw hours are read by the nightly job for a few days, then only by a rare re-run or ad-hoc SQL.
                s3.LifecycleRule(
                    id="raw-to-intelligent-tiering",
                    prefix=names.RAW_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING, transition_after=Duration.days(30)
                        )
                    ],
                ),
                # The job's tables (ids in clear, sketches of them) are overwritten by every run and recomputed by an
                # erasure: their replaced versions go the next day, not in 30 (raw/'s an erasure deletes itself)
                *(
                    s3.LifecycleRule(
                        id=f"replaced-{prefix.rstrip('/').replace('_', '-')}",
                        prefix=prefix,
                        noncurrent_version_expiration=Duration.days(1),
                        expired_object_delete_marker=True,
                    )
                    for prefix in DERIVED_PREFIXES
                ),
                # Records Firehose could not deliver, and Athena's query results, may hold player ids and an erasure
                # cannot edit them: they are gone within its deadline (7 days: docs/operations.md "Erasure").
                s3.LifecycleRule(
                    id="expire-archive-errors",
                    prefix=names.ARCHIVE_ERRORS_PREFIX,
                    expiration=Duration.days(EXPIRE_WITHIN_ERASURE_DAYS - 1),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-athena-results",
                    prefix=names.ATHENA_RESULTS_PREFIX,
                    expiration=Duration.days(EXPIRE_WITHIN_ERASURE_DAYS - 1),
                    noncurrent_version_expiration=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.archive = firehose.DeliveryStream(
            self,
            "Archive",
            delivery_stream_name=stack_names.archive_delivery_stream,
            source=firehose.KinesisStreamSource(self.stream),
            destination=firehose.S3Bucket(
                self.lake,
                data_output_prefix=RAW_OUTPUT_PREFIX,
                error_output_prefix=ERROR_OUTPUT_PREFIX,
                compression=firehose.Compression.GZIP,
                buffering_interval=ARCHIVE_BUFFER_INTERVAL,
                buffering_size=ARCHIVE_BUFFER_SIZE,
                # One record, one line. Firehose appends the delimiter to every record, also to one that already ends
                # with a newline (POST /v1/events writes newline-terminated lines): such records are followed by an
                # empty line, which the nightly job drops like any line that is not an event.
                processors=[firehose.AppendDelimiterToRecordProcessor()],
            ),
        )
        acknowledge(
            self.archive,
            {
                "KDF1": "A delivery stream whose source is a Kinesis stream cannot have its own server-side encryption "
                "(Firehose only supports it for Direct PUT): the source stream is encrypted with aws/kinesis and the "
                "lake bucket encrypts every object (SSE-S3).",
                "IAM5[Action::s3:Abort*]": "CDK's grant for Firehose's S3 writes (multipart uploads under the bucket).",
                "IAM5[Action::s3:DeleteObject*]": "CDK's grant for Firehose's S3 writes (it replaces failed parts).",
                "IAM5[Action::s3:GetBucket*]": "CDK's grant for Firehose's S3 writes (bucket location and ACL checks).",
                "IAM5[Action::s3:GetObject*]": "CDK's grant for Firehose's S3 writes.",
                "IAM5[Action::s3:List*]": "CDK's grant for Firehose's S3 writes.",
                f"IAM5[Resource::{arn_of(self.lake)}/*]": "Firehose writes objects anywhere under raw/ and "
                "archive-errors/ of the lake bucket; object keys are only known at delivery time.",
            },
        )
