"""The Athena side of the tables: `raw`, `counts` and the KPIs' `activity`, `players` and `kpis` registered in the Glue
Data Catalog (moto in-process)."""

from headcount import names
from headcount.core.catalog import parse_catalog
from headcount.core.lake_tables import ACTIVITY, COUNTS, KPIS, PLAYERS, RAW, SYMLINK_INPUT_FORMAT
from headcount.views.aws import client
from headcount.views.catalog_file import load_catalog
from headcount.views.tables import AthenaTables


def _table(name: str) -> dict:
    return client("glue").get_table(DatabaseName=names.GLUE_DATABASE, Name=name)["Table"]


def _table_names() -> list[str]:
    return sorted(t["Name"] for t in client("glue").get_tables(DatabaseName=names.GLUE_DATABASE)["TableList"])


def test_raw_and_counts_are_registered_as_partitioned_tables_over_the_lake(aws):
    # Given a lake on S3, when the tables are registered
    AthenaTables().register("s3://headcount-lake/lake", first_day="2026-01-01")

    # Then the catalog describes both, partitioned as the archive and the job write them
    raw, counts = _table(names.RAW_TABLE), _table(names.COUNTS_TABLE)
    assert raw["StorageDescriptor"]["Location"] == "s3://headcount-lake/lake/raw/"
    assert [k["Name"] for k in raw["PartitionKeys"]] == ["dt", "hr"]
    assert counts["StorageDescriptor"]["Location"] == "s3://headcount-lake/lake/counts/"
    assert [c["Name"] for c in counts["StorageDescriptor"]["Columns"]] == [
        "metric",
        "bucket",
        "group_value",
        "value",
        "sketch",
        "run_id",
    ]
    assert [k["Name"] for k in counts["PartitionKeys"]] == ["day"]
    # with the stack's partition projection (one definition for both)
    assert raw["Parameters"].items() >= RAW.projection(first_day="2026-01-01").items()
    assert counts["Parameters"].items() >= COUNTS.projection(first_day="2026-01-01").items()


def test_kpi_tables_are_registered_over_the_jobs_files_with_the_catalogs_metrics(aws):
    # Given a lake on S3, when the tables are registered (the packaged catalog, as the stack's)
    AthenaTables().register("s3://headcount-lake/lake/", first_day="2026-01-01")

    # Then activity, players and kpis are tables too, with the columns of the files the job writes
    catalog = load_catalog()
    expected = {
        names.ACTIVITY_TABLE: (ACTIVITY.columns, ["metric", "day"], ACTIVITY.projection(catalog, "2026-01-01")),
        names.PLAYERS_TABLE: (PLAYERS.columns, ["metric"], PLAYERS.projection(catalog)),
        names.KPIS_TABLE: (KPIS.columns, ["metric", "day"], KPIS.projection(catalog, "2026-01-01")),
    }
    assert _table_names() == sorted([names.RAW_TABLE, names.COUNTS_TABLE, *expected])
    for name, (columns, partitions, projection) in expected.items():
        table = _table(name)
        storage = table["StorageDescriptor"]
        # players: a symlink table over its manifests, which name the files of the table's current version
        manifests = "_manifests/" if name == names.PLAYERS_TABLE else ""
        assert storage["Location"] == f"s3://headcount-lake/lake/{name}/{manifests}"
        assert (storage["InputFormat"] == SYMLINK_INPUT_FORMAT) == (name == names.PLAYERS_TABLE)
        assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == list(columns.items())
        assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [(p, "string") for p in partitions]
        assert (
            storage["SerdeInfo"]["SerializationLibrary"]
            == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        )
        # partitioned by projection, as the stack's: metric an enum of the catalog's metrics that write the table
        assert table["Parameters"].items() >= projection.items()
    assert _table(names.PLAYERS_TABLE)["Parameters"]["projection.metric.values"] == "new_players"
    assert _table(names.ACTIVITY_TABLE)["Parameters"]["projection.metric.values"] == "active_players"


def test_a_catalog_without_kpis_drops_the_kpi_tables(aws):
    # Given the tables registered with the packaged catalog
    AthenaTables().register("s3://headcount-lake/lake", first_day="2026-01-01")
    # When they are registered again with a catalog of no KPIs
    catalog = parse_catalog(
        {"metrics": [{"name": "matches_played", "kind": "count", "event_type": "match_end", "granularity": "day"}]}
    )
    AthenaTables().register("s3://headcount-lake/lake", first_day="2026-01-01", catalog=catalog)
    # Then only raw and counts are left (no metric writes the others; an Athena enum projection needs a value)
    assert _table_names() == sorted([names.RAW_TABLE, names.COUNTS_TABLE])
