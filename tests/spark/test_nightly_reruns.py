"""The nightly job run again: identical publications, late events joining the next night's recompute, a lost or
damaged batch view published again from the lake."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from datasketches import tgt_hll_type

from headcount import names
from headcount.core import sketches
from headcount.core.catalog import Catalog
from headcount.local.batch import run_batch
from headcount.logic.publishing import publish, republish
from headcount.views.batch import DynamoBatchView, InMemoryBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import counts_uri, lake_filesystem, read_counts
from support.raw_lake import write_raw
from tests.spark.nightly_game import (
    DAY,
    DAYS,
    TZ,
    Game,
    counted,
    ms,
)

# -------------------------------------------------------------------------------------- (b) reruns and late events


def published(view: DynamoBatchView, catalog: Catalog, days: list[str]) -> dict:
    """The published rows of the counts' metrics on these days."""
    return {
        (m.name, d): sorted(view.day_rows(m.name, d), key=lambda p: (p.bucket, p.group))
        for m in counted(catalog).metrics
        for d in days
    }


def published_kpis(view: DynamoBatchView, kpi_days: dict[str, list[str]]) -> dict:
    return {
        (metric, d): sorted(view.day_rows(metric, d), key=lambda p: (p.bucket, p.group))
        for metric, days in kpi_days.items()
        for d in days
    }


