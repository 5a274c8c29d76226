"""`headcount forget` and `headcount erasures`: requests to forget players (GDPR art. 17) and their receipts
(headcount/logic/erasure.py), on the local stack or (`--aws`) a deployed one, with the AWS credentials and region of
the environment: what `POST /v1/admin/erasures` and its GET routes do. The nightly run erases a request in its next
batch; the receipt says when each step finished, and never holds a player id."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from headcount import names
from headcount.cli.options import aws_options
from headcount.core.erasure import STEPS, BadErasure, Receipt, State, canonical_ids
from headcount.local.config import LocalConfig


def add_commands(commands: argparse._SubParsersAction) -> None:
    forget = commands.add_parser(
        "forget", help="erase players' events from every layer (the nightly run's next batch); or a receipt's state"
    )
    forget.add_argument(
        "player_ids", nargs="*", metavar="PLAYER_ID", help='a player id as the game sends it (123 and "123" are one)'
    )
    forget.add_argument("--no-more", action="store_true", help="also drop their events from now on (ingest, the job)")
    forget.add_argument("--status", metavar="RECEIPT", help="print that receipt: its state, steps and what went")
    aws_options(forget)
    forget.set_defaults(run=forget_command)

    erasures = commands.add_parser("erasures", help="the erasure requests' receipts, newest first")
    aws_options(erasures)
    erasures.set_defaults(run=erasures_command)


def forget_command(args: argparse.Namespace, config: LocalConfig) -> int:
    if args.status is not None:
        if args.player_ids or args.no_more:
            return _usage("--status RECEIPT takes no PLAYER_ID and no --no-more")
        if not args.status.strip():
            return _usage("--status: which receipt? give its id (headcount erasures lists them)")
        return _run("forget --status", args, config, lambda store: _print_status(store, args.status.strip()))
    if not args.player_ids:
        return _usage("which players? give their PLAYER_IDs (or --status RECEIPT)")
    try:
        canonical_ids(args.player_ids)  # a bad id is the command line's fault: said before any AWS call
    except BadErasure as exc:
        return _usage(str(exc))
    return _run("forget", args, config, lambda store: _request(store, args))


def erasures_command(args: argparse.Namespace, config: LocalConfig) -> int:
    def run(store) -> int:  # noqa: ANN001 - ErasureStore
        listed = store.receipts()
        if not listed:
            print("no erasure requests yet: headcount forget PLAYER_ID...")
        for receipt in listed:
            more = "  no more" if receipt.no_more else ""
            print(
                f"{_utc(receipt.requested_ms)}  {receipt.id}  {receipt.state.value:<8} {receipt.players:>5} players"
                f"  {_progress(receipt)}{more}"
            )
        return 0

    return _run("erasures", args, config, run)


def _request(store, args: argparse.Namespace) -> int:  # noqa: ANN001 - ErasureStore
    from headcount.logic.erasure import request_erasure

    receipt = request_erasure(store, list(args.player_ids), int(time.time() * 1000), no_more=args.no_more)
    players = f"{receipt.players} player{'s' if receipt.players != 1 else ''}"
    print(f"erasure requested: receipt {receipt.id}, {receipt.state.value} ({players})")
    if receipt.no_more:
        print("Their events are dropped from now on, at ingest and in the nightly job.")
    print("The nightly run erases them in its next batch (one a week at least, by default). The receipt holds no")
    print(f"player id: keep its id, and check it with:\n\n  headcount forget --status {receipt.id}{_where(args)}\n")
    return 0


def _print_status(store, receipt_id: str) -> int:  # noqa: ANN001 - ErasureStore
    receipt = store.receipt(receipt_id)
    if receipt is None:
        print(f"headcount forget --status: no receipt {receipt_id!r} (headcount erasures lists them)", file=sys.stderr)
        return 1
    print(f"receipt    {receipt.id}")
    nothing = "  (no event of these players was found)" if receipt.to_json()["nothing_found"] else ""
    print(f"state      {receipt.state.value}{nothing}")
    print(f"requested  {_utc(receipt.requested_ms)}")
    print(f"players    {receipt.players}{'  (their events are dropped from now on)' if receipt.no_more else ''}")
    if receipt.batch:
        print(f"batch      {receipt.batch}")
    for i, step in enumerate(STEPS):
        at = receipt.steps.get(step)
        print(f"{'steps' if i == 0 else '':<10} {step:<10} {_utc(at) if at is not None else '-'}")
    if receipt.finished_ms is not None:
        print(f"finished   {_utc(receipt.finished_ms)}")
    for i, (what, figure) in enumerate(receipt.removed.items()):
        shown = (", ".join(map(str, figure)) or "none") if isinstance(figure, list) else figure
        print(f"{'removed' if i == 0 else '':<10} {what}: {shown}")
    if receipt.error:
        print(f"error      {receipt.error}")
    return 0


def _run(command: str, args: argparse.Namespace, config: LocalConfig, run) -> int:  # noqa: ANN001
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return run(_store(args, config))
    except BadErasure as exc:
        return _usage(str(exc), command)
    except (LookupError, BotoCoreError, ClientError) as exc:
        where = (
            "the deployed stack (--prefix, --region?)" if args.aws else "the local stack (is `headcount up` running?)"
        )
        print(f"headcount {command}: {exc} — {where}", file=sys.stderr)
        return 1


def _store(args: argparse.Namespace, config: LocalConfig):  # noqa: ANN202 - DynamoErasureStore, imported lazily
    from headcount.settings import Settings
    from headcount.views.aws import client
    from headcount.views.erasure_store import DynamoErasureStore

    if args.aws:
        return DynamoErasureStore(names.StackNames(args.prefix).erasures_table, client("dynamodb", args.region))
    config.apply_aws_environment()
    return DynamoErasureStore(Settings().erasures_table, client("dynamodb"))


def _usage(message: str, command: str = "forget") -> int:
    print(f"headcount {command}: {message}", file=sys.stderr)
    return 2


def _where(args: argparse.Namespace) -> str:
    if not args.aws:
        return ""
    return (
        " --aws"
        + (f" --prefix {args.prefix}" if args.prefix != names.DEFAULT_NAMES.prefix else "")
        + (f" --region {args.region}" if args.region else "")
    )


def _progress(receipt: Receipt) -> str:
    if receipt.state is State.DONE:
        return f"finished {_utc(receipt.finished_ms)}" if receipt.finished_ms is not None else ""
    if receipt.state is State.FAILED:
        return f"failed: {receipt.error or 'see its receipt'}"
    done = [step for step in STEPS if step in receipt.steps]
    return f"{len(done)}/{len(STEPS)} steps" if done else "waiting for the nightly run's batch"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
