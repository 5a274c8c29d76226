"""From metered usage (headcount/local/meter.py lines) to a monthly bill per service, at the prices of prices.py.

Rates are measured per second over the phases of a run (the day's three moments, averaged: each stands for a third of
the day), then scaled to a month and to the deployed stream's shard count (the run is one shard of it).
"""

from __future__ import annotations

import gzip
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from headcount import names
from headcount.cost import prices as p
from headcount.cost.run import Load, Measurement
from headcount.logic.ingest import MAX_EVENTS as MAX_EVENTS_PER_REQUEST
from headcount.views.aws import READ_UNIT_BYTES

LAMBDA_MEMORY_MB = 1024  # both functions (infra/realtime.py, infra/serving.py)
PLATFORM_LOG_BYTES = 320  # Lambda's START, END and REPORT lines of every invocation
GLUE_WORKERS, GLUE_VCPUS_PER_WORKER = 4, 4  # G.1X workers of the nightly job (infra/batch.py)
NIGHTLY_DAYS_READ = 3  # the job recomputes its day and the two before
PIPELINE_ALARMS = 10  # infra/alarms.py
WAF_RULES = 3  # infra/firewall.py: the rate rule, the IP reputation list, known bad inputs
# A tool reading every hour fetches a token an hour (one lasts an hour); people sign in within the free tier
TOOLS_TOKENS_PER_MONTH = 730
# The business function (infra/business.py), every names.BUSINESS_EVERY_MINUTES: the default catalog's today-so-far KPIs
# (headcount/logic/business.py) with the bytes of one shard's items of each today, at most (a run reads them all, like
# the API's today): an HLL_4 sketch of lg_k 14 and its recent ids, a counter, a Theta sketch of lg_k 12.
BUSINESS_KPI_ITEM_BYTES = {"active_players": 8_264 + 1_000, "matches_played": 100, "new_players": 32 * 1024 + 100}
BUSINESS_KPIS = len(BUSINESS_KPI_ITEM_BYTES)  # an anomaly detection alarm each, and one business-metrics-missing alarm
NOTIFICATION_ALARMS = 2  # infra/notifications.py: deliveries failed, dead letters waiting (priced in docs/cost.md)
ERASURE_ALARMS = 1  # infra/erasure.py: erasures overdue
# CloudWatch alarms of the stack (tests/infra/test_alarms.py holds it)
ALARMS = PIPELINE_ALARMS + BUSINESS_KPIS + 1 + NOTIFICATION_ALARMS + ERASURE_ALARMS
BUSINESS_MEMORY_MB = 512
BUSINESS_RUN_S = 1.0  # an upper bound of a run (a few Queries and one PutMetricData; a cold start's imports included)
BUSINESS_LOG_BYTES = 1_500  # a run's Powertools line (what it put), Lambda's START, END and REPORT lines
FOLD_LAYER, ARCHIVE_LAYER, SERVING_LAYER, OPERATIONS = "real-time", "archive+batch", "serving", "operations"
INGEST_PATH = "/v1/events"
REST_CHECKS = "the ingest key and its usage plan's rate and quota, the web ACL"


@dataclass
class Usage:
    """What the pipeline used (totals) over `seconds` of traffic; `per_second` turns a total into a rate."""

    seconds: float = 0.0
    events: int = 0
    put_units: float = 0.0
    records: float = 0.0
    record_bytes: float = 0.0
    firehose_bytes: float = 0.0  # each record rounded up to 5 KiB
    on_demand_bytes: float = 0.0  # each record rounded up to 1 KiB
    fold_invocations: float = 0.0
    fold_ms: float = 0.0
    serve_requests: float = 0.0
    serve_ms: float = 0.0
    ingest_requests: float = 0.0  # of serve_requests: the games' POST /v1/events
    ingest_ms: float = 0.0
    wru: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # by "table/process"
    rru: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    waited_ms: list[int] = field(default_factory=list)

    def per_second(self, value: float) -> float:
        return value / self.seconds if self.seconds else 0.0


def read_lines(meter_dir: Path) -> list[dict]:
    lines = []
    for path in sorted(meter_dir.glob("*.jsonl")):
        for text in path.read_text().splitlines():
            if text.strip():
                lines.append(json.loads(text))
    return lines


def process_role(process: str) -> str:
    return "fold" if process.startswith("fold-") else process.split("-", 1)[0]


