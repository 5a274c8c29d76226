"""One synthesis of the CDK app per test session (the first synth in a process takes seconds), without bundling: the
Lambda bundle would run pip against the network, so `aws:cdk:bundling-stacks` is empty and the asset is a stand-in."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[2]
# What `cdk deploy` sees with credentials: a concrete account and region (nothing is looked up with them).
DEPLOY_ENV = {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "us-east-1"}


def cdk_context(**extra: object) -> dict:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return {**context, "aws:cdk:bundling-stacks": [], **extra}


@dataclass
class Synthesized:
    outdir: Path
    template: dict
    error: Exception | None  # what app.synth() raised (the nag plugin fails the synth on an unacknowledged error)

    def report(self) -> dict:
        return json.loads((self.outdir / "validation-report.json").read_text())


def synthesize(outdir: Path, context: dict, env: dict[str, str]) -> Synthesized:
    from infra.app import STACK_NAME, build_app

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        app = build_app(context, outdir=str(outdir))
        try:
            app.synth()
            error = None
        except Exception as exc:  # a failed validation still writes the template and the report
            error = exc
    template_file = outdir / f"{STACK_NAME}.template.json"
    template = json.loads(template_file.read_text()) if template_file.exists() else {}
    return Synthesized(outdir, template, error)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk.out"), cdk_context(), DEPLOY_ENV)


@pytest.fixture(scope="session")
def template(synthesized: Synthesized):
    from aws_cdk.assertions import Template

    assert synthesized.template, f"no template: {synthesized.error}"
    return Template.from_json(synthesized.template)
