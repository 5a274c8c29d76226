"""Today so far into CloudWatch (headcount/logic/business.py, functions/business/handler.py): the values the API would
answer for the reporting zone's today at the moment given, one PutMetricData call per run, a KPI that fails left out
and the others put. CloudWatch is moto's, in this process; the views are in memory, then moto's DynamoDB for the
handler."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from headcount import names
from headcount.core import sketches
from headcount.core.catalog import parse_catalog
from headcount.core.merge import Point, Stamp
from headcount.logic.business import publish_today_so_far, today_so_far_metrics
from headcount.logic.reads import Reads
from headcount.logic.serving import MetricsService, Series
from headcount.views.batch import BatchRow, InMemoryBatchView
from headcount.views.realtime import InMemoryRealtimeStore, ItemKey, RealtimeItem

TZ = "Asia/Tokyo"  # UTC+9, no daylight saving: at NOW the zone's day is already the next UTC day
NOW_MS = int(datetime(2026, 11, 18, 23, 30, tzinfo=UTC).timestamp() * 1000)  # 2026-11-19 08:30 in Tokyo
TODAY, YESTERDAY = "2026-11-19", "2026-11-18"  # the reporting zone's; the UTC date at NOW is 2026-11-18
SHARD = "shardId-000000000000"
CATALOG_DOC = {
    "metrics": [
        {"name": "active_players", "kind": "distinct", "event_type": "session_start", "lg_k": 14},
        {"name": "active_players_by_country", "kind": "distinct", "event_type": "session_start", "group_by": "country"},
        {"name": "matches_played", "kind": "count", "event_type": "match_end"},
        {"name": "ad_impressions", "kind": "count", "event_type": "ad_impression", "granularity": "hour"},
        {"name": "weekly_active_players", "kind": "rolling", "of": "active_players", "window_days": 7},
        {"name": "new_players", "kind": "new", "of": "active_players", "lg_k": 12},
    ]
}
CATALOG = parse_catalog(CATALOG_DOC)
# The KPIs whose series this file reads: distinct and count. new_players' real-time path is another part of the KPI
# issue; what a run does with a KPI whatever its kind is the same (a failing one is the test below).
READ_HERE = tuple(m for m in today_so_far_metrics(CATALOG) if m.name in ("active_players", "matches_played"))


class Recording:
    """moto's CloudWatch client, with the calls made through it counted."""

    def __init__(self, cloudwatch) -> None:
        self.cloudwatch, self.calls = cloudwatch, []

    def put_metric_data(self, **request):
        self.calls.append(request)
        return self.cloudwatch.put_metric_data(**request)


