"""`headcount keys`: the ingest keys game clients and servers send events with (headcount/access.py), on the local
stack or (`--aws`) on a deployed one, with the AWS credentials and region of the environment. `headcount token`: an
access token of the local stack's user pool, to read its API with (curl, a notebook)."""

from __future__ import annotations

import argparse
import sys

from headcount import names
from headcount.local.config import LocalConfig


def add_commands(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="create, list or revoke the ingest keys (POST /v1/events only)")
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("name", nargs="?", help="the key's name (create, revoke): a platform, a build, a server fleet")
    keys.add_argument("--aws", action="store_true", help="the deployed stack's keys, not the local stack's")
    keys.add_argument("--prefix", default=names.DEFAULT_NAMES.prefix, help="with --aws: the stack's headcount:prefix")
    keys.add_argument("--region", default=None, help="with --aws: the stack's region (default: the environment's)")
    keys.set_defaults(run=keys_command)
    token = commands.add_parser("token", help="print an access token of the local stack's user pool (reads, an hour)")
    token.add_argument("--user", help="a person's (with --password) instead of a tool's (client credentials)")
    token.add_argument("--password", help="with --user")
    token.set_defaults(run=token_command)


def token_command(args: argparse.Namespace, config: LocalConfig) -> int:
    """A tool's token from the local user pool domain's token endpoint, or a person's from the pool (as the dashboard
    signs in); on AWS a tool gets one from the stack's TokenEndpoint output (docs/deploy.md)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from headcount.local.access import tools_token, user_token

    if bool(args.user) != bool(args.password):
        print("headcount token: --user and --password go together", file=sys.stderr)
        return 2
    config.apply_aws_environment()
    try:
        token = (
            user_token(args.user, args.password) if args.user else tools_token(f"http://127.0.0.1:{config.api_port}")
        )
    except ClientError as exc:  # the pool refused: a wrong user or password
        print(f"headcount token: {exc.response['Error'].get('Message', exc)}", file=sys.stderr)
        return 1
    except (LookupError, OSError, BotoCoreError) as exc:
        print(f"headcount token: {exc} (is `headcount up` running?)", file=sys.stderr)
        return 1
    print(token)
    return 0


def keys_command(args: argparse.Namespace, config: LocalConfig) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from headcount.views.aws import client
    from headcount.views.ingest_keys import IngestKeys, KeyRefused

    if args.action != "list" and not args.name:
        print(f"headcount keys {args.action}: which key? give its NAME", file=sys.stderr)
        return 2
    if args.aws:
        apigateway = client("apigateway", args.region)
    else:
        config.apply_aws_environment()
        apigateway = client("apigateway")
    keys = IngestKeys(names.StackNames(args.prefix).ingest_usage_plan, apigateway)
    try:
        if args.action == "create":
            key, value = keys.create(args.name)
            print(f"ingest key {key.name!r} (id {key.id}) created. Its value, shown this once:\n\n  {value}\n")
            print("Game builds send it as the x-api-key header of POST /v1/events; it opens nothing else.")
        elif args.action == "revoke":
            key = keys.revoke(args.name)
            print(f"ingest key {key.name!r} (id {key.id}) revoked: API Gateway refuses it within a minute")
        else:
            listed = keys.list()
            if not listed:
                print("no ingest keys yet: headcount keys create NAME")
            for key in listed:
                print(f"{key.name:<32} {key.id:<12} {'active ' if key.enabled else 'revoked'}  created {key.created}")
    except KeyRefused as exc:
        print(f"headcount keys {args.action}: {exc}", file=sys.stderr)
        return 1
    except (LookupError, BotoCoreError, ClientError) as exc:
        where = (
            "the deployed stack (--prefix, --region?)" if args.aws else "the local stack (is `headcount up` running?)"
        )
        print(f"headcount keys {args.action}: {exc} — {where}", file=sys.stderr)
        return 1
    return 0
