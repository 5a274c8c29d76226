"""One way to build the project's Python Lambda functions: same code bundle, runtime, tracing, logs and Powertools settings.

The bundle is made without Docker: pip installs requirements.lock (every package, transitive ones included, each checked
against the lock's hashes; infra/lock.py) for the Lambda platform (manylinux x86_64, CPython 3.11, binary wheels only),
then `headcount/` and `functions/` are copied next to them. The Docker image the BundlingOptions API requires is never
pulled, because the local bundler always answers.
"""

from __future__ import annotations

import compileall
import hashlib
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
)
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from headcount import names
from infra.lock import LOCK, PIP_PLATFORM
from infra.shared import REPO_ROOT, acknowledge, managed_policy

PACKAGES = ("headcount", "functions")  # copied into the bundle, next to the installed requirements
RUNTIME = lambda_.Runtime.PYTHON_3_11  # infra.lock.PYTHON_VERSION: the lock is resolved for it
DASHBOARD = REPO_ROOT / "headcount" / "dashboard"  # the pages the serve function answers, in the bundle


class VendoredFilesMissing(Exception):
    """The dashboard's browser libraries are not beside its pages."""


def require_vendored(dashboard: Path) -> None:
    """Refuse to make the bundle without the files the pages load from vendor/ (uPlot, swagger-ui-dist: copied from
    node_modules by `make`, not in git): the serve function would answer / without its charts, and the API page blank."""
    wanted = {name for page in dashboard.glob("*.html") for name in re.findall(r"vendor/([\w.\-]+)", page.read_text())}
    missing = sorted(name for name in wanted if not (dashboard / "vendor" / name).is_file())
    if missing:
        raise VendoredFilesMissing(
            f"{dashboard / 'vendor'} lacks {', '.join(missing)}: run `make` (it copies them from node_modules) before "
            "`cdk synth` or `cdk deploy`"
        )


def _source_files() -> list[Path]:
    files = [LOCK]
    for package in PACKAGES:
        files += sorted(
            p
            for p in (REPO_ROOT / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        )
    return files


def bundle_hash() -> str:
    """The asset hash: the lock (a new resolution is a new bundle), the copied packages and the pip flags. Computed
    from a few hundred KB of sources, so a synth that skips bundling (the tests) never walks the repository or the venv."""
    digest = hashlib.sha256(" ".join(PIP_PLATFORM).encode())
    for path in _source_files():
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    """pip for the Lambda platform into the asset's output folder, then the project's packages beside it."""

    _installed: dict[str, Path] = {}  # lock digest -> a finished `pip install --target`, reused within a synth

    def try_bundle(self, output_dir: str, options: object = None, **_kwargs: object) -> bool:
        out = Path(output_dir)
        shutil.copytree(self._requirements(), out, dirs_exist_ok=True)
        for package in PACKAGES:
            shutil.copytree(
                REPO_ROOT / package,
                out / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                dirs_exist_ok=True,
            )
        # CDK zips the bundle with fixed 1980 timestamps, which timestamp-checked .pyc files would never match (and
        # /var/task is read-only, so Python could not rewrite them): compile once here, checked by hash, never by time.
        compileall.compile_dir(
            str(out), quiet=1, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
        return True

    def _requirements(self) -> Path:
        key = hashlib.sha256(LOCK.read_bytes()).hexdigest()
        target = self._installed.get(key)
        if target is None or not target.exists():
            target = Path(tempfile.mkdtemp(prefix="headcount-lambda-deps-"))
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-warn-conflicts",  # the bundle is its own environment: the venv's packages are not its peers
                    "--no-compile",  # compiled after the copy, see try_bundle
                    "--require-hashes",
                    "--no-deps",  # the lock has every package: nothing is resolved here
                    *PIP_PLATFORM,
                    "--only-binary=:all:",
                    "-r",
                    str(LOCK),
                    "--target",
                    str(target),
                ],
                check=True,
            )
            self._installed[key] = target
        return target


# The Docker fallback the API asks for; the local bundler above always succeeds or raises, so it is never used.
_BUNDLING = BundlingOptions(
    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.11"),
    command=[
        "bash",
        "-c",
        f"pip install --require-hashes --no-deps --only-binary=:all: -r {LOCK.name} -t /asset-output && "
        f"cp -r {' '.join(PACKAGES)} /asset-output/",
    ],
    local=LocalPythonBundling(),
)


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    function_name: str,
    handler: str,
    description: str,
    service: str,
    environment: Mapping[str, str],
    memory_size: int = 512,
    timeout: Duration | None = None,
    reserved_concurrency: int | None = None,
    tracing: bool = True,
) -> lambda_.Function:
    """A Python 3.11 function running `handler` from the project bundle, with X-Ray tracing (unless `tracing` is off:
    X-Ray bills every trace, docs/cost.md), a log group kept a month and the Powertools settings the shared
    observability module expects: `service` is the stack's (its prefix), the dimension its alarms read."""
    require_vendored(DASHBOARD)
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        log_group_name=f"/aws/lambda/{function_name}",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )
    function = lambda_.Function(
        scope,
        construct_id,
        function_name=function_name,
        description=description,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.X86_64,  # the platform pip installs for
        handler=handler,
        code=lambda_.Code.from_asset(
            str(REPO_ROOT), asset_hash_type=AssetHashType.CUSTOM, asset_hash=bundle_hash(), bundling=_BUNDLING
        ),
        memory_size=memory_size,
        timeout=timeout or Duration.seconds(30),
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
        log_group=log_group,
        environment={
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": names.POWERTOOLS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **({} if tracing else {"POWERTOOLS_TRACE_DISABLED": "true"}),
            **environment,
        },
    )
    acknowledge(
        function,
        {
            "L1": "Pinned to Python 3.11 on purpose: the nightly Glue 5.0 job runs the same headcount package on Python 3.11, "
            "and the bundle's binary wheels (orjson, datasketches, pydantic-core) are installed for cp311.",
            managed_policy("service-role/AWSLambdaBasicExecutionRole"): "The Lambda service's own minimal policy for "
            "writing the function's CloudWatch logs.",
            "IAM5[Resource::*]": "X-Ray's PutTraceSegments/PutTelemetryRecords (tracing=ACTIVE) take no resource ARN.",
        },
    )
    return function
