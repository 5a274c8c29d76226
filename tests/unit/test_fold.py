"""fold_batch against the in-memory store: replays, overlaps and failures never change a number."""

import json
import random

import pytest

from headcount.core import sketches
from headcount.core.buckets import bucket_of
from headcount.core.catalog import NO_GROUP, UNKNOWN_GROUP, Granularity, Kind
from headcount.core.deltas import Record, fold_records
from headcount.core.events import event_lines
from headcount.logic.folding import ShardMarks, fold_batch
from headcount.views.catalog_file import load_catalog
from headcount.views.realtime import InMemoryRealtimeStore

NOW = 1_795_000_000_000
CATALOG = load_catalog()
SHARD = "shardId-000000000000"


def records(n, players=300, start_seq=10**50, seed=1):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.choice(["session_start", "match_end", "ad_impression"])
        doc = {
            "event_id": f"e{i}",
            "type": kind,
            "player_id": f"p{rng.randrange(players)}",
            "ts": NOW - rng.randrange(3 * 86_400_000),
            "attrs": {"country": rng.choice(["DE", "US", "FR"])},
        }
        out.append(Record(json.dumps(doc).encode(), start_seq + i * 7, NOW))
    return out


def merged(store):
    """What a reader sees, per (metric, bucket, group): counts summed, sketches and recent ids unioned (HLL for
    distinct metrics, Theta for new players)."""
    pieces: dict[tuple[str, str, str], list] = {}
    for k, i in store.items.items():
        pieces.setdefault((k.metric, k.bucket, k.group), []).append(i)
    out = {}
    for (metric, bucket, group), items in pieces.items():
        lg_k = CATALOG.get(metric).lg_k
        if lg_k is None:
            out[metric, bucket, group] = sum(i.count for i in items)
            continue
        if CATALOG.get(metric).kind is Kind.NEW:
            parts = [i.sketch for i in items if i.sketch] + [
                sketches.theta_of_values(i.ids, lg_k) for i in items if i.ids
            ]
            out[metric, bucket, group] = sketches.theta_estimate(
                sketches.theta_union_of((sketches.theta_decode(p) for p in parts), lg_k)
            )
            continue
        parts = [sketches.decode(i.sketch) for i in items if i.sketch]
        parts += [sketches.decode(sketches.of_values(i.ids, lg_k)) for i in items if i.ids]
        out[metric, bucket, group] = sketches.estimate(sketches.union(parts, lg_k))
    return out


def snapshot(store):
    return merged(store)


def fold(batch, store):
    return fold_batch(batch, SHARD, store, CATALOG, "UTC", 35)


def test_a_batch_writes_each_touched_item_once():
    store = InMemoryRealtimeStore()
    report = fold(records(2000), store)
    assert report.first_failed_sequence_number is None
    assert report.items_written == report.items_touched == len(store.items) == store.writes


def test_counts_equal_the_valid_records_and_distincts_the_players():
    store = InMemoryRealtimeStore()
    batch = records(3000)
    fold(batch, store)
    docs = [json.loads(r.data) for r in batch]
    matches = sum(i.count for k, i in store.items.items() if k.metric == "matches_played")
    assert matches == sum(d["type"] == "match_end" for d in docs)
    # and each day's sketch of active players holds that day's players (within its 95 % bounds)
    days = {bucket: estimate for (metric, bucket, _), estimate in merged(store).items() if metric == "active_players"}
    players: dict[str, set[str]] = {}
    for d in docs:
        if d["type"] == "session_start":
            players.setdefault(bucket_of(d["ts"], Granularity.DAY, "UTC"), set()).add(d["player_id"])
    assert days.keys() == players.keys() and len(days) >= 3
    for day, estimate in days.items():
        assert estimate.low <= len(players[day]) <= estimate.high, day


def test_redelivering_any_batch_any_number_of_times_changes_nothing():
    store = InMemoryRealtimeStore()
    batch = records(3000)
    for start in range(0, 3000, 500):
        fold(batch[start : start + 500], store)
    before, writes = snapshot(store), store.writes
    for start in (0, 1000, 2500):
        fold(batch[start : start + 500], store)  # redelivered batches
    fold(batch[250:1750], store)  # a retry whose boundaries differ from the original batches
    assert snapshot(store) == before and store.writes == writes


def test_overlapping_retry_applies_only_the_new_records():
    whole = InMemoryRealtimeStore()
    fold(records(2000), whole)
    pieces = InMemoryRealtimeStore()
    batch = records(2000)
    fold(batch[:1200], pieces)
    fold(batch[800:], pieces)  # overlaps 800..1200
    assert snapshot(pieces) == snapshot(whole)


