"""Resource names, shared by the CDK stack and the local runtime."""

STREAM = "headcount-events"
REALTIME_TABLE = "headcount-realtime"
BATCH_TABLE = "headcount-batch"
ON_FAILURE_QUEUE = "headcount-fold-failures"
REGION = "us-east-1"
GLUE_DATABASE = "headcount"
RAW_TABLE = "raw"
COUNTS_TABLE = "counts"

# The fold's event-source mapping: the same settings on AWS and in the local runtime.
FOLD_BATCH_SIZE = 1000
FOLD_BATCHING_WINDOW_S = 1
FOLD_MAX_RETRY_ATTEMPTS = 10
FOLD_BISECT_ON_ERROR = True
