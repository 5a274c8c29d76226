"""The batch layer: the Glue 5.0 job, its schedule, the catalog tables and the Athena workgroup."""

import hashlib
import json
import re
import zipfile

from aws_cdk.assertions import Match

from headcount import names
from headcount.core.lake_tables import ACTIVITY, KPIS, PLAYERS, SYMLINK_INPUT_FORMAT
from headcount.views.catalog_file import load_catalog
from infra.batch import JOB_WHEELS, job_package_zip
from infra.lock import locked, normalize
from tests.infra.conftest import DEPLOY_ENV

# A wheel's file name (PEP 427), which pip needs to install it
WHEEL = re.compile(
    r"(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl"
)


def _text(value) -> str:
    """A string, or an Fn::Join rendered with <ref> for its references."""
    if isinstance(value, str):
        return value
    return "".join(p if isinstance(p, str) else "<ref>" for p in value["Fn::Join"][1])


def _job(template) -> dict:
    jobs = template.find_resources("AWS::Glue::Job")
    assert len(jobs) == 1
    return next(iter(jobs.values()))["Properties"]


def test_nightly_job_is_glue_5_with_the_job_script_and_its_arguments(template):
    job = _job(template)
    assert job["GlueVersion"] == "5.0"
    assert job["Name"] == names.NIGHTLY_JOB
    assert job["Command"]["Name"] == "glueetl"
    assert _text(job["Command"]["ScriptLocation"]).endswith(".py")
    args = job["DefaultArguments"]
    lake = args["--lake"]["Fn::Join"][1]
    assert lake[0] == "s3://" and lake[1]["Ref"].startswith("IngestLake") and lake[2] == "/"
    assert args["--tz"] == "UTC"
    assert args["--batch_table"]["Ref"].startswith("BatchTable")
    assert _text(args["--extra-py-files"]).endswith(".zip")
    # its metrics under the stack's service (its alarms'), its region said (boto3 and pyarrow need no lookup)
    assert args["--service"] == names.POWERTOOLS_SERVICE and args["--region"] == DEPLOY_ENV["CDK_DEFAULT_REGION"]


def _wheel_urls(template) -> list[str]:
    return _text(_job(template)["DefaultArguments"]["--additional-python-modules"]).split(",")


def test_the_job_installs_the_locks_wheels_from_s3_without_an_index(template):
    # Given the job's arguments
    args = _job(template)["DefaultArguments"]
    # Then Glue's pip takes no index (nothing comes from PyPI when the job starts) and no `name==version` to resolve
    assert args["--python-modules-installer-option"] == "--no-index"
    assert "==" not in _text(args["--additional-python-modules"])
    # and each module is a wheel in S3 under its own file name, for Glue 5.0 (CPython 3.11, manylinux x86_64), at the
    # lock's version
    lock, versions = locked(), {}
    for url in _wheel_urls(template):
        assert url.startswith("s3://")
        wheel = WHEEL.fullmatch(url.rsplit("/", 1)[1])
        assert wheel, url
        assert wheel["python"] == wheel["abi"] == "cp311"
        assert all(tag.startswith("manylinux") and tag.endswith("_x86_64") for tag in wheel["platform"].split("."))
        versions[normalize(wheel["name"])] = wheel["version"]
    assert versions == {normalize(name): lock[normalize(name)].version for name in JOB_WHEELS}


def test_each_wheel_ships_as_the_file_the_lock_hashed(synthesized):
    # Given the cloud assembly's asset manifest
    (manifest,) = synthesized.outdir.glob("*.assets.json")
    files = json.loads(manifest.read_text())["files"].values()
    wheels = [f for f in files if f["source"]["path"].endswith(".whl")]
    assert len(wheels) == len(JOB_WHEELS)
    lock = locked()
    for asset in wheels:
        # Then it is uploaded as is, its object key the wheel's name, its bytes one of the lock's files
        (destination,) = asset["destinations"].values()
        name = destination["objectKey"]
        assert asset["source"]["packaging"] == "file" and asset["source"]["path"] == f"asset.{name}"
        sha256 = hashlib.sha256((synthesized.outdir / asset["source"]["path"]).read_bytes()).hexdigest()
        assert f"sha256:{sha256}" in lock[normalize(WHEEL.fullmatch(name)["name"])].hashes