def test_a_store_failure_reports_where_to_resume_and_the_retry_completes_exactly():
    expected = InMemoryRealtimeStore()
    batch = records(1000)
    fold(batch, expected)
    store = InMemoryRealtimeStore()
    store.fail_writes_for = {"matches_played"}
    report = fold(batch, store)
    first_match = min(r.sequence_number for r in batch if b"match_end" in r.data)
    assert report.first_failed_sequence_number == first_match
    store.fail_writes_for = set()
    fold([r for r in batch if r.sequence_number >= report.first_failed_sequence_number], store)  # Lambda resumes there
    assert snapshot(store) == snapshot(expected)


def test_rejected_records_are_counted_by_reason_and_do_not_stop_the_batch():
    store = InMemoryRealtimeStore()
    batch = records(10) + [Record(b"{oops", 10**51, NOW), Record(b'{"type": "x"}', 10**51 + 1, NOW)]
    report = fold(batch, store)
    assert report.valid == 10 and report.rejected_by_reason() == {"not_json": 1, "bad_player_id": 1}
    assert report.first_failed_sequence_number is None


def test_an_unchanged_sketch_is_not_rewritten():
    store = InMemoryRealtimeStore()
    sessions = [r for r in records(2000) if b"session_start" in r.data]
    fold(sessions, store)
    writes = store.writes
    resent = [Record(r.data, r.sequence_number + 10**6, r.arrival_ms) for r in sessions]  # new records, same players
    report = fold(resent, store)
    assert report.items_touched > 0 and report.items_written == 0 and store.writes == writes


def test_a_record_of_several_lines_is_read_line_by_line_as_the_archive_stores_it():
    two_events = records(2)
    joined = Record(two_events[0].data + b"\n" + two_events[1].data + b"\n", 10**50, NOW)
    pretty = Record(b'{\n "type": "match_end",\n "player_id": "p-1",\n "ts": %d\n}\n' % NOW, 10**50 + 1, NOW)
    report = fold([joined, pretty], InMemoryRealtimeStore())
    assert report.valid == 2 and len(report.rejected) == 5  # the pretty-printed one: five lines, none an event


def test_empty_lines_hold_no_event_and_are_not_rejections():
    # Given records as Firehose's AppendDelimiterToRecord archives them (one more newline each) and an empty record
    one = records(1)[0]
    doubled = Record(one.data + b"\n", 10**50, NOW)
    empty = Record(b"\n", 10**50 + 1, NOW)
    # Then the fold reads the one event and rejects nothing
    report = fold([doubled, empty], InMemoryRealtimeStore())
    assert report.valid == 1 and report.rejected == []
    assert event_lines(b"a\n\nb\n") == [b"a", b"b"] and event_lines(b"") == () and event_lines(b"a\n") == (b"a\n",)


def test_the_shard_status_lists_a_new_day_once_and_lets_expired_days_go():
    from headcount.logic.folding import ShardMarks

    writes = []

    class Store(InMemoryRealtimeStore):
        def add_days(self, shard_id, days, expired):
            writes.append((set(days), set(expired)))
            super().add_days(shard_id, days, expired)

    store, marks, day = Store(), ShardMarks(every_ms=5_000), 86_400_000

    def batch(at_ms: int, seq: int) -> list[Record]:
        doc = {"type": "match_end", "player_id": "p", "ts": at_ms}
        return [Record(json.dumps(doc).encode(), seq, at_ms)]

    fold_batch(batch(NOW - 40 * day, 1), SHARD, store, CATALOG, "UTC", 35, marks=marks)
    fold_batch(batch(NOW - 40 * day + 1000, 2), SHARD, store, CATALOG, "UTC", 35, marks=marks)  # same day: no write
    assert writes == [({"2026-10-09"}, set())]
    # Forty days later, the old day's items have expired: it leaves the list as the new day joins it
    fold_batch(batch(NOW, 3), SHARD, store, CATALOG, "UTC", 35, marks=marks)
    assert writes[1] == ({"2026-11-18"}, {"2026-10-09"})
    assert store.statuses[SHARD].days == {"2026-11-18"} and store.statuses[SHARD].watermark_ms == NOW
    # A new process (a cold function) reads what the status lists: an already listed day is not written again,
    # and a listed day that has expired goes
    store.add_days(SHARD, {"2026-10-01"}, set())
    fold_batch(batch(NOW + 1000, 4), SHARD, store, CATALOG, "UTC", 35, marks=ShardMarks())
    assert writes[-1] == (set(), {"2026-10-01"}) and store.statuses[SHARD].days == {"2026-11-18"}


