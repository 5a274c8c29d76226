"""The lake's tables, defined once (headcount/core/lake_tables.py): their columns as Spark, DuckDB and Glue read them,
Athena's partition projections, and which metrics of the catalog write the KPI tables."""

import pytest

from headcount.core.catalog import parse_catalog
from headcount.core.lake_tables import ACTIVITY, COUNTS, KPIS, PLAYERS, RAW
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import write_players_manifest
from headcount.views.tables import RAW_CSV_OPTIONS, _parquet_tables

COUNTS_ONLY = parse_catalog(
    {"metrics": [{"name": "matches_played", "kind": "count", "event_type": "match_end", "granularity": "day"}]}
)
# Two KPI bases, a ratio (no rows of its own) and a retention built on a new metric
STUDIO = parse_catalog(
    {
        "metrics": [
            {"name": "matches_played", "kind": "count", "event_type": "match_end"},
            {"name": "payers", "kind": "distinct", "event_type": "purchase"},
            {"name": "players", "kind": "distinct", "event_type": "session_start", "group_by": "country"},
            {"name": "weekly_players", "kind": "rolling", "of": "players", "window_days": 7},
            {"name": "new_payers", "kind": "new", "of": "payers"},
            {"name": "payer_share", "kind": "ratio", "numerator": "payers", "denominator": "matches_played"},
            {"name": "payer_retention", "kind": "retention", "of": "new_payers", "returned_after": [1, 7]},
        ]
    }
)


def test_the_files_columns_as_spark_reads_and_writes_them():
    assert ACTIVITY.ddl == "group_value string, player_id string, first_ts_ms bigint"
    assert ACTIVITY.partitions_ddl == "metric string, day string"
    assert PLAYERS.ddl == "player_id string, first_day string, group_value string"
    assert KPIS.ddl == "bucket string, group_value string, value bigint, sketch binary, run_id string"
    assert COUNTS.ddl == "metric string, bucket string, group_value string, value bigint, sketch binary, run_id string"
    assert (list(RAW.columns), list(RAW.partitions), list(COUNTS.partitions)) == (["line"], ["dt", "hr"], ["day"])


def test_the_catalog_says_which_metrics_write_each_kpi_table():
    # Given a catalog with a rolling, a new, a ratio and a retention metric
    # Then activity holds the bases of the rolling, new and retention metrics, each once, in catalog order; players the
    # new metrics; kpis the KPIs but the ratio
    assert [m.name for m in STUDIO.activity_metrics()] == ["payers", "players"]
    assert ACTIVITY.metrics(STUDIO) == ["payers", "players"]
    assert PLAYERS.metrics(STUDIO) == [m.name for m in STUDIO.new_metrics()] == ["new_payers"]
    assert (
        KPIS.metrics(STUDIO)
        == [m.name for m in STUDIO.stored_kpis()]
        == [
            "weekly_players",
            "new_payers",
            "payer_retention",
        ]
    )
    assert RAW.metrics(STUDIO) == COUNTS.metrics(STUDIO) == []


def test_projections_start_at_the_first_day_and_enumerate_the_catalogs_metrics():
    assert RAW.projection(first_day="2026-01-01") == {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.range": "2026-01-01,NOW",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.hr.type": "integer",
        "projection.hr.range": "0,23",
        "projection.hr.digits": "2",
    }
    # the reporting zone's day can be a day ahead of UTC's
    assert COUNTS.projection()["projection.day.range"] == "2024-01-01,NOW+1DAYS"
    assert list(KPIS.projection(STUDIO, "2026-01-01").items()) == [
        ("projection.enabled", "true"),
        ("projection.metric.type", "enum"),
        ("projection.metric.values", "weekly_players,new_payers,payer_retention"),
        *[(k, v) for k, v in COUNTS.projection(first_day="2026-01-01").items() if k != "projection.enabled"],
    ]
    assert PLAYERS.projection(STUDIO) == {
        "projection.enabled": "true",
        "projection.metric.type": "enum",
        "projection.metric.values": "new_payers",
    }


def test_a_kpi_table_no_metric_writes_is_not_defined():
    # Given a catalog without KPIs
    # Then raw and counts are defined, the KPI tables not (an Athena enum projection needs a value)
    assert RAW.defined_for(COUNTS_ONLY) and COUNTS.defined_for(COUNTS_ONLY)
    assert not any(table.defined_for(COUNTS_ONLY) for table in (ACTIVITY, PLAYERS, KPIS))
    with pytest.raises(ValueError, match="at least one value"):
        KPIS.projection(COUNTS_ONLY)
    assert all(table.defined_for(load_catalog()) for table in (RAW, COUNTS, ACTIVITY, PLAYERS, KPIS))


def test_duckdb_views_list_counts_partition_last_and_the_kpi_tables_theirs_first(tmp_path):
    # Given a lake with one data file per table, next to the markers its writers leave, and a players manifest
    for table in ("counts/day=2026-11-25", "kpis/metric=new_players/day=2026-11-25"):
        (tmp_path / table).mkdir(parents=True)
        (tmp_path / table / "part-0.parquet").write_bytes(b"PAR1")
        (tmp_path / table / "_SUCCESS").write_bytes(b"")
        (tmp_path / f"{table}_$folder$").write_bytes(b"")
        (tmp_path / table / "empty.parquet").write_bytes(b"")
    write_players_manifest(str(tmp_path), "new_players", ["/v/part-0.parquet", "/v/part-1.parquet"])
    tables = _parquet_tables(str(tmp_path))
    # Then each view lists its data files only, the players table those of its manifest
    files, columns, partitions = tables["counts"]
    assert files == [f"{tmp_path}/counts/day=2026-11-25/part-0.parquet"]
    assert list(columns) == ["metric", "bucket", "group_value", "value", "sketch", "run_id", "day"]
    assert columns["sketch"] == "BLOB" and columns["value"] == "BIGINT" and partitions == {"day": "VARCHAR"}
    files, columns, _partitions = tables["kpis"]
    assert files == [f"{tmp_path}/kpis/metric=new_players/day=2026-11-25/part-0.parquet"]
    assert list(columns) == ["metric", "day", "bucket", "group_value", "value", "sketch", "run_id"]
    assert tables["players"][0] == ["/v/part-0.parquet", "/v/part-1.parquet"]
    assert "columns = {'line': 'VARCHAR'}" in RAW_CSV_OPTIONS
    assert "hive_types = {'dt': 'VARCHAR', 'hr': 'VARCHAR'}" in RAW_CSV_OPTIONS