def usage_between(lines: Iterable[dict], windows: list[tuple[float, float]], events: int, seconds: float) -> Usage:
    """What the metered lines inside these time windows used; `events` and `seconds`: the events sent in them, and for
    how long (the rates are per second of traffic)."""
    usage = Usage(seconds=seconds, events=events)
    for line in lines:
        if not any(started <= line["t"] < ended for started, ended in windows):
            continue
        if line["kind"] == "invoke":
            if line["function"] == "fold":
                usage.fold_invocations += 1
                usage.fold_ms += line["ms"]
                usage.waited_ms += line["waited_ms"]
            else:
                usage.serve_requests += 1
                usage.serve_ms += line["ms"]
                if line.get("method") == "POST" and line.get("path", "").endswith(INGEST_PATH):
                    usage.ingest_requests += 1
                    usage.ingest_ms += line["ms"]
            continue
        role = process_role(line["process"])
        if line["service"] == "kinesis" and "records" in line:
            usage.put_units += line["put_units"]
            usage.records += line["records"]
            for size in line["sizes"]:
                usage.record_bytes += size
                usage.firehose_bytes += _rounded(size, p.FIREHOSE_RECORD_ROUNDING)
                usage.on_demand_bytes += _rounded(size, p.KINESIS_ON_DEMAND_RECORD_ROUNDING)
        if line["service"] == "dynamodb":
            table = _table_role(line.get("table"))
            usage.wru[f"{table}/{role}"] += line.get("wru", 0)
            usage.rru[f"{table}/{role}"] += line.get("rru", 0)
    return usage


def _table_role(table: str | None) -> str:
    return {names.REALTIME_TABLE: "realtime", names.BATCH_TABLE: "batch"}.get(table or "", "other")


def _rounded(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit)) * unit


@dataclass
class Line:
    layer: str
    service: str
    what: str
    monthly_units: float
    unit: str
    dollars: float


@dataclass
class Bill:
    load: Load
    window_s: float
    shards: int | str
    lines: list[Line]
    freshness_p50_s: float
    freshness_p95_s: float
    events_per_month: float
    measured_s: float
    notes: list[str] = field(default_factory=list)
    front_doors: list[FrontDoor] = field(default_factory=list)  # the ingest's, as run and its alternatives

    def total(self, layer: str | None = None) -> float:
        return sum(line.dollars for line in self.lines if layer is None or line.layer == layer)

    def per_million_events(self, layer: str | None = None) -> float:
        return self.total(layer) / (self.events_per_month / 1e6)


@dataclass
class Disk:
    """What the run left behind, measured after it: log bytes per fold invocation and per request, archive bytes per
    event (gzip), real-time items' bytes per shard and day, and the EMF metrics (name and dimensions) the functions
    emitted."""

    fold_log_bytes: float
    serve_log_bytes: float
    archive_bytes_per_event: float
    realtime_day_bytes: float
    custom_metrics: int


def measure_disk(run: Measurement, fold_invocations: int, serve_requests: int, day_bytes: float) -> Disk:
    logs = run.state_dir / "logs"
    fold_bytes = sum(f.stat().st_size for f in logs.glob("fold-*.log"))
    serve_bytes = sum(f.stat().st_size for f in logs.glob("serve*.log"))
    metrics: set[tuple] = set()
    for path in [*logs.glob("fold-*.log"), *logs.glob("serve*.log")]:
        for text in path.read_text(errors="replace").splitlines():
            if '"_aws"' not in text:
                continue
            try:
                doc = json.loads(text)
            except ValueError:
                continue
            for directive in doc["_aws"]["CloudWatchMetrics"]:
                for dims in directive["Dimensions"]:
                    for metric in directive["Metrics"]:
                        metrics.add((metric["Name"], tuple((d, doc.get(d)) for d in dims)))
    archived = [f for f in (run.state_dir / "lake").rglob("*.json.gz")]
    archive_bytes = sum(f.stat().st_size for f in archived)
    archived_lines = sum(len(gzip.decompress(f.read_bytes()).splitlines()) for f in archived) or 1
    return Disk(
        fold_bytes / max(1, fold_invocations),
        serve_bytes / max(1, serve_requests),
        archive_bytes / archived_lines,
        day_bytes,
        len(metrics),
    )