def test_a_batch_reads_from_the_store_only_the_items_the_last_one_did_not_write():
    # Given a process that folded a batch of one day's events
    store, marks = InMemoryRealtimeStore(), ShardMarks()
    first, second = records(500, seed=3), records(500, start_seq=10**51, seed=3)
    fold_batch(first, SHARD, store, CATALOG, "UTC", 35, marks=marks)
    read_before = store.keys_read
    # When the next batch touches the same items
    report = fold_batch(second, SHARD, store, CATALOG, "UTC", 35, marks=marks)
    # Then it read none of them again, and the numbers are those of folding both without that memory
    assert report.first_failed_sequence_number is None
    assert store.keys_read == read_before
    fresh = InMemoryRealtimeStore()
    fold(first, fresh)
    fold(second, fresh)
    assert snapshot(store) == snapshot(fresh)


def test_an_item_another_writer_changed_meanwhile_fails_stale_and_is_read_afresh():
    # Given two processes folding the same shard (a zombie invocation and its successor), the first one remembering
    store, first_marks = InMemoryRealtimeStore(), ShardMarks()
    batches = [records(300, start_seq=10**50 + k * 10**40, seed=k) for k in range(3)]
    fold_batch(batches[0], SHARD, store, CATALOG, "UTC", 35, marks=first_marks)
    # When the other one folds the next batch, then the first folds the one after
    fold_batch(batches[1], SHARD, store, CATALOG, "UTC", 35, marks=ShardMarks())
    report = fold_batch(batches[2], SHARD, store, CATALOG, "UTC", 35, marks=first_marks)
    # Then the first one's writes of changed counters fail as stale, and it says where to resume
    assert report.first_failed_sequence_number is not None
    assert any(type(e).__name__ == "StaleItem" for _, e in report.failed_items)
    # and its retry of the batch, reading those items afresh, leaves every number exact
    resumed = [r for r in batches[2] if r.sequence_number >= report.first_failed_sequence_number]
    assert fold_batch(resumed, SHARD, store, CATALOG, "UTC", 35, marks=first_marks).first_failed_sequence_number is None
    exact = InMemoryRealtimeStore()
    for batch in batches:
        fold(batch, exact)
    assert snapshot(store) == snapshot(exact)


def sessions(players: range, seq: int, day_ms: int = NOW) -> list[Record]:
    return [
        Record(
            json.dumps(
                {"type": "session_start", "player_id": f"p{n}", "ts": day_ms, "attrs": {"country": "DE"}}
            ).encode(),
            seq + i,
            day_ms,
        )
        for i, n in enumerate(players)
    ]


def test_a_few_new_players_join_the_recent_ids_and_the_sketch_is_written_whole_only_when_they_outgrow_them():
    store, marks = InMemoryRealtimeStore(), ShardMarks()
    # Given a day's sketch of 5,000 players
    fold_batch(sessions(range(5000), 10**40), SHARD, store, CATALOG, "UTC", 35, marks=marks)
    whole = {k: i for k, i in store.items.items() if k.metric == "active_players"}
    assert [k.is_recent for k in whole] == [False] and len(next(iter(whole.values())).sketch) > 4000
    # When batches bring 5 new players each
    reports = [
        fold_batch(sessions(range(5000 + 5 * b, 5005 + 5 * b), 10**41 * (b + 1)), SHARD, store, CATALOG, "UTC", 35,
                   marks=marks)
        for b in range(40)
    ]  # fmt: skip
    # Then most write only recent ids (of active_players, of its DE group, of new_players and of the three sub-day
    # twins' quarter hour), a unit each; now and then a sketch is written whole (9 units for lg_k 14) and its ids emptied
    units = [r.write_units for r in reports]
    assert units.count(6) > 20 and max(units) >= 9
    recent = [i for k, i in store.items.items() if k.metric == "active_players" and k.is_recent]
    assert len(recent) == 1 and len(recent[0].ids) < 60
    # and a reader's union of the sketch and the ids is the sketch of all 5,200 players, register for register
    everyone = sketches.new_sketch(14)
    sketches.update_all(everyone, (f"p{n}" for n in range(5200)))
    (day,) = [v for (m, _, _), v in merged(store).items() if m == "active_players"]
    assert day == sketches.estimate(sketches.union([everyone], 14))


def test_ids_the_sketch_took_in_stay_until_new_ones_replace_them_and_a_reader_sees_every_player_throughout():
    store, marks = InMemoryRealtimeStore(), ShardMarks()

    def players_item(recent: bool):
        return next((i for k, i in store.items.items() if k.metric == "active_players" and k.is_recent == recent), None)

    def a_reader_sees(n: int) -> None:
        everyone = sketches.new_sketch(14)
        sketches.update_all(everyone, (f"p{i}" for i in range(n)))
        (day,) = [v for (m, _, _), v in merged(store).items() if m == "active_players"]
        assert day == sketches.estimate(sketches.union([everyone], 14))

    steps = [(0, 3000), (3000, 3010), (3010, 3400), (3400, 3405)]
    for step, (first, end) in enumerate(steps):
        fold_batch(sessions(range(first, end), 10**40 * (step + 1)), SHARD, store, CATALOG, "UTC", 35, marks=marks)
        a_reader_sees(end)
        if step == 1:  # 10 new players: they are the recent ids
            assert len(players_item(recent=True).ids) == 10
        if step == 2:  # 390 more outgrow them: the sketch is written whole, the 10 ids stay, older than it
            assert players_item(recent=False).sequence_number > players_item(recent=True).sequence_number
            assert len(players_item(recent=True).ids) == 10
        if step == 3:  # the next ids replace them
            assert players_item(recent=True).ids == tuple(sorted(f"p{i}" for i in range(3400, 3405)))