def test_the_job_role_reads_its_wheels(template):
    # Given the job's role and the wheels' object keys
    role = _job(template)["Role"]["Fn::GetAtt"][0]
    keys = {url.split("/", 3)[3] for url in _wheel_urls(template)}
    # Then a policy of that role lets it get each of them
    readable = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if "s3:GetObject*" in statement["Action"]:
                objects = [r for r in resources if isinstance(r, str) or "Fn::Join" in r]  # not a bucket's GetAtt
                readable |= {_text(resource).rsplit("/", 1)[-1] for resource in objects}
    assert keys <= readable


def test_job_package_zip_ships_the_package_and_is_reproducible():
    # When the zip is built, then built again from scratch
    first = job_package_zip()
    built = first.read_bytes()
    first.unlink()
    second = job_package_zip()
    # Then it is the same bytes, with the job's package and the catalog, and no Glue script (Glue runs that itself)
    assert second.read_bytes() == built
    with zipfile.ZipFile(second) as archive:
        entries = set(archive.namelist())
    assert {"headcount/catalog.json", "headcount/core/events.py", "headcount/batch/job.py"} <= entries
    assert not any(e.startswith("glue_jobs/") or "__pycache__" in e for e in entries)


def test_schedule_runs_the_job_for_yesterday_every_night_in_the_reporting_zone(template):
    # the nightly job's schedule (the other one runs the business function: tests/infra/test_business.py)
    schedules = [s for s in template.find_resources("AWS::Scheduler::Schedule").values() if "glue" in str(s)]
    assert len(schedules) == 1
    props = schedules[0]["Properties"]
    assert props["ScheduleExpression"] == "cron(00 02 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "UTC"
    assert props["Target"]["Arn"]["Fn::Join"][1][-1].endswith(":scheduler:::aws-sdk:glue:startJobRun")
    rendered = "".join(p if isinstance(p, str) else "<ref>" for p in props["Target"]["Input"]["Fn::Join"][1])
    assert rendered == '{"JobName":"<ref>","Arguments":{"--day":"yesterday"}}'


def test_catalog_tables_match_athena_tables_register(template):
    tables = _tables(template)
    raw, counts = tables[names.RAW_TABLE], tables[names.COUNTS_TABLE]
    assert [c["Name"] for c in raw["StorageDescriptor"]["Columns"]] == ["line"]
    assert [(c["Name"], c["Type"]) for c in raw["PartitionKeys"]] == [("dt", "string"), ("hr", "string")]
    assert raw["Parameters"]["projection.dt.format"] == "yyyy-MM-dd"
    assert raw["Parameters"]["projection.hr.range"] == "0,23"
    assert raw["Parameters"]["projection.hr.digits"] == "2"
    assert raw["StorageDescriptor"]["SerdeInfo"]["Parameters"] == {"field.delim": "\u0001"}
    assert [(c["Name"], c["Type"]) for c in counts["StorageDescriptor"]["Columns"]] == [
        ("metric", "string"),
        ("bucket", "string"),
        ("group_value", "string"),
        ("value", "bigint"),
        ("sketch", "binary"),
        ("run_id", "string"),
    ]
    assert [(c["Name"], c["Type"]) for c in counts["PartitionKeys"]] == [("day", "string")]
    assert counts["Parameters"]["projection.enabled"] == "true"
    assert counts["Parameters"]["projection.day.range"].endswith(",NOW+1DAYS")
    template.has_resource_properties("AWS::Glue::Database", {"DatabaseInput": {"Name": names.GLUE_DATABASE}})


def _tables(template) -> dict[str, dict]:
    return {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in template.find_resources("AWS::Glue::Table").values()
    }


