"""Resource names, settings and metric names, shared by the CDK stack and the local runtime."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every physical name of a stack starts with its prefix (the context parameter headcount:prefix, infra/parameters.py),
# so that several stacks live side by side in one account and region: StackNames(prefix) makes them all. The local
# stack, the CLI and the tests use the default prefix's, the constants below (the names a stack has without the
# parameter). The functions and the Glue job get theirs from the stack (environment, job arguments), never from here.
DEFAULT_PREFIX = "headcount"
# Lowercase letters, digits and single hyphens, a letter first: valid at the start of every name below (the tightest:
# Lambda's 64 characters with "-business", Scheduler's 64), and a Glue database name once hyphens are underscores.
PREFIX_PATTERN = re.compile(r"^[a-z](?:-?[a-z0-9])*$")
MAX_PREFIX_LENGTH = 40


@dataclass(frozen=True)
class StackNames:
    """The physical names of one stack's resources, all from its prefix (the default prefix's: the constants below)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if len(self.prefix) > MAX_PREFIX_LENGTH or not PREFIX_PATTERN.match(self.prefix):
            raise ValueError(
                f"stack prefix {self.prefix!r}: expected lowercase letters, digits and single hyphens, a letter first, "
                f"at most {MAX_PREFIX_LENGTH} characters"
            )

    @property
    def stack(self) -> str:
        """The CloudFormation stack (and the CDK app's stack id): Headcount for the default prefix."""
        return self.prefix[0].upper() + self.prefix[1:]

    @property
    def stream(self) -> str:
        return f"{self.prefix}-events"

    @property
    def realtime_table(self) -> str:
        return f"{self.prefix}-realtime"

    @property
    def batch_table(self) -> str:
        return f"{self.prefix}-batch"

    @property
    def on_failure_queue(self) -> str:
        return f"{self.prefix}-fold-failures"

    @property
    def fold_function(self) -> str:
        return f"{self.prefix}-fold"

    @property
    def serve_function(self) -> str:
        return f"{self.prefix}-serve"

    @property
    def business_function(self) -> str:
        """The business function, and the schedule that runs it."""
        return f"{self.prefix}-business"

    @property
    def archive_delivery_stream(self) -> str:
        return f"{self.prefix}-archive"

    @property
    def nightly_job(self) -> str:
        return f"{self.prefix}-nightly-counts"

    @property
    def glue_database(self) -> str:
        """Glue's database names are lowercase letters, digits and underscores (Athena's too)."""
        return self.prefix.replace("-", "_")

    @property
    def athena_workgroup(self) -> str:
        return self.prefix

    @property
    def user_pool(self) -> str:
        """The Cognito user pool people sign in to (headcount/access.py)."""
        return self.prefix

    @property
    def dashboard_client(self) -> str:
        """The user pool's app client of the dashboard (public: no secret; sign-in by password, refresh)."""
        return f"{self.prefix}-dashboard"

    @property
    def machine_client(self) -> str:
        """The user pool's app client of tools (a secret; client credentials, scope headcount/read)."""
        return f"{self.prefix}-tools"

    @property
    def ingest_usage_plan(self) -> str:
        """The usage plan of the ingest keys (each key its own throttle and quota); keys are found through it, and are
        named after it (headcount/views/ingest_keys.py)."""
        return f"{self.prefix}-ingest"

    @property
    def web_acl(self) -> str:
        return f"{self.prefix}-api"

    @property
    def alarm_topic(self) -> str:
        return f"{self.prefix}-alarms"

    @property
    def notifications_table(self) -> str:
        """Channels, subscriptions, alert rules, their state and every delivery (headcount/views/notify_store.py)."""
        return f"{self.prefix}-notifications"

    @property
    def erasures_table(self) -> str:
        """Requests to forget players, their receipts, and the players whose events are dropped
        (headcount/views/erasure_store.py)."""
        return f"{self.prefix}-erasures"

    @property
    def delivery_dead_letters(self) -> str:
        """The queue of deliveries that failed after their retries (infra/notifications.py's alarm watches it)."""
        return f"{self.prefix}-delivery-dead-letters"

    @property
    def channel_secrets(self) -> str:
        """The prefix of the Secrets Manager secrets holding the channels' URLs (and a webhook's signing secret)."""
        return f"{self.prefix}/channels/"

    @property
    def api(self) -> str:
        """The REST API (API Gateway does not require unique names: this one tells the stacks' APIs apart)."""
        return self.prefix

    @property
    def dashboard(self) -> str:
        return self.prefix

    @property
    def powertools_service(self) -> str:
        """The `service` dimension of every metric the stack's functions and job put (namespace POWERTOOLS_NAMESPACE,
        shared by the stacks): what keeps one stack's alarms off another's data."""
        return self.prefix

    def alarm(self, alarm_id: str) -> str:
        return f"{self.prefix}-{alarm_id}"