def test_with_no_recent_ids_every_change_writes_the_sketch_whole():
    store, marks = InMemoryRealtimeStore(), ShardMarks()
    fold_batch(sessions(range(3000), 10**40), SHARD, store, CATALOG, "UTC", 35, marks=marks, recent_ids_bytes=0)
    report = fold_batch(sessions(range(3000, 3003), 10**41), SHARD, store, CATALOG, "UTC", 35, marks=marks,
                        recent_ids_bytes=0)  # fmt: skip
    assert not any(k.is_recent for k in store.items) and report.write_units >= 9


def test_new_players_theta_items_hold_exactly_the_sketch_of_the_days_players():
    # Theta cannot be updated in place: the fold tells a change by the union's rule (ThetaState) and writes the
    # ids, or the whole sketch once they outgrow the recent item. Whatever the batches, the sketch and the ids a
    # reader unions are the Theta sketch of every player of the day, hash for hash.
    store, marks = InMemoryRealtimeStore(), ShardMarks()
    batches = [range(0, 3000), range(3000, 3004), range(2990, 9000), range(9000, 9030), range(100, 200)]
    for b, players in enumerate(batches):
        fold_batch(sessions(players, 10**40 * (b + 1)), SHARD, store, CATALOG, "UTC", 35, marks=marks)
        items = [i for k, i in store.items.items() if k.metric == "new_players"]
        sketch, recent = (next((i for i in items if i.key.is_recent == r), None) for r in (False, True))
        parts = [sketch.sketch] if sketch else []
        if recent:  # as a reader does: stale ids are in the sketch already, and a union takes them once
            parts.append(sketches.theta_of_values(recent.ids, 12))
        seen = sketches.theta_union_of((sketches.theta_decode(p) for p in parts), 12)
        everyone = sketches.theta_decode(sketches.theta_of_values((f"p{n}" for r in batches[: b + 1] for n in r), 12))
        assert (sorted(seen), seen.theta64) == (sorted(everyone), everyone.theta64)
    assert sketch is not None and recent is not None  # both paths taken: the whole sketch and the recent ids


@pytest.mark.parametrize(
    ("tz", "change_ms"),
    [
        ("America/New_York", 1_793_512_800_000),  # 2026-11-01 06:00 UTC: 02:00 EDT becomes 01:00 EST
        ("Australia/Lord_Howe", 1_791_041_400_000),  # 2026-10-03 15:30 UTC: 02:00 becomes 02:30 (a half-hour shift)
    ],
)
def test_each_delta_holds_the_records_of_its_bucket_and_group_in_order_across_a_clock_change(tz, change_ms):
    # fold_records finds a metric's delta by its 15-minute slot (a bucket is a function of the slot in any zone);
    # the reference here buckets every event by itself, in a zone whose clock changes within the batch.
    rng = random.Random(3)
    batch = []
    for i in range(3000):
        doc = {
            "type": rng.choice(["session_start", "match_end", "ad_impression"]),
            "player_id": f"p{rng.randrange(200)}",  # repeated players: a delta keeps every record's id, in order
            "ts": change_ms + rng.randrange(-3 * 3_600_000, 3 * 3_600_000),
            "attrs": rng.choice([{"country": rng.choice(["DE", "US"])}, {}]),  # no country: the unknown group
        }
        batch.append(Record(json.dumps(doc).encode(), 10**40 + i, change_ms + 3 * 3_600_000))
    expected: dict[tuple[str, str, str], tuple[list[int], list[str]]] = {}
    for record in batch:
        doc = json.loads(record.data)
        for metric in CATALOG.for_event_type(doc["type"]):
            group = NO_GROUP if metric.group_by is None else doc["attrs"].get(metric.group_by, UNKNOWN_GROUP)
            seqs, values = expected.setdefault(
                (metric.name, bucket_of(doc["ts"], metric.granularity, tz), group), ([], [])
            )
            seqs.append(record.sequence_number)
            if metric.kind.sketched:
                values.append(doc["player_id"])
    folded = fold_records(batch, CATALOG, tz)
    assert folded.valid == len(batch)
    assert {k: (d.sequence_numbers, d.values) for k, d in folded.deltas.items()} == expected
    assert {(d.metric.name, d.bucket, d.group) for d in folded.deltas.values()} == set(expected)
