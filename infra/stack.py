"""The headcount stack: one construct per layer, wired together. Names come from headcount/names.py, shared with the
local runtime; what a deploy may change is a context parameter (below), read and checked here, at synth."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct, Node

from headcount.logic.business import today_so_far_metrics
from headcount.views.catalog_file import load_catalog
from infra.alarms import Alarms
from infra.batch import Batch
from infra.business import DEFAULT_BAND_WIDTH, Business
from infra.dashboard import DASHBOARD_NAME, Dashboard
from infra.ingest import Ingest
from infra.realtime import Realtime
from infra.serving import THROTTLE_BURST_LIMIT, THROTTLE_RATE_LIMIT, Serving

# Context keys (cdk.json, or `-c key=value`). docs/deploy.md has the table of them, with what each costs.
TZ_CONTEXT = "headcount:tz"  # the reporting time zone: day and hour buckets, and when "yesterday" is
NIGHTLY_AT_CONTEXT = "headcount:nightlyAt"  # HH:MM in the reporting time zone
API_KEY_VERSION_CONTEXT = "headcount:apiKeyVersion"  # a VersionId of the API key secret, to make a deploy re-read it
SHARDS_CONTEXT = "headcount:shards"  # a shard count (provisioned stream), or "on-demand"
BATCHING_WINDOW_CONTEXT = "headcount:batchingWindowS"  # the fold's MaximumBatchingWindowInSeconds, 0..300
THROTTLE_RATE_CONTEXT = "headcount:throttleRate"  # the API stage's steady requests per second (all clients)
THROTTLE_BURST_CONTEXT = "headcount:throttleBurst"  # the API stage's burst (requests)
ATHENA_SCAN_LIMIT_CONTEXT = "headcount:athenaScanLimitGb"  # Athena's BytesScannedCutoffPerQuery, in GB (10^9 bytes)
ALARM_EMAIL_CONTEXT = "headcount:alarmEmail"  # optional: an address subscribed to the alarm topic
TRACING_CONTEXT = "headcount:tracing"  # "active" (X-Ray traces of the functions and the API stage) or "off"
# The business alarms' band, in standard deviations of CloudWatch's model of each KPI (infra/business.py)
ANOMALY_BAND_CONTEXT = "headcount:anomalyBandWidth"

ON_DEMAND = "on-demand"
# The defaults, all in one place (the local runtime's own are in headcount/names.py: 4 shards, a 1 s window).
DEFAULT_TZ = "UTC"
DEFAULT_NIGHTLY_AT = "02:00"
# One shard takes 1,000 records/s and 1 MiB/s: ten times the 100 events/s reference load, at the lowest price.
DEFAULT_SHARDS = 1
# How long the fold's event-source mapping gathers records before an invocation: fewer, fuller batches (fewer
# invocations, fewer writes of the same items) for at most this many seconds more behind the stream.
DEFAULT_BATCHING_WINDOW_S = 2
DEFAULT_THROTTLE_RATE = THROTTLE_RATE_LIMIT
DEFAULT_THROTTLE_BURST = THROTTLE_BURST_LIMIT
DEFAULT_ATHENA_SCAN_LIMIT_GB = 10
DEFAULT_ANOMALY_BAND_WIDTH = DEFAULT_BAND_WIDTH
MAX_BATCHING_WINDOW_S = 300  # Lambda's limit for a stream source
MIN_ATHENA_SCAN_LIMIT_GB = 0.01  # Athena's minimum cutoff: 10 MB
BYTES_PER_GB = 10**9
_HH_MM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ContextError(ValueError):
    """A context parameter the stack cannot be built with: the synth fails with this message."""


@dataclass(frozen=True)
class Parameters:
    tz: str = DEFAULT_TZ
    nightly_at: str = DEFAULT_NIGHTLY_AT
    api_key_version: str | None = None
    shards: int | Literal["on-demand"] = DEFAULT_SHARDS
    batching_window_s: int = DEFAULT_BATCHING_WINDOW_S
    throttle_rate: float = DEFAULT_THROTTLE_RATE
    throttle_burst: int = DEFAULT_THROTTLE_BURST
    athena_scan_limit_gb: float = DEFAULT_ATHENA_SCAN_LIMIT_GB
    alarm_email: str | None = None
    tracing: bool = True
    anomaly_band_width: float = DEFAULT_ANOMALY_BAND_WIDTH

    @property
    def athena_scan_limit_bytes(self) -> int:
        return round(self.athena_scan_limit_gb * BYTES_PER_GB)


def read_parameters(node: Node) -> Parameters:
    """The context parameters, checked: a bad value fails the synth with the key, the value and what is expected.
    Values given with `-c` arrive as strings, those in cdk.json as JSON values: both are accepted."""

    def get(key: str) -> Any:
        value = node.try_get_context(key)
        return None if value is None or (isinstance(value, str) and value.strip() == "") else value

    defaults = Parameters()
    tz = str(get(TZ_CONTEXT) or defaults.tz)
    try:
        ZoneInfo(tz)  # an unknown zone fails the synth, not the first invocation
    except (ZoneInfoNotFoundError, ValueError):
        raise _error(TZ_CONTEXT, tz, "an IANA time zone such as UTC or Europe/Berlin") from None
    nightly_at = str(get(NIGHTLY_AT_CONTEXT) or defaults.nightly_at)
    if not _HH_MM.match(nightly_at):
        raise _error(NIGHTLY_AT_CONTEXT, nightly_at, "HH:MM, 00:00 to 23:59")
    api_key_version = get(API_KEY_VERSION_CONTEXT)
    alarm_email = get(ALARM_EMAIL_CONTEXT)
    if alarm_email is not None and not (isinstance(alarm_email, str) and _EMAIL.match(alarm_email.strip())):
        raise _error(ALARM_EMAIL_CONTEXT, alarm_email, "an email address")
    return Parameters(
        tz=tz,
        nightly_at=nightly_at,
        api_key_version=str(api_key_version) if api_key_version is not None else None,
        shards=_shards(get(SHARDS_CONTEXT), defaults.shards),
        batching_window_s=_integer(
            BATCHING_WINDOW_CONTEXT, get(BATCHING_WINDOW_CONTEXT), defaults.batching_window_s, 0, MAX_BATCHING_WINDOW_S
        ),
        throttle_rate=_number(THROTTLE_RATE_CONTEXT, get(THROTTLE_RATE_CONTEXT), defaults.throttle_rate, above=0),
        throttle_burst=_integer(THROTTLE_BURST_CONTEXT, get(THROTTLE_BURST_CONTEXT), defaults.throttle_burst, 1),
        athena_scan_limit_gb=_number(
            ATHENA_SCAN_LIMIT_CONTEXT,
            get(ATHENA_SCAN_LIMIT_CONTEXT),
            defaults.athena_scan_limit_gb,
            at_least=MIN_ATHENA_SCAN_LIMIT_GB,
        ),
        alarm_email=alarm_email.strip() if alarm_email is not None else None,
        tracing=_tracing(get(TRACING_CONTEXT)),
        anomaly_band_width=_number(
            ANOMALY_BAND_CONTEXT, get(ANOMALY_BAND_CONTEXT), defaults.anomaly_band_width, above=0
        ),
    )


def _tracing(value: object) -> bool:
    if value is None or (isinstance(value, str) and value.strip().lower() == "active") or value is True:
        return True
    if (isinstance(value, str) and value.strip().lower() == "off") or value is False:
        return False
    raise _error(TRACING_CONTEXT, value, "active or off")


def _error(key: str, value: object, expected: str) -> ContextError:
    return ContextError(f"context {key}={value!r}: expected {expected} (set it in cdk.json or with -c {key}=...)")


def _shards(value: object, default: int) -> int | Literal["on-demand"]:
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lower() == ON_DEMAND:
        return ON_DEMAND
    return _integer(SHARDS_CONTEXT, value, default, 1, expected=f"a positive number of shards or {ON_DEMAND!r}")


def _integer(
    key: str, value: object, default: int, low: int, high: int | None = None, *, expected: str | None = None
) -> int:
    if value is None:
        return default
    expected = expected or (f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}")
    parsed: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        parsed = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):
        parsed = int(value)
    if parsed is None or parsed < low or (high is not None and parsed > high):
        raise _error(key, value, expected)
    return parsed


def _number(
    key: str, value: object, default: float, *, above: float | None = None, at_least: float | None = None
) -> float:
    if value is None:
        return default
    expected = f"a number > {above}" if above is not None else f"a number >= {at_least}"
    parsed: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        parsed = float(value)
    elif isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            parsed = None
    if (
        parsed is None
        or not math.isfinite(parsed)
        or (above is not None and parsed <= above)
        or (at_least is not None and parsed < at_least)
    ):
        raise _error(key, value, expected)
    return int(parsed) if parsed.is_integer() else parsed


class HeadcountStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.parameters = params = read_parameters(self.node)

        self.ingest = Ingest(self, "Ingest", shards=params.shards)
        self.realtime = Realtime(
            self,
            "Realtime",
            stream=self.ingest.stream,
            tz=params.tz,
            batching_window_s=params.batching_window_s,
            tracing=params.tracing,
        )
        self.batch = Batch(
            self,
            "Batch",
            lake=self.ingest.lake,
            tz=params.tz,
            nightly_at=params.nightly_at,
            athena_scan_limit_bytes=params.athena_scan_limit_bytes,
        )
        self.serving = Serving(
            self,
            "Serving",
            realtime_table=self.realtime.table,
            batch_table=self.batch.table,
            stream=self.ingest.stream,
            tz=params.tz,
            api_key_version=params.api_key_version,
            throttle_rate=params.throttle_rate,
            throttle_burst=params.throttle_burst,
            tracing=params.tracing,
        )
        self.alarms = Alarms(
            self,
            "Alarms",
            fold=self.realtime.function,
            on_failure_queue=self.realtime.on_failure_queue,
            api=self.serving.api,
            job=self.batch.job,
            archive=self.ingest.archive,
            tables=[self.realtime.table, self.batch.table],
            alarm_email=params.alarm_email,
        )
        self.business = Business(
            self,
            "Business",
            kpis=[m.name for m in today_so_far_metrics(load_catalog())],  # the catalog the function ships with
            realtime_table=self.realtime.table,
            batch_table=self.batch.table,
            stream=self.ingest.stream,
            topic=self.alarms.topic,
            tz=params.tz,
            band_width=params.anomaly_band_width,
            tracing=params.tracing,
        )
        self.dashboard = Dashboard(
            self,
            "Dashboard",
            stream=self.ingest.stream,
            shards=params.shards,
            fold=self.realtime.function,
            tables={"real-time": self.realtime.table, "batch": self.batch.table},
            archive=self.ingest.archive,
            api=self.serving.api,
            alarms=self.alarms,
            business=self.business,
        )

        CfnOutput(
            self, "DashboardUrl", description="The CloudWatch dashboard of the pipeline", value=self._console_url()
        )
        CfnOutput(
            self, "AlarmTopicArn", description="Alarms go here: subscribe to it", value=self.alarms.topic.topic_arn
        )
        CfnOutput(
            self,
            "LakeBucketName",
            description="raw/ (every event), counts/ (nightly)",
            value=self.ingest.lake.bucket_name,
        )

    @staticmethod
    def _console_url() -> str:
        return (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{DASHBOARD_NAME}"
        )
