"""One logger, one metrics emitter (CloudWatch EMF), one tracer for every function."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="headcount")
metrics = Metrics(namespace="Headcount", service="headcount")
tracer = Tracer(service="headcount")
