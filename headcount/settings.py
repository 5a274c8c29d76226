"""Typed settings, validated where a handler or command starts (never at import time)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from headcount import names
from headcount.core.buckets import BadZone, check_zones


class Settings(BaseSettings):
    """Everything configurable, from HEADCOUNT_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="HEADCOUNT_", frozen=True)

    stream: str = names.STREAM
    realtime_table: str = names.REALTIME_TABLE
    batch_table: str = names.BATCH_TABLE
    tz: str = "UTC"
    # more zones the nightly job computes exactly (comma-separated IANA names, `Asia/Tokyo,America/Los_Angeles`): their
    # distinct players and KPIs are exact on the days it has published; any other zone's are approximate
    extra_zones: str = ""
    catalog_path: str | None = None
    ttl_days: int = 35
    # serve: who may call (headcount/access.py). API Gateway checks keys and tokens before the function; the function
    # checks what it was passed again, against these, and without them refuses every request (it fails closed).
    user_pool_id: str | None = None  # the Cognito user pool whose tokens the read and admin routes take
    user_pool_client_id: str | None = None  # the pool's app client the dashboard signs in with
    ingest_usage_plan: str | None = None  # the name of the usage plan of the ingest keys
    cognito_endpoint: str | None = None  # where browsers sign in; Cognito's in the function's region unless set
    # the company's identity provider (its name in the pool), which the dashboard offers through the pool's domain
    # (its hosted UI, https://<domain>.auth.<region>.amazoncognito.com): both or neither
    identity_provider: str | None = None
    sign_in_domain: str | None = None
    # fold: bytes of ids a distinct item's recent ids hold before its sketch is written whole (0: always whole)
    recent_ids_bytes: int = Field(default=names.FOLD_RECENT_IDS_BYTES, ge=0, le=300_000)
    watermark_every_s: float = 5.0  # fold: how often a shard's watermark is written at most (write units vs freshness)
    stale_after_s: float = 60.0  # serve: a real-time day is `stale` when a shard lags by more than this
    realtime_max_age_s: float = 1.0  # serve: requests share the publications, statuses and real-time reads this long
    # (the next ones read ahead halfway through; 0: never)
    put_mark_every_s: float = 30.0  # serve: how often a function notes, per shard, that it put records (for `stale`)
    batch_at: str = "02:00"  # local stack: when the nightly job runs (reporting time zone), or "off"
    # local stack: how often the business function puts today-so-far KPIs into CloudWatch (moto), in seconds; 0: never
    business_every_s: float = Field(default=names.BUSINESS_EVERY_MINUTES * 60, ge=0)

    # notifications (digests and alerts: headcount/logic/notify.py), sent by the business function and the admin routes
    notifications_table: str = names.NOTIFICATIONS_TABLE
    channel_secrets: str = names.CHANNEL_SECRETS  # the channels' secrets' name prefix (Secrets Manager)
    delivery_dead_letters: str | None = None  # the dead-letter queue's URL; unset: failures are recorded only
    email_from: str | None = None  # SES' verified sender of the email channels; unset: no email channel can send
    dashboard_url: str | None = None  # where the messages' links go (the API's root, the dashboard)
    # local stack only: webhook and Slack targets may be http://127.0.0.1 (its sink). On AWS a target is https to a
    # public address only (server-side request forgery: headcount/views/channels.py)
    allow_loopback_targets: bool = False

    # erasure (headcount/logic/erasure.py): the requests' table, and when the nightly run erases them: when the oldest
    # would otherwise wait longer than every_days, or max_pending are waiting; the alarm's deadline
    erasures_table: str = names.ERASURES_TABLE
    erasure_every_days: int = Field(default=7, ge=1, le=30)
    erasure_max_pending: int = Field(default=50, ge=1)
    erasure_deadline_days: int = Field(default=7, ge=1, le=30)

    @property
    def computed_zones(self) -> tuple[str, ...]:
        """The extra zones, each once, without the reporting zone."""
        return tuple(z for z in self.extra_zones.split(",") if z)

    @property
    def auth_configured(self) -> bool:
        return bool(self.user_pool_id and self.user_pool_client_id and self.ingest_usage_plan)

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("extra_zones")
    @classmethod
    def _known_zones(cls, value: str, info: ValidationInfo) -> str:
        try:
            return ",".join(check_zones(value, info.data.get("tz", "UTC")))
        except BadZone as exc:
            raise ValueError(f"extra_zones: {exc}") from None