def bill(run: Measurement, usage: Usage, disk: Disk, shards: int | str) -> Bill:
    """The monthly bill of the deployed stack at the run's load: `shards` an int (provisioned) or 'on-demand'."""
    load = run.load
    n_shards = load.shards
    month = p.SECONDS_PER_MONTH
    scale = n_shards * month  # per second of one shard -> per month of the stream
    events = usage.per_second(usage.events) * scale
    lines: list[Line] = []

    def add(layer: str, service: str, what: str, units: float, unit: str, price: float, per: float = 1.0) -> None:
        lines.append(Line(layer, service, what, units, unit, units / per * price))

    # The stream
    if shards == "on-demand":
        add(FOLD_LAYER, "Kinesis", "on-demand stream-hours", p.HOURS_PER_MONTH, "h", p.KINESIS_ON_DEMAND_STREAM_HOUR)
        ingest_gb = usage.per_second(usage.on_demand_bytes) * scale / 1e9
        add(FOLD_LAYER, "Kinesis", "data in (records rounded to 1 KiB)", ingest_gb, "GB", p.KINESIS_ON_DEMAND_INGEST_GB)
        add(FOLD_LAYER, "Kinesis", "data out, 2 consumers", 2 * ingest_gb, "GB", p.KINESIS_ON_DEMAND_RETRIEVAL_GB)
    else:
        add(
            FOLD_LAYER, "Kinesis", f"{n_shards} shard(s)", n_shards * p.HOURS_PER_MONTH, "shard-h", p.KINESIS_SHARD_HOUR
        )
        put_units = usage.per_second(usage.put_units) * scale
        add(FOLD_LAYER, "Kinesis", "PUT payload units", put_units, "units", p.KINESIS_PUT_UNITS_PER_MILLION, 1e6)

    # The fold
    cpu = p.LAMBDA_FULL_VCPU_MB / LAMBDA_MEMORY_MB
    invocations = usage.per_second(usage.fold_invocations) * scale
    fold_s = usage.per_second(usage.fold_ms) / 1000 * cpu * scale
    add(FOLD_LAYER, "Lambda", "fold invocations", invocations, "requests", p.LAMBDA_REQUESTS_PER_MILLION, 1e6)
    add(FOLD_LAYER, "Lambda", "fold duration (1 GB)", fold_s * LAMBDA_MEMORY_MB / 1024, "GB-s", p.LAMBDA_GB_SECOND)
    for key, layer in (("realtime/fold", FOLD_LAYER), ("realtime/serve", SERVING_LAYER)):
        wru = usage.per_second(usage.wru.get(key, 0.0)) * scale
        rru = usage.per_second(usage.rru.get(key, 0.0)) * scale
        who = key.split("/")[1]
        add(layer, "DynamoDB", f"real-time table writes ({who})", wru, "WRU", p.DYNAMODB_WRITE_UNITS_PER_MILLION, 1e6)
        add(layer, "DynamoDB", f"real-time table reads ({who})", rru, "RRU", p.DYNAMODB_READ_UNITS_PER_MILLION, 1e6)
    realtime_gb = disk.realtime_day_bytes * n_shards * 36 / 1e9  # a day's items live 35 days past it
    add(FOLD_LAYER, "DynamoDB", "real-time table storage + PITR", realtime_gb, "GB",
        p.DYNAMODB_STORAGE_GB_MONTH + p.DYNAMODB_PITR_GB_MONTH)  # fmt: skip
    fold_logs_gb = invocations * (disk.fold_log_bytes + PLATFORM_LOG_BYTES) / 1e9
    add(FOLD_LAYER, "CloudWatch", "fold logs and EMF metrics", fold_logs_gb, "GB", p.CLOUDWATCH_LOGS_INGEST_GB)
    add(FOLD_LAYER, "X-Ray", "fold traces", _traces(invocations), "traces", p.XRAY_TRACES_PER_MILLION, 1e6)

    # The archive and the nightly job
    firehose_gb = usage.per_second(usage.firehose_bytes) * scale / 1e9
    add(ARCHIVE_LAYER, "Firehose", "ingested (records rounded to 5 KiB)", firehose_gb, "GB", p.FIREHOSE_INGEST_GB)
    archive_gb = events * disk.archive_bytes_per_event / 1e9
    objects = max(month / names.ARCHIVE_BUFFER_INTERVAL_S, archive_gb * 1e9 / (64 * 2**20))
    add(ARCHIVE_LAYER, "S3", "archive objects written", objects, "PUT", p.S3_PUT_PER_THOUSAND, 1e3)
    add(ARCHIVE_LAYER, "S3", "a month of archive (gzip), stored", archive_gb, "GB-month", p.S3_STORAGE_GB_MONTH)
    if run.nightly:
        glue_s, job_notes = _glue_seconds(run, load)
        add(ARCHIVE_LAYER, "Glue", f"nightly job, {GLUE_WORKERS} G.1X", GLUE_WORKERS * glue_s * 30.4 / 3600, "DPU-h",
            p.GLUE_DPU_HOUR)  # fmt: skip
        add(ARCHIVE_LAYER, "S3", "job reads (each night 3 days of objects)", NIGHTLY_DAYS_READ * objects, "GET",
            p.S3_GET_PER_THOUSAND, 1e3)  # fmt: skip
        publish_wru = run.nightly.get("wru", 0.0) * 30.4 * NIGHTLY_DAYS_READ
        add(ARCHIVE_LAYER, "DynamoDB", "batch view writes (publish)", publish_wru, "WRU",
            p.DYNAMODB_WRITE_UNITS_PER_MILLION, 1e6)  # fmt: skip
    else:
        job_notes = ["the nightly job was not run (--no-nightly): Glue is not in this bill"]

    # Serving: game clients' POSTs and the dashboards' GETs
    requests = usage.per_second(usage.serve_requests) * scale
    serve_s = usage.per_second(usage.serve_ms) / 1000 * cpu * scale
    add(SERVING_LAYER, "API Gateway", "REST requests", requests, "requests", p.API_GATEWAY_REQUESTS_PER_MILLION, 1e6)
    add(SERVING_LAYER, "Lambda", "serve invocations", requests, "requests", p.LAMBDA_REQUESTS_PER_MILLION, 1e6)
    add(SERVING_LAYER, "Lambda", "serve duration (1 GB)", serve_s, "GB-s", p.LAMBDA_GB_SECOND)
    batch_rru = usage.per_second(usage.rru.get("batch/serve", 0.0)) * scale
    add(SERVING_LAYER, "DynamoDB", "batch view reads (serve)", batch_rru, "RRU", p.DYNAMODB_READ_UNITS_PER_MILLION, 1e6)
    serve_logs_gb = requests * (disk.serve_log_bytes + PLATFORM_LOG_BYTES) / 1e9
    add(SERVING_LAYER, "CloudWatch", "serve logs and EMF metrics", serve_logs_gb, "GB", p.CLOUDWATCH_LOGS_INGEST_GB)
    add(SERVING_LAYER, "X-Ray", "serve traces", _traces(requests), "traces", p.XRAY_TRACES_PER_MILLION, 1e6)
    add(SERVING_LAYER, "WAF", "web ACL requests", requests, "requests", p.WAF_REQUESTS_PER_MILLION, 1e6)

    # Fixed
    add(OPERATIONS, "CloudWatch", "custom metrics (EMF)", disk.custom_metrics, "metrics", p.CLOUDWATCH_METRIC_MONTH)
    add(OPERATIONS, "CloudWatch", "dashboard", 1, "dashboard", p.CLOUDWATCH_DASHBOARD_MONTH)
    add(OPERATIONS, "CloudWatch", "alarms", PIPELINE_ALARMS, "alarms", p.CLOUDWATCH_ALARM_MONTH)
    add(OPERATIONS, "WAF", "web ACL", 1, "web ACL", p.WAF_WEB_ACL_MONTH)
    add(OPERATIONS, "WAF", "rules (rate, 2 managed groups)", WAF_RULES, "rules", p.WAF_RULE_MONTH)
    add(
        OPERATIONS, "Cognito", "tools' app client (client credentials)", 1, "app client", p.COGNITO_M2M_APP_CLIENT_MONTH
    )
    add(OPERATIONS, "Cognito", "tools' tokens (one an hour)", TOOLS_TOKENS_PER_MONTH, "token requests",
        p.COGNITO_M2M_TOKEN_REQUESTS_PER_THOUSAND, 1e3)  # fmt: skip
    add(OPERATIONS, "KMS", "alarm topic key", 1, "key", p.KMS_KEY_MONTH)

    lines += business_lines(n_shards)

    waited = sorted(usage.waited_ms) or [0]
    doors = front_doors(usage, scale, cpu, disk.serve_log_bytes, load.events_per_request, events)
    return Bill(
        load,
        run.window_s,
        shards,
        lines,
        statistics.median(waited) / 1000,
        waited[min(len(waited) - 1, int(0.95 * len(waited)))] / 1000,
        events,
        usage.seconds,
        job_notes,
        doors,
    )