def test_kpi_tables_are_the_jobs_parquet_partitioned_by_the_catalogs_metrics_and_day(template):
    # Given the packaged catalog (the stack has no catalog parameter; the job runs with the packaged one)
    catalog = load_catalog()
    tables = _tables(template)
    expected = {
        names.ACTIVITY_TABLE: (names.ACTIVITY_PREFIX, ACTIVITY.columns, ["metric", "day"]),
        # the players table through its manifests, which name the files of its current version (a symlink table)
        names.PLAYERS_TABLE: (f"{names.PLAYERS_PREFIX}_manifests/", PLAYERS.columns, ["metric"]),
        names.KPIS_TABLE: (names.KPIS_PREFIX, KPIS.columns, ["metric", "day"]),
    }
    for name, (prefix, columns, partitions) in expected.items():
        table = tables[name]
        storage = table["StorageDescriptor"]
        # Then each is over its prefix of the lake, with the lake table's columns (the job writes them from the same
        # definitions, headcount/core/lake_tables.py; tests/unit/test_lake_tables.py pins those)
        location = storage["Location"]["Fn::Join"][1]
        assert location[0] == "s3://" and location[1]["Ref"].startswith("IngestLake") and location[2] == f"/{prefix}"
        assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == list(columns.items())
        assert [(c["Name"], c["Type"]) for c in table["PartitionKeys"]] == [(p, "string") for p in partitions]
        assert (
            storage["SerdeInfo"]["SerializationLibrary"]
            == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        )
        parquet = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
        assert storage["InputFormat"] == (SYMLINK_INPUT_FORMAT if name == names.PLAYERS_TABLE else parquet)
        assert table["TableType"] == "EXTERNAL_TABLE"
        assert table["Parameters"]["classification"] == "parquet"
        # and projected: metric an enum, day a date as counts'
        assert table["Parameters"]["projection.enabled"] == "true"
        assert table["Parameters"]["projection.metric.type"] == "enum"
        if "day" in partitions:
            assert table["Parameters"]["projection.day.type"] == "date"
            assert table["Parameters"]["projection.day.format"] == "yyyy-MM-dd"
            assert table["Parameters"]["projection.day.range"].endswith(",NOW+1DAYS")
        else:
            assert not any(key.startswith("projection.day.") for key in table["Parameters"])

    # The enums: the metrics that write each table (activity: the bases of the KPIs, as the job computes them)
    def values(name: str) -> list[str]:
        return tables[name]["Parameters"]["projection.metric.values"].split(",")

    assert values(names.ACTIVITY_TABLE) == [m.name for m in catalog.activity_metrics()] == ["active_players"]
    assert values(names.PLAYERS_TABLE) == ["new_players"]
    assert values(names.KPIS_TABLE) == [
        "weekly_active_players",
        "monthly_active_players",
        "new_players",
        "retention",
    ]
    assert tables[names.KPIS_TABLE]["Parameters"] == {
        "EXTERNAL": "TRUE",
        "classification": "parquet",
        "compressionType": "snappy",
        **KPIS.projection(catalog),
    }
    # and the workgroup's and the job's descriptions name them
    (workgroup,) = template.find_resources("AWS::Athena::WorkGroup").values()
    description = workgroup["Properties"]["Description"]
    assert all(name in description for name in (names.RAW_TABLE, names.COUNTS_TABLE, *expected))
    assert all(prefix.split("_manifests")[0] in _job(template)["Description"] for prefix, _c, _p in expected.values())


def test_a_catalog_without_kpis_defines_no_kpi_table():
    # Given a catalog of daily distinct and count metrics only / When the batch layer is built with it
    from aws_cdk import App, Stack
    from aws_cdk import aws_s3 as s3
    from aws_cdk.assertions import Template

    from headcount.core.catalog import parse_catalog
    from infra.batch import Batch

    catalog = parse_catalog(
        {
            "metrics": [
                {
                    "name": "active_players",
                    "kind": "distinct",
                    "field": "player_id",
                    "event_type": "session_start",
                    "granularity": "day",
                    "lg_k": 14,
                },
                {"name": "matches_played", "kind": "count", "event_type": "match_end", "granularity": "day"},
            ]
        }
    )
    stack = Stack(App(), "Batch")
    Batch(
        stack,
        "Batch",
        stack_names=names.DEFAULT_NAMES,
        lake=s3.Bucket(stack, "Lake"),
        tz="UTC",
        nightly_at="02:00",
        athena_scan_limit_bytes=10**10,
        catalog=catalog,
    )
    # Then only raw and counts are tables (an Athena enum projection needs a value)
    tables = Template.from_stack(stack).find_resources("AWS::Glue::Table")
    assert sorted(t["Properties"]["TableInput"]["Name"] for t in tables.values()) == [
        names.COUNTS_TABLE,
        names.RAW_TABLE,
    ]


def test_batch_table_and_athena_workgroup(template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"TableName": names.BATCH_TABLE, "BillingMode": "PAY_PER_REQUEST"}
    )
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": names.ATHENA_WORKGROUP,
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "ResultConfiguration": {
                        "OutputLocation": {
                            "Fn::Join": [
                                "",
                                ["s3://", {"Ref": Match.string_like_regexp("^IngestLake")}, "/athena-results/"],
                            ]
                        },
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                    },
                }
            ),
        },
    )


def test_athena_workgroup_cancels_queries_past_the_scan_cutoff(template):
    # Given the default headcount:athenaScanLimitGb (10) / Then a query scanning more than 10 GB is cancelled
    (workgroup,) = template.find_resources("AWS::Athena::WorkGroup").values()
    assert workgroup["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] == 10 * 10**9
