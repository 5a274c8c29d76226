"""Business Lambda: every few minutes (EventBridge Scheduler), today's KPIs so far into CloudWatch, where the stack's
anomaly detection alarms compare them with the same time of past days and weeks (headcount/logic/business.py); then
the digests and alert rules (headcount/logic/notify.py), and how late the requests to forget players are (the erasure
alarm's metrics, headcount/logic/erasure.py). An EventBridge rule also runs it right after the nightly job
succeeds (`{"trigger": "nightly", "time": ...}`): then it sends what the published day made due, and puts no KPIs (the
schedule's run of that period does; it puts the erasures' lateness, which the job's batch may just have lowered).

"Now" is the schedule's time, not the clock: the schedule passes `<aws.scheduler.scheduled-time>` as `scheduled_time`
(infra/business.py), so every 5-minute period holds one run's values even when an invocation starts a little late or
is retried, and a run just after midnight still reports the day it was scheduled in. The wall clock stands in only
for an event without it (an invocation by hand).
"""

from __future__ import annotations

import time
from datetime import datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from headcount import names
from headcount.logic.business import publish_erasure_lateness, publish_today_so_far
from headcount.logic.notify import RunReport
from headcount.observability import SERVICE, logger, tracer
from headcount.runtimes import BusinessRuntime, business_runtime
from headcount.settings import Settings


class NothingPut(RuntimeError):
    """Every KPI failed: the run put nothing (the invocation fails, so Lambda counts an error and retries it)."""


@lru_cache(maxsize=1)
def runtime() -> BusinessRuntime:
    """Built once per container from the function's settings."""
    return business_runtime(Settings())


def _now_ms(event: dict[str, Any]) -> int:
    scheduled = (event.get("scheduled_time") or event.get("time")) if isinstance(event, dict) else None
    if scheduled:
        try:
            return int(datetime.fromisoformat(str(scheduled)).timestamp() * 1000)
        except ValueError:
            logger.warning(
                "scheduled_time is not an ISO-8601 time; using the clock", extra={"scheduled_time": scheduled}
            )
    return int(time.time() * 1000)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    business = runtime()
    now_ms = _now_ms(event)
    _put_erasure_lateness(business, now_ms)
    if isinstance(event, dict) and event.get("trigger") == "nightly":
        return {"notified": _notify(business, now_ms, context)}
    result = publish_today_so_far(
        business.service, business.cloudwatch, business.kpis, business.settings.tz, now_ms, service=SERVICE
    )
    for name, exc in result.failed.items():
        logger.error("KPI not put: it could not be read", extra={"metric": name}, exc_info=exc)
    put = {kpi.metric: kpi.value for kpi in result.values}
    logger.info(
        "today so far put into CloudWatch",
        extra={"day": result.day.isoformat(), "put": put, "stale": [k.metric for k in result.values if k.stale]},
    )
    notified = _notify(business, now_ms, context)
    if result.failed and not result.values:
        raise NothingPut(f"no KPI could be read: {', '.join(result.failed)}")
    return {"day": result.day.isoformat(), "put": put, "failed": sorted(result.failed), "notified": notified}


def _put_erasure_lateness(business: BusinessRuntime, now_ms: int) -> None:
    """The erasure requests' lateness into CloudWatch. When the erasures' table is out of reach it is logged and the
    run's other work goes on (the alarm reads the hour's maximum: one run without the value does not clear it)."""
    try:
        late = publish_erasure_lateness(
            business.erasures, business.cloudwatch, now_ms, business.settings.erasure_deadline_days, service=SERVICE
        )
    except Exception:  # noqa: BLE001 - logged; the KPIs and the notifications must still go
        logger.exception("erasure lateness not put: the erasures' table could not be read")
        return
    logger.info(
        "erasure lateness put into CloudWatch",
        extra={"open": late.open, "overdue": late.overdue, "oldest_hours": round(late.oldest_hours, 1)},
    )


def _notify(business: BusinessRuntime, now_ms: int, context: LambdaContext) -> dict[str, list[str]]:
    """Digests and alerts; how many deliveries were sent and failed, into CloudWatch (the failed ones' alarm). When
    the notifications cannot run at all (their table out of reach), that counts as a failure too, and the run's KPIs
    stand (failing the invocation would put them again on its retry)."""
    try:
        report = business.notifier.run(now_ms, remaining_ms=context.get_remaining_time_in_millis)
    except Exception:  # noqa: BLE001 - logged and alarmed; the next run tries again
        logger.exception("digests and alerts could not run")
        report = RunReport(failed=["(the run)"])
    for name, exc in report.errors.items():
        logger.error("not evaluated", extra={"what": name}, exc_info=exc)
    for delivery in report.failed:
        logger.error("delivery failed after its retries (dead-lettered)", extra={"delivery": delivery})
    business.cloudwatch.put_metric_data(
        Namespace=names.POWERTOOLS_NAMESPACE,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "service", "Value": SERVICE}],
                "Value": float(count),
                "Unit": "Count",
            }
            for metric, count in (
                (names.METRIC_DELIVERIES_SENT, len(report.sent)),
                (names.METRIC_DELIVERIES_FAILED, len(report.failed)),
            )
        ],
    )
    return {"sent": report.sent, "failed": report.failed, "not_evaluated": sorted(report.errors)}