@dataclass(frozen=True)
class FrontDoor:
    """A way for games to send their events, priced from the run: what its requests cost a month (the API, its web
    ACL, the serve function's invocations, duration, logs and its share of traces), and what checks it keeps."""

    name: str
    requests: float  # a month
    dollars: float
    checks: str


def front_doors(
    usage: Usage, scale: float, cpu: float, log_bytes: float, events_per_request: int, events: float
) -> list[FrontDoor]:
    """The ingest's front door as metered, and its alternatives priced from the same run: its requests and the serve
    function's time per event are the metered ones (a request of more events costs its events' time; its fixed part
    is then counted more than once, so the function lines are an upper bound). The dashboards' GETs are the same in
    each and are not here."""
    if not usage.ingest_requests:
        return []
    posts = usage.per_second(usage.ingest_requests) * scale
    ms_per_event = usage.ingest_ms / max(1.0, usage.ingest_requests * events_per_request)
    gets = usage.per_second(usage.serve_requests - usage.ingest_requests) * scale

    def priced(requests: float, api_per_million: float, web_acl: bool) -> float:
        duration_gb_s = events * ms_per_event / 1000 * cpu * LAMBDA_MEMORY_MB / 1024
        traces = _traces(requests + gets) - _traces(gets)
        return (
            requests * (api_per_million + (p.WAF_REQUESTS_PER_MILLION if web_acl else 0.0)) / 1e6
            + requests * p.LAMBDA_REQUESTS_PER_MILLION / 1e6
            + duration_gb_s * p.LAMBDA_GB_SECOND
            + requests * (log_bytes + PLATFORM_LOG_BYTES) / 1e9 * p.CLOUDWATCH_LOGS_INGEST_GB
            + traces * p.XRAY_TRACES_PER_MILLION / 1e6
        )

    def rest(batched: int, requests: float, label: str = "") -> FrontDoor:
        cost = priced(requests, p.API_GATEWAY_REQUESTS_PER_MILLION, True)
        return FrontDoor(f"REST API, {batched} events a request{label}", requests, cost, REST_CHECKS)

    batching = sorted({50, 100, MAX_EVENTS_PER_REQUEST} - {events_per_request})
    return [
        rest(events_per_request, posts, " (as run)"),
        *(rest(n, events / n, " (the API's most)" if n == MAX_EVENTS_PER_REQUEST else "") for n in batching),
        FrontDoor(
            f"HTTP API + a Lambda authorizer, {events_per_request} events a request",
            posts,
            priced(posts, p.API_GATEWAY_HTTP_REQUESTS_PER_MILLION, False),
            "the ingest key (the authorizer, its answer cached per key); no usage plan (a route's throttling for "
            "all keys together), no web ACL (HTTP APIs take none)",
        ),
        FrontDoor(
            "game servers PutRecords to the stream",
            0.0,
            0.0,
            "IAM (a role per studio's servers, kinesis:PutRecords on the stream); the fold still validates each "
            "event; no per-key rate or quota; game clients still need an API",
        ),
    ]


