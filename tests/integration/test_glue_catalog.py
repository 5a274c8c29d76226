"""The Athena side of the tables: `raw` and `counts` registered in the Glue Data Catalog (moto in-process)."""

from headcount import names
from headcount.views.aws import client
from headcount.views.tables import AthenaTables


def test_raw_and_counts_are_registered_as_partitioned_tables_over_the_lake(aws):
    # Given a lake on S3, when the tables are registered
    AthenaTables().register("s3://headcount-lake/lake", first_day="2026-01-01")

    # Then the catalog describes both, partitioned as the archive and the job write them
    glue = client("glue")
    raw = glue.get_table(DatabaseName=names.GLUE_DATABASE, Name=names.RAW_TABLE)["Table"]
    counts = glue.get_table(DatabaseName=names.GLUE_DATABASE, Name=names.COUNTS_TABLE)["Table"]
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
    assert raw["Parameters"].items() >= names.raw_projection("2026-01-01").items()
    assert counts["Parameters"].items() >= names.counts_projection("2026-01-01").items()
