"""Options several commands share."""

from __future__ import annotations

import argparse

from headcount import names


def aws_options(parser: argparse.ArgumentParser) -> None:
    """--aws, --prefix, --region: a command that talks to the deployed stack instead of the local one."""
    parser.add_argument("--aws", action="store_true", help="the deployed stack's, not the local stack's")
    parser.add_argument("--prefix", default=names.DEFAULT_NAMES.prefix, help="with --aws: the stack's headcount:prefix")
    parser.add_argument("--region", default=None, help="with --aws: the stack's region (default: the environment's)")
