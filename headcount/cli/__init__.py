"""The `headcount` command: run the pipeline locally, feed it a simulated game, ask it questions.

Each module mounts its commands (`add_commands`), each command names the function that runs it (`run`):
`headcount.cli.stack` (up, demo, simulate, replay, report: the local stack) and `headcount.cli.batch` (batch, sql: the batch
layer), `headcount.cli.cost` (cost: the AWS bill, measured on the local stack), `headcount.cli.access` (keys,
token: the ingest keys, a token to read with), `headcount.cli.notify` (channels, subscriptions, alerts,
deliveries: digests and alerts) and `headcount.cli.erasure` (forget, erasures: requests to forget players).
"""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from headcount.cli import access, batch, cost, erasure, notify, stack
from headcount.local.config import LocalConfig
from headcount.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="headcount", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stack.add_commands(commands)
    batch.add_commands(commands)
    cost.add_commands(commands)
    access.add_commands(commands)
    notify.add_commands(commands)
    erasure.add_commands(commands)
    args = parser.parse_args(argv)
    try:
        config = LocalConfig.from_env()
        Settings()
    except ValidationError as exc:
        for error in exc.errors():
            variable = "HEADCOUNT_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"headcount: {variable}={error.get('input')!r}: {error['msg']}", file=sys.stderr)
        return 2
    return args.run(args, config)
