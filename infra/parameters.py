"""The stack's context parameters: what a deploy may change (cdk.json, or `-c key=value`), read from the CDK context
and checked at synth into one typed `Parameters`, so a bad value fails the synth with the key, the value and what is
expected. docs/deploy.md has the table of them, with what each costs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from constructs import Node

from headcount import names
from headcount.names import StackNames
from infra.business import DEFAULT_BAND_WIDTH
from infra.serving import THROTTLE_BURST_LIMIT, THROTTLE_RATE_LIMIT

# Context keys (cdk.json, or `-c key=value`)
# The stack's prefix: every physical name starts with it (headcount/names.py StackNames), and so does the stack's
PREFIX_CONTEXT = "headcount:prefix"
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
    prefix: str = names.DEFAULT_PREFIX
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

    @property
    def stack_names(self) -> StackNames:
        return StackNames(self.prefix)


def read_parameters(node: Node) -> Parameters:
    """The context parameters, checked: a bad value fails the synth with the key, the value and what is expected.
    Values given with `-c` arrive as strings, those in cdk.json as JSON values: both are accepted."""

    def get(key: str) -> Any:
        value = node.try_get_context(key)
        return None if value is None or (isinstance(value, str) and value.strip() == "") else value

    defaults = Parameters()
    prefix = read_prefix(node)
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
        prefix=prefix,
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


def read_prefix(node: Node) -> str:
    """headcount:prefix, checked (the app names the stack after it before the stack reads its other parameters)."""
    value = node.try_get_context(PREFIX_CONTEXT)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return names.DEFAULT_PREFIX
    if isinstance(value, str):
        try:
            return StackNames(value.strip()).prefix
        except ValueError:
            pass
    raise _error(
        PREFIX_CONTEXT,
        value,
        f"lowercase letters, digits and single hyphens, a letter first, at most {names.MAX_PREFIX_LENGTH} characters "
        "(e.g. headcount-dev)",
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