class FailingReads(InMemoryRealtimeStore):
    """The real-time view, but reading a day of these metrics fails (DynamoDB out of reach, say)."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    def day_items(self, metric: str, day: str) -> list[RealtimeItem]:
        if metric in self.failing:
            raise ConnectionError(f"injected read failure of {metric}")
        return super().day_items(metric, day)


@pytest.fixture
def cloudwatch():
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=names.REGION)


def sketch_of(ids) -> bytes:
    sketch = sketches.new_sketch(14)
    for i in ids:
        sketch.update(i)
    return sketches.encode(sketch)


def fill(store: InMemoryRealtimeStore) -> None:
    """Yesterday and today (the zone's) in the real-time view, each day with its own numbers."""
    store.add_days(SHARD, {YESTERDAY, TODAY}, set())
    store.advance(SHARD, NOW_MS - 2_000, 400)
    store.write(
        RealtimeItem(ItemKey("active_players", TODAY, "", SHARD), 1, sketch=sketch_of(["a", "b", "c"])), None, 0
    )
    store.write(RealtimeItem(ItemKey("active_players", YESTERDAY, "", SHARD), 1, sketch=sketch_of("vwxyz")), None, 0)
    store.write(RealtimeItem(ItemKey("matches_played", TODAY, "", SHARD), 1, count=41), None, 0)
    store.write(RealtimeItem(ItemKey("matches_played", YESTERDAY, "", SHARD), 1, count=900), None, 0)
    # a grouped and an hourly metric hold data too: they are not today-so-far KPIs
    store.write(
        RealtimeItem(ItemKey("active_players_by_country", TODAY, "DE", SHARD), 1, sketch=sketch_of("ab")), None, 0
    )
    store.write(RealtimeItem(ItemKey("ad_impressions", f"{TODAY}T08:00+09:00", "", SHARD), 1, count=7), None, 0)


def service(store: InMemoryRealtimeStore, batch: InMemoryBatchView | None = None) -> MetricsService:
    return MetricsService(Reads(CATALOG, store, batch or InMemoryBatchView(), TZ, monotonic=lambda: 0.0))


def datapoints(cloudwatch, metric: str) -> list[dict]:
    """What CloudWatch holds for a KPI around NOW, by the dimensions the alarms and the dashboard read."""
    at = datetime.fromtimestamp(NOW_MS / 1000, UTC)
    return cloudwatch.get_metric_statistics(
        Namespace=names.POWERTOOLS_NAMESPACE,
        MetricName=names.METRIC_TODAY_SO_FAR,
        Dimensions=[
            {"Name": "service", "Value": names.POWERTOOLS_SERVICE},
            {"Name": names.TODAY_SO_FAR_DIMENSION, "Value": metric},
        ],
        StartTime=at - timedelta(hours=1),
        EndTime=at + timedelta(hours=1),
        Period=60,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]


def test_the_kpis_are_the_catalogs_ungrouped_daily_distinct_count_and_new_metrics():
    # Given a catalog with grouped, hourly and derived (rolling) metrics too
    # When the KPIs a run puts are chosen / Then they are these, in catalog order
    assert [m.name for m in today_so_far_metrics(CATALOG)] == ["active_players", "matches_played", "new_players"]


def test_the_default_catalog_puts_unique_players_new_players_and_matches():
    from headcount.views.catalog_file import load_catalog

    names_put = {m.name for m in today_so_far_metrics(load_catalog())}
    assert {"active_players", "matches_played", "new_players"} <= names_put
    assert "active_players_by_country" not in names_put and "ad_impressions" not in names_put


def test_a_run_puts_the_zones_today_so_far_in_one_call(cloudwatch):
    # Given yesterday and today in the real-time view (today in Tokyo is tomorrow in UTC at NOW)
    store = InMemoryRealtimeStore()
    fill(store)
    recording = Recording(cloudwatch)
    # When a run reports at NOW
    result = publish_today_so_far(service(store), recording, READ_HERE, TZ, NOW_MS, service=names.POWERTOOLS_SERVICE)
    # Then it read the zone's today, not the UTC date's, and put both values in one call
    assert result.day.isoformat() == TODAY and result.failed == {}
    assert {k.metric: (k.value, k.source, k.exact) for k in result.values} == {
        "active_players": (3, "realtime", False),
        "matches_played": (41, "realtime", False),
    }
    assert len(recording.calls) == 1
    [call] = recording.calls
    assert call["Namespace"] == names.POWERTOOLS_NAMESPACE
    stamps = {d["Timestamp"] for d in call["MetricData"]}
    assert stamps == {datetime.fromtimestamp(NOW_MS / 1000, UTC)}  # stamped at the moment given, not the clock's
    # And CloudWatch holds them under the KPI's dimension, once each
    [active] = datapoints(cloudwatch, "active_players")
    [matches] = datapoints(cloudwatch, "matches_played")
    assert (active["Maximum"], active["SampleCount"], active["Unit"]) == (3.0, 1.0, "Count")
    assert (matches["Maximum"], matches["SampleCount"]) == (41.0, 1.0)
    assert datapoints(cloudwatch, "active_players_by_country") == []


def test_a_moment_later_in_the_day_reads_the_same_day_and_one_after_midnight_the_next(cloudwatch):
    # Given the view as above / When runs report at 23:55 and at 00:05 of the zone's next day
    store = InMemoryRealtimeStore()
    fill(store)
    svc = service(store)
    late = int(datetime(2026, 11, 19, 14, 55, tzinfo=UTC).timestamp() * 1000)  # 23:55 in Tokyo
    after_midnight = late + 10 * 60_000  # 00:05 of 2026-11-20 in Tokyo
    before = publish_today_so_far(svc, Recording(cloudwatch), READ_HERE, TZ, late, service=names.POWERTOOLS_SERVICE)
    after = publish_today_so_far(
        svc, Recording(cloudwatch), READ_HERE, TZ, after_midnight, service=names.POWERTOOLS_SERVICE
    )
    # Then the first is still 2026-11-19's count, the second the new day's: nothing yet
    assert (before.day.isoformat(), {k.metric: k.value for k in before.values}["matches_played"]) == (TODAY, 41)
    assert after.day.isoformat() == "2026-11-20"
    assert {k.metric: (k.value, k.source) for k in after.values} == {
        "active_players": (0, "none"),
        "matches_played": (0, "none"),
    }


def test_a_published_day_puts_the_batch_layers_exact_value(cloudwatch):
    # Given today's matches published by a (re)run of the batch layer (as the API would then answer it)
    store, batch = InMemoryRealtimeStore(), InMemoryBatchView(clock=lambda: NOW_MS / 1000 - 60)
    fill(store)
    batch.publish("matches_played", TODAY, [BatchRow("matches_played", TODAY, TODAY, "", 40, None)], "r1")
    # When a run reports / Then the value put is the exact one
    result = publish_today_so_far(
        service(store, batch), Recording(cloudwatch), READ_HERE, TZ, NOW_MS, service=names.POWERTOOLS_SERVICE
    )
    assert {k.metric: (k.value, k.source, k.exact) for k in result.values}["matches_played"] == (40, "batch", True)
    assert datapoints(cloudwatch, "matches_played")[0]["Maximum"] == 40.0


def test_a_kpi_that_fails_is_left_out_and_the_others_are_put(cloudwatch):
    # Given a view whose reads of active_players fail
    store = FailingReads({"active_players"})
    fill(store)
    recording = Recording(cloudwatch)
    # When a run reports
    result = publish_today_so_far(service(store), recording, READ_HERE, TZ, NOW_MS, service=names.POWERTOOLS_SERVICE)
    # Then the failure is reported with its exception, and matches_played is still put, in the run's one call
    assert set(result.failed) == {"active_players"}
    assert isinstance(result.failed["active_players"], ConnectionError)
    assert [k.metric for k in result.values] == ["matches_played"]
    assert len(recording.calls) == 1
    assert [d["Dimensions"][1]["Value"] for d in recording.calls[0]["MetricData"]] == ["matches_played"]
    assert datapoints(cloudwatch, "active_players") == []
    assert datapoints(cloudwatch, "matches_played")[0]["Maximum"] == 41.0


def test_a_kpi_whose_answer_is_not_one_point_of_today_is_not_put(cloudwatch):
    # Given a source answering one KPI with another day's point (a bug), and a KPI the service does not know
    class Source:
        def series(self, name, start, end, group, now_ms):
            assert (start, end, group, now_ms) == ("today", "today", None, NOW_MS)
            if name == "matches_played":
                return Series(name, TZ, [Point(YESTERDAY, None, 900, False, "realtime", 900, 900, Stamp(NOW_MS))])
            raise KeyError(name)

    recording = Recording(cloudwatch)
    # When a run reports / Then neither is put, both are reported, and no call is made with nothing in it
    result = publish_today_so_far(Source(), recording, READ_HERE, TZ, NOW_MS, service=names.POWERTOOLS_SERVICE)
    assert result.values == () and set(result.failed) == {"active_players", "matches_played"}
    assert "expected one point for 2026-11-19" in str(result.failed["matches_played"])
    assert recording.calls == []


# The handler, on moto's DynamoDB and CloudWatch (the `aws` fixture: the stack's tables)


@pytest.fixture
def business(aws, tmp_path, monkeypatch):
    from headcount.functions.business import handler as module

    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"metrics": [m for m in CATALOG_DOC["metrics"] if m["kind"] != "new"]}))
    monkeypatch.setenv("HEADCOUNT_TZ", TZ)
    monkeypatch.setenv("HEADCOUNT_CATALOG_PATH", str(catalog))
    module.runtime.cache_clear()
    yield module
    module.runtime.cache_clear()


