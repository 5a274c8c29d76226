"""The CDK app `cdk synth` / `cdk deploy` run (cdk.json: `.venv/bin/python -m infra.app`).

Account and region come from the standard CDK environment (CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION, set by the CLI
from the caller's credentials and profile); without them the stack is environment-agnostic. Nothing is looked up.
The stack is named after headcount:prefix, as all its resources are (`Headcount` by default; `-c headcount:prefix=
headcount-dev`: the stack `Headcount-dev`, beside the other in the same account and region).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from headcount.names import DEFAULT_NAMES, StackNames
from infra.lambda_function import VendoredFilesMissing
from infra.parameters import ContextError, read_prefix
from infra.stack import HeadcountStack

STACK_NAME = DEFAULT_NAMES.stack  # the stack of the default prefix; another prefix's is named after it


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app with its stack and the AwsSolutions checks (run when the app is synthesized; errors fail the synth)."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    env = Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    HeadcountStack(
        app,
        StackNames(read_prefix(app.node)).stack,
        env=env,
        description="headcount: exact and real-time player counts (Kinesis, Lambda, DynamoDB, Firehose, Glue, Athena)",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def main() -> None:
    try:
        app = build_app()
    except (ContextError, VendoredFilesMissing) as exc:  # a bad parameter, `make` not run: its message, no traceback
        sys.exit(f"headcount: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
