"""The nightly job's role: what the job touches and nothing more (no AWSGlueServiceRole, no glue:*, no write outside its
own prefixes of the lake)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from headcount import names
from infra.batch import GLUE_METRICS_NAMESPACE, JOB_READS, JOB_WRITES, RAW_ERASURE_ACTIONS
from tests.infra.policy_text import rendered

WRITES = ("s3:Put", "s3:Delete", "s3:Abort", "s3:Restore", "s3:Replicate", "s3:*")


def _listed(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _job_role(template) -> tuple[dict, list[dict]]:
    """The job's role, and the statements of every policy attached to it."""
    (job,) = template.find_resources("AWS::Glue::Job").values()
    role_id = job["Properties"]["Role"]["Fn::GetAtt"][0]
    role = template.to_json()["Resources"][role_id]
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    return role, statements


def _lake(template) -> str:
    (lake,) = [i for i in template.find_resources("AWS::S3::Bucket") if i.startswith("IngestLake")]
    return f"<{lake}>"


def test_the_job_role_has_no_managed_policy_and_no_glue_action(template):
    role, statements = _job_role(template)
    # Given the job never calls the Glue Data Catalog (no --enable-glue-datacatalog: Spark reads and writes S3 paths)
    (job,) = template.find_resources("AWS::Glue::Job").values()
    assert "--enable-glue-datacatalog" not in job["Properties"]["DefaultArguments"]
    # Then its role has no managed policy (AWSGlueServiceRole: glue:* on *, writes to any aws-glue-* path), no glue:*,
    # no IAM, no EC2 (no connections), no wildcard action of a whole service
    assert "ManagedPolicyArns" not in role["Properties"]
    actions = [action for s in statements for action in _listed(s["Action"])]
    assert not [a for a in actions if a.split(":")[0] in ("glue", "iam", "ec2") or a.endswith(":*") or a == "*"]
    assert all(s["Effect"] == "Allow" for s in statements)


def test_the_job_writes_and_deletes_only_under_its_own_prefixes_of_the_lake(template):
    _role, statements = _job_role(template)
    lake = _lake(template)
    writes = [s for s in statements if any(a.startswith(WRITES) for a in _listed(s["Action"]))]
    assert writes
    written = {rendered(r) for s in writes for r in _listed(s["Resource"])}
    # Then every write is an object of the lake under counts/, activity/, players/, kpis/ or erasure/ (or EMRFS' folder
    # marker beside one), or in raw/ the erasure's: nothing anywhere else in the lake or in another bucket
    raw = f"{lake}/{names.RAW_PREFIX}*"
    allowed = {f"{lake}/{p}*" for p in JOB_WRITES} | {f"{lake}/{p.rstrip('/')}_$folder$" for p in JOB_WRITES}
    assert written == allowed | {raw}
    assert f"{lake}/*" not in written
    # and in raw/ only the erasure's rewrite and its deletion of old versions, never a DeleteObject
    # (tests/infra/test_erasure.py)
    in_raw = {a for s in writes if raw in map(rendered, _listed(s["Resource"])) for a in _listed(s["Action"])}
    assert in_raw == set(RAW_ERASURE_ACTIONS)
    # and reads of the lake are of its prefixes only, raw/ included
    reads = [s for s in statements if "s3:GetObject" in _listed(s["Action"])]
    read = {rendered(r) for s in reads for r in _listed(s["Resource"])}
    prefixes = [p.rstrip("/") for p in (*JOB_READS, *JOB_WRITES)]
    assert read == {f"{lake}/{key}" for p in prefixes for key in (f"{p}/*", f"{p}_$folder$", p)}


def test_the_job_lists_only_its_prefixes_of_the_lake(template):
    _role, statements = _job_role(template)
    lake = _lake(template)
    listing = [s for s in statements if "s3:ListBucket" in _listed(s["Action"])]
    (statement,) = [s for s in listing if rendered(s["Resource"]) == lake]
    listed = statement["Condition"]["StringLike"]["s3:prefix"]
    # Then it may list raw/, counts/, activity/, players/ and kpis/, and no other prefix (nor the bucket's root)
    for prefix in (*JOB_READS, *JOB_WRITES):
        assert any(fnmatchcase(f"{prefix}dt=2026-01-01/", p) for p in listed)
    assert not any(fnmatchcase(key, p) for p in listed for key in ("", "archive-errors/", "athena-results/x"))
    # and the only other listing is CDK's grant_read of the job's assets (the CDK bootstrap bucket)
    others = [r for s in listing if s is not statement for r in map(rendered, _listed(s["Resource"]))]
    assert all(r.startswith("arn:aws:s3:::cdk-") for r in others)


def test_put_metric_data_is_limited_to_the_jobs_namespaces(template):
    _role, statements = _job_role(template)
    puts = [s for s in statements if "cloudwatch:PutMetricData" in _listed(s["Action"])]
    # Then the job puts its run's metrics (Headcount) and Glue its job metrics (Glue), into no other namespace
    assert len(puts) == 1
    assert puts[0]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": [names.POWERTOOLS_NAMESPACE, GLUE_METRICS_NAMESPACE]}
    }


def test_the_job_writes_logs_only_to_glues_job_log_groups(template):
    _role, statements = _job_role(template)
    logs = [s for s in statements if any(a.startswith("logs:") for a in _listed(s["Action"]))]
    resources = {rendered(r) for s in logs for r in _listed(s["Resource"])}
    assert resources == {"arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/jobs/*"}
    assert {a for s in logs for a in _listed(s["Action"])} == {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
