"""Forgetting players: an erasure batch removes them from the raw archive (and every older S3 object version),
the lake's tables, the published days and the real-time items, and the numbers left equal an independent recount of
the archive without them.

The deployment also computes Asia/Tokyo exactly (an extra zone): its tables and published copies lose the players too.

The game: 10 Berlin days of simulated players, and three requests: `victim-1` (played on 5 days, a session after
midnight too), `4242` (sent once as the JSON integer 4242, once as the string "4242": one player) and `ghost-9`, who
never played. The first nightly run computes every day; the players play on the next day too (the real-time layer
only: not computed yet). The erasure's first try is stopped in the middle of its recompute (the players tables already
without the players, the KPIs not written yet); the next nightly run takes the batch up again and finishes it.
"""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headcount.core import sketches
from headcount.core.catalog import Kind
from headcount.core.deltas import Record
from headcount.core.erasure import ErasurePolicy, Receipt, State, line_player_ids
from headcount.local.batch import BatchSummary, ErasureSetup, run_batch
from headcount.local.simulator import simulate_game
from headcount.logic.erasure import request_erasure
from headcount.logic.folding import fold_batch
from headcount.views.aws import client
from headcount.views.batch import InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.erasure_store import MemoryErasureStore
from headcount.views.lake import (
    activity_uri,
    data_files,
    index_uri,
    lake_filesystem,
    players_uri,
    raw_uri,
    read_counts,
    read_kpis,
    zone_lake,
)
from headcount.views.realtime import InMemoryRealtimeStore
from support.exact_counts_sql import exact_counts
from support.kpi_sql import KpiRecount, Run, archive_files
from support.raw_lake import put_folder, write_raw

TZ = "Europe/Berlin"
FIRST = date(2026, 11, 1)
DAYS = 10
LAST = FIRST + timedelta(days=DAYS - 1)  # 2026-11-10, the nightly run's day
TODAY = LAST + timedelta(days=1)  # when the erasure runs: not computed, not published
VICTIM, NUMERIC, GHOST = "victim-1", "4242", "ghost-9"
ERASED = {VICTIM, NUMERIC}
VICTIM_DAYS = [1, 3, 4, 7, 9, 10]  # offsets from FIRST; 10 is TODAY
NUMERIC_DAYS = [2, 5]
CATALOG = load_catalog()
BUCKET = "erasure"
ZONE = "Asia/Tokyo"  # an extra zone the job computes


def local_ms(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


NOW = local_ms(TODAY, 6)  # the erasure's nightly run
REQUESTED = local_ms(TODAY, 3)
ARCHIVED_UNTIL = NOW - 30 * 60_000  # what the archive holds when the erasure runs


@dataclass
class Erased:
    lake: str
    folder: Path  # the archive as it was, each file with its object's time
    expected: Path  # the same without the erased players' lines (filtered by this test, not by the erasure)
    before: dict
    after: dict
    view: InMemoryBatchView
    realtime: InMemoryRealtimeStore
    left: set  # the real-time items of today after the erasure
    store: MemoryErasureStore
    receipts: dict[str, Receipt]
    stopped: Receipt  # a receipt as the stopped try left it
    stopped_lake: dict  # the counts after the stopped try
    first: BatchSummary
    last: BatchSummary


def planted_events() -> list[dict]:
    events = []
    for offset in VICTIM_DAYS:
        day = FIRST + timedelta(days=offset)
        session = {"type": "session_start", "player_id": VICTIM, "attrs": {"country": "IS", "platform": "ios"}}
        events.append({**session, "event_id": f"v-s-{offset}", "ts": local_ms(day, 0, 20)})  # just after midnight
        events.append(
            {
                "type": "match_end",
                "player_id": VICTIM,
                "event_id": f"v-m-{offset}",
                "ts": local_ms(day, 21),
                "attrs": {},
            }
        )
    for n, offset in enumerate(NUMERIC_DAYS):
        day = FIRST + timedelta(days=offset)
        events.append(
            {
                "type": "session_start",
                "player_id": 4242 if n == 0 else "4242",  # the same player, in both forms
                "event_id": f"n-s-{offset}",
                "ts": local_ms(day, 12),
                "attrs": {"country": "NO"},
            }
        )
    return events


def archived(player_id: str) -> int:
    """How many of a planted player's events were archived when the erasure ran."""
    return sum(1 for e in planted_events() if str(e["player_id"]) == player_id and e["ts"] + 30_000 < ARCHIVED_UNTIL)


def filtered_copy(folder: Path, target: Path) -> None:
    """The archive without the erased players' lines, by plain JSON: each file keeps its name and time."""
    for path in sorted(folder.rglob("*.gz")):
        lines = gzip.decompress(path.read_bytes()).split(b"\n")
        kept = [line for line in lines if not (set(line_ids(line)) & ERASED)]
        out = target / path.relative_to(folder)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(gzip.compress(b"\n".join(kept)))
        shutil.copystat(path, out)


def line_ids(line: bytes) -> list[str]:
    try:
        doc = json.loads(line)
    except ValueError:
        return []
    value = doc.get("player_id") if isinstance(doc, dict) else None
    return [str(value)] if isinstance(value, (str, int)) and not isinstance(value, bool) else []


def snapshot(lake: str) -> dict:
    days = [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)]
    return {(r["metric"], r["bucket"], r["group_value"]): r["value"] for r in read_counts(lake, days).to_pylist()}


