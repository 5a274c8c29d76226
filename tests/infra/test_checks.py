"""cdk-nag (AwsSolutions, through CDK's Validations) and cfn-lint on the synthesized stack."""

import json
import subprocess
import sys
from pathlib import Path

from tests.infra.conftest import cdk_context


def test_nag_finds_no_unacknowledged_error(synthesized):
    # Given the app synthesized with the AwsSolutions plugin / Then the synth did not fail and no rule reports an error
    errors = [
        f"{v['ruleName']}: {[c['constructPath'] for c in v.get('violatingConstructs', [])]}"
        for plugin in synthesized.report()["pluginReports"]
        for v in plugin["violations"]
        if v["severity"] == "error"
    ]
    assert errors == []
    assert synthesized.error is None


def test_nag_passes_for_an_environment_agnostic_stack_too(tmp_path):
    # Given no account or region (as `cdk synth` without credentials) / Then the acknowledgments still match
    from cdk_nag import AwsSolutionsChecks

    from infra.app import build_app

    result = AwsSolutionsChecks().validate_scope(build_app(cdk_context(), outdir=str(tmp_path)))
    assert [v.rule_name for v in result.violations] == []


def test_cfn_lint_reports_no_error(synthesized, tmp_path):
    template_file = tmp_path / "Headcount.template.json"
    template_file.write_text(json.dumps(synthesized.template))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    run = subprocess.run([str(cfn_lint), "--format", "json", str(template_file)], capture_output=True, text=True)
    findings = json.loads(run.stdout or "[]")
    errors = [f"{f['Rule']['Id']} {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert errors == [], errors
    assert run.returncode in (0, 4), run.stderr  # 4: warnings only
