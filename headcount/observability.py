"""One logger, one metrics emitter (CloudWatch EMF), one tracer for every function."""

from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service="headcount")
metrics = Metrics(namespace="Headcount", service="headcount")
tracer = Tracer(service="headcount")


def count_by(name: str, dimension: str, counts: Mapping[str, int]) -> None:
    """One count per value of a dimension (e.g. rejected events by reason), each its own EMF document: the function's
    shared metrics carry no dimension, and one document has one dimension set."""
    for value, n in counts.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=n, namespace=metrics.namespace) as metric:
            metric.add_dimension(name=dimension, value=value)
