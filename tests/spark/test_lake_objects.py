"""The lake as S3 leaves it: the markers Spark, Hadoop and Glue put beside the data change no answer, and a run killed
at any point leaves a lake that reads whole and consistent, on a folder and on the local S3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from headcount.local.batch import run_batch
from headcount.views.batch import InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import (
    activity_uri,
    counts_uri,
    kpis_uri,
    lake_filesystem,
    players_uri,
    raw_uri,
    read_counts,
    read_kpis,
    read_players_manifest,
)
from headcount.views.tables import DuckDBTables
from support.raw_lake import put_folder, write_raw
from tests.spark.conftest import S3_BUCKET

TZ = "UTC"
DAY = date(2026, 10, 26)
DAYS = [(DAY - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
REPO = Path(__file__).resolve().parents[2]


def small_archive(folder: Path) -> list[Path]:
    """Three days of a few players (new ones every day, some coming back), archived by arrival."""
    records = []
    for n, day in enumerate(DAYS):
        for p in range(n * 3, n * 3 + 8):
            at = int(datetime.fromisoformat(f"{day}T1{p % 10}:00:00+00:00").timestamp() * 1000)
            event = {"event_id": f"e-{day}-{p}", "type": "session_start", "player_id": f"p{p}", "ts": at}
            event["attrs"] = {"country": ["DE", "FR", "JP"][p % 3], "platform": "ios"}
            records.append((json.dumps(event).encode(), at + 30_000))
            match = {**event, "event_id": f"m-{day}-{p}", "type": "match_end", "ts": at + 60_000}
            records.append((json.dumps(match).encode(), at + 90_000))
    return write_raw(folder, records, name="part")


@pytest.fixture(params=["folder", "s3"])
def lake(request, tmp_path: Path) -> str:
    """A lake holding the small archive: a folder, or an S3 lake on the local S3 it was put into."""
    small_archive(tmp_path)
    if request.param == "folder":
        return str(tmp_path)
    request.getfixturevalue("local_s3")
    uri = f"s3://{S3_BUCKET}/{request.node.name.replace('[', '-').rstrip(']')}-{time.monotonic_ns()}"
    put_folder(tmp_path, uri)
    return uri


def answers(lake: str, view: InMemoryBatchView) -> dict:
    """What every reader of the lake answers: the published cells, the tables through SQL, the players' manifests."""
    tables = DuckDBTables(lake)
    published = {
        key: sorted((p.bucket, p.group, p.count, p.sketch) for p in rows)
        for key, (_run, _at, rows) in view.days.items()
    }
    sql = {
        table: tables.sql(f"SELECT * EXCLUDE (run_id) FROM {table} ORDER BY ALL").rows  # noqa: S608
        for table in ("counts", "kpis")
    }
    sql |= {
        table: tables.sql(f"SELECT * FROM {table} ORDER BY ALL").rows  # noqa: S608
        for table in ("raw", "activity", "players")
    }
    return {"published": published, "sql": sql}


def put(lake: str, key: str, body: bytes = b"") -> None:
    fs, base = lake_filesystem(lake)
    path = f"{base}/{key}"
    if key.endswith("/"):  # a folder marker: a zero-byte object of that name on S3 (pyarrow writes one), a folder here
        fs.create_dir(path.rstrip("/"))
        return
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path, compression=None) as out:
        out.write(body)


def plant_markers(lake: str) -> int:
    """In every table and in every partition folder: Glue's `<folder>_$folder$` objects, Spark's `_SUCCESS` and
    `_temporary/` (with a half-written part file in it), folder markers, zero-byte files and a hidden file."""
    import pyarrow.fs as pafs

    planted = 0
    fs, base = lake_filesystem(lake)
    for table_uri in (raw_uri(lake), counts_uri(lake), activity_uri(lake), players_uri(lake), kpis_uri(lake)):
        table = table_uri[len(lake) + 1 :]
        folders = [table] + [
            info.path[len(base) + 1 :]
            for info in fs.get_file_info(pafs.FileSelector(f"{base}/{table}", recursive=True))
            if info.type == pafs.FileType.Directory
        ]
        for folder in folders:
            put(lake, f"{folder}_$folder$")
            put(lake, f"{folder}/")
            put(lake, f"{folder}/_SUCCESS")
            put(lake, f"{folder}/empty.parquet" if table != "raw" else f"{folder}/empty.gz")
            put(lake, f"{folder}/.part-00000.crc", b"junk")
            planted += 5
        put(lake, f"{table}/_temporary/0/_temporary/attempt_1/part-00000.parquet", b"PAR1 half written")
        put(lake, f"{table}/_temporary/0/_temporary/attempt_1/part-00000.gz", b"half written")
        put(lake, f"{table}/.spark-staging-1/day=2026-10-26/part-00000.parquet", b"PAR1 half written")
    return planted


