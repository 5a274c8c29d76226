"""One logger, one metrics emitter (CloudWatch EMF), one tracer for every function, and what each function reports."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from headcount import names

if TYPE_CHECKING:
    from headcount.logic.folding import FoldReport
    from headcount.logic.ingest import Accepted

# The service: Powertools' own POWERTOOLS_SERVICE_NAME, which each stack sets to its prefix (infra/lambda_function.py,
# read here as Powertools reads it, when the module is imported): the `service` dimension of every metric, which keeps
# one stack's alarms off another's data in the shared namespace. Without it (the local stack, the tests), the default.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or names.POWERTOOLS_SERVICE
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=names.POWERTOOLS_NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def count_by(name: str, dimension: str, counts: Mapping[str, int]) -> None:
    """One count per value of a dimension (e.g. rejected events by reason), each its own EMF document: the function's
    shared metrics carry no dimension, and one document has one dimension set."""
    for value, n in counts.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=n, namespace=metrics.namespace) as metric:
            metric.add_dimension(name=dimension, value=value)


def report_fold(report: FoldReport, shard_id: str) -> None:
    """The fold's metrics (what it applied and wrote, what it rejected by reason) and logs (each rejected event; the
    items not written, when the shard has to resume)."""
    metrics.add_metric(name="EventsFolded", unit=MetricUnit.Count, value=report.valid)
    metrics.add_metric(name="ItemsTouched", unit=MetricUnit.Count, value=report.items_touched)
    metrics.add_metric(name="ItemsWritten", unit=MetricUnit.Count, value=report.items_written)
    metrics.add_metric(name="ItemsUnchanged", unit=MetricUnit.Count, value=report.items_unchanged)
    metrics.add_metric(name="WriteUnits", unit=MetricUnit.Count, value=report.write_units)
    metrics.add_metric(name=names.METRIC_EVENTS_REJECTED, unit=MetricUnit.Count, value=len(report.rejected))
    count_by(names.METRIC_EVENTS_REJECTED, "reason", report.rejected_by_reason())  # the same, by reason
    for rejected in report.rejected:
        logger.warning(
            "event rejected",
            extra={
                "reason": rejected.rejection.reason.value,
                "detail": rejected.rejection.detail,
                "shard_id": shard_id,
                "sequence_number": str(rejected.sequence_number),
            },
        )
    if report.first_failed_sequence_number is not None:
        metrics.add_metric(name="ItemWriteFailures", unit=MetricUnit.Count, value=len(report.failed_items))
        logger.error(
            "items not written; the shard resumes from the first unapplied record",
            extra={
                "shard_id": shard_id,
                "resume_at": str(report.first_failed_sequence_number),
                "errors": sorted({type(e).__name__ + ": " + str(e)[:200] for _, e in report.failed_items})[:5],
            },
        )


def report_request() -> None:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)


def report_posted(result: Accepted) -> None:
    """`POST /v1/events`: events accepted, and rejected by reason (the first 20 logged)."""
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=result.accepted)
    count_by("PostedEventsRejected", "reason", Counter(r.reason for r in result.rejected))
    if result.rejected:
        logger.info(
            "posted events rejected",
            extra={"rejected": [asdict(r) for r in result.rejected[:20]], "accepted": result.accepted},
        )
