"""The stack's context parameters: what a deploy may change (cdk.json, or `-c key=value`), read from the CDK context
and checked at synth into one typed `Parameters`, so a bad value fails the synth with the key, the value and what is
expected. docs/deploy.md has the table of them, with what each costs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from constructs import Node

from headcount import access, names
from headcount.core.buckets import BadZone, check_zones
from headcount.core.erasure import ErasurePolicy
from headcount.names import StackNames
from infra.business import DEFAULT_BAND_WIDTH
from infra.serving import THROTTLE_BURST_LIMIT, THROTTLE_RATE_LIMIT
from infra.users import RESERVED_DOMAIN_WORDS, Federation

# Context keys (cdk.json, or `-c key=value`)
# The stack's prefix: every physical name starts with it (headcount/names.py StackNames), and so does the stack's
PREFIX_CONTEXT = "headcount:prefix"
TZ_CONTEXT = "headcount:tz"  # the reporting time zone: day and hour buckets, and when "yesterday" is
# More zones the nightly job computes exactly: a list of IANA names (cdk.json) or one comma-separated string (-c)
EXTRA_ZONES_CONTEXT = "headcount:extraZones"
NIGHTLY_AT_CONTEXT = "headcount:nightlyAt"  # HH:MM in the reporting time zone
SHARDS_CONTEXT = "headcount:shards"  # a shard count (provisioned stream), or "on-demand"
BATCHING_WINDOW_CONTEXT = "headcount:batchingWindowS"  # the fold's MaximumBatchingWindowInSeconds, 0..300
THROTTLE_RATE_CONTEXT = "headcount:throttleRate"  # the API stage's steady requests per second (all clients)
THROTTLE_BURST_CONTEXT = "headcount:throttleBurst"  # the API stage's burst (requests)
# Each ingest key's own limits (the usage plan's: API Gateway applies them to every key on its own)
INGEST_RATE_CONTEXT = "headcount:ingestRate"  # requests per second, per key
INGEST_BURST_CONTEXT = "headcount:ingestBurst"  # requests, per key
INGEST_QUOTA_CONTEXT = "headcount:ingestQuotaPerDay"  # requests per key and UTC day
# The fold's reserved concurrency: an integer, 0 for none; by default one per shard and parallelization slot, plus one
FOLD_RESERVED_CONCURRENCY_CONTEXT = "headcount:foldReservedConcurrency"
# Optional federation: people sign in through the company's OpenID Connect identity provider (all three, or none)
OIDC_ISSUER_CONTEXT = "headcount:oidcIssuer"  # the IdP's issuer URL (https://…)
OIDC_CLIENT_ID_CONTEXT = "headcount:oidcClientId"  # the client id the IdP gave the user pool
# a Secrets Manager secret holding its client secret (its name: the secret never passes through the stack)
OIDC_CLIENT_SECRET_NAME_CONTEXT = "headcount:oidcClientSecretName"  # noqa: S105 - a context key
OIDC_NAME_CONTEXT = "headcount:oidcName"  # the provider's name in the user pool (the hosted UI's button)
ATHENA_SCAN_LIMIT_CONTEXT = "headcount:athenaScanLimitGb"  # Athena's BytesScannedCutoffPerQuery, in GB (10^9 bytes)
ALARM_EMAIL_CONTEXT = "headcount:alarmEmail"  # optional: an address subscribed to the alarm topic
# optional: the address digests and alerts are emailed from, verified in SES (the address itself, or its domain)
EMAIL_FROM_CONTEXT = "headcount:emailFrom"
TRACING_CONTEXT = "headcount:tracing"  # "active" (X-Ray traces of the functions and the API stage) or "off"
# The business alarms' band, in standard deviations of CloudWatch's model of each KPI (infra/business.py)
ANOMALY_BAND_CONTEXT = "headcount:anomalyBandWidth"
# Erasure batches (headcount/batch/erasure.py): no request waits longer than this many days for its batch (at most the
# deadline the alarm holds requests to, 7 days), or a batch as soon as this many requests wait
ERASURE_EVERY_DAYS_CONTEXT = "headcount:erasureEveryDays"
ERASURE_MAX_PENDING_CONTEXT = "headcount:erasureMaxPending"

ON_DEMAND: Literal["on-demand"] = "on-demand"
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
DEFAULT_OIDC_NAME = "Company"
# Cognito's rules: a provider name of 3 to 32 characters (no leading underscore or space), a secret's name of
# letters, digits and /_+=.@- (up to 512)
_OIDC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{1,30}[A-Za-z0-9]$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_HTTPS_URL = re.compile(r"^https://[^\s/?#]+(/[^\s?#]*)?$")


class ContextError(ValueError):
    """A context parameter the stack cannot be built with: the synth fails with this message."""


@dataclass(frozen=True)
class Parameters:
    prefix: str = names.DEFAULT_PREFIX
    tz: str = DEFAULT_TZ
    extra_zones: tuple[str, ...] = ()
    nightly_at: str = DEFAULT_NIGHTLY_AT
    shards: int | Literal["on-demand"] = DEFAULT_SHARDS
    batching_window_s: int = DEFAULT_BATCHING_WINDOW_S
    throttle_rate: float = DEFAULT_THROTTLE_RATE
    throttle_burst: int = DEFAULT_THROTTLE_BURST
    ingest_rate: float = access.INGEST_RATE_LIMIT
    ingest_burst: int = access.INGEST_BURST_LIMIT
    ingest_quota_per_day: int = access.INGEST_QUOTA_PER_DAY
    fold_reserved_concurrency: int | None = None  # None: the default for the shards (fold_reservation)
    federation: Federation | None = None
    athena_scan_limit_gb: float = DEFAULT_ATHENA_SCAN_LIMIT_GB
    alarm_email: str | None = None
    email_from: str | None = None  # None: email channels cannot send (they fail with that reason)
    tracing: bool = True
    anomaly_band_width: float = DEFAULT_ANOMALY_BAND_WIDTH
    erasure_every_days: int = ErasurePolicy.every_days
    erasure_max_pending: int = ErasurePolicy.max_pending

    @property
    def athena_scan_limit_bytes(self) -> int:
        return round(self.athena_scan_limit_gb * BYTES_PER_GB)

    @property
    def stack_names(self) -> StackNames:
        return StackNames(self.prefix)

    @property
    def fold_reservation(self) -> int | None:
        """The fold's reserved concurrency, or None for none: headcount:foldReservedConcurrency (0: none), else one
        invocation per shard and parallelization slot plus one (`headcount replay` invokes the fold beside the
        stream's). An on-demand stream's shard count changes with its traffic: no reservation unless one is set."""
        if self.fold_reserved_concurrency is not None:
            return self.fold_reserved_concurrency or None
        if isinstance(self.shards, str):  # on-demand
            return None
        return self.shards * names.FOLD_PARALLELIZATION_FACTOR + 1


def read_parameters(node: Node) -> Parameters:
    """The context parameters, checked: a bad value fails the synth with the key, the value and what is expected.
    Values given with `-c` arrive as strings, those in cdk.json as JSON values: both are accepted."""

    def get(key: str) -> Any:
        value = node.try_get_context(key)
        return None if value is None or (isinstance(value, str) and value.strip() == "") else value

    defaults = Parameters()
    prefix = read_prefix(node)
    reserved = [word for word in RESERVED_DOMAIN_WORDS if word in prefix]
    if reserved:  # the user pool's domain is <prefix>-<account id> (infra/users.py)
        raise _error(PREFIX_CONTEXT, prefix, f"a prefix without {' or '.join(reserved)} (the user pool's domain)")
    tz = str(get(TZ_CONTEXT) or defaults.tz)
    try:
        ZoneInfo(tz)  # an unknown zone fails the synth, not the first invocation
    except (ZoneInfoNotFoundError, ValueError):
        raise _error(TZ_CONTEXT, tz, "an IANA time zone such as UTC or Europe/Berlin") from None
    extra_zones = _extra_zones(get(EXTRA_ZONES_CONTEXT), tz)
    nightly_at = str(get(NIGHTLY_AT_CONTEXT) or defaults.nightly_at)
    if not _HH_MM.match(nightly_at):
        raise _error(NIGHTLY_AT_CONTEXT, nightly_at, "HH:MM, 00:00 to 23:59")
    alarm_email = get(ALARM_EMAIL_CONTEXT)
    if alarm_email is not None and not (isinstance(alarm_email, str) and _EMAIL.match(alarm_email.strip())):
        raise _error(ALARM_EMAIL_CONTEXT, alarm_email, "an email address")
    email_from = get(EMAIL_FROM_CONTEXT)
    if email_from is not None and not (isinstance(email_from, str) and _EMAIL.match(email_from.strip())):
        raise _error(
            EMAIL_FROM_CONTEXT, email_from, "an email address verified in SES (as itself, or through its domain)"
        )
    return Parameters(
        prefix=prefix,
        tz=tz,
        extra_zones=extra_zones,
        nightly_at=nightly_at,
        shards=_shards(get(SHARDS_CONTEXT), defaults.shards),
        batching_window_s=_integer(
            BATCHING_WINDOW_CONTEXT, get(BATCHING_WINDOW_CONTEXT), defaults.batching_window_s, 0, MAX_BATCHING_WINDOW_S
        ),
        throttle_rate=_number(THROTTLE_RATE_CONTEXT, get(THROTTLE_RATE_CONTEXT), defaults.throttle_rate, above=0),
        throttle_burst=_integer(THROTTLE_BURST_CONTEXT, get(THROTTLE_BURST_CONTEXT), defaults.throttle_burst, 1),
        ingest_rate=_number(INGEST_RATE_CONTEXT, get(INGEST_RATE_CONTEXT), defaults.ingest_rate, above=0),
        ingest_burst=_integer(INGEST_BURST_CONTEXT, get(INGEST_BURST_CONTEXT), defaults.ingest_burst, 1),
        ingest_quota_per_day=_integer(
            INGEST_QUOTA_CONTEXT, get(INGEST_QUOTA_CONTEXT), defaults.ingest_quota_per_day, 1
        ),
        fold_reserved_concurrency=(
            None
            if get(FOLD_RESERVED_CONCURRENCY_CONTEXT) is None
            else _integer(FOLD_RESERVED_CONCURRENCY_CONTEXT, get(FOLD_RESERVED_CONCURRENCY_CONTEXT), 0, 0)
        ),
        federation=_federation(get),
        athena_scan_limit_gb=_number(
            ATHENA_SCAN_LIMIT_CONTEXT,
            get(ATHENA_SCAN_LIMIT_CONTEXT),
            defaults.athena_scan_limit_gb,
            at_least=MIN_ATHENA_SCAN_LIMIT_GB,
        ),
        alarm_email=alarm_email.strip() if alarm_email is not None else None,
        email_from=email_from.strip() if email_from is not None else None,
        tracing=_tracing(get(TRACING_CONTEXT)),
        anomaly_band_width=_number(
            ANOMALY_BAND_CONTEXT, get(ANOMALY_BAND_CONTEXT), defaults.anomaly_band_width, above=0
        ),
        erasure_every_days=_integer(
            ERASURE_EVERY_DAYS_CONTEXT,
            get(ERASURE_EVERY_DAYS_CONTEXT),
            defaults.erasure_every_days,
            1,
            ErasurePolicy.deadline_days,
        ),
        erasure_max_pending=_integer(
            ERASURE_MAX_PENDING_CONTEXT, get(ERASURE_MAX_PENDING_CONTEXT), defaults.erasure_max_pending, 1
        ),
    )


def _extra_zones(value: Any, tz: str) -> tuple[str, ...]:
    if value is None:
        return ()
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    try:
        return check_zones(text, tz)
    except BadZone as exc:
        raise _error(EXTRA_ZONES_CONTEXT, value, f'IANA time zones, such as ["Asia/Tokyo"] ({exc})') from None


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


def _federation(get: Callable[[str], Any]) -> Federation | None:
    """The headcount:oidc* parameters: all of issuer, client id and secret name, or none of them."""
    required = (OIDC_ISSUER_CONTEXT, OIDC_CLIENT_ID_CONTEXT, OIDC_CLIENT_SECRET_NAME_CONTEXT)
    given = {key: get(key) for key in (*required, OIDC_NAME_CONTEXT)}
    if all(given[key] is None for key in required):
        if given[OIDC_NAME_CONTEXT] is not None:
            raise _error(OIDC_NAME_CONTEXT, given[OIDC_NAME_CONTEXT], f"{OIDC_ISSUER_CONTEXT} and the others with it")
        return None
    for key in required:
        if given[key] is None:
            missing = ", ".join(k for k in required if given[k] is None)
            raise _error(key, None, f"a value: federation needs {', '.join(required)} (missing: {missing})")
        if not isinstance(given[key], str):
            raise _error(key, given[key], "a string")
    issuer, client_id, secret_name = (str(given[key]).strip() for key in required)
    if not _HTTPS_URL.match(issuer):
        raise _error(OIDC_ISSUER_CONTEXT, given[OIDC_ISSUER_CONTEXT], "the identity provider's https:// issuer URL")
    if not _SECRET_NAME.match(secret_name):
        raise _error(
            OIDC_CLIENT_SECRET_NAME_CONTEXT,
            given[OIDC_CLIENT_SECRET_NAME_CONTEXT],
            "a Secrets Manager secret's name (letters, digits and /_+=.@-)",
        )
    name = str(given[OIDC_NAME_CONTEXT]).strip() if given[OIDC_NAME_CONTEXT] is not None else DEFAULT_OIDC_NAME
    if not _OIDC_NAME.match(name) or name.lower() == "cognito":
        raise _error(OIDC_NAME_CONTEXT, given[OIDC_NAME_CONTEXT], "3 to 32 letters, digits, spaces, '.', '_' or '-'")
    return Federation(issuer=issuer, client_id=client_id, client_secret_name=secret_name, name=name)


def _tracing(value: object) -> bool:
    if value is None or (isinstance(value, str) and value.strip().lower() == "active") or value is True:
        return True
    if (isinstance(value, str) and value.strip().lower() == "off") or value is False:
        return False
    raise _error(TRACING_CONTEXT, value, "active or off")


def _error(key: str, value: object, expected: str) -> ContextError:
    return ContextError(f"context {key}={value!r}: expected {expected} (set it in cdk.json or with -c {key}=...)")


def _shards(value: object, default: int | Literal["on-demand"]) -> int | Literal["on-demand"]:
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lower() == ON_DEMAND:
        return ON_DEMAND
    return _integer(SHARDS_CONTEXT, value, DEFAULT_SHARDS, 1, expected=f"a positive number of shards or {ON_DEMAND!r}")


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
