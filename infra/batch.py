"""The batch layer: the nightly Glue 5.0 job (exact counts and KPIs from the raw archive, published into the batch view),
its schedule, the Glue Data Catalog tables Athena queries, and the Athena workgroup."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import ArnFormat, Duration, FileAssetPackaging, Stack, Stage, TimeZone
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from headcount import names
from headcount.core.catalog import Catalog, zone_token
from headcount.core.erasure import ErasurePolicy
from headcount.core.lake_tables import (
    ACTIVITY,
    COUNTS,
    KPIS,
    PLAYERS,
    RAW,
    SYMLINK_INPUT_FORMAT,
    LakeTable,
    zone_table,
)
from headcount.names import StackNames
from headcount.views.catalog_file import load_catalog
from infra import lock
from infra.shared import REPO_ROOT, acknowledge, arn_of, bootstrap_assets_objects, log_groups, pk_sk_table

JOB_SCRIPT = REPO_ROOT / "glue_jobs" / "nightly_counts.py"
JOB_PACKAGES = (
    "headcount",
)  # shipped with --extra-py-files, so driver and executors import it (the script is glue_jobs/)
# What the job imports beyond Glue 5.0's own modules (boto3, pyarrow, numpy 1.26.4): the lock's wheels of these, the
# Lambda functions' versions, for Glue 5.0's platform (Python 3.11 on Amazon Linux 2023, which takes manylinux2014
# wheels). They ship with the stack and Glue's pip installs them with --no-index: nothing comes from PyPI when the job
# starts. datasketches' one dependency, numpy (no version bound), is Glue's own, so pip needs no index for it either.
JOB_WHEELS = ("orjson", "datasketches")


def job_package_zip() -> Path:
    """A zip of headcount/ for --extra-py-files, built here (no Docker, no network). Reproducible (sorted
    entries, fixed timestamps), so the asset hash changes only when the code does."""
    files = sorted(
        path
        for package in JOB_PACKAGES
        for path in (REPO_ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    target = Path(tempfile.gettempdir()) / "headcount-cdk" / f"headcount-job-{digest.hexdigest()[:16]}.zip"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                entry = zipfile.ZipInfo(str(path.relative_to(REPO_ROOT)), date_time=(1980, 1, 1, 0, 0, 0))
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
        partial.replace(target)
    return target


# The lake's prefixes the job reads, and those it writes (overwrites, and deletes in): its S3 grants, and nothing more
# (but the erasure's in raw/, below).
JOB_READS = (names.RAW_PREFIX,)
JOB_WRITES = (
    names.COUNTS_PREFIX,
    names.ACTIVITY_PREFIX,
    names.PLAYERS_PREFIX,
    names.KPIS_PREFIX,
    names.PLAYER_INDEX_PREFIX,
    names.ERASURE_PREFIX,
    names.ZONES_PREFIX,  # the extra zones' counts/, activity/, players/ and kpis/
)
# Erasure (infra/erasure.py) is the job's one write in raw/: it rewrites an object that holds an erased player's lines
# (a new current version of its key), then deletes the key's older versions, which still hold them. The lake is
# versioned (infra/ingest.py): a rewrite alone leaves the old version for 30 days as a noncurrent one, and a
# DeleteObject only adds a delete marker; DeleteObjectVersion is what removes the data. It lists the versions of raw/
# keys only (ListBucketVersions, condition s3:prefix), and never deletes a key (DeleteObject) there.
RAW_ERASURE_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObjectVersion")
# The job's S3 actions under its prefixes: Spark's writes (multipart uploads), the committer's renames (copy, then
# delete), the overwrites of the day partitions it recomputes, the players tables' versions and manifests.
JOB_WRITE_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
# Where Glue 5.0 writes a job's logs (/aws-glue/jobs/output and /error; continuous logging's /aws-glue/jobs/logs-v2)
GLUE_JOB_LOG_GROUPS = "/aws-glue/jobs/*"
GLUE_METRICS_NAMESPACE = "Glue"  # the job's own metrics: --enable-metrics, --enable-observability-metrics


def lake_keys(prefix: str, *, folder_key: bool) -> tuple[str, ...]:
    """The object keys of a lake prefix (`counts/`) as the job's file system touches them: the objects under it, the
    `counts_$folder$` marker EMRFS (Glue's s3:// file system) writes beside a folder it creates, and (`folder_key`)
    the key `counts` itself, which it looks up (a HEAD, s3:GetObject) before it lists the folder."""
    folder = prefix.rstrip("/")
    return (f"{folder}/*", f"{folder}_$folder$", *((folder,) if folder_key else ()))


class Batch(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        lake: s3.IBucket,
        tz: str,
        nightly_at: str,
        extra_zones: tuple[str, ...] = (),
        athena_scan_limit_bytes: int,
        catalog: Catalog | None = None,
        erasure: ErasurePolicy | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The KPI tables' metric partitions are the catalog's metrics. The stack has no catalog parameter: the job runs
        # with the catalog its package ships (headcount/catalog.json, no --catalog_path), so the tables are that one's.
        catalog = catalog if catalog is not None else load_catalog()
        erasure = erasure or ErasurePolicy()

        self.table = pk_sk_table(self, "Table", stack_names.batch_table)
        self.database = glue.Database(self, "Database", database_name=stack_names.glue_database)
        self.raw_table = self._raw_table(lake)
        self.counts_table = self._counts_table(lake)
        self.kpi_tables = self._kpi_tables(lake, catalog)
        self.zone_tables = {zone: self._zone_tables(lake, catalog, zone) for zone in extra_zones}

        role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="The nightly counts job: reads the lake, writes counts/ and the KPIs' activity/, players/ and "
            "kpis/, publishes to the batch view; erases players from raw/ and the views on request",
        )
        # What the job touches, nothing else (not AWSGlueServiceRole: glue:* on *, S3 writes to any aws-glue-* path).
        # It never calls the Glue Data Catalog (no --enable-glue-datacatalog, no DynamicFrames): no glue:* at all.
        self._grant_lake(role, lake)
        self._grant_raw_erasure(role, lake)
        self.table.grant_read_write_data(role)  # the publish, into the batch view
        self._grant_logs_and_metrics(role)
        self.role = role  # the erasures table and the real-time view grant it theirs (infra/erasure.py)

        self.job = glue.PySparkEtlJob(
            self,
            "NightlyCounts",
            job_name=stack_names.nightly_job,
            description="Exact counts and KPIs of a day (and again of the two before) from raw/, into counts/, "
            "activity/, players/, kpis/ and the batch view",
            glue_version=glue.GlueVersion.V5_0,
            role=role,
            script=glue.Code.from_asset(str(JOB_SCRIPT)),
            extra_python_files=[glue.Code.from_asset(str(job_package_zip()))],
            worker_configuration=glue.WorkerConfiguration(worker_type=glue.WorkerType.G_1X, number_of_workers=4),
            default_arguments={
                "--lake": f"s3://{lake.bucket_name}/",
                "--tz": tz,
                **({"--extra_zones": ",".join(extra_zones)} if extra_zones else {}),
                "--batch_table": self.table.table_name,
                # Erasure (infra/erasure.py, made after the job: it grants this role): the requests, and the view whose
                # items of the erased days the job deletes. By name, both the stack's.
                "--erasures_table": stack_names.erasures_table,
                "--realtime_table": stack_names.realtime_table,
                "--erasure_every_days": str(erasure.every_days),
                "--erasure_max_pending": str(erasure.max_pending),
                "--service": stack_names.powertools_service,  # the service dimension of its metrics (the alarms')
                "--region": Stack.of(self).region,  # for boto3 and pyarrow (no bucket-region lookup)
                "--additional-python-modules": self._job_wheels(role),
                "--python-modules-installer-option": "--no-index",
            },
            max_concurrent_runs=1,
            max_retries=1,  # a rerun overwrites the same day partitions and republishes the same rows: idempotent
            timeout=Duration.hours(2),
        )
        acknowledge(
            self.job,
            {
                "GL1": "The job logs progress lines and Spark's own logs, never event data; its log group keeps the "
                "account's default encryption.",
                "GL3": "Job bookmarks are not used: each run reads the arrival partitions its day needs.",
                "Annotation::@aws-cdk/aws-glue-alpha:unencryptedContinuousLogging": "As GL1: the job's log group holds "
                "progress lines and Spark's logs, no event data.",
            },
        )
        self._acknowledge_role(role, lake)

        hour, minute = nightly_at.split(":")
        self.schedule = scheduler.Schedule(
            self,
            "Nightly",
            description=f"Runs {stack_names.nightly_job} for yesterday at {nightly_at} {tz}",
            schedule=scheduler.ScheduleExpression.cron(hour=hour, minute=minute, time_zone=TimeZone.of(tz)),
            target=targets.Universal(
                service="glue",
                action="startJobRun",
                input=scheduler.ScheduleTargetInput.from_object(
                    {"JobName": self.job.job_name, "Arguments": {"--day": "yesterday"}}
                ),
                policy_statements=[iam.PolicyStatement(actions=["glue:StartJobRun"], resources=[self.job.job_arn])],
                retry_attempts=3,
            ),
        )

        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=stack_names.athena_workgroup,
            description="SQL over the headcount lake (tables raw, counts, activity, players and kpis)",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                # A query that would scan more is cancelled (and billed for what it scanned until then): a SELECT
                # without a day or dt filter reads the whole raw archive otherwise.
                bytes_scanned_cutoff_per_query=athena_scan_limit_bytes,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{lake.bucket_name}/{names.ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def _raw_table(self, lake: s3.IBucket) -> glue.CfnTable:
        """`raw`: one row per archived line (column `line`), partitioned by arrival dt/hr. LazySimpleSerDe's default
        field delimiter \\x01 never occurs in JSON text, so a whole line is one column (as AthenaTables.register)."""
        return self._table(
            "RawTable",
            name=names.RAW_TABLE,
            location=f"s3://{lake.bucket_name}/{names.RAW_PREFIX}",
            columns=RAW.columns,
            partitions=RAW.partitions,
            input_format="org.apache.hadoop.mapred.TextInputFormat",
            output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            serde="org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            serde_parameters={"field.delim": "\u0001"},
            parameters={"classification": "csv", "compressionType": "gzip", **RAW.projection()},
        )

    def _counts_table(self, lake: s3.IBucket) -> glue.CfnTable:
        """`counts`: the nightly job's Parquet output, partitioned by day."""
        return self._parquet_table(
            "CountsTable",
            lake,
            name=names.COUNTS_TABLE,
            prefix=names.COUNTS_PREFIX,
            table=COUNTS,
            projection=COUNTS.projection(),
        )

    def _kpi_tables(self, lake: s3.IBucket, catalog: Catalog) -> dict[str, glue.CfnTable]:
        """`activity`, `players` and `kpis`: the job's KPI tables, Parquet, partitioned by metric (an enum of the
        catalog's metrics that write the table) and, but players, by day. A table that no metric of the catalog writes
        is not defined (an enum projection needs a value)."""
        specs = [  # construct id, Glue table, prefix of the lake, its columns and partitions
            ("ActivityTable", names.ACTIVITY_TABLE, names.ACTIVITY_PREFIX, ACTIVITY),
            ("PlayersTable", names.PLAYERS_TABLE, names.PLAYERS_PREFIX, PLAYERS),
            ("KpisTable", names.KPIS_TABLE, names.KPIS_PREFIX, KPIS),
        ]
        tables: dict[str, glue.CfnTable] = {}
        for construct_id, name, prefix, table in specs:
            if table.defined_for(catalog):
                tables[name] = self._parquet_table(
                    construct_id, lake, name=name, prefix=prefix, table=table, projection=table.projection(catalog)
                )
        return tables

    def _zone_tables(self, lake: s3.IBucket, catalog: Catalog, zone: str) -> dict[str, glue.CfnTable]:
        """An extra zone's copies of the job's tables (`counts_asia_tokyo` over zones/Asia.Tokyo/counts/), of the
        catalog's copies of the metrics in that zone."""
        zone_catalog, folder = catalog.in_zone(zone), f"{names.ZONES_PREFIX}{zone_token(zone)}/"
        specs = [
            (names.COUNTS_TABLE, names.COUNTS_PREFIX, COUNTS),
            (names.ACTIVITY_TABLE, names.ACTIVITY_PREFIX, ACTIVITY),
            (names.PLAYERS_TABLE, names.PLAYERS_PREFIX, PLAYERS),
            (names.KPIS_TABLE, names.KPIS_PREFIX, KPIS),
        ]
        tables: dict[str, glue.CfnTable] = {}
        for name, prefix, table in specs:
            if table.defined_for(zone_catalog):
                tables[name] = self._parquet_table(
                    f"{name.title()}Table{zone_token(zone).replace('.', '')}",
                    lake,
                    name=zone_table(name, zone),
                    prefix=folder + prefix,
                    table=table,
                    projection=table.projection(zone_catalog),
                )
        return tables

    def _parquet_table(
        self,
        construct_id: str,
        lake: s3.IBucket,
        *,
        name: str,
        prefix: str,
        table: LakeTable,
        projection: dict[str, str],
    ) -> glue.CfnTable:
        """A table of the job's Parquet files (snappy) under `prefix` of the lake, partitions in Hive's folder names; a
        table read through manifests is a symlink table over `prefix`_manifests/."""
        return self._table(
            construct_id,
            name=name,
            location=f"s3://{lake.bucket_name}/{prefix}{'_manifests/' if table.manifests else ''}",
            columns=table.columns,
            partitions=table.partitions,
            input_format=SYMLINK_INPUT_FORMAT
            if table.manifests
            else "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            serde="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            serde_parameters={},
            parameters={"classification": "parquet", "compressionType": "snappy", **projection},
        )

    def _table(
        self,
        construct_id: str,
        *,
        name: str,
        location: str,
        columns: Mapping[str, str],
        partitions: Mapping[str, str],
        input_format: str,
        output_format: str,
        serde: str,
        serde_parameters: dict[str, str],
        parameters: dict[str, str],
    ) -> glue.CfnTable:
        return glue.CfnTable(
            self,
            construct_id,
            catalog_id=Stack.of(self).account,
            database_name=self.database.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                table_type="EXTERNAL_TABLE",
                parameters={"EXTERNAL": "TRUE", **parameters},
                partition_keys=[glue.CfnTable.ColumnProperty(name=k, type=v) for k, v in partitions.items()],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    columns=[glue.CfnTable.ColumnProperty(name=k, type=v) for k, v in columns.items()],
                    input_format=input_format,
                    output_format=output_format,
                    compressed=parameters.get("compressionType") == "gzip",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=serde, parameters=serde_parameters or None
                    ),
                ),
            ),
        )

    def _job_wheels(self, role: iam.IRole) -> str:
        """The s3:// URLs of the job's wheels (infra.lock.wheels), comma-separated, each a file asset the role reads.

        Each keeps its file name as its object key: pip installs a wheel only under its own name (`name-version-tags
        .whl`), and an aws_s3_assets.Asset's key is a hash (aws-cdk#20481). So the synthesizer is given the file
        directly, the wheel's name standing for its hash: PyPI never reuses a file name, and pip checked the file
        against the lock's sha256."""
        stack, stage = Stack.of(self), Stage.of(self)
        locations = []
        for wheel in lock.wheels(JOB_WHEELS):
            staged = Path(stage.asset_outdir) / f"asset.{wheel.name}"  # in the cloud assembly, as CDK stages assets
            if not staged.exists():
                staged.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(wheel, staged)
            location = stack.synthesizer.add_file_asset(
                source_hash=wheel.stem,
                file_name=os.path.relpath(staged, stage.outdir),
                packaging=FileAssetPackaging.FILE,
            )
            locations.append(location)
        assets = s3.Bucket.from_bucket_name(self, "JobWheels", locations[0].bucket_name)
        for location in locations:
            assets.grant_read(role, location.object_key)
        return ",".join(location.s3_object_url for location in locations)

    def _grant_lake(self, role: iam.Role, lake: s3.IBucket) -> None:
        """Read raw/; read, write and delete under counts/, activity/, players/ and kpis/ (Spark's _temporary/ and
        staging folders, and the players tables' versions and manifest, are under them); list those prefixes only."""
        folders = [prefix.rstrip("/") for prefix in (*JOB_READS, *JOB_WRITES)]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[lake.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [p for f in folders for p in (f, f"{f}/*")]}},
            )
        )
        # the bucket's region, as EMRFS looks it up (pyarrow has it from --region); the multipart uploads a committer
        # aborts when it cleans up: no object, no listing
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"], resources=[lake.bucket_arn]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    lake.arn_for_objects(key)
                    for prefix in (*JOB_READS, *JOB_WRITES)
                    for key in lake_keys(prefix, folder_key=True)
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(JOB_WRITE_ACTIONS),
                resources=[
                    lake.arn_for_objects(key) for prefix in JOB_WRITES for key in lake_keys(prefix, folder_key=False)
                ],
            )
        )

    def _grant_raw_erasure(self, role: iam.Role, lake: s3.IBucket) -> None:
        """Rewrite raw/ objects and delete their older versions (RAW_ERASURE_ACTIONS); list the versions in raw/."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucketVersions"],
                resources=[lake.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{names.RAW_PREFIX}*"]}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(RAW_ERASURE_ACTIONS), resources=[lake.arn_for_objects(f"{names.RAW_PREFIX}*")]
            )
        )

    def _grant_logs_and_metrics(self, role: iam.Role) -> None:
        """Glue's logs of the job, and PutMetricData into the namespaces it puts into: the run's own metrics
        (headcount/batch/job.py) and Glue's job metrics."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    Stack.of(self).format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=GLUE_JOB_LOG_GROUPS,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource: its condition key is the namespace
                conditions={
                    "StringEquals": {"cloudwatch:namespace": [names.POWERTOOLS_NAMESPACE, GLUE_METRICS_NAMESPACE]}
                },
            )
        )

    def _acknowledge_role(self, role: iam.Role, lake: s3.IBucket) -> None:
        stack = Stack.of(self)
        reads = "The job reads every file of raw/ in the arrival days it computes (keys are only known at run time)."
        erases = (
            " On an erasure request it rewrites the raw/ files holding the players' lines and deletes those files' "
            "older versions (PutObject, DeleteObjectVersion; never DeleteObject): which files, only "
            "the run knows."
        )
        writes = (
            "The job writes, overwrites and deletes under this prefix only, its own output (day partitions, Spark's "
            "_temporary/ and staging folders, the players tables' versions); keys are only known at run time."
        )
        acknowledge(
            role,
            {
                **{f"IAM5[Resource::{arn_of(lake)}/{prefix}*]": reads + erases for prefix in JOB_READS},
                **{f"IAM5[Resource::{arn_of(lake)}/{prefix}*]": writes for prefix in JOB_WRITES},
                f"IAM5[Resource::{log_groups(stack, GLUE_JOB_LOG_GROUPS)}]": "Glue writes a job's logs into its own "
                "log groups /aws-glue/jobs/output and /error (continuous logging: /aws-glue/jobs/logs-v2), log streams "
                "named after the run's id.",
                "IAM5[Resource::*]": "cloudwatch:PutMetricData takes no resource ARN: it is limited to the job's "
                f"namespaces by cloudwatch:namespace ({names.POWERTOOLS_NAMESPACE}, {GLUE_METRICS_NAMESPACE}).",
                "IAM5[Action::s3:GetBucket*]": "CDK's grant_read on the job's script, package and wheel assets.",
                "IAM5[Action::s3:GetObject*]": "CDK's grant_read on the job's script, package and wheel assets.",
                "IAM5[Action::s3:List*]": "CDK's grant_read on the job's script, package and wheel assets.",
                f"IAM5[Resource::{bootstrap_assets_objects(stack)}]": "CDK's grant_read on the job's script and "
                "package assets, objects of the CDK bootstrap bucket.",
            },
        )