def fold_realtime(game_records: list[tuple[bytes, int]], store: InMemoryRealtimeStore) -> None:
    """The real-time layer of the last computed day and of today: every record of them, folded by the fold."""
    start = local_ms(LAST, 0)
    records = [
        Record(data, i + 1, arrival) for i, (data, arrival) in enumerate(game_records) if arrival >= start - 3_600_000
    ]
    fold_batch(records, "shardId-000000000000", store, CATALOG, TZ, 35, now_ms=NOW)


@pytest.fixture(scope="module")
def erased(spark, local_s3, tmp_path_factory) -> Erased:
    """The game's archive in a versioned S3 lake on the local S3 (a folder lake's erasure runs end to end in
    tests/e2e/test_erasure.py: the local stack's lake), erased as the module docstring says."""
    folder = tmp_path_factory.mktemp("erasure-archive")
    game = simulate_game(CATALOG, TZ, FIRST, DAYS + 1, new_per_day=40, seed=23)
    for event in planted_events():
        game.play(event, event["ts"] + 30_000)
    arrived = game.arrived(0, ARCHIVED_UNTIL)
    write_raw(folder, arrived, name="arrived")
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    lake = f"s3://{BUCKET}/lake"
    put_folder(folder, lake)
    expected = tmp_path_factory.mktemp("erasure-expected")
    filtered_copy(folder, expected)

    view, realtime, store = InMemoryBatchView(), InMemoryRealtimeStore(), MemoryErasureStore()
    first = run_batch(lake, LAST, TZ, "run-1", batch_view=view, spark=spark, days_back=DAYS - 1, extra_zones=[ZONE])
    fold_realtime(arrived, realtime)
    before = snapshot(lake)
    receipts = {
        name: request_erasure(store, [value], REQUESTED)
        for name, value in (("victim", VICTIM), ("numeric", int(NUMERIC)), ("ghost", GHOST))
    }

    erasing = []

    def stop_mid_recompute(message: str) -> None:
        """The run's progress: stopped once the erasure's recompute has switched the players tables."""
        erasing.extend([True] if ": raw: rewrote" in message else [])
        if erasing and message.startswith("players:"):
            raise KeyboardInterrupt("stopped in the recompute")

    setup = ErasureSetup(store, realtime, ErasurePolicy(max_pending=3), clock=lambda: NOW)
    with pytest.raises(KeyboardInterrupt):
        run_batch(
            lake,
            LAST,
            TZ,
            "run-2",
            batch_view=view,
            spark=spark,
            days_back=0,
            erasure=setup,
            progress=stop_mid_recompute,
            extra_zones=[ZONE],
        )
    stopped = store.receipt(receipts["victim"].id)
    stopped_lake = snapshot(lake)
    setup = ErasureSetup(store, realtime, ErasurePolicy(max_pending=3), clock=lambda: NOW)
    last = run_batch(
        lake, LAST, TZ, "run-3", batch_view=view, spark=spark, days_back=0, erasure=setup, extra_zones=[ZONE]
    )
    done = {name: store.receipt(r.id) for name, r in receipts.items()}
    after = snapshot(lake)
    left = {key for key in realtime.items if key.day == TODAY.isoformat()}
    # the next night publishes today, then purges its real-time items
    setup = ErasureSetup(store, realtime, ErasurePolicy(max_pending=3), clock=lambda: NOW + 86_400_000)
    run_batch(lake, TODAY, TZ, "run-4", batch_view=view, spark=spark, days_back=0, erasure=setup, extra_zones=[ZONE])
    return Erased(
        lake, folder, expected, before, after, view, realtime, left, store, done, stopped, stopped_lake, first, last
    )


def recount(folder: Path) -> dict:
    days = [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)]
    dts = [(FIRST + timedelta(days=i)).isoformat() for i in range(-1, DAYS + 2)]
    return {(m, b, g): v for m, b, g, v in exact_counts(folder, dts, days, TZ, CATALOG)}


def nonzero(values: dict) -> dict:
    return {k: v for k, v in values.items() if v}


