"""Resource names, settings and metric names, shared by the CDK stack and the local runtime."""

from __future__ import annotations

STREAM = "headcount-events"
REALTIME_TABLE = "headcount-realtime"
BATCH_TABLE = "headcount-batch"
ON_FAILURE_QUEUE = "headcount-fold-failures"
REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account: the local stack's ARNs
# The Glue Data Catalog's database and the lake's tables in it (their columns, partitions and projections:
# headcount/core/lake_tables.py; their folders: headcount/views/lake.py).
GLUE_DATABASE = "headcount"
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
# are about to leave the stream (24 h, Kinesis' default retention).
FOLD_MAX_RETRY_ATTEMPTS = -1
FOLD_MAX_RECORD_AGE_S = 24 * 3600
FOLD_BISECT_ON_ERROR = True
# A distinct item's recent ids hold up to this many bytes of ids (about 60 player ids) before the fold writes its sketch
# whole: the recent item stays within one write unit (bench/sketch_writes: 85 % fewer write units for lg_k 14).
# HEADCOUNT_RECENT_IDS_BYTES sets it for the fold function; 0 writes the whole sketch at every change.
FOLD_RECENT_IDS_BYTES = 768

# The stack's other names (infra/). The local stream's shard count (HEADCOUNT_SHARDS; the stack's is the context
# parameter headcount:shards, infra/parameters.py).
STREAM_SHARDS = 4
FOLD_FUNCTION = "headcount-fold"
SERVE_FUNCTION = "headcount-serve"
ARCHIVE_DELIVERY_STREAM = "headcount-archive"
NIGHTLY_JOB = "headcount-nightly-counts"
ATHENA_WORKGROUP = "headcount"
API_KEY_SECRET = "headcount/api-key"  # noqa: S105 - the secret's name, not a value
ALARM_TOPIC = "headcount-alarms"
# Prefixes of the lake bucket: raw/ as the local archiver lays it out, counts/ (and the KPIs' activity/, players/, kpis/)
# as the nightly job writes it.
RAW_PREFIX = "raw/"
COUNTS_PREFIX = "counts/"
ACTIVITY_PREFIX = "activity/"
PLAYERS_PREFIX = "players/"
KPIS_PREFIX = "kpis/"
# Firehose's buffer interval (the local archiver flushes every 10 s). Firehose names a file's dt=/hr= after its OLDEST
# record's arrival, so the nightly job bounds a file's arrivals by when the file was written, not by its hour's end.
ARCHIVE_BUFFER_INTERVAL_S = 300
ARCHIVE_ERRORS_PREFIX = "archive-errors/"
ATHENA_RESULTS_PREFIX = "athena-results/"
# Powertools' service and metrics namespace (headcount/observability.py, the functions' environment, the alarms), and the
# metrics the alarms read.
POWERTOOLS_SERVICE = "headcount"
POWERTOOLS_NAMESPACE = "Headcount"
METRIC_EVENTS_REJECTED = "EventsRejected"  # the fold's rejected events: in all, and by `reason` (a second dimension)
# What the nightly job puts (cloudwatch:PutMetricData, same namespace and service dimension) when a run has written its
# days to counts/ (headcount/batch/job.py): how long the run took, and how many days it computed.
METRIC_NIGHTLY_RUN_SECONDS = "NightlyRunSeconds"
METRIC_NIGHTLY_DAYS_COMPUTED = "NightlyDaysComputed"
# The business function (functions/business/): every BUSINESS_EVERY_MINUTES it puts the today-so-far values of the
# catalog's ungrouped daily distinct, count and new metrics (headcount/logic/business.py) as one metric, one series per
# KPI by the dimension TODAY_SO_FAR_DIMENSION (plus service, as every Headcount metric): the anomaly detection alarms
# of infra/business.py watch them. The local stack runs the same handler as often (HEADCOUNT_BUSINESS_EVERY_S).
BUSINESS_FUNCTION = "headcount-business"
BUSINESS_EVERY_MINUTES = 5
METRIC_TODAY_SO_FAR = "TodaySoFar"
TODAY_SO_FAR_DIMENSION = "metric"
# One invocation per shard at a time: each (metric, bucket, group, shard) item has a single writer.
FOLD_PARALLELIZATION_FACTOR = 1
FOLD_STARTING_POSITION = "TRIM_HORIZON"