DEFAULT_NAMES = StackNames()
STREAM = DEFAULT_NAMES.stream
REALTIME_TABLE = DEFAULT_NAMES.realtime_table
BATCH_TABLE = DEFAULT_NAMES.batch_table
ON_FAILURE_QUEUE = DEFAULT_NAMES.on_failure_queue
REGION = "us-east-1"
API_STAGE = "prod"  # the REST API's stage (infra/serving.py); the local API answers under it too
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account: the local stack's ARNs
# The Glue Data Catalog's database and the lake's tables in it (their columns, partitions and projections:
# headcount/core/lake_tables.py; their folders: headcount/views/lake.py).
GLUE_DATABASE = DEFAULT_NAMES.glue_database
RAW_TABLE = "raw"
COUNTS_TABLE = "counts"
# The KPIs' tables, the nightly job's too (headcount/batch/kpi_job.py)
ACTIVITY_TABLE = "activity"
PLAYERS_TABLE = "players"
KPIS_TABLE = "kpis"

# The fold's event-source mapping: the same settings on AWS and in the local runtime (but the batching window: the
# stack's is the context parameter headcount:batchingWindowS, infra/parameters.py).
FOLD_BATCH_SIZE = 1000
FOLD_BATCHING_WINDOW_S = 1
# The fold never fails on bad data (rejected events are counted, not retried), only when DynamoDB fails: so it retries
# until the store is back (-1, Lambda's default), and gives a batch up (to the on-failure queue) only when its records
# are about to leave the stream. An hour before the stream's retention, not at it: a record that expires while its
# batch is retried is skipped without its shard range ever reaching the on-failure queue, and a replay from that range
# needs the records still in the stream (headcount replay).
STREAM_RETENTION_HOURS = 24  # Kinesis' default (infra/ingest.py)
FOLD_MAX_RETRY_ATTEMPTS = -1
FOLD_MAX_RECORD_AGE_S = (STREAM_RETENTION_HOURS - 1) * 3600
FOLD_BISECT_ON_ERROR = True
# A distinct item's recent ids hold up to this many bytes of ids (about 60 player ids) before the fold writes its sketch
# whole: the recent item stays within one write unit (bench/sketch_writes: 85 % fewer write units for lg_k 14).
# HEADCOUNT_RECENT_IDS_BYTES sets it for the fold function; 0 writes the whole sketch at every change.
FOLD_RECENT_IDS_BYTES = 768