# ------------------------------------------------------------------------------------------------------ receipts


@pytest.mark.spark
def test_every_receipt_is_done_with_each_step_stamped_and_no_id_left(erased: Erased) -> None:
    for name, receipt in erased.receipts.items():
        assert receipt is not None and receipt.state is State.DONE, (name, receipt)
        assert list(receipt.steps) == ["found", "raw", "lake", "published", "realtime"]
        text = json.dumps(receipt.to_json())
        assert VICTIM not in text and GHOST not in text and '"4242"' not in text
    assert erased.store.held_ids() == {}, "a request's ids outlive it"
    assert erased.receipts["victim"].covers(VICTIM) and erased.receipts["numeric"].covers(4242)


@pytest.mark.spark
def test_the_receipts_say_what_was_removed(erased: Erased) -> None:
    victim, numeric, ghost = (erased.receipts[n] for n in ("victim", "numeric", "ghost"))
    assert victim.removed["events"] == archived(VICTIM) == 2 * len(VICTIM_DAYS) - 1  # today's match is still to come
    assert numeric.removed["events"] == archived(NUMERIC) == len(NUMERIC_DAYS)
    computed = [(FIRST + timedelta(days=d)).isoformat() for d in VICTIM_DAYS if d < DAYS]
    assert victim.removed["days_recomputed"] == computed
    assert victim.removed["realtime_days_left"] == [TODAY.isoformat()]
    assert ghost.removed["events"] == 0 and ghost.to_json()["nothing_found"]
    assert not victim.to_json()["nothing_found"]
    assert victim.removed["batch"]["realtime_items_purged"] > 0


@pytest.mark.spark
def test_a_stopped_batch_left_its_receipts_failed_and_the_lake_whole(erased: Erased) -> None:
    assert erased.stopped is not None and erased.stopped.state is State.FAILED
    assert erased.stopped.error == "KeyboardInterrupt in step lake (the nightly job's log says more)"
    assert "raw" in erased.stopped.steps and "lake" not in erased.stopped.steps
    # the lake the stopped try left reads whole: each day's counts of one run, the recount of the archive it rewrote
    assert nonzero(erased.stopped_lake) == recount(erased.expected)
    assert erased.last.erasure is not None and erased.last.erasure.batch == erased.stopped.batch


# ---------------------------------------------------------------------------------------------------- the archive


def all_lines(lake: str) -> list[tuple[str, bytes]]:
    fs, _ = lake_filesystem(raw_uri(lake))
    out = []
    for path in data_files(raw_uri(lake), ""):
        with fs.open_input_stream(path, compression=None) as stream:
            data = gzip.decompress(stream.read())
        out.extend((path, line) for line in data.split(b"\n"))
    return out


@pytest.mark.spark
def test_no_raw_object_holds_the_players_and_every_other_line_is_there(erased: Erased) -> None:
    lines = all_lines(erased.lake)
    assert not [line for _path, line in lines if set(line_player_ids(line)) & ERASED]
    assert not [line for _path, line in lines if b"victim-1" in line or b'"4242"' in line or b": 4242" in line]
    expected = sorted(
        line for path in erased.expected.rglob("*.gz") for line in gzip.decompress(path.read_bytes()).split(b"\n")
    )
    assert sorted(line for _path, line in lines) == expected


@pytest.mark.spark
def test_no_older_object_version_holds_the_players(erased: Erased) -> None:
    s3 = client("s3")
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="lake/raw/")
    assert not versions.get("DeleteMarkers")
    for version in versions["Versions"]:
        body = s3.get_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        for line in gzip.decompress(body).split(b"\n"):
            assert not set(line_player_ids(line)) & ERASED, (version["Key"], version["IsLatest"])
    assert erased.last.erasure is not None and erased.last.erasure.versions_deleted > 0


# ------------------------------------------------------------------------------------------------------ the lake


def table_rows(uri: str) -> list[dict]:
    import pyarrow.dataset as ds

    fs, _ = lake_filesystem(uri)
    files = data_files(uri, ".parquet")
    return ds.dataset(files, filesystem=fs, format="parquet").to_table().to_pylist() if files else []


@pytest.mark.spark
def test_no_lake_table_holds_the_players(erased: Erased) -> None:
    for uri in (activity_uri(erased.lake), index_uri(erased.lake)):
        rows = table_rows(uri)
        assert rows and not [r for r in rows if r["player_id"] in ERASED], uri
    # every version of the players tables still in the lake, not only the current one
    rows = table_rows(players_uri(erased.lake))
    assert rows and not [r for r in rows if r["player_id"] in ERASED]


@pytest.mark.spark
def test_every_days_counts_equal_the_recount_without_the_players(erased: Erased) -> None:
    assert nonzero(erased.before) == recount(erased.folder)
    assert nonzero(erased.after) == recount(erased.expected)


