"""The nightly job's game KPIs are exact, run after run: a simulated 40-day game archived by arrival as production
archives it, one first run computing 34 days, then a nightly run a day (each recomputing the 2 days before), every
run published into a batch view.

After every run, the job's `kpis` table and everything published so far must equal the independent DuckDB recount
(support/kpi_sql.py: SQL over the same raw files, given the runs that happened and what the archive held when each
ran); after the last run also the simulator's truth (plain Python sets over the events that had arrived), the new
players' Theta sketches must hold exactly the true players, and the serving layer must answer every KPI of every day
exactly from the publications. The game has late sessions (1-2 days) and one planted player whose first session
(offline, on the 25-hour DST day) arrives after the run that counted them new on the next day: the run after must
move them to the earlier cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from headcount.core import sketches
from headcount.core.catalog import Kind
from headcount.local.batch import BatchSummary, run_batch
from headcount.local.simulator import Game, KpiTruth, simulate_game
from headcount.views.batch import InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import kpis_uri, lake_filesystem, read_counts
from support.kpi_sql import KpiRecount, Row, Run, archive_files, nightly_run_ms
from support.raw_lake import put_folder, write_raw
from tests.spark.conftest import S3_BUCKET

TZ = "Europe/Berlin"
FIRST = date(2026, 9, 20)
DAYS = 40  # 2026-09-20 .. 2026-10-29
LAST = FIRST + timedelta(days=DAYS - 1)
FIRST_RUN_BACK = 33  # the first run, for 2026-10-23, computes 34 days (a cohort's D+30 among them)
SCHEDULE = [(FIRST + timedelta(days=FIRST_RUN_BACK), FIRST_RUN_BACK)] + [
    (FIRST + timedelta(days=i), 2) for i in range(FIRST_RUN_BACK + 1, DAYS)
]
PLANTED = "planted-1"
PLANTED_DAY = date(2026, 10, 25)  # 25 hours in Berlin; the planted player's first, offline, day
CATALOG = load_catalog()
KPIS = [m for m in CATALOG.kpis() if m.kind is not Kind.RATIO]


def local_ms(day: date, hour: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


@dataclass
class Snapshot:
    """The batch layer after one run, and what it must be."""

    summary: BatchSummary
    days: tuple[str, ...]  # the days the run must have computed
    table: list[dict]  # every row of the kpis table
    published: dict[tuple[str, str], tuple[str, list, bytes | None]]  # (metric, day) -> run, rows, union sketch
    expected: dict[Row, int]  # the recount
    ratios: dict[tuple[str, str], float | None]
    truth: KpiTruth  # the simulator's, of what had arrived when each day was last computed


@dataclass
class History:
    game: Game
    lake: str
    view: InMemoryBatchView
    runs: list[Snapshot] = field(default_factory=list)
    last_run_ms: dict[str, int] = field(default_factory=dict)  # day -> when the last run that computed it ran


def planted_game() -> Game:
    game = simulate_game(CATALOG, TZ, FIRST, DAYS, new_per_day=120, seed=40)
    session = {"type": "session_start", "player_id": PLANTED, "attrs": {"country": "PL", "platform": "ios"}}
    after = PLANTED_DAY + timedelta(days=1)
    # played offline on the evening of PLANTED_DAY, uploaded at noon two days later: after the run for the next day
    game.play({**session, "event_id": "planted-a", "ts": local_ms(PLANTED_DAY, 22)}, local_ms(after + timedelta(1), 12))
    game.play({**session, "event_id": "planted-b", "ts": local_ms(after, 19)}, local_ms(after, 19) + 20_000)
    return game


def read_table(lake: str) -> list[dict]:
    """The kpis table as Parquet readers see it (hive partitions metric= and day=), not through the job's reader."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    fs, path = lake_filesystem(kpis_uri(lake))
    partitioning = ds.partitioning(pa.schema([("metric", pa.string()), ("day", pa.string())]), flavor="hive")
    return ds.dataset(path, filesystem=fs, format="parquet", partitioning=partitioning).to_table().to_pylist()


def partition_day(metric: str, bucket: str) -> str:
    """The day of a KPI row's partition and publication: its day, or a retention cell's cohort day."""
    return bucket.split("+")[0]


