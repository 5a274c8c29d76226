"""The serving read path on in-memory views: which reads a range costs, and how fresh its points say they are."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date

from headcount.core import sketches
from headcount.logic.reads import Reads
from headcount.logic.serving import MetricsService
from headcount.views.batch import BatchRow, InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import InMemoryRealtimeStore, ItemKey, RealtimeItem

NOW_MS = 1_795_000_000_000  # 2026-11-18T11:06:40Z
TODAY, YESTERDAY = "2026-11-18", "2026-11-17"


class CountingStore(InMemoryRealtimeStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []
        self.asked: list[tuple[str, str]] = []

    def day_items(self, metric: str, day: str) -> list[RealtimeItem]:
        self.reads.append(day)
        self.asked.append((metric, day))
        return super().day_items(metric, day)

    def shard_statuses(self):  # noqa: ANN201
        self.reads.append("statuses")
        return super().shard_statuses()


def service(clock: list[float]) -> tuple[MetricsService, CountingStore, InMemoryBatchView]:
    store, batch = CountingStore(), InMemoryBatchView(clock=lambda: NOW_MS / 1000 - 7200)
    reads = Reads(load_catalog(), store, batch, "UTC", monotonic=lambda: clock[0])
    return MetricsService(reads), store, batch


def test_a_year_reads_the_publications_once_and_only_the_real_time_days_that_hold_items() -> None:
    clock = [0.0]
    svc, store, batch = service(clock)
    batch.publish("matches_played", YESTERDAY, [BatchRow("matches_played", YESTERDAY, YESTERDAY, "", 7, None)], "r1")
    store.add_days("shardId-0", {TODAY, YESTERDAY, "2026-11-10"}, set())
    store.advance("shardId-0", NOW_MS - 3_000, 500)
    store.write(RealtimeItem(ItemKey("matches_played", TODAY, "", "shardId-0"), 1, count=4), None, 0)
    store.write(RealtimeItem(ItemKey("matches_played", YESTERDAY, "", "shardId-0"), 1, count=6), None, 0)
    series = svc.series("matches_played", "2025-11-19", "today", None, NOW_MS)
    assert len(series.points) == 365
    # Yesterday is published (its real-time items are not read); 2026-11-10 is listed by the shard, so it is read
    assert sorted(store.reads) == ["2026-11-10", TODAY, "statuses"]
    by_day = {p.bucket: p for p in series.points}
    assert (by_day[YESTERDAY].value, by_day[YESTERDAY].source, by_day[YESTERDAY].stamp.run_id) == (7, "batch", "r1")
    assert by_day[YESTERDAY].stamp.as_of == "2026-11-18T09:06:40Z"  # its run's publication
    assert (by_day[TODAY].value, by_day[TODAY].stamp.as_of) == (4, "2026-11-18T11:06:37Z")  # the shard's watermark
    assert by_day["2026-11-01"].source == "none" and by_day["2026-11-01"].stamp.as_of == "2026-11-18T11:06:37Z"
    # a day past the real-time view's retention, never published: nothing can say how complete its zero is
    assert by_day["2026-01-01"].source == "none" and by_day["2026-01-01"].stamp.as_of is None


def test_requests_within_a_second_share_the_statuses_and_todays_items() -> None:
    clock = [100.0]
    svc, store, _ = service(clock)
    store.add_days("shardId-0", {TODAY}, set())
    store.advance("shardId-0", NOW_MS - 3_000, 500)
    for _ in range(3):
        svc.series("active_players", "today", None, None, NOW_MS)
    svc.distinct("active_players", "yesterday", "today", None, NOW_MS)
    assert store.reads == ["statuses", TODAY]
    # A second later, both are read again, and the watermark has moved
    store.advance("shardId-0", NOW_MS - 1_000, 500)
    clock[0] += 1.0
    assert svc.series("active_players", "today", None, None, NOW_MS).points[0].stamp.as_of == "2026-11-18T11:06:39Z"
    assert store.reads == ["statuses", TODAY, "statuses", TODAY]
    # With sharing off, every request reads its real-time days
    svc.reads.max_age_s = 0
    for _ in range(2):
        svc.series("active_players", "today", None, None, NOW_MS)
    assert store.reads.count(TODAY) == 4 and store.reads.count("statuses") == 4


def test_a_settled_days_real_time_items_are_read_again_every_five_minutes_not_every_second() -> None:
    clock = [100.0]
    svc, store, _ = service(clock)
    store.add_days("shardId-0", {TODAY, YESTERDAY, "2026-11-10"}, set())
    store.advance("shardId-0", NOW_MS - 3_000, 500)
    store.write(RealtimeItem(ItemKey("matches_played", "2026-11-10", "", "shardId-0"), 1, count=4), None, 0)
    metric = svc.catalog.get("matches_played")

    def ask(settled_after_ms: int | None = 2 * 86_400_000) -> int:
        clock[0] += 1.0  # each request a second after the last: the moment's reads are not shared
        read = svc.reads.read(metric, date(2026, 11, 10), date(2026, 11, 18), NOW_MS, settled_after_ms)
        return read.realtime["2026-11-10"][0].count

    # Given a day that ended over two days ago (11-10), and yesterday and today, read as settled after two days
    assert ask() == 4
    # When asked again each second: yesterday and today are read again, 11-10 is not
    store.write(RealtimeItem(ItemKey("matches_played", "2026-11-10", "", "shardId-0"), 2, count=5), 1, 0)  # late
    for _ in range(3):
        assert ask() == 4
    assert store.reads.count("2026-11-10") == 1 and store.reads.count(TODAY) == store.reads.count(YESTERDAY) == 4
    # and a read that does not ask for it (every answer but another zone's new players) reads every day each second
    assert ask(None) == 5 and store.reads.count("2026-11-10") == 2
    # Then five minutes on, 11-10 is read again in the background (the request is answered from the last read, unless
    # the new one has answered already), and the next requests have its late event
    clock[0] += 300
    assert ask() in (4, 5)
    deadline = time.monotonic() + 5
    while ask() != 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ask() == 5 and store.reads.count("2026-11-10") == 3


def test_halfway_through_a_second_the_next_reads_are_made_ahead_of_what_requests_asked_for() -> None:
    clock = [100.0]
    svc, store, _ = service(clock)
    store.add_days("shardId-0", {TODAY}, set())
    store.advance("shardId-0", NOW_MS - 3_000, 500)
    svc.series("active_players", "today", None, None, NOW_MS)
    # Half a second later, a request is answered from the same reads, and the next ones are made behind it
    store.advance("shardId-0", NOW_MS - 1_000, 500)
    clock[0] = 100.6
    assert svc.series("active_players", "today", None, None, NOW_MS).points[0].stamp.as_of == "2026-11-18T11:06:37Z"
    # When the second is over, the next request finds them made: it waits for no read, and its watermark has moved
    clock[0] = 101.1
    assert svc.series("active_players", "today", None, None, NOW_MS).points[0].stamp.as_of == "2026-11-18T11:06:39Z"
    assert store.reads == ["statuses", TODAY, "statuses", TODAY]
    # Only what requests asked for is read ahead: matches_played, first asked for at 101.2, from 101.8 on
    for moment in (101.2, 101.7, 101.8, 102.3):
        clock[0] = moment
        svc.series("matches_played", "today", None, None, NOW_MS)
    # And after a pause longer than a second, what was read ahead is too old: the request reads anew
    clock[0] = 110.0
    svc.series("matches_played", "today", None, None, NOW_MS)
    svc.reads._pool.shutdown(wait=True)  # the reads made ahead are done
    assert Counter(metric for metric, _ in store.asked) == {"active_players": 3, "matches_played": 4}
    # (matches_played: at 101.2 and 101.7 by the requests, at 101.8 ahead of 102.3, at 110 by the request;
    # active_players: at 100 by the request, at 100.6 and 101.2 ahead)


def test_nothing_is_read_ahead_while_reads_made_ahead_are_still_out() -> None:
    clock = [100.0]
    svc, store, _ = service(clock)
    store.add_days("shardId-0", {TODAY}, set())
    for name in ("active_players", "matches_played"):
        svc.series(name, "today", None, None, NOW_MS)
    # Given matches_played's reads hang, and a read made ahead of it at 100.6 is out
    gate = threading.Event()
    day_items = store.day_items

    def hanging(metric: str, day: str) -> list[RealtimeItem]:
        if metric == "matches_played":
            gate.wait(30)
        return day_items(metric, day)

    store.day_items = hanging  # type: ignore[method-assign]
    for moment in (100.6, 101.1):  # the second moment, read ahead, then in use
        clock[0] = moment
        svc.series("active_players", "today", None, None, NOW_MS)
    # When a request comes halfway through the second moment, it reads nothing ahead: the store is slower than that
    clock[0] = 101.2
    svc.series("active_players", "today", None, None, NOW_MS)
    assert svc.reads._ahead is None
    gate.set()
    svc.reads._pool.shutdown(wait=True)


def test_a_range_distinct_unions_the_published_days_and_the_real_time_ones() -> None:
    svc, store, batch = service([0.0])

    def sketch(players: range) -> bytes:
        s = sketches.new_sketch(14)
        sketches.update_all(s, (f"p-{i}" for i in players))
        return sketches.encode(s)

    batch.publish(
        "active_players",
        YESTERDAY,
        [BatchRow("active_players", YESTERDAY, YESTERDAY, "", 300, sketch(range(300)))],
        "r1",
    )
    store.add_days("shardId-0", {TODAY}, set())
    store.write(
        RealtimeItem(ItemKey("active_players", TODAY, "", "shardId-0"), 1, sketch=sketch(range(200, 500))), None, 0
    )
    answer = svc.distinct("active_players", "yesterday", "today", None, NOW_MS)
    assert answer.sources == ["batch", "realtime"] and not answer.exact and answer.low <= 500 <= answer.high
    assert answer.stamp.as_of is None  # no shard has reported a watermark: nothing says how fresh today is
    one_day = svc.distinct("active_players", "yesterday", None, None, NOW_MS)
    assert (one_day.value, one_day.exact, one_day.first) == (300, True, date(2026, 11, 17))


def test_a_published_days_points_are_merged_once_per_run(monkeypatch) -> None:
    import headcount.logic.serving as serving

    merged: list[str] = []
    real_merge = serving.merge_day

    def counting(metric, buckets, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        merged.append(buckets[0][:10])
        return real_merge(metric, buckets, *args, **kwargs)

    monkeypatch.setattr(serving, "merge_day", counting)
    clock = [0.0]
    svc, store, batch = service(clock)
    for day, value in (("2026-11-15", 3), ("2026-11-16", 5), (YESTERDAY, 7)):
        batch.publish("matches_played", day, [BatchRow("matches_played", day, day, "", value, None)], f"r-{day}")
    store.add_days("shardId-0", {TODAY}, set())
    store.advance("shardId-0", NOW_MS - 3_000, 500)
    store.write(RealtimeItem(ItemKey("matches_played", TODAY, "", "shardId-0"), 1, count=4), None, 0)

    first = svc.series("matches_played", "2026-11-15", "today", None, NOW_MS).points
    assert sorted(merged) == ["2026-11-15", "2026-11-16", YESTERDAY, TODAY]
    # Asked again: only today (not published) is merged; the published days' points are the same
    merged.clear()
    clock[0] += 5.0
    again = svc.series("matches_played", "2026-11-15", "today", None, NOW_MS).points
    assert merged == [TODAY]
    assert again == first
    # A republish of a day names another run: that day is merged again, and answers its new value
    merged.clear()
    batch.publish(
        "matches_played", "2026-11-16", [BatchRow("matches_played", "2026-11-16", "2026-11-16", "", 9, None)], "r2"
    )
    clock[0] += 5.0
    after = {p.bucket: p for p in svc.series("matches_played", "2026-11-15", "today", None, NOW_MS).points}
    assert sorted(merged) == ["2026-11-16", TODAY]
    assert (after["2026-11-16"].value, after["2026-11-16"].stamp.run_id) == (9, "r2")
    assert after["2026-11-15"].value == 3


def test_the_published_points_kept_are_bounded(monkeypatch) -> None:
    import headcount.logic.serving as serving

    monkeypatch.setattr(serving, "PUBLISHED_POINTS_KEPT", 48)  # two days of hours
    clock = [0.0]
    svc, _, batch = service(clock)
    days = ["2026-11-14", "2026-11-15", "2026-11-16"]
    for day in days:
        batch.publish("ad_impressions", day, [BatchRow("ad_impressions", day, f"{day}T05:00+00:00", "", 2, None)], "r")
    svc.series("ad_impressions", days[0], days[0], None, NOW_MS)
    svc.series("ad_impressions", days[1], days[1], None, NOW_MS)
    svc.series("ad_impressions", days[0], days[0], None, NOW_MS)  # asked again: now the most recently used
    svc.series("ad_impressions", days[2], days[2], None, NOW_MS)  # one day too many: the least recently asked for goes
    assert [key[1] for key in svc._published] == [days[0], days[2]]  # noqa: SLF001
    assert svc._published_size == 48  # noqa: SLF001
