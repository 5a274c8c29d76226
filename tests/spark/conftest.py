"""The batch tests' warnings filters (their Spark session is the `spark` fixture of tests/conftest.py), and the nightly
job's game, its raw archive and its first run, shared by the test_nightly_*.py files (computed once for them all)."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from headcount.batch.job import run_job
from headcount.batch.plan import JobOptions, JobResult
from headcount.batch.session import use_s3_endpoint
from headcount.core.buckets import day_bounds_ms
from headcount.local.s3 import LocalS3
from headcount.local.simulator import simulate
from headcount.views.catalog_file import load_catalog
from support.raw_lake import arrivals, put_folder, write_raw
from tests.spark.nightly_game import (
    DAY,
    DAYS,
    TZ,
    Game,
    add,
    corpus,
    ms,
    no_id_events,
    resent_copies,
)

S3_PORT, S3_BUCKET = 19470, "lake"


def pytest_configure(config):
    # PySpark 3.5 checks pandas/pyarrow versions with distutils' LooseVersion on every Arrow call.
    config.addinivalue_line("filterwarnings", r"ignore:distutils Version classes are deprecated:DeprecationWarning")
    # assertDataFrameEqual tries pyspark.pandas (absent on pandas 3) and goes on without it
    config.addinivalue_line("filterwarnings", r"ignore:'PYARROW_IGNORE_TIMEZONE' environment variable:UserWarning")


@pytest.fixture(scope="package")
def game() -> Game:
    catalog = load_catalog()
    start, _ = day_bounds_ms(date(2026, 10, 24), TZ)
    _, end = day_bounds_ms(DAY, TZ)
    sim = simulate(catalog, TZ, start, end, 3000, seed=11)
    assert sim.duplicates and sim.late
    expected: dict[tuple[str, str, str], int] = defaultdict(int)
    for metric, buckets in sim.truth.deduplicated.items():
        for bucket, groups in buckets.items():
            if bucket[:10] in DAYS:
                for group, value in groups.items():
                    expected[(metric, bucket, group)] += value
    seen: dict = defaultdict(set)
    for event in no_id_events():
        add(expected, catalog, event, copies=2, seen=seen)
    return Game(catalog, sim, dict(expected))


@pytest.fixture(scope="package")
def raw_lake(tmp_path_factory, game: Game) -> Path:
    """The archive of the game, as Firehose (or the archiver) leaves it, with the mishaps it can leave behind."""
    lake = tmp_path_factory.mktemp("lake")
    files = write_raw(lake, arrivals(game.sim.records), name="headcount-events-0")
    # A re-archived file (a crash between rename and checkpoint): every record twice, absorbed by the dedup.
    shutil.copy2(files[len(files) // 2], files[len(files) // 2].with_name("headcount-events-0-again.json.gz"))
    # Events without event_id, each sent twice: all counted.
    no_id = [(json.dumps(e).encode(), e["ts"] + 5_000) for e in no_id_events()]
    write_raw(lake, no_id + no_id, name="no-id")
    # Re-sent events whose later copies the archive filed in other hours and on other days: one copy counts.
    write_raw(lake, resent_copies(game.sim.records), name="resent")
    # Junk: every record of the validator corpus (its valid ones are months too old for these arrival times).
    write_raw(lake, [(c["record"].encode(), ms("2026-10-25T12:00:30Z")) for c in corpus()], name="junk")
    # Empty lines, as Firehose's AppendDelimiterToRecord leaves after newline-terminated records: no event, no rejection.
    write_raw(lake, [(b"\n", ms("2026-10-25T12:00:30Z"))] * 3, name="delimiters")
    # An archiver's temporary file (hidden) is not input.
    hidden = [
        (
            json.dumps({"type": "match_end", "player_id": "ghost", "ts": ms("2026-10-25T12:00:00Z")}).encode(),
            ms("2026-10-25T12:00:30Z"),
        )
    ] * 50
    for path in write_raw(lake, hidden, name="ghost"):
        path.rename(path.with_name(".headcount-events-1.json.gz.tmp4242"))
    return lake


@pytest.fixture(scope="package")
def local_s3(spark, tmp_path_factory) -> Iterator[LocalS3]:
    """The local S3 (MinIO, a bucket `lake`), and this package's boto3, pyarrow and Spark pointed at it."""
    s3 = LocalS3(tmp_path_factory.mktemp("s3") / "data", port=S3_PORT).start()
    saved = {name: os.environ.get(name) for name in s3.environment()}
    os.environ.update(s3.environment())
    use_s3_endpoint(spark, s3.endpoint)
    s3.create_bucket(S3_BUCKET)
    yield s3
    s3.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="package", params=["folder", "s3"])
def first_run(request, spark, game: Game, raw_lake: Path, tmp_path_factory) -> tuple[str, JobResult, Path]:
    """The job's first run over the archive: (the lake, the run, a folder holding the lake's raw/ with each file's
    modification time the lake's own). The lake is a folder, or an S3 lake on the local S3 that the raw archive was
    put into as Firehose puts it (object by object, under raw/dt=/hr=)."""
    if request.param == "folder":
        lake = tmp_path_factory.mktemp("first-run")
        shutil.copytree(raw_lake / "raw", lake / "raw")
        return str(lake), run_job(spark, JobOptions(day=DAY, lake=str(lake), tz=TZ, run_id="run-a")), lake
    request.getfixturevalue("local_s3")
    lake = f"s3://{S3_BUCKET}/first-run"
    mirror = tmp_path_factory.mktemp("first-run-raw")
    shutil.copytree(raw_lake / "raw", mirror / "raw")
    put_folder(mirror, lake)
    return lake, run_job(spark, JobOptions(day=DAY, lake=lake, tz=TZ, run_id="run-a")), mirror
