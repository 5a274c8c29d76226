"""Resource names, shared by the CDK stack and the local runtime."""

STREAM = "headcount-events"
REALTIME_TABLE = "headcount-realtime"
BATCH_TABLE = "headcount-batch"
ON_FAILURE_QUEUE = "headcount-fold-failures"
REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account: the local stack's ARNs
GLUE_DATABASE = "headcount"
RAW_TABLE = "raw"
COUNTS_TABLE = "counts"
# Their columns and partitions (Hive types), for the Glue Data Catalog (infra/ and views/tables.py alike)
RAW_COLUMNS = {"line": "string"}
RAW_PARTITIONS = {"dt": "string", "hr": "string"}
COUNTS_COLUMNS = {
    "metric": "string",
    "bucket": "string",
    "group_value": "string",
    "value": "bigint",
    "sketch": "binary",
    "run_id": "string",
}
COUNTS_PARTITIONS = {"day": "string"}
# Athena partition projection of both tables (Glue table parameters): new days and hours need no crawler or MSCK REPAIR.
PROJECTION_FIRST_DAY = "2024-01-01"  # the first partition Athena's projection considers


def raw_projection(first_day: str = PROJECTION_FIRST_DAY) -> dict[str, str]:
    return {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.range": f"{first_day},NOW",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.hr.type": "integer",
        "projection.hr.range": "0,23",
        "projection.hr.digits": "2",
    }


def counts_projection(first_day: str = PROJECTION_FIRST_DAY) -> dict[str, str]:
    return {
        "projection.enabled": "true",
        "projection.day.type": "date",
        "projection.day.range": f"{first_day},NOW+1DAYS",
        "projection.day.format": "yyyy-MM-dd",
    }


# The fold's event-source mapping: the same settings on AWS and in the local runtime (but the batching window: the
# stack's is the context parameter headcount:batchingWindowS, infra/stack.py).
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
# parameter headcount:shards, infra/stack.py).
STREAM_SHARDS = 4
FOLD_FUNCTION = "headcount-fold"
SERVE_FUNCTION = "headcount-serve"
ARCHIVE_DELIVERY_STREAM = "headcount-archive"
NIGHTLY_JOB = "headcount-nightly-counts"
ATHENA_WORKGROUP = "headcount"
API_KEY_SECRET = "headcount/api-key"  # noqa: S105 - the secret's name, not a value
ALARM_TOPIC = "headcount-alarms"
# Prefixes of the lake bucket: raw/ as the local archiver lays it out, counts/ as the nightly job writes it.
RAW_PREFIX = "raw/"
COUNTS_PREFIX = "counts/"
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
