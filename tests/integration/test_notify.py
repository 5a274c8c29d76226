"""Digests and alerts (headcount/logic/notify.py): what a run of the business function sends, read from the views as
the API answers them (the real merge, over in-memory views), recorded in the notifications' table (moto's DynamoDB)
and sent to channels that record what they get (or fail as told)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import boto3
import orjson
import pytest
from moto import mock_aws

from headcount import names
from headcount.core import sketches
from headcount.core.catalog import parse_catalog
from headcount.core.notices import Channel, ChannelKind, Notice, NoticeKind
from headcount.local import resources
from headcount.logic.errors import BadRequest, Conflict
from headcount.logic.notify import Notifier
from headcount.logic.notify_admin import NotifyAdmin
from headcount.logic.reads import Reads
from headcount.logic.serving import MetricsService
from headcount.views.batch import BatchRow, InMemoryBatchView
from headcount.views.notify_store import DeadLetterQueue, NotifyStore
from headcount.views.realtime import InMemoryRealtimeStore, ItemKey, RealtimeItem

TZ = "UTC"
SHARD = "shardId-000000000000"
CATALOG = parse_catalog(
    {
        "metrics": [
            {"name": "active_players", "kind": "distinct", "event_type": "session_start", "lg_k": 12},
            {"name": "by_country", "kind": "distinct", "event_type": "session_start", "group_by": "country"},
            {"name": "matches_played", "kind": "count", "event_type": "match_end"},
            {"name": "ad_impressions", "kind": "count", "event_type": "ad_impression", "granularity": "hour"},
            {"name": "retention", "kind": "retention", "of": "new_players", "returned_after": [1]},
            {"name": "new_players", "kind": "new", "of": "active_players", "lg_k": 12},
        ]
    }
)
DAY = date(2026, 11, 18)  # a Wednesday: the digest's day
AT_0855 = int(datetime(2026, 11, 19, 8, 55, tzinfo=UTC).timestamp() * 1000)
AT_0900 = AT_0855 + 5 * 60_000
MADE = AT_0855 - 2 * 86_400_000  # the subscriptions and rules are made before DAY


def digest_of(subscription: str, day: date, made_ms: int = MADE) -> str:
    """The id of a subscription's digest of a day (the subscription's generation: when it was made)."""
    return f"digest:{subscription}:{made_ms}:{day}"


def ms(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp() * 1000)


@dataclass
class Recorder:
    """A channel sender that keeps what it was given, and fails for the channels told to."""

    sent: list[tuple[str, Notice]] = field(default_factory=list)
    failing: dict[str, bool] = field(default_factory=dict)  # channel -> retryable
    attempts: dict[str, int] = field(default_factory=dict)

    def send(self, channel: Channel, notice: Notice) -> None:
        self.attempts[channel.name] = self.attempts.get(channel.name, 0) + 1
        if channel.name in self.failing:
            error = ConnectionError(f"{channel.kind.value} to {channel.target}: 503")
            error.retryable = self.failing[channel.name]  # type: ignore[attr-defined]
            raise error
        self.sent.append((channel.name, notice))

    def of(self, kind: NoticeKind) -> list[Notice]:
        return [n for _, n in self.sent if n.kind is kind]


class Secrets:
    def __init__(self) -> None:
        self.values: dict[str, dict] = {}

    def put(self, name: str, value: dict) -> str:
        self.values[name] = value
        return f"secret-{name}"

    def delete(self, secret_id: str) -> None:
        self.values.pop(secret_id.removeprefix("secret-"), None)


@dataclass
class World:
    realtime: InMemoryRealtimeStore
    batch: InMemoryBatchView
    store: NotifyStore
    sender: Recorder
    notifier: Notifier
    admin: NotifyAdmin
    sqs: object
    queue: str
    sleeps: list[float]
    published_at: list[int]  # the batch view's clock (ms): when the next publication happens

    def players(self, metric: str, day: date, ids, group: str = "") -> None:
        sketch = sketches.new_sketch(12)
        for i in ids:
            sketch.update(str(i))
        self.realtime.add_days(SHARD, {day.isoformat()}, set())
        key = ItemKey(metric, day.isoformat(), group, SHARD)
        self.realtime.items[key] = RealtimeItem(key, 1, sketch=sketches.encode(sketch))  # replaced as a fold would

    def matches(self, day: date, count: int) -> None:
        self.realtime.add_days(SHARD, {day.isoformat()}, set())
        key = ItemKey("matches_played", day.isoformat(), "", SHARD)
        self.realtime.items[key] = RealtimeItem(key, 1, count=count)

    def publish(
        self, metric: str, day: date, value: int, run: str, group: str = "", at_ms: int = AT_0855 - 60_000
    ) -> None:
        """The nightly run `run` publishes the day's value at `at_ms` (by default just before the runs of the tests)."""
        self.published_at[0] = at_ms
        sketch = None
        if metric != "matches_played":
            s = sketches.new_sketch(12)
            for i in range(value):
                s.update(f"{run}-{i}")
            sketch = sketches.encode(s)
        row = BatchRow(metric, day.isoformat(), day.isoformat(), group, value, sketch)
        self.batch.publish(metric, day.isoformat(), [row], run, sketch)

    def dead_letters(self) -> list[dict]:
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        return [orjson.loads(m["Body"]) for m in messages]