def invoke(module, event):
    from headcount.local.esm import LocalLambdaContext

    return module.handler(event, LocalLambdaContext(names.BUSINESS_FUNCTION, "r-1", "arn:aws:lambda:x"))


def test_the_handler_reports_the_schedules_time_from_dynamodb(business):
    # Given today's items in the real-time table (moto)
    from headcount.views.realtime import DynamoRealtimeStore

    store = DynamoRealtimeStore(names.REALTIME_TABLE)
    store.add_days(SHARD, {TODAY, YESTERDAY}, set())
    store.advance(SHARD, NOW_MS - 2_000, 400)
    store.write(RealtimeItem(ItemKey("active_players", TODAY, "", SHARD), 1, sketch=sketch_of("abcd")), None, 0)
    store.write(RealtimeItem(ItemKey("matches_played", TODAY, "", SHARD), 1, count=12), None, 0)
    store.write(RealtimeItem(ItemKey("matches_played", YESTERDAY, "", SHARD), 1, count=500), None, 0)
    # When EventBridge Scheduler invokes it with the run's scheduled time
    answer = invoke(business, {"scheduled_time": "2026-11-18T23:30:00Z"})
    # Then it put the zone's today at that time
    nothing = {"sent": [], "failed": [], "not_evaluated": []}  # (no digest or alert rule in this stack)
    assert answer == {
        "day": TODAY,
        "put": {"active_players": 4, "matches_played": 12},
        "failed": [],
        "notified": nothing,
    }
    cloudwatch = boto3.client("cloudwatch", region_name=names.REGION)
    assert datapoints(cloudwatch, "active_players")[0]["Maximum"] == 4.0
    assert datapoints(cloudwatch, "matches_played")[0]["Maximum"] == 12.0