def business_lines(n_shards: int) -> list[Line]:
    """The business function and its alarms, a month: the runs (every names.BUSINESS_EVERY_MINUTES), their reads of
    today (upper bounds, BUSINESS_KPI_ITEM_BYTES), its logs and traces, the KPIs' metrics, the PutMetricData calls, and
    the alarms (anomaly detection: 3 alarm metrics each; business-metrics-missing: one per KPI its math reads)."""
    runs = p.SECONDS_PER_MONTH / (names.BUSINESS_EVERY_MINUTES * 60)
    # per run: the shards' statuses (one Query), then per KPI its publications (one Query: today is never published)
    # and today's items of every shard (one consistent Query: a read unit per started 4 KiB of them)
    reads = 1 + sum(1 + math.ceil(n_shards * size / READ_UNIT_BYTES) for size in BUSINESS_KPI_ITEM_BYTES.values())
    gb_s = runs * BUSINESS_RUN_S * BUSINESS_MEMORY_MB / 1024
    lines: list[Line] = []

    def add(service: str, what: str, units: float, unit: str, price: float, per: float = 1.0) -> None:
        lines.append(Line(OPERATIONS, service, what, units, unit, units / per * price))

    every = f"every {names.BUSINESS_EVERY_MINUTES} min"
    add("Lambda", f"business function runs ({every})", runs, "requests", p.LAMBDA_REQUESTS_PER_MILLION, 1e6)
    add("Lambda", f"business function duration ({BUSINESS_MEMORY_MB} MB)", gb_s, "GB-s", p.LAMBDA_GB_SECOND)
    add("DynamoDB", "business function reads of today (at most)", runs * reads, "RRU",
        p.DYNAMODB_READ_UNITS_PER_MILLION, 1e6)  # fmt: skip
    add("CloudWatch", "business function logs", runs * (BUSINESS_LOG_BYTES + PLATFORM_LOG_BYTES) / 1e9, "GB",
        p.CLOUDWATCH_LOGS_INGEST_GB)  # fmt: skip
    add("X-Ray", "business function traces", _traces(runs), "traces", p.XRAY_TRACES_PER_MILLION, 1e6)
    add("CloudWatch", f"{names.METRIC_TODAY_SO_FAR} metrics (one per KPI)", BUSINESS_KPIS, "metrics",
        p.CLOUDWATCH_METRIC_MONTH)  # fmt: skip
    add("CloudWatch", "PutMetricData calls (one a run)", runs, "requests",
        p.CLOUDWATCH_PUT_METRIC_DATA_PER_THOUSAND, 1e3)  # fmt: skip
    add("CloudWatch", f"{BUSINESS_KPIS} anomaly detection alarms", BUSINESS_KPIS * p.CLOUDWATCH_ANOMALY_ALARM_METRICS,
        "alarm metrics", p.CLOUDWATCH_ALARM_MONTH)  # fmt: skip
    add("CloudWatch", "business-metrics-missing alarm", BUSINESS_KPIS, "alarm metrics", p.CLOUDWATCH_ALARM_MONTH)
    return lines