@pytest.fixture
def world():
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=names.REGION)
        sqs = boto3.client("sqs", region_name=names.REGION)
        ddb.create_table(
            TableName="notify",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
        queue = sqs.create_queue(QueueName="dead")["QueueUrl"]
        published_at = [0]
        realtime, batch = InMemoryRealtimeStore(), InMemoryBatchView(clock=lambda: published_at[0] / 1000)
        realtime.advance(SHARD, AT_0855 - 1_000, 0)
        service = MetricsService(Reads(CATALOG, realtime, batch, TZ, max_age_s=0))
        store, sender, sleeps = NotifyStore("notify", ddb), Recorder(), []
        notifier = Notifier(service, store, sender, "http://dash/", DeadLetterQueue(queue, sqs), sleeps.append)
        admin = NotifyAdmin(notifier, Secrets(), lambda url: "https://hooks.example", lambda: "whsec_test")
        for name in ("team", "other"):
            admin.create_channel(
                name, "slack", url=f"https://hooks.example/{name}", recipients=[], by="ana", now_ms=MADE
            )
        yield World(realtime, batch, store, sender, notifier, admin, sqs, queue, sleeps, published_at)


def subscribe(world: World, when: str = "closed", name: str = "morning", channel: str = "team") -> None:
    world.admin.create_subscription(
        {"name": name, "channel": channel, "metrics": ["active_players", "matches_played"], "when": when},
        by="ana",
        now_ms=MADE,
    )


def history(world: World) -> None:
    """The real-time view of DAY (and the days it is compared with): 500 players and 1,200 matches on DAY."""
    world.players("active_players", DAY, range(500))
    world.matches(DAY, 1200)
    world.players("active_players", DAY - timedelta(days=1), range(400))
    world.matches(DAY - timedelta(days=1), 1000)
    world.publish("active_players", DAY - timedelta(days=7), 450, "run-0")
    world.publish("matches_played", DAY - timedelta(days=7), 1100, "run-0")


def test_a_closed_day_digest_waits_for_the_nightly_job_then_goes_once_with_the_published_numbers(world):
    # Given a subscription "when the day closes", and DAY in the real-time view only
    subscribe(world)
    history(world)
    # When runs go before the nightly job published DAY / Then nothing is sent
    assert world.notifier.run(AT_0855).sent == []
    # When the job publishes DAY and the next run goes
    world.publish("active_players", DAY, 512, "run-1")
    world.publish("matches_played", DAY, 1234, "run-1")
    report = world.notifier.run(AT_0900)
    # Then the digest went, with exactly the published numbers, exact, compared with the day before and a week before
    assert report.sent == [digest_of("morning", DAY)]
    (digest,) = world.sender.of(NoticeKind.DIGEST)
    figures = {f.metric: f for f in digest.figures}
    assert (figures["active_players"].value, figures["matches_played"].value) == (512, 1234)
    assert all(f.exact and f.run_id == "run-1" for f in digest.figures)
    assert figures["matches_played"].previous == 1000 and figures["matches_played"].week_ago == 1100
    assert (
        figures["active_players"].link == f"http://dash/#metric=active_players&from={DAY - timedelta(days=7)}&to={DAY}"
    )
    # And a rerun of the job that publishes the same numbers, and more runs, send nothing more
    world.publish("active_players", DAY, 512, "run-2")
    world.publish("matches_played", DAY, 1234, "run-2")
    for minutes in (5, 10, 15):
        assert world.notifier.run(AT_0900 + minutes * 60_000).sent == []
    assert len(world.sender.sent) == 1
    # When a republish changes one exact number
    world.publish("matches_played", DAY, 1240, "run-3")
    world.notifier.run(AT_0900 + 20 * 60_000)
    world.notifier.run(AT_0900 + 25 * 60_000)
    # Then one correction went, with that number only, saying what the digest said
    (correction,) = world.sender.of(NoticeKind.CORRECTION)
    (changed,) = correction.figures
    assert (changed.metric, changed.value, changed.sent_value, changed.sent_exact) == (
        "matches_played",
        1240,
        1234,
        True,
    )
    assert len(world.sender.sent) == 2


def test_a_digest_at_nine_is_approximate_before_the_job_and_followed_up_only_beyond_its_bounds(world):
    # Given a subscription at 09:00, and DAY in the real-time view only
    subscribe(world, when="09:00")
    history(world)
    # When a run goes at 08:55 / Then nothing yet
    assert world.notifier.run(AT_0855).sent == []
    # When the run of 09:00 goes
    world.notifier.run(AT_0900)
    # Then the digest is approximate: the real-time estimate with its bounds and as-of
    (digest,) = world.sender.of(NoticeKind.DIGEST)
    players = next(f for f in digest.figures if f.metric == "active_players")
    assert not players.exact and players.low < players.value < players.high and players.as_of
    assert any("Approximate" in note for note in digest.notes)
    # When the job publishes numbers within the digest's bounds / Then no follow-up
    world.publish("active_players", DAY, round(players.value), "run-1")
    world.publish("matches_played", DAY, 1200, "run-1")
    world.notifier.run(AT_0900 + 3_600_000)
    assert world.sender.of(NoticeKind.FOLLOW_UP) == []
    # When a rerun publishes a number beyond them
    world.publish("active_players", DAY, round(players.high) + 50, "run-2")
    world.notifier.run(AT_0900 + 7_200_000)
    world.notifier.run(AT_0900 + 7_500_000)
    # Then one follow-up, of that figure (an approximate figure that became exact is a follow-up, not a correction)
    (follow_up,) = world.sender.of(NoticeKind.FOLLOW_UP)
    assert [(f.metric, f.value, f.sent_exact) for f in follow_up.figures] == [
        ("active_players", round(players.high) + 50, False)
    ]


def test_a_subscription_sends_the_digests_that_become_due_after_it_was_made(world):
    # Given subscriptions made at 09:02 on the day after DAY: one at 09:00, one when the day closes
    history(world)
    world.publish("matches_played", DAY, 1234, "run-1")  # published before they were made
    made = AT_0900 + 2 * 60_000
    for name, when in (("nine", "09:00"), ("closed", "closed")):
        world.admin.create_subscription(
            {"name": name, "channel": "team", "metrics": ["matches_played"], "when": when}, by="ana", now_ms=made
        )
    # When the runs of that day go / Then neither sends DAY's digest: it was due before they were made
    assert world.notifier.run(AT_0900 + 5 * 60_000).sent == []
    # When the next day's 09:00 comes / Then the one at 09:00 sends the digest of the day after DAY
    next_day = DAY + timedelta(days=1)
    assert world.notifier.run(AT_0900 + 86_400_000).sent == [digest_of("nine", next_day, made)]
    # When the nightly job publishes that day / Then the other sends it (and the first its follow-up: it said 0)
    world.publish("matches_played", next_day, 999, "run-2", at_ms=AT_0900 + 86_400_000 + 60_000)
    sent = world.notifier.run(AT_0900 + 86_400_000 + 300_000).sent
    assert sent[0] == digest_of("closed", next_day, made) and sent[1].startswith(f"follow_up:nine:{made}:{next_day}:")


def test_a_failing_channel_is_retried_then_dead_lettered_and_recorded_and_the_others_still_go(world):
    # Given two subscriptions at 09:00, one to a channel that fails (503)
    subscribe(world, when="09:00", name="to-team", channel="team")
    subscribe(world, when="09:00", name="to-other", channel="other")
    history(world)
    world.sender.failing["team"] = True
    # When the run of 09:00 goes
    report = world.notifier.run(AT_0900)
    # Then the failing one was tried 3 times with backoff, recorded failed, dead-lettered; the other was sent
    assert world.sender.attempts["team"] == 3 and world.sleeps == [1.0, 4.0]
    assert report.failed == [digest_of("to-team", DAY)] and report.sent == [digest_of("to-other", DAY)]
    failed = world.store.delivery(digest_of("to-team", DAY))
    assert failed.status == "failed" and failed.attempts == 3 and "503" in failed.error
    (dead,) = world.dead_letters()
    assert dead["delivery"] == digest_of("to-team", DAY) and dead["notice"]["kind"] == "digest"
    assert [d.status for d in world.admin.deliveries()] in (["failed", "sent"], ["sent", "failed"])
    # And a later run does not send the failed one again (it was dead-lettered)
    world.sender.failing.clear()
    world.notifier.run(AT_0900 + 300_000)
    assert [c for c, _ in world.sender.sent] == ["other"]


def test_a_refusal_that_cannot_pass_is_not_retried(world):
    subscribe(world, when="09:00")
    history(world)
    world.sender.failing["team"] = False  # a 404: the webhook is gone
    world.notifier.run(AT_0900)
    assert world.sender.attempts["team"] == 1 and world.sleeps == []
    assert world.store.delivery(digest_of("morning", DAY)).status == "failed"


# alert rules ----------------------------------------------------------------------------------------------------------
TODAY = DAY + timedelta(days=1)


def alert(world: World, **rule) -> None:
    doc = {"name": "busy", "channel": "team", "metric": "active_players", "condition": "above", "threshold": 1000}
    world.admin.create_rule({**doc, **rule}, by="ana", now_ms=MADE)


def test_a_today_alert_fires_once_when_the_low_bound_crosses_resolves_and_keeps_its_cooldown(world):
    # Given a rule "active players above 1,000 today", cooldown 60 minutes
    alert(world)
    # When today's estimate straddles 1,000 (its interval holds it)
    world.players("active_players", TODAY, range(1000))
    figure = world.notifier.figure(CATALOG.get("active_players"), None, TODAY, ms(TODAY, 10))
    assert figure.low <= 1000 <= figure.high
    world.notifier.run(ms(TODAY, 10))
    # Then nothing fires
    assert world.sender.sent == []
    # When the estimate's low bound is past 1,000
    world.players("active_players", TODAY, range(1300))
    figure = world.notifier.figure(CATALOG.get("active_players"), None, TODAY, ms(TODAY, 11))
    assert figure.low > 1000
    for minute in (0, 5, 10):
        world.notifier.run(ms(TODAY, 11, minute))
    # Then it fired once, saying it is approximate and why it fired
    (fired,) = world.sender.of(NoticeKind.ALERT)
    assert fired.id == f"alert:busy:{MADE}:1" and not fired.figures[0].exact
    assert any("whole 95 % interval" in note for note in fired.notes)
    # When the value is wholly back below (a new day begins) / Then it resolves, once
    tomorrow = TODAY + timedelta(days=1)
    world.players("active_players", tomorrow, range(10))
    world.notifier.run(ms(tomorrow, 0, 5))
    world.notifier.run(ms(tomorrow, 0, 10))
    (resolved,) = world.sender.of(NoticeKind.RESOLVED)
    assert resolved.id == f"resolved:busy:{MADE}:1"
    # When it is past again, 13 hours after the last alert (past the cooldown) / Then a second episode fires
    world.players("active_players", tomorrow, range(1300))
    world.notifier.run(ms(tomorrow, 0, 15))
    assert [n.id for n in world.sender.of(NoticeKind.ALERT)] == [f"alert:busy:{MADE}:1", f"alert:busy:{MADE}:2"]


def test_the_cooldown_keeps_an_episode_and_its_end_quiet(world):
    # Given a rule with a 2-hour cooldown that fired at 11:00 and resolved at 11:30 (the estimate went down)
    alert(world, cooldown_minutes=120)
    for at, players in (((11, 0), 1300), ((11, 30), 10)):
        world.players("active_players", TODAY, range(players))
        world.notifier.run(ms(TODAY, *at))
    assert [n.kind for _, n in world.sender.sent] == [NoticeKind.ALERT, NoticeKind.RESOLVED]
    # When it is past again at 12:00 and back at 12:30, within 2 hours of the alert / Then nothing is sent
    for at, players in (((12, 0), 1300), ((12, 30), 10)):
        world.players("active_players", TODAY, range(players))
        world.notifier.run(ms(TODAY, *at))
    assert len(world.sender.sent) == 2
    # When it is past again at 13:30, after the cooldown / Then the third episode fires
    world.players("active_players", TODAY, range(1300))
    world.notifier.run(ms(TODAY, 13, 30))
    assert [n.id for n in world.sender.of(NoticeKind.ALERT)] == [f"alert:busy:{MADE}:1", f"alert:busy:{MADE}:3"]


def test_a_change_rule_compares_today_so_far_with_the_same_elapsed_part_of_the_day_a_week_before(world):
    # Given a rule "active players up 50 % against the same weekday a week before", observed a week ago at 10:00
    alert(world, condition="change", percent=50, threshold=None)
    week_ago = TODAY - timedelta(days=7)
    world.players("active_players", week_ago, range(200))
    world.notifier.run(ms(week_ago, 10))  # records 200 at 10:00 that day (the whole day ended with more)
    world.players("active_players", week_ago, range(2000))
    world.notifier.run(ms(week_ago, 23))
    # When today at 10:00 holds 400 (double the same time a week ago, a fifth of that whole day)
    world.players("active_players", TODAY, range(400))
    world.notifier.run(ms(TODAY, 10))
    # Then it fired: against 200 at 10:00, not the whole day's 2,000
    (fired,) = world.sender.of(NoticeKind.ALERT)
    assert "a week before" in fired.figures[0].baseline and "200" in fired.figures[0].baseline


def test_a_closed_day_band_rule_fires_on_a_published_day_outside_the_last_weeks(world):
    # Given a rule on closed days: outside the range of the last 2 same weekdays
    alert(world, condition="band", weeks=2, scope="closed", threshold=None, metric="matches_played")
    for k, value in ((1, 1000), (2, 1100)):
        world.publish("matches_played", DAY - timedelta(days=7 * k), value, "run-0")
    # When DAY is not published yet / Then nothing
    world.matches(DAY, 5000)
    world.notifier.run(AT_0900)
    assert world.sender.sent == []
    # When it is published at 5,000 / Then it fires once, exact
    world.publish("matches_played", DAY, 5000, "run-1")
    world.notifier.run(AT_0900 + 300_000)
    world.notifier.run(AT_0900 + 600_000)
    (fired,) = world.sender.of(NoticeKind.ALERT)
    assert fired.figures[0].exact and fired.figures[0].value == 5000 and "1,000–1,100" in fired.figures[0].baseline


# admin ----------------------------------------------------------------------------------------------------------------
def test_what_admins_make_is_checked(world):
    make = world.admin.create_subscription
    with pytest.raises(BadRequest, match="retention"):
        make({"name": "r", "channel": "team", "metrics": ["retention"]}, by=None, now_ms=MADE)
    with pytest.raises(BadRequest, match="groups"):
        make({"name": "g", "channel": "team", "metrics": ["by_country"]}, by=None, now_ms=MADE)
    with pytest.raises(BadRequest, match="no channel"):
        make({"name": "c", "channel": "nope", "metrics": ["matches_played"]}, by=None, now_ms=MADE)
    with pytest.raises(BadRequest, match="HH:MM"):
        make({"name": "t", "channel": "team", "metrics": ["matches_played"], "when": "9am"}, by=None, now_ms=MADE)
    subscribe(world)
    with pytest.raises(Conflict):
        subscribe(world)
    with pytest.raises(Conflict, match="used by morning"):
        world.admin.delete_channel("team")
    with pytest.raises(BadRequest, match="threshold"):
        world.admin.create_rule(
            {"name": "x", "channel": "team", "metric": "matches_played", "condition": "above"}, by=None, now_ms=MADE
        )
    with pytest.raises(BadRequest, match="recipients"):
        world.admin.create_channel("mail", "email", url=None, recipients=["not an address"], by=None, now_ms=MADE)


def test_a_webhook_channel_keeps_its_url_and_signing_secret_out_of_the_table(world):
    channel, signing_secret = world.admin.create_channel(
        "hook", "webhook", url="https://hooks.example/secret-path", recipients=[], by="ana", now_ms=MADE
    )
    assert signing_secret == "whsec_test" and channel.kind is ChannelKind.WEBHOOK
    items = boto3.client("dynamodb", region_name=names.REGION).scan(TableName="notify")["Items"]
    assert "secret-path" not in str(items) and "whsec_test" not in str(items)
    assert world.admin.secrets.values["hook"] == {
        "url": "https://hooks.example/secret-path",
        "signing_secret": "whsec_test",
    }


def test_the_local_stack_makes_the_notifications_resources():
    with mock_aws():
        url = resources.create_notifications()
        assert url.endswith(names.DELIVERY_DEAD_LETTERS)
        assert boto3.client("dynamodb", region_name=names.REGION).describe_table(TableName=names.NOTIFICATIONS_TABLE)


# the real senders, to the local sink -----------------------------------------------------------------------------------
def test_through_the_real_senders_a_5xx_and_a_timeout_are_retried_then_dead_lettered_and_the_others_go(world, tmp_path):
    from headcount.core.signing import verify
    from headcount.local.sink import LocalSink
    from headcount.views.channels import MemorySecrets, Senders

    with LocalSink(0, tmp_path / "sink.jsonl") as sink:
        # Given the real senders (5 s timeout made 0.5 s), and four channels to the local sink
        secrets = MemorySecrets()
        world.notifier.sender = Senders(secrets, email_from=None, allow_loopback=True, timeout_s=0.5)
        admin = NotifyAdmin(world.notifier, secrets, lambda url: url.split("/hook")[0], lambda: "whsec_sink")
        for name in ("down", "slow", "fine"):
            admin.create_channel(name, "webhook", url=f"{sink.url}/hook/{name}", recipients=[], by=None, now_ms=MADE)
        admin.create_channel("chat", "slack", url=f"{sink.url}/slack", recipients=[], by=None, now_ms=MADE)
        for name in ("down", "slow", "fine", "chat"):
            subscribe(world, when="09:00", name=f"to-{name}", channel=name)
        history(world)
        sink.fail("/hook/down", status=503)
        sink.fail("/hook/slow", timeout_s=1.5)
        # When the run of 09:00 goes
        report = world.notifier.run(AT_0900)
        # Then the failing ones were each tried 3 times, recorded failed and dead-lettered; the others were delivered
        assert len(sink.received("/hook/down")) == 3 and len(sink.received("/hook/slow")) == 3
        assert sorted(report.failed) == [digest_of("to-down", DAY), digest_of("to-slow", DAY)]
        assert sorted(report.sent) == [digest_of("to-chat", DAY), digest_of("to-fine", DAY)]
        assert "503" in world.store.delivery(digest_of("to-down", DAY)).error
        assert sorted(d["delivery"] for d in world.dead_letters()) == report.failed
        # And the webhook that got it can verify it came from headcount; Slack got Block Kit
        (fine,) = sink.received("/hook/fine")
        stamp, signature = fine["headers"]["X-Headcount-Timestamp"], fine["headers"]["X-Headcount-Signature"]
        verify("whsec_sink", stamp, fine["raw"].encode(), signature, now_s=int(stamp))
        (chat,) = sink.received("/slack")
        assert chat["body"]["blocks"][0]["type"] == "header" and "matches_played" in str(chat["body"]["blocks"])


# what the review of two runs at once, and of runs that die, asked for ------------------------------------------------
def test_a_claim_left_sending_by_a_run_that_died_is_taken_over_once_stale(world):
    from headcount.views.notify_store import CLAIM_STALE_MS, Delivery

    # Given a digest at 09:00 that a run claimed at 09:00 and died sending (its claim still `sending`)
    subscribe(world, when="09:00")
    history(world)
    left = Delivery(digest_of("morning", DAY), "sending", "team", "digest", "morning", None, str(DAY), 0, None,
                    AT_0900, AT_0900, [], "")  # fmt: skip
    assert world.store.claim(left, AT_0900)
    # When a run goes while the claim may still be a live run's / Then it leaves it
    assert world.notifier.run(AT_0900 + 5 * 60_000).sent == []
    # When a run goes once the claim is stale / Then that run sends it, once
    assert world.notifier.run(AT_0900 + CLAIM_STALE_MS + 60_000).sent == [digest_of("morning", DAY)]
    assert world.notifier.run(AT_0900 + CLAIM_STALE_MS + 120_000).sent == []


def test_a_rule_deleted_and_made_again_under_its_name_fires_again(world):
    # Given a rule that fired, deleted
    alert(world)
    world.players("active_players", TODAY, range(1300))
    world.notifier.run(ms(TODAY, 11))
    world.admin.delete_rule("busy")
    # When it is made again (later) and the value is still past / Then the new rule fires its own first episode
    world.admin.create_rule(
        {"name": "busy", "channel": "team", "metric": "active_players", "condition": "above", "threshold": 1000},
        by="ana",
        now_ms=ms(TODAY, 11, 30),
    )
    world.notifier.run(ms(TODAY, 11, 35))
    assert [n.id for n in world.sender.of(NoticeKind.ALERT)] == [
        f"alert:busy:{MADE}:1",
        f"alert:busy:{ms(TODAY, 11, 30)}:1",
    ]


def test_two_runs_at_once_do_not_write_a_rules_state_over_each_other(world):
    from headcount.views.notify_store import StateChanged

    # Given a rule's state read by two runs (version 0), and written by the first
    alert(world)
    state, version = world.store.rule_state("busy")
    world.store.put_rule_state("busy", {"firing": True}, version)
    # When the second writes what it saw / Then it is refused, and the first's stays
    with pytest.raises(StateChanged):
        world.store.put_rule_state("busy", {"firing": False}, version)
    assert world.store.rule_state("busy") == ({"firing": True}, 1)


def test_a_run_out_of_time_claims_nothing_and_leaves_the_rest_to_the_next(world):
    # Given a digest due, and a run with 10 s left
    subscribe(world, when="09:00")
    history(world)
    report = world.notifier.run(AT_0900, remaining_ms=lambda: 10_000)
    # Then it claimed nothing and says why; the next run sends it
    assert report.sent == [] and isinstance(report.errors["subscription morning"], TimeoutError)
    assert world.notifier.run(AT_0900 + 300_000, remaining_ms=lambda: 120_000).sent == [digest_of("morning", DAY)]


def test_a_closed_day_the_nightly_job_published_a_day_late_still_gets_its_digest(world):
    # Given a closed-day subscription, and the day before DAY published only now (a failed night, rerun the next day)
    subscribe(world)
    history(world)
    before = DAY - timedelta(days=1)
    world.publish("active_players", before, 400, "run-late", at_ms=AT_0900)
    world.publish("matches_played", before, 1000, "run-late", at_ms=AT_0900)
    # When the next run goes (DAY itself not published yet) / Then the late day's digest goes
    assert world.notifier.run(AT_0900 + 60_000).sent == [digest_of("morning", before)]


def test_a_today_rule_below_a_threshold_is_refused_it_would_fire_every_night(world):
    with pytest.raises(BadRequest, match="every night"):
        alert(world, condition="below")
    alert(world, condition="below", scope="closed", name="quiet-day")  # on closed days it means what it says


def test_a_stale_estimate_neither_fires_nor_resolves(world):
    from dataclasses import replace as changed

    # Given a rule "above 1,000", and 1,300 players today, but the shard's fold behind the records put into it
    alert(world)
    world.players("active_players", TODAY, range(1300))
    status = world.realtime.statuses[SHARD]
    world.realtime.statuses[SHARD] = changed(status, put_ms=status.watermark_ms + 120_000)
    assert world.notifier.figure(CATALOG.get("active_players"), None, TODAY, ms(TODAY, 11)).stale
    # When a run goes / Then it does not fire: the estimate is lower than it will be, it says nothing either way
    world.notifier.run(ms(TODAY, 11))
    assert world.sender.sent == []
    # When the fold has caught up / Then it fires
    world.realtime.statuses[SHARD] = changed(status, put_ms=None)
    world.notifier.run(ms(TODAY, 11, 5))
    assert len(world.sender.of(NoticeKind.ALERT)) == 1
