"""Today so far, as CloudWatch metrics: the business function's use case (functions/business/handler.py).

Every few minutes the values of the catalog's ungrouped daily KPIs of kinds distinct, count and new (`active_players`,
`matches_played`, `new_players`), for the reporting time zone's today at `now`, are read as the API answers them (the
serving merge: the real-time view's approximate value until the nightly job publishes the day) and put into CloudWatch
in one PutMetricData call: the anomaly detection alarms (infra/business.py) compare them with the same time of past
days and weeks. A KPI that cannot be read is left out of the call (and reported), never the others. Each run also
puts how late the requests to forget players are (headcount/logic/erasure.py), which the erasure alarm watches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from headcount import names
from headcount.core import buckets as bk
from headcount.core.catalog import Catalog, Granularity, Kind, Metric
from headcount.logic.erasure import Lateness, lateness
from headcount.logic.serving import Series
from headcount.views.erasure_store import ErasureStore

TODAY_SO_FAR_KINDS = (Kind.DISTINCT, Kind.COUNT, Kind.NEW)
# PutMetricData takes up to 1,000 values a call: far more KPIs than a catalog has, so one call always holds them all.
MAX_VALUES_PER_CALL = 1000
STANDARD_RESOLUTION_S = 60  # the alarms' periods are minutes: high resolution would cost more and say nothing more


class TodaySource(Protocol):
    """What answers a KPI's today (MetricsService)."""

    def series(self, name: str, start: str | None, end: str | None, group: str | None, now_ms: int) -> Series: ...


class MetricSink(Protocol):
    """What takes the values (a CloudWatch client)."""

    def put_metric_data(self, **request: Any) -> Any: ...


@dataclass(frozen=True)
class KpiValue:
    """One KPI's today so far, as the API would answer it at that moment."""

    metric: str
    value: int | float
    low: int | float | None
    high: int | float | None
    exact: bool
    source: str  # "realtime", "batch" or "none" (no data yet today: 0)
    stale: bool  # the real-time view is behind the stream: the value is lower than it will be


@dataclass(frozen=True)
class TodaySoFar:
    """What one run read, and what it could not (a KPI's name and its exception)."""

    day: date  # today in the reporting time zone, at `at_ms`
    at_ms: int
    values: tuple[KpiValue, ...]
    failed: dict[str, Exception] = field(default_factory=dict)


def today_so_far_metrics(catalog: Catalog) -> tuple[Metric, ...]:
    """The KPIs a run puts, in catalog order: one value a day each (daily, ungrouped), growing through the day (distinct,
    count and new; the rolling, ratio and retention KPIs are built from these)."""
    return tuple(
        m
        for m in catalog.listed()
        if m.kind in TODAY_SO_FAR_KINDS and m.granularity is Granularity.DAY and m.group_by is None
    )


def today_so_far(source: TodaySource, metrics: Sequence[Metric], tz: str, now_ms: int) -> TodaySoFar:
    """Each KPI's today at `now_ms`; one that fails (a store error, a KPI the service cannot answer) is set aside with
    its exception and the others are read."""
    today = bk.local_date(now_ms, tz)
    values: list[KpiValue] = []
    failed: dict[str, Exception] = {}
    for metric in metrics:
        try:
            values.append(_today(source, metric, today, now_ms))
        except Exception as exc:  # noqa: BLE001 - one KPI's failure must not keep the others out of CloudWatch
            failed[metric.name] = exc
    return TodaySoFar(today, now_ms, tuple(values), failed)


def _today(source: TodaySource, metric: Metric, today: date, now_ms: int) -> KpiValue:
    points = source.series(metric.name, "today", "today", None, now_ms).points
    if len(points) != 1 or points[0].bucket != today.isoformat():
        # a daily ungrouped metric has one point a day: anything else would put another day's number as today's
        raise ValueError(f"{metric.name}: expected one point for {today}, got {[p.bucket for p in points]}")
    point = points[0]
    if point.value is None:  # a ratio with a zero denominator has none; these kinds always have one
        raise ValueError(f"{metric.name}: no value for {today}")
    return KpiValue(metric.name, point.value, point.low, point.high, point.exact, point.source, point.stamp.stale)


def metric_data(result: TodaySoFar, service: str) -> list[dict[str, Any]]:
    """PutMetricData's values: one per KPI, stamped at the run's moment (the schedule's time, so each 5-minute period
    holds exactly one run's values), with the service (the stack's) and metric dimensions the alarms and the dashboard
    read."""
    stamp = datetime.fromtimestamp(result.at_ms / 1000, UTC)
    return [
        {
            "MetricName": names.METRIC_TODAY_SO_FAR,
            "Dimensions": [
                {"Name": "service", "Value": service},
                {"Name": names.TODAY_SO_FAR_DIMENSION, "Value": kpi.metric},
            ],
            "Timestamp": stamp,
            "Value": float(kpi.value),
            "Unit": "Count",
            "StorageResolution": STANDARD_RESOLUTION_S,
        }
        for kpi in result.values
    ]


def publish_today_so_far(
    source: TodaySource, sink: MetricSink, metrics: Sequence[Metric], tz: str, now_ms: int, *, service: str
) -> TodaySoFar:
    """Read each KPI's today so far and put the ones read into CloudWatch, in one call (none when nothing was read:
    the missing values are what the business-metrics-missing alarm watches), with this `service` dimension (the
    stack's, as its alarms read it). A failed put raises: the run failed."""
    if len(metrics) > MAX_VALUES_PER_CALL:
        raise ValueError(f"{len(metrics)} KPIs: one PutMetricData call takes {MAX_VALUES_PER_CALL} values at most")
    result = today_so_far(source, metrics, tz, now_ms)
    if result.values:
        sink.put_metric_data(Namespace=names.POWERTOOLS_NAMESPACE, MetricData=metric_data(result, service))
    return result


def publish_erasure_lateness(
    store: ErasureStore, sink: MetricSink, now_ms: int, deadline_days: int, *, service: str
) -> Lateness:
    """How late the open requests to forget players are at `now_ms`, into CloudWatch in one call: how many are older
    than `deadline_days` (what the alarm holds them to) and the oldest one's age in hours, stamped and dimensioned as
    the KPIs are. A store or put that fails raises."""
    late = lateness(store, now_ms, deadline_days)
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC)
    values = (
        (names.METRIC_ERASURES_OVERDUE, float(late.overdue), "Count"),
        (names.METRIC_ERASURE_OLDEST_HOURS, late.oldest_hours, "None"),
    )
    sink.put_metric_data(
        Namespace=names.POWERTOOLS_NAMESPACE,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "service", "Value": service}],
                "Timestamp": stamp,
                "Value": value,
                "Unit": unit,
                "StorageResolution": STANDARD_RESOLUTION_S,
            }
            for metric, value, unit in values
        ],
    )
    return late