@pytest.mark.spark
def test_rerun_publishes_identical_values_and_late_events_join_the_next_nights_recompute(
    spark, aws, game: Game, raw_lake: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(raw_lake / "raw", lake / "raw")
    view = DynamoBatchView(names.BATCH_TABLE)

    kpi_days = run_batch(lake, DAY, TZ, "run-1", batch_view=view, spark=spark).job.kpi_days
    first = published(view, game.catalog, DAYS)
    first_kpis = published_kpis(view, kpi_days)
    assert kpi_days["new_players"] == DAYS and kpi_days["retention"] == DAYS[:2]  # no 2026-10-27 yet for +1
    assert run_batch(lake, DAY, TZ, "run-2", batch_view=view, spark=spark).job.kpi_days == kpi_days
    again = published(view, game.catalog, DAYS)
    assert again == first  # values and sketch bytes
    assert published_kpis(view, kpi_days) == first_kpis  # the Theta sketches too
    stored = [(p, sketches.decode(p.sketch)) for rows in first.values() for p in rows if p.sketch]
    assert stored and all(s.tgt_type == tgt_hll_type.HLL_4 for _p, s in stored)  # the stored form
    assert all(sketches.estimate(s).low <= p.count <= sketches.estimate(s).high for p, s in stored)
    assert view.published_run("active_players", DAYS[-1]) == "run-2"
    active = {p.bucket: p.count for p in first[("active_players", DAYS[-1])]}
    assert active == {DAYS[-1]: game.expected[("active_players", DAYS[-1], "")]}

    # Players of DAY whose events arrive the next morning, after the night's run ...
    late = [
        {
            "event_id": f"late-{i}",
            "type": "session_start",
            "player_id": f"late-{i}",
            "ts": ms("2026-10-26T21:00:00+01:00") + i,
            "attrs": {"country": "DE"},
        }
        for i in range(5)
    ]
    write_raw(lake, [(json.dumps(e).encode(), ms("2026-10-27T09:15:00Z")) for e in late], name="late")
    # ... are in DAY's numbers after the next night, which recomputes DAY-1 .. DAY+1.
    summary = run_batch(lake, DAY + timedelta(days=1), TZ, "run-3", batch_view=view, spark=spark)
    assert summary.job.days == ["2026-10-25", "2026-10-26", "2026-10-27"]
    after = published(view, game.catalog, DAYS)
    assert {p.bucket: p.count for p in after[("active_players", DAYS[-1])]} == {DAYS[-1]: active[DAYS[-1]] + 5}
    de = ("active_players_by_country", DAYS[-1])
    assert {p.group: p.count for p in after[de]}["DE"] == {p.group: p.count for p in first[de]}["DE"] + 5
    assert after[("matches_played", DAYS[-1])] == first[("matches_played", DAYS[-1])]
    # They are new players of DAY, in the rolling windows holding it, and in retention's cohort of DAY (not on DAY+1)
    kpis_after = published_kpis(view, summary.job.kpi_days)

    def value(kpis: dict, metric: str, bucket: str, day: str = DAYS[-1]) -> int:
        return {p.bucket: p.count for p in kpis[(metric, day)]}[bucket]

    for metric in ("new_players", "weekly_active_players", "monthly_active_players"):
        assert value(kpis_after, metric, DAYS[-1]) == value(first_kpis, metric, DAYS[-1]) + 5
    assert value(kpis_after, "retention", "2026-10-26+1") == 0
    assert summary.job.kpi_days["weekly_active_players"] == summary.job.days
    assert summary.totals["2026-10-27"]["active_players"] == 0  # arrived, but nothing happened on DAY+1 yet
    # Dynamic partition overwrite: the run replaced its three days and left 2026-10-24 as run-2 wrote it.
    runs = {(r["day"], r["run_id"]) for r in read_counts(lake, ["2026-10-24", *summary.job.days]).to_pylist()}
    assert runs == {("2026-10-24", "run-2"), ("2026-10-25", "run-3"), ("2026-10-26", "run-3"), ("2026-10-27", "run-3")}
    assert view.published_run("active_players", "2026-10-24") == "run-2"


@pytest.mark.spark
def test_a_lost_batch_view_is_published_again_from_the_counts_table(first_run, aws) -> None:
    # Given the counts of a run, and a batch view that has lost them (moto keeps its state in memory only)
    lake, result, _files = first_run
    reference = InMemoryBatchView()
    publish(lake, result.days, result.run_id, reference, kpi_days=result.kpi_days, tz=TZ)
    view = DynamoBatchView(names.BATCH_TABLE)
    assert view.day_rows("active_players", DAYS[-1]) is None
    # When the local stack starts again and republishes the lake's counts and kpis
    republished = republish(lake, view, tz=TZ)
    # Then every day is back as the run that computed it published it, and every KPI partition
    assert republished.days == dict.fromkeys(DAYS, "run-a") and not republished.failed
    kpi_partitions = [(metric, day) for metric, days in result.kpi_days.items() for day in days]
    assert republished.kpis == dict.fromkeys(kpi_partitions, "run-a")
    everything = [(m.name, day) for m in counted(load_catalog()).metrics for day in DAYS] + kpi_partitions
    for metric, day in everything:
        assert view.published_run(metric, day) == "run-a"

        def cells(rows: list) -> list:
            return sorted((p.bucket, p.group, p.count, p.sketch) for p in rows)

        assert cells(view.day_rows(metric, day)) == cells(reference.day_rows(metric, day))
    # (the union row of a new-players day is everyone seen up to it, as published)
    publication = view.publications("new_players", DAYS[-1], DAYS[-1])[DAYS[-1]]
    assert view.union_sketches("new_players", [publication], None) == {
        DAYS[-1]: reference.unions[("new_players", DAYS[-1])]
    }
    assert republish(f"{lake}-none", view, tz=TZ).days == {}


@pytest.mark.spark
def test_a_damaged_day_does_not_keep_the_others_from_being_republished(first_run, aws, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    # Given the lake's counts plus a day whose partition holds rows of two runs
    lake, _result, _files = first_run
    fs, counts = lake_filesystem(counts_uri(lake))
    pafs.copy_files(
        counts, str(tmp_path / "counts"), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem()
    )
    damaged = tmp_path / "counts" / "day=2026-10-20"
    damaged.mkdir()
    for run in ("x", "y"):
        row = {"metric": ["matches_played"], "bucket": ["2026-10-20"], "group_value": [""]}
        row |= {"value": pa.array([1], pa.int64()), "sketch": pa.array([None], pa.binary()), "run_id": [run]}
        pq.write_table(pa.table(row), damaged / f"part-{run}.parquet")
    # When they are published again
    result = republish(tmp_path, DynamoBatchView(names.BATCH_TABLE), tz=TZ)
    # Then the damaged day is reported and left unpublished, the others are published
    assert result.days == dict.fromkeys(DAYS, "run-a")
    assert list(result.failed) == ["2026-10-20"] and "PublishError" in result.failed["2026-10-20"]
    assert DynamoBatchView(names.BATCH_TABLE).day_rows("matches_played", "2026-10-20") is None
