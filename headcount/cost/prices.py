"""AWS list prices, us-east-1, on-demand, without free tiers or discounts: the one table the cost model prices usage with.

Source: the AWS pricing pages of each service (aws.amazon.com/<service>/pricing/: kinesis/data-streams, lambda,
dynamodb (on-demand capacity, after the 2024-11-01 reduction), firehose, s3, glue, api-gateway, cloudwatch, xray,
secrets-manager, kms), as published when this table was written. This machine has no network: the table was not
fetched, it was typed; re-check it against those pages (and your region) before quoting a bill. Change a price here and
every report follows.
"""

from __future__ import annotations

PRICES_AS_OF = "2025-06 (typed from the AWS pricing pages; re-check before quoting)"
REGION = "us-east-1"
HOURS_PER_MONTH = 730  # AWS's own convention for monthly figures
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

# Kinesis Data Streams
KINESIS_SHARD_HOUR = 0.015  # provisioned mode, per shard-hour
KINESIS_PUT_UNITS_PER_MILLION = 0.014  # provisioned mode, per million PUT payload units (25 KiB each)
KINESIS_ON_DEMAND_STREAM_HOUR = 0.04  # on-demand mode, per stream-hour
KINESIS_ON_DEMAND_INGEST_GB = 0.08  # on-demand: per GB written, each record rounded up to 1 KiB
KINESIS_ON_DEMAND_RETRIEVAL_GB = 0.04  # on-demand: per GB read by each standard consumer (the fold, Firehose)
KINESIS_ON_DEMAND_RECORD_ROUNDING = 1024

# Lambda (x86_64)
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUESTS_PER_MILLION = 0.20
# Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB: a 1,024 MB function computes at
# about 58 % of the speed of the one core a local process had, so local durations are scaled up by this much.
LAMBDA_FULL_VCPU_MB = 1769

# DynamoDB, on-demand capacity
DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625
DYNAMODB_READ_UNITS_PER_MILLION = 0.125
DYNAMODB_STORAGE_GB_MONTH = 0.25
DYNAMODB_PITR_GB_MONTH = 0.20  # continuous backups (point-in-time recovery is on for both tables)

# Data Firehose (Kinesis Data Streams as source)
FIREHOSE_INGEST_GB = 0.029  # first 500 TB/month; each record rounded up to 5 KiB
FIREHOSE_RECORD_ROUNDING = 5 * 1024

# S3 Standard
S3_STORAGE_GB_MONTH = 0.023  # first 50 TB
S3_PUT_PER_THOUSAND = 0.005  # PUT, COPY, POST, LIST
S3_GET_PER_THOUSAND = 0.0004

# Glue (Spark jobs, Glue 5.0: billed per second, one minute minimum)
GLUE_DPU_HOUR = 0.44
GLUE_MINIMUM_S = 60

# API Gateway REST API
API_GATEWAY_REQUESTS_PER_MILLION = 3.50  # first 333 million a month
# API Gateway HTTP API (an alternative front door for the ingest: docs/cost.md "The front door")
API_GATEWAY_HTTP_REQUESTS_PER_MILLION = 1.00  # first 300 million a month, per 512 KB of a request

# CloudWatch
CLOUDWATCH_LOGS_INGEST_GB = 0.50
CLOUDWATCH_METRIC_MONTH = 0.30  # a custom metric (one name and dimension set), first 10,000
CLOUDWATCH_DASHBOARD_MONTH = 3.00
CLOUDWATCH_ALARM_MONTH = 0.10  # standard resolution
# An anomaly detection alarm is billed as 3 standard-resolution alarm metrics (the metric and its band's two bounds); an
# alarm on metric math, per metric the expression uses.
CLOUDWATCH_ANOMALY_ALARM_METRICS = 3
CLOUDWATCH_PUT_METRIC_DATA_PER_THOUSAND = 0.01  # PutMetricData requests (API requests, first 1 million free: not here)
XRAY_TRACES_PER_MILLION = 5.00  # traces recorded
# X-Ray's default sampling rule for Lambda: the first request each second, and 5 % of the others
XRAY_RESERVOIR_PER_S = 1.0
XRAY_SAMPLED_SHARE = 0.05

# WAF (the API stage's web ACL: a rate-based rule and two AWS managed rule groups, which bill as rules)
WAF_WEB_ACL_MONTH = 5.00
WAF_RULE_MONTH = 1.00
WAF_REQUESTS_PER_MILLION = 0.60
# Cognito user pools: people (Essentials) are free up to 10,000 monthly active users; machine-to-machine (the tools'
# client credentials) bills per app client and per token request, with no free tier
COGNITO_M2M_APP_CLIENT_MONTH = 6.00
COGNITO_M2M_TOKEN_REQUESTS_PER_THOUSAND = 2.25
# Fixed monthly items of the stack
KMS_KEY_MONTH = 1.00  # the alarm topic's customer managed key