# The stack's other names (infra/). The local stream's shard count (HEADCOUNT_SHARDS; the stack's is the context
# parameter headcount:shards, infra/parameters.py).
STREAM_SHARDS = 4
FOLD_FUNCTION = DEFAULT_NAMES.fold_function
SERVE_FUNCTION = DEFAULT_NAMES.serve_function
ARCHIVE_DELIVERY_STREAM = DEFAULT_NAMES.archive_delivery_stream
NIGHTLY_JOB = DEFAULT_NAMES.nightly_job
ATHENA_WORKGROUP = DEFAULT_NAMES.athena_workgroup
ALARM_TOPIC = DEFAULT_NAMES.alarm_topic
# Prefixes of the lake bucket: raw/ as the local archiver lays it out, counts/ (and the KPIs' activity/, players/, kpis/)
# as the nightly job writes it.
RAW_PREFIX = "raw/"
COUNTS_PREFIX = "counts/"
ACTIVITY_PREFIX = "activity/"
PLAYERS_PREFIX = "players/"
KPIS_PREFIX = "kpis/"
ZONES_PREFIX = "zones/"  # zones/<zone>/counts/ ...: the same tables in each extra zone the nightly job computes
# The erasure's (headcount/batch/erasure.py): the players' index of raw/ the nightly job keeps, the batches' plans
PLAYER_INDEX_PREFIX = "player_index/"
ERASURE_PREFIX = "erasure/"
# Firehose's buffer interval (the local archiver flushes every 10 s). Firehose names a file's dt=/hr= after its OLDEST
# record's arrival, so the nightly job bounds a file's arrivals by when the file was written, not by its hour's end.
ARCHIVE_BUFFER_INTERVAL_S = 300
ARCHIVE_ERRORS_PREFIX = "archive-errors/"
ATHENA_RESULTS_PREFIX = "athena-results/"
# Powertools' service and metrics namespace (headcount/observability.py, the functions' environment, the alarms), and the
# metrics the alarms read. Every stack puts its metrics into the one namespace, each with its own service (its prefix).
POWERTOOLS_SERVICE = DEFAULT_NAMES.powertools_service
POWERTOOLS_NAMESPACE = "Headcount"
METRIC_EVENTS_REJECTED = "EventsRejected"  # the fold's rejected events: in all, and by `reason` (a second dimension)
# What the nightly job puts (cloudwatch:PutMetricData, same namespace and service dimension) when a run has written its
# days to counts/ (headcount/batch/job.py): how long the run took, and how many days it computed.
METRIC_NIGHTLY_RUN_SECONDS = "NightlyRunSeconds"
METRIC_NIGHTLY_DAYS_COMPUTED = "NightlyDaysComputed"
# How many of the days a run computed had no input at all although days before them had (traffic had started): an
# archive that stopped delivering, or a producer that went quiet (infra/alarms.py: nightly-days-without-input).
METRIC_NIGHTLY_DAYS_WITHOUT_INPUT = "NightlyDaysWithoutInput"
# The business function (functions/business/): every BUSINESS_EVERY_MINUTES it puts the today-so-far values of the
# catalog's ungrouped daily distinct, count and new metrics (headcount/logic/business.py) as one metric, one series per
# KPI by the dimension TODAY_SO_FAR_DIMENSION (plus service, as every Headcount metric): the anomaly detection alarms
# of infra/business.py watch them. The local stack runs the same handler as often (HEADCOUNT_BUSINESS_EVERY_S).
BUSINESS_FUNCTION = DEFAULT_NAMES.business_function
BUSINESS_EVERY_MINUTES = 5
METRIC_TODAY_SO_FAR = "TodaySoFar"
# The notifications (digests and alerts, headcount/logic/notify.py) the business function sends on each run: how many
# deliveries failed after their retries (dead-lettered) and how many were sent (infra/notifications.py alarms on the
# first).
METRIC_DELIVERIES_FAILED = "DeliveriesFailed"
METRIC_DELIVERIES_SENT = "DeliveriesSent"
NOTIFICATIONS_TABLE = DEFAULT_NAMES.notifications_table
# Erasure (headcount/logic/erasure.py): the business function puts, on each run, how many requests are older than the
# deadline and not done (infra/erasure.py alarms on it), and the age of the oldest open one.
ERASURES_TABLE = DEFAULT_NAMES.erasures_table
METRIC_ERASURES_OVERDUE = "ErasuresOverdue"
METRIC_ERASURE_OLDEST_HOURS = "ErasureOldestOpenHours"
DELIVERY_DEAD_LETTERS = DEFAULT_NAMES.delivery_dead_letters
CHANNEL_SECRETS = DEFAULT_NAMES.channel_secrets
TODAY_SO_FAR_DIMENSION = "metric"
# One invocation per shard at a time: each (metric, bucket, group, shard) item has a single writer.
FOLD_PARALLELIZATION_FACTOR = 1
FOLD_STARTING_POSITION = "TRIM_HORIZON"