@pytest.fixture(scope="module", params=["folder", "s3"])
def history(request, spark, tmp_path_factory) -> History:
    """Every run of the schedule on the growing archive, each published, with the snapshots the tests compare. The
    lake is a folder, or an S3 lake on the local S3 (the archive put into it as Firehose puts it, and kept in a folder
    too, with the objects' times, for the recount)."""
    files = tmp_path_factory.mktemp("kpi-lake")
    lake = str(files)
    if request.param == "s3":
        request.getfixturevalue("local_s3")
        lake = f"s3://{S3_BUCKET}/kpi-lake"
    game = planted_game()
    history = History(game, lake, InMemoryBatchView())
    recount = KpiRecount(CATALOG, TZ)
    since = 0
    for i, (day, back) in enumerate(SCHEDULE):
        at = nightly_run_ms(day, TZ)
        written = write_raw(
            files, game.arrived(since, at), name=f"arrived-{i}"
        )  # what the archiver wrote until the run
        if request.param == "s3":
            put_folder(files, lake, written)
        since = at
        days = tuple((day - timedelta(days=n)).isoformat() for n in range(back, -1, -1))
        recount.add_run(Run(days, archive_files(files)))
        summary = run_batch(lake, day, TZ, f"run-{i:02d}", batch_view=history.view, spark=spark, days_back=back)
        history.last_run_ms |= dict.fromkeys(days, at)
        view = history.view
        published = {key: (run, list(rows), view.unions.get(key)) for key, (run, _at, rows) in view.days.items()}
        truth = game.truth(known_by=lambda d, known=dict(history.last_run_ms): known.get(d, 0))
        history.runs.append(
            Snapshot(summary, days, read_table(lake), published, recount.rows(), recount.ratios(), truth)
        )
    return history


def table_values(snapshot: Snapshot) -> dict[Row, int]:
    values = {(r["metric"], r["bucket"], r["group_value"]): r["value"] for r in snapshot.table}
    assert len(values) == len(snapshot.table), "a kpis row twice"
    return values


# ------------------------------------------------------------------------------------------------ run after run


@pytest.mark.spark
def test_each_run_computes_the_days_of_the_schedule(history: History) -> None:
    for snapshot in history.runs:
        assert tuple(snapshot.summary.job.days) == snapshot.days
        assert not snapshot.summary.job.skipped


@pytest.mark.spark
def test_the_kpis_table_equals_the_recount_after_every_run(history: History) -> None:
    for i, snapshot in enumerate(history.runs):
        values = table_values(snapshot)
        missing = {k: v for k, v in snapshot.expected.items() if k not in values}
        extra = {k: v for k, v in values.items() if k not in snapshot.expected}
        wrong = {k: (values[k], v) for k, v in snapshot.expected.items() if k in values and values[k] != v}
        assert not (missing or extra or wrong), f"run {i}: missing {missing}, extra {extra}, (job, recount) {wrong}"
        for row in snapshot.table:
            assert row["day"] == partition_day(row["metric"], row["bucket"]), row
            # the rows of the run's days are the run's
            if row["bucket"] in snapshot.days or row["bucket"].split("+")[0] in snapshot.days:
                assert row["run_id"] == f"run-{i:02d}", row


@pytest.mark.spark
def test_what_is_published_equals_the_recount_after_every_run(history: History) -> None:
    for i, snapshot in enumerate(history.runs):
        expected: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
        for (metric, bucket, group), value in snapshot.expected.items():
            if group is not None:  # a new-players metric's group NULL row is its publication's union sketch
                expected.setdefault((metric, partition_day(metric, bucket)), {})[(bucket, group)] = value
        published = {
            key: {(p.bucket, p.group): p.count for p in rows}
            for key, (_run, rows, _union) in snapshot.published.items()
            if key[0] in {m.name for m in KPIS}
        }
        wrong = {k: (published.get(k), v) for k, v in expected.items() if published.get(k) != v}
        assert not wrong, f"run {i}: (published, recount) {dict(list(wrong.items())[:5])}"
        assert published.keys() == expected.keys()
        for (metric, day), (_run, rows, union) in snapshot.published.items():
            if CATALOG.get(metric).kind is Kind.NEW:
                assert union is not None and rows[0].sketch is not None, (metric, day)
                seen = sketches.theta_estimate(sketches.theta_decode(union))
                assert seen.low <= snapshot.expected[(metric, day, None)] <= seen.high
                assert sketches.theta_estimate(sketches.theta_decode(rows[0].sketch)).value == rows[0].count


# ------------------------------------------------------------------------------------------ against the simulator


def simulated_arrivals(history: History) -> None:
    """The simulator's truth takes each file's arrival window from its simulated write time. S3 stamps an object with
    the time it was put: months after the simulated arrivals here, which widens the windows (a device clock ahead of its
    arrival is let in). On S3 the job is held to the recount over the same objects instead (the tests above)."""
    if history.lake.startswith("s3://"):
        pytest.skip("S3 stamps objects with the real time of the put, not the simulated arrival")


def computed_row(bucket: str, days: set[str]) -> bool:
    """Whether a run computed the row's day: its bucket's, or for a retention cell `C+k` the day C+k."""
    cohort, _, k = bucket.partition("+")
    return (date.fromisoformat(cohort) + timedelta(days=int(k or 0))).isoformat() in days