def test_after_the_nightly_job_the_handler_sends_what_is_due_and_puts_no_kpi(business, monkeypatch):
    # Given a closed-day digest subscription whose day the nightly job just published (moto's tables and SES)
    from headcount.functions.business.handler import runtime

    from headcount.local.resources import LOCAL_EMAIL_FROM
    from headcount.runtimes import notify_admin
    from headcount.views.batch import BatchRow, DynamoBatchView

    monkeypatch.setenv("HEADCOUNT_EMAIL_FROM", LOCAL_EMAIL_FROM)
    runtime.cache_clear()
    admin = notify_admin(runtime().settings, runtime().notifier)
    admin.create_channel(
        "mail", "email", url=None, recipients=["a@studio.example"], by=None, now_ms=NOW_MS - 86_400_000
    )
    admin.create_subscription(
        {"name": "daily", "channel": "mail", "metrics": ["matches_played"]}, by=None, now_ms=NOW_MS - 86_400_000
    )
    batch = DynamoBatchView(names.BATCH_TABLE, clock=lambda: NOW_MS / 1000)
    batch.publish(
        "matches_played", YESTERDAY, [BatchRow("matches_played", YESTERDAY, YESTERDAY, "", 321, None)], "run-1"
    )
    # When EventBridge's rule on the job's success invokes it (no scheduled time: the event's)
    answer = invoke(business, {"trigger": "nightly", "time": "2026-11-18T23:30:00Z"})
    # Then the digest was sent by email (moto's SES), and no KPI was put (the schedule's run of the period does)
    (sent,) = answer["notified"]["sent"]
    assert sent.startswith("digest:daily:") and sent.endswith(YESTERDAY) and "put" not in answer
    assert datapoints(boto3.client("cloudwatch", region_name=names.REGION), "matches_played") == []


def test_the_handler_fails_when_no_kpi_could_be_read(business):
    # Given a real-time table that is gone
    boto3.client("dynamodb", region_name=names.REGION).delete_table(TableName=names.REALTIME_TABLE)
    # When a run is invoked / Then it fails (Lambda counts an error), having put nothing
    with pytest.raises(business.NothingPut, match="active_players, matches_played"):
        invoke(business, {"scheduled_time": "2026-11-18T23:30:00Z"})
    assert datapoints(boto3.client("cloudwatch", region_name=names.REGION), "matches_played") == []
