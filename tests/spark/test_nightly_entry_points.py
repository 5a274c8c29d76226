"""The nightly job's entry points: the Glue script's main, `headcount sql`, `headcount batch`, and the Athena tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from glue_jobs import nightly_counts as glue_script
from headcount import names
from headcount.views.batch import DynamoBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import read_counts, read_kpis
from tests.spark.nightly_game import (
    DAYS,
    TZ,
    Game,
    counted,
)

# ------------------------------------------------------------------------------------------------ entry points


@pytest.mark.spark
def test_main_runs_the_job_from_glue_style_arguments_and_publishes(
    spark, aws, game: Game, raw_lake: Path, tmp_path: Path, capsys
) -> None:
    # Given the raw archive and the stack's batch table
    shutil.copytree(raw_lake / "raw", tmp_path / "raw")
    args = ["--day", "2026-10-26", "--lake", str(tmp_path), "--tz", TZ, "--run_id", "glue-1", "--days_back", "0"]
    # When the job runs as Glue would start it, publishing to the table
    assert glue_script.main([*args, "--batch_table", names.BATCH_TABLE]) == 0
    # Then the counts table holds exactly that day, and the batch view serves it
    rows = read_counts(tmp_path, DAYS).to_pylist()
    assert {r["day"] for r in rows} == {"2026-10-26"} and {r["run_id"] for r in rows} == {"glue-1"}
    expected = {cell: v for cell, v in game.expected.items() if cell[1].startswith("2026-10-26")}
    assert {(r["metric"], r["bucket"], r["group_value"]): r["value"] for r in rows if r["value"]} == expected
    view = DynamoBatchView(names.BATCH_TABLE)
    published = {
        (m.name, r.bucket, r.group): r.count
        for m in counted(load_catalog()).metrics
        for r in view.day_rows(m.name, "2026-10-26")
        if r.count
    }
    assert published == expected
    # and the KPI days it computed (the rolling windows and cohorts of the day; retention has no 2026-10-27 yet)
    kpis = read_kpis(tmp_path).to_pylist()
    assert {(r["metric"], r["day"]) for r in kpis} == {
        (m, "2026-10-26") for m in ("weekly_active_players", "monthly_active_players", "new_players")
    }
    assert view.published_run("new_players", "2026-10-26") == "glue-1"
    kpi_rows = len([r for r in kpis if r["group_value"] is not None])
    out = capsys.readouterr().out
    assert f"published {len(rows) + kpi_rows} rows of 2026-10-26 (and 3 KPI days) to {names.BATCH_TABLE}" in out
    assert (
        "nightly_counts: kpis: weekly_active_players 1 day, monthly_active_players 1 day, new_players 1 cohort day, retention 0 cohort days"
        in out
    )


@pytest.mark.parametrize("first_run", ["folder"], indirect=True)  # the local stack's lake is a folder
def test_the_sql_command_prints_a_table(first_run, capsys) -> None:
    from headcount.local.config import LocalConfig

    _lake, _result, lake = first_run
    config = LocalConfig(state_dir=lake.parent / lake.name.replace("first-run", "state"))
    config.state_dir.mkdir(exist_ok=True)
    (config.state_dir / "lake").symlink_to(lake)
    args = command_line("sql", "SELECT day, value FROM counts WHERE metric = 'active_players' ORDER BY day")
    assert args.run(args, config) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["day", "value"] and len(out) == 2 + len(DAYS) + 1
    args = command_line("sql", "SELECT nope FROM counts")
    assert args.run(args, config) == 1


def test_the_batch_command_says_when_there_is_nowhere_to_publish(monkeypatch, tmp_path: Path, capsys) -> None:
    import socket

    from headcount.cli.batch import run_batch_command
    from headcount.local.config import LocalConfig
    from headcount.views.aws import client

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LocalConfig(state_dir=tmp_path, moto_port=port)
    for key, value in config.aws_environment().items():
        monkeypatch.setenv(key, value)  # restored at teardown
    client.cache_clear()
    try:
        assert run_batch_command(config, "2026-10-26") == 1
    finally:
        client.cache_clear()
    assert "is `headcount up` running?" in capsys.readouterr().err
    assert run_batch_command(config, "last tuesday") == 2
    assert run_batch_command(config, "2026-10-26", run_id="nightly#1") == 2
    assert "a run id is 1-128 characters" in capsys.readouterr().err


def command_line(*argv: str):
    """`headcount ARGV` (a batch-layer command) as the CLI parses it."""
    import argparse

    from headcount.cli.batch import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def test_athena_tables_query_the_stacks_workgroup_and_register_over_s3_only() -> None:
    from headcount.views.tables import AthenaTables

    tables = AthenaTables()
    assert (tables.database, tables.workgroup) == (names.GLUE_DATABASE, names.ATHENA_WORKGROUP)
    with pytest.raises(ValueError, match="Athena reads S3"):
        tables.register("/tmp/lake")