def _traces(requests_per_month: float) -> float:
    """X-Ray's default sampling rule, per function: the first request of each second, then 5 % of the others."""
    per_s = requests_per_month / p.SECONDS_PER_MONTH
    sampled = min(per_s, p.XRAY_RESERVOIR_PER_S) + max(0.0, per_s - p.XRAY_RESERVOIR_PER_S) * p.XRAY_SAMPLED_SHARE
    return sampled * p.SECONDS_PER_MONTH


def _glue_seconds(run: Measurement, load: Load) -> tuple[float, list[str]]:
    """A night's Glue run, from the local ones: the job over the run's archive and over copies of it, timed; what the
    extra events cost it (its marginal rate on this machine's 2 cores) scaled to the Glue workers' cores, over the three
    days a night reads, plus the local run's fixed part (Spark's start and the job's steps, paid once)."""
    nightly = run.nightly or {}
    events = max(1, sum(phase.events for phase in run.phases))
    extra_events = events * (nightly["copies"] - 1)
    extra_s = max(1e-3, nightly["copies_seconds"] - nightly["seconds"])
    rate_per_core = extra_events / extra_s / 2
    fixed_s = max(0.0, nightly["seconds"] - events / (rate_per_core * 2))
    glue_rate = rate_per_core * GLUE_WORKERS * GLUE_VCPUS_PER_WORKER
    seconds = max(p.GLUE_MINIMUM_S, fixed_s + NIGHTLY_DAYS_READ * load.events_per_day / glue_rate)
    return seconds, [
        f"Glue: locally the job took {nightly['seconds']:.0f} s over the run's {events:,} events and "
        f"{nightly['copies_seconds']:.0f} s over {nightly['copies']} copies of them: {rate_per_core:,.0f} events/s per "
        f"core beyond a fixed {fixed_s:.0f} s. At that rate {GLUE_WORKERS} G.1X workers "
        f"({GLUE_WORKERS * GLUE_VCPUS_PER_WORKER} vCPU) read a night's {NIGHTLY_DAYS_READ} days "
        f"({NIGHTLY_DAYS_READ * load.events_per_day / 1e6:,.1f} M events) in {seconds:,.0f} s (Glue bills "
        f"{p.GLUE_MINIMUM_S} s at least; S3 reads and Glue's own start are not in the local timing)"
    ]