@pytest.mark.spark
def test_a_days_unique_players_go_down_by_one_where_a_player_was_counted(erased: Erased) -> None:
    for i in range(DAYS):
        day = (FIRST + timedelta(days=i)).isoformat()
        gone = (i in VICTIM_DAYS) + (i in NUMERIC_DAYS)
        key = ("active_players", day, "")
        assert erased.before[key] - erased.after[key] == gone, day
        published = {p.bucket: p.count for p in erased.view.days[("active_players", day)][2]}
        assert published[day] == erased.after[key]
    others = {k: v for k, v in erased.before.items() if k[0] == "ad_impressions"}
    assert others == {k: erased.after[k] for k in others}, "a metric the players never counted in changed"


@pytest.mark.spark
def test_an_extra_zones_tables_and_days_lose_the_players_too(erased: Erased) -> None:
    """Tokyo's days the job computed (11-01 .. 11-10 there) equal the recount in Tokyo of the archive without them, as
    tables and as published; its activity and players tables hold neither."""
    tokyo = zone_lake(erased.lake, ZONE)
    days = [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)]
    dts = [(FIRST + timedelta(days=i)).isoformat() for i in range(-2, DAYS + 2)]
    expected = {
        (m, b, g): v for m, b, g, v in exact_counts(erased.expected, dts, days, ZONE, CATALOG) if "~" not in m and v
    }
    table = {(r["metric"], r["bucket"], r["group_value"]): r["value"] for r in read_counts(tokyo, days).to_pylist()}
    assert {(m.split("@")[0], b, g): v for (m, b, g), v in table.items() if v} == expected
    published = {
        (m.split("@")[0], p.bucket, p.group): p.count
        for (m, day), (_run, _at, rows) in erased.view.days.items()
        if m.endswith("@Asia.Tokyo") and day in days and CATALOG.get(m.split("@")[0]).kind.counted  # type: ignore[union-attr]
        for p in rows
        if p.count
    }
    assert published == expected
    for uri in (activity_uri(tokyo), players_uri(tokyo)):
        rows = table_rows(uri)
        assert rows and not [r for r in rows if r["player_id"] in ERASED], uri


@pytest.mark.spark
def test_the_kpis_equal_the_recount_without_the_players(erased: Erased) -> None:
    days = tuple((FIRST + timedelta(days=i)).isoformat() for i in range(DAYS))
    recount_kpis = KpiRecount(CATALOG, TZ)
    recount_kpis.add_run(Run(days, archive_files(erased.expected)))
    expected = recount_kpis.rows()
    table = {(r["metric"], r["bucket"], r["group_value"]): r["value"] for r in read_kpis(erased.lake).to_pylist()}
    wrong = {k: (table.get(k), v) for k, v in expected.items() if table.get(k) != v}
    assert not wrong, dict(list(wrong.items())[:8])


@pytest.mark.spark
def test_no_published_theta_sketch_holds_the_players(erased: Erased) -> None:
    """A Theta sketch keeps the hashes of its members: none may be an erased player's (HLL keeps no members; its days
    were rebuilt from the rewritten archive, as the counts above show)."""
    hashes = {sketches._theta_hash(pid) for pid in ERASED}  # noqa: SLF001 - the library's hash of an id
    for (metric, day), (_run, _at, rows) in erased.view.days.items():
        if CATALOG.get(metric.split("@")[0]).kind is not Kind.NEW:  # an extra zone's copies too
            continue
        for sketch in [erased.view.unions.get((metric, day)), *(r.sketch for r in rows)]:
            if sketch is not None:
                assert not hashes & set(sketches.theta_decode(sketch)), metric
    assert erased.view.days, "nothing published"


# -------------------------------------------------------------------------------------------------- real time


@pytest.mark.spark
def test_the_published_days_real_time_items_go_at_once_and_todays_once_it_is_published(erased: Erased) -> None:
    holding_ids = {m.name for m in CATALOG.metrics if m.kind in (Kind.DISTINCT, Kind.NEW)}
    assert {key.metric for key in erased.left} & holding_ids, "today's items were deleted before it was published"
    days = {key.day for key in erased.realtime.items if key.metric in holding_ids}
    assert not days & {LAST.isoformat(), TODAY.isoformat()}, "real-time items (recent ids included) were kept"
    counts = {key.day for key in erased.realtime.items if key.metric not in holding_ids}
    assert LAST.isoformat() in counts, "a count item (no ids) was deleted"
    victim = erased.store.receipt(erased.receipts["victim"].id)
    assert victim.removed["realtime_days_left"] == [] and victim.removed["realtime_items_purged_later"] > 0