@pytest.mark.spark
def test_markers_in_every_table_change_no_answer(spark, lake: str) -> None:
    # Given a lake the job ran over, and what every reader answered
    first = InMemoryBatchView()
    run_batch(lake, DAY, TZ, "run-a", batch_view=first, spark=spark, days_back=2)
    before = answers(lake, first)
    assert before["sql"]["counts"] and before["sql"]["players"] and before["sql"]["raw"]
    # When every table is littered with the objects S3 file systems and Spark leave behind
    assert plant_markers(lake) > 50
    # Then the job, publishing and SQL give the same answers (the job read raw/ and wrote its tables among the markers)
    assert answers(lake, first) == before
    again = InMemoryBatchView()
    run_batch(lake, DAY, TZ, "run-b", batch_view=again, spark=spark, days_back=2)
    assert answers(lake, again) == before


# ---------------------------------------------------------------------------------------- a run killed at any point


def lake_objects(lake: str) -> list[str]:
    import pyarrow.fs as pafs

    fs, base = lake_filesystem(lake)
    found = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return [i.path[len(base) + 1 :] for i in found if i.type == pafs.FileType.File]


def killed_run(lake: str, run_id: str, when: str) -> list[str]:
    """The job (the Glue script, as a process of its own) killed with SIGKILL once the lake holds an object whose key
    contains `when`; -> the lake's keys at the kill."""
    command = [sys.executable, "-m", "glue_jobs.nightly_counts", "--day", DAY.isoformat(), "--lake", lake]
    command += ["--tz", TZ, "--run_id", run_id, "--days_back", "2"]
    job = subprocess.Popen(command, cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            keys = lake_objects(lake)
            if any(when in key for key in keys):
                job.send_signal(signal.SIGKILL)
                job.wait()
                return keys
            assert job.poll() is None, f"the job ended before writing {when!r}: {job.stderr.read().decode()[-2000:]}"
            time.sleep(0.05)
        raise AssertionError(f"no {when!r} object within 300 s")
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()


def assert_readable_and_consistent(lake: str) -> None:
    """Every reader reads the lake; each counts day holds the rows of one run; the players table is a whole version."""
    counts = read_counts(lake, DAYS).to_pylist()
    runs_by_day: dict[str, set[str]] = {}
    for row in counts:
        runs_by_day.setdefault(row["day"], set()).add(row["run_id"])
    assert set(runs_by_day) == set(DAYS) and all(len(runs) == 1 for runs in runs_by_day.values()), runs_by_day
    kpis = read_kpis(lake).to_pylist()
    assert {r["day"] for r in kpis} >= set(DAYS) and all(r["run_id"] for r in kpis)
    DuckDBTables(lake).sql("SELECT count(*) FROM players")
    for metric in [m.name for m in load_catalog().new_metrics()]:  # one players table each (not the fold's twin)
        files = read_players_manifest(lake, metric)
        assert files, metric
        fs, _ = lake_filesystem(lake)
        for uri in files:
            assert fs.get_file_info(lake_filesystem(uri)[1]).size, uri
        assert all(f"/version={files[0].split('/version=')[1].split('/')[0]}/" in uri for uri in files)


@pytest.mark.spark
@pytest.mark.parametrize("lake", ["s3"], indirect=True)
def test_a_run_killed_at_any_point_leaves_a_readable_consistent_lake(spark, lake: str) -> None:
    # Given a lake the job ran over, and its answers
    reference = InMemoryBatchView()
    run_batch(lake, DAY, TZ, "run-a", batch_view=reference, spark=spark, days_back=2)
    expected = answers(lake, reference)
    manifest = read_players_manifest(lake, "new_players")
    # When runs are killed while Spark writes the counts, and while a new version of the players table is written
    for run_id, when in (("run-b", "counts/.spark-staging"), ("run-c", "players/metric=new_players/version=run-c")):
        keys = killed_run(lake, run_id, when)
        assert any(when in key for key in keys)
        # Then the lake reads whole and consistent, and the players table is still the version the first run wrote
        assert_readable_and_consistent(lake)
        assert read_players_manifest(lake, "new_players") == manifest
    # And the next run, complete, gives the answers of the first
    again = InMemoryBatchView()
    run_batch(lake, DAY, TZ, "run-e", batch_view=again, spark=spark, days_back=2)
    assert answers(lake, again) == expected
    assert read_players_manifest(lake, "new_players") != manifest
