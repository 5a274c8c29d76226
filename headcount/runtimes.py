"""Each Lambda function's runtime: its settings, clients and services, built by one factory from its settings.

The handlers (functions/) build theirs once per container; the local stack runs those same handlers with the same
HEADCOUNT_* settings; the benchmarks build a function's runtime here too, with in-memory views where they measure
compute alone. Every setting a function uses reaches it through one of these factories (tests/unit/test_runtimes.py
fails when one is dropped on the way). No client is made at import: a factory makes them when a handler first runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from headcount.core.catalog import Catalog, Metric
from headcount.core.signing import new_signing_secret
from headcount.logic.business import today_so_far_metrics
from headcount.logic.erasure import BlockedPlayers
from headcount.logic.folding import ShardMarks
from headcount.logic.ingest import MARK_CALL_BUDGET_S, PUT_CALL_BUDGET_S, PutMarks
from headcount.logic.notify import Notifier
from headcount.logic.notify_admin import NotifyAdmin
from headcount.logic.reads import Reads
from headcount.logic.serving import MetricsService
from headcount.settings import Settings
from headcount.views.aws import client
from headcount.views.batch import BatchView, DynamoBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.channels import SecretsManagerSecrets, Senders, check_target
from headcount.views.erasure_store import DynamoErasureStore, ErasureStore
from headcount.views.ingest_keys import IngestKeys
from headcount.views.notify_store import DeadLetterQueue, NotifyStore
from headcount.views.realtime import DynamoRealtimeStore, RealtimeStore
from headcount.views.stream import OpenShards, Producer


@dataclass(frozen=True)
class FoldRuntime:
    """The fold function's: a shard's batch into the real-time view."""

    settings: Settings
    catalog: Catalog
    store: RealtimeStore
    marks: ShardMarks  # when this process last wrote each shard's watermark


def fold_runtime(settings: Settings, store: RealtimeStore | None = None) -> FoldRuntime:
    return FoldRuntime(
        settings,
        load_catalog(settings.catalog_path),
        store if store is not None else DynamoRealtimeStore(settings.realtime_table),
        ShardMarks(int(settings.watermark_every_s * 1000)),
    )


@dataclass
class Ingest:
    """What `POST /v1/events` puts records with: the stream's producer, and the shards' put marks (for `stale`)."""

    producer: Producer
    marks: PutMarks
    blocked: BlockedPlayers  # players erased with "no more": their events are dropped


@dataclass
class ServeRuntime:
    """The serve function's: the read routes' answers, and (made on the first post) the ingest path."""

    settings: Settings
    service: MetricsService
    erasures: ErasureStore  # the admin routes' requests to forget players and their receipts

    @cached_property
    def ingest(self) -> Ingest:
        producer = Producer(client("kinesis", call_budget_s=PUT_CALL_BUDGET_S), self.settings.stream)
        # The marks' writes within a small budget too: a slow table must not hold the answer past API Gateway's 29 s
        store = DynamoRealtimeStore(self.settings.realtime_table, client("dynamodb", call_budget_s=MARK_CALL_BUDGET_S))
        marks = PutMarks(store, int(self.settings.put_mark_every_s * 1000))
        return Ingest(producer, marks, BlockedPlayers(self.erasures))

    @cached_property
    def ingest_keys(self) -> IngestKeys:
        """The admin routes' keys (made on first use: the read routes never need API Gateway's client)."""
        if not self.settings.ingest_usage_plan:
            raise LookupError("HEADCOUNT_INGEST_USAGE_PLAN is not set")
        return IngestKeys(self.settings.ingest_usage_plan)

    def notify_admin(self, request_url: str) -> NotifyAdmin:
        """The admin routes' channels, subscriptions and alert rules (a test message's links go to the dashboard: the
        stack's address, or the one the request came to)."""
        dashboard = self.settings.dashboard_url or request_url
        return notify_admin(self.settings, notifier(self.settings, self.service, dashboard))


def serve_runtime(
    settings: Settings,
    realtime: RealtimeStore | None = None,
    batch: BatchView | None = None,
    open_shards: Callable[[], Collection[str] | None] | None = None,
    erasures: ErasureStore | None = None,
) -> ServeRuntime:
    return ServeRuntime(
        settings,
        MetricsService(reads(settings, realtime, batch, open_shards), settings.computed_zones),
        erasures if erasures is not None else DynamoErasureStore(settings.erasures_table),
    )


@dataclass(frozen=True)
class BusinessRuntime:
    """The business function's: today's KPIs so far, as the API answers them, into CloudWatch."""

    settings: Settings
    service: MetricsService
    kpis: tuple[Metric, ...]  # what a run puts
    cloudwatch: Any  # a CloudWatch client (PutMetricData)
    notifier: Notifier  # digests and alerts
    erasures: ErasureStore  # the requests to forget players: how late the open ones are (the alarm's metric)


def business_runtime(
    settings: Settings,
    realtime: RealtimeStore | None = None,
    batch: BatchView | None = None,
    open_shards: Callable[[], Collection[str] | None] | None = None,
    cloudwatch: Any | None = None,
    erasures: ErasureStore | None = None,
) -> BusinessRuntime:
    service = MetricsService(reads(settings, realtime, batch, open_shards))  # a run's KPIs share one moment's reads
    return BusinessRuntime(
        settings,
        service,
        today_so_far_metrics(service.catalog),
        cloudwatch if cloudwatch is not None else client("cloudwatch"),
        notifier(settings, service, settings.dashboard_url or ""),
        erasures if erasures is not None else DynamoErasureStore(settings.erasures_table),
    )


def notifier(settings: Settings, service: MetricsService, dashboard_url: str) -> Notifier:
    """Digests and alerts as the settings say: the notifications' table, the channels' secrets and senders, the
    dead-letter queue."""
    return Notifier(
        service,
        NotifyStore(settings.notifications_table),
        Senders(
            SecretsManagerSecrets(settings.channel_secrets),
            email_from=settings.email_from,
            allow_loopback=settings.allow_loopback_targets,
        ),
        dashboard_url,
        DeadLetterQueue(settings.delivery_dead_letters) if settings.delivery_dead_letters else None,
    )


def notify_admin(settings: Settings, notifier: Notifier) -> NotifyAdmin:
    return NotifyAdmin(
        notifier,
        SecretsManagerSecrets(settings.channel_secrets),
        lambda url: check_target(url, allow_loopback=settings.allow_loopback_targets),
        new_signing_secret,
    )


def reads(
    settings: Settings,
    realtime: RealtimeStore | None = None,
    batch: BatchView | None = None,
    open_shards: Callable[[], Collection[str] | None] | None = None,
) -> Reads:
    """Both views as the serve and business functions read them, from the settings they share; the DynamoDB views and
    the stream's open shards unless given."""
    return Reads(
        load_catalog(settings.catalog_path),
        realtime if realtime is not None else DynamoRealtimeStore(settings.realtime_table),
        batch if batch is not None else DynamoBatchView(settings.batch_table),
        settings.tz,
        open_shards if open_shards is not None else OpenShards(client("kinesis"), settings.stream),
        stale_after_ms=int(settings.stale_after_s * 1000),
        max_age_s=settings.realtime_max_age_s,
        ttl_days=settings.ttl_days,
    )