@pytest.mark.spark
def test_the_recount_equals_the_simulators_truth_after_every_run(history: History) -> None:
    simulated_arrivals(history)
    computed: set[str] = set()
    for i, snapshot in enumerate(history.runs):
        computed |= set(snapshot.days)
        truth = snapshot.truth
        assert snapshot.expected == {k: v for k, v in truth.kpis.items() if computed_row(k[1], computed)}, f"run {i}"
        assert snapshot.ratios == {k: v for k, v in truth.ratios.items() if k[1] in computed}, f"run {i}"
    # After the last run every day of the game is computed, known as the runs saw it, not as it finally was: sessions
    # of the last days kept arriving after the last run
    last = history.runs[-1]
    assert table_values(last) == last.truth.kpis
    assert history.game.truth().kpis != last.truth.kpis
    # and the counts behind them (stickiness divides active_players) are the truth's too
    counts = read_counts(history.lake, history.game.days).to_pylist()
    assert {(r["metric"], r["bucket"], r["group_value"]): r["value"] for r in counts if r["value"]} == last.truth.counts


@pytest.mark.spark
def test_the_new_players_sketches_hold_exactly_the_true_players_after_every_run(history: History) -> None:
    simulated_arrivals(history)
    for i, snapshot in enumerate(history.runs):
        for row in snapshot.table:
            metric = CATALOG.get(row["metric"])
            if metric.kind is not Kind.NEW:
                assert row["sketch"] is None, row
                continue
            players = snapshot.truth.new_players[(row["metric"], row["bucket"], row["group_value"])]
            mine = sketches.theta_decode(sketches.theta_of_values(players, metric.lg_k))
            theirs = sketches.theta_decode(row["sketch"])
            assert (theirs.theta64, sorted(theirs)) == (mine.theta64, sorted(mine)), (
                i,
                row["bucket"],
                row["group_value"],
            )


@pytest.mark.spark
def test_a_late_first_session_moves_the_player_to_the_earlier_cohort(history: History) -> None:
    # Given the run for the day after PLANTED_DAY: it had the planted player's second session, not the first
    after = PLANTED_DAY + timedelta(days=1)
    i = [day for day, _back in SCHEDULE].index(after)
    before_move, moved = history.runs[i], history.runs[i + 1]

    def new_on(snapshot: Snapshot, day: date) -> bool:
        """Whether the job's sketch of the day's new players holds the planted player."""
        [row] = [
            r
            for r in snapshot.table
            if r["metric"] == "new_players" and r["bucket"] == day.isoformat() and r["group_value"] == ""
        ]
        planted = sketches.theta_decode(sketches.theta_of_values([PLANTED], 12))
        return (
            sketches.theta_estimate(sketches.theta_intersect(sketches.theta_decode(row["sketch"]), planted)).value == 1
        )

    # Then that run counted them new on the day after
    assert new_on(before_move, after) and not new_on(before_move, PLANTED_DAY)
    assert PLANTED in before_move.truth.new_players[("new_players", after.isoformat(), "")]
    # and the next run, which had the late session, moved them to PLANTED_DAY's cohort, back the next day
    assert new_on(moved, PLANTED_DAY) and not new_on(moved, after)
    assert PLANTED in moved.truth.new_players[("new_players", PLANTED_DAY.isoformat(), "")]
    cell = ("retention", f"{PLANTED_DAY.isoformat()}+1", "")
    assert cell in before_move.expected and table_values(moved)[cell] == moved.expected[cell]
    # (the new-players values of both days and that cell are the recount's and the truth's after both runs: above)


@pytest.mark.spark
def test_the_serving_layer_answers_every_kpi_exactly_from_the_publications(history: History) -> None:
    from headcount.logic.reads import Reads
    from headcount.logic.serving import MetricsService
    from headcount.views.realtime import InMemoryRealtimeStore

    last = history.runs[-1]
    service = MetricsService(Reads(CATALOG, InMemoryRealtimeStore(), history.view, TZ))
    now_ms = nightly_run_ms(LAST, TZ) + 3_600_000  # an hour after the last run
    for metric in CATALOG.kpis():
        if metric.kind is Kind.RETENTION:
            continue
        points = service.series(metric.name, FIRST.isoformat(), LAST.isoformat(), None, now_ms).points
        assert [p.bucket for p in points] == [d.isoformat() for d in _days(FIRST, LAST)]
        for point in points:
            assert (point.exact, point.source) == (True, "batch"), (metric.name, point)
            if metric.kind is Kind.RATIO:
                ratio = last.ratios[(metric.name, point.bucket)]
                assert point.value == ratio, (metric.name, point)
            else:
                assert point.value == last.expected[(metric.name, point.bucket, "")], (metric.name, point)
    matrix = service.retention("retention", FIRST.isoformat(), LAST.isoformat(), None, now_ms)
    for cohort in matrix.cohorts:
        assert cohort.size.exact and cohort.size.value == last.expected[("new_players", cohort.day.isoformat(), "")]
        for cell in cohort.returned:
            if cell.day <= LAST:
                expected = last.expected[("retention", f"{cohort.day.isoformat()}+{cell.k}", "")]
                assert (cell.cell.exact, cell.cell.value) == (True, expected), (cohort.day, cell)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
