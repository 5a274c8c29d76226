"""`headcount channels|subscriptions|alerts|deliveries`: digests and alerts (headcount/logic/notify_admin.py), on the
local stack or (`--aws`) a deployed one, with the AWS credentials and region of the environment: what the dashboard's
Notifications page and the admin routes do."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from headcount import names
from headcount.cli.options import aws_options
from headcount.local.config import LocalConfig


def add_commands(commands: argparse._SubParsersAction) -> None:
    channels = commands.add_parser("channels", help="where digests and alerts go: Slack, email, webhooks")
    channels.add_argument("action", choices=["add", "list", "delete"])
    channels.add_argument("name", nargs="?")
    where = channels.add_mutually_exclusive_group()
    where.add_argument("--slack", metavar="URL", help="a Slack incoming webhook's URL (kept in Secrets Manager)")
    where.add_argument("--webhook", metavar="URL", help="an HTTPS endpoint, sent JSON signed with HMAC-SHA256")
    where.add_argument("--email", metavar="ADDRESSES", help="comma-separated email addresses (SES)")
    aws_options(channels)
    channels.set_defaults(run=channels_command)

    subscriptions = commands.add_parser("subscriptions", help="daily digests of metrics and KPIs to a channel")
    subscriptions.add_argument("action", choices=["add", "list", "delete", "test"])
    subscriptions.add_argument("name", nargs="?")
    subscriptions.add_argument("--channel")
    subscriptions.add_argument("--metrics", help="comma-separated metrics and KPIs of the catalog")
    subscriptions.add_argument("--groups", default="", help="comma-separated groups of the grouped metrics")
    subscriptions.add_argument(
        "--when", default="closed", help='"closed" (once the nightly job published the day, all exact) or a local HH:MM'
    )
    aws_options(subscriptions)
    subscriptions.set_defaults(run=subscriptions_command)

    alerts = commands.add_parser("alerts", help="alert rules on the catalog's metrics, today so far or closed days")
    alerts.add_argument("action", choices=["add", "list", "delete"])
    alerts.add_argument("name", nargs="?")
    alerts.add_argument("--channel")
    alerts.add_argument("--metric")
    alerts.add_argument("--group")
    condition = alerts.add_mutually_exclusive_group()
    condition.add_argument("--above", type=float, metavar="N")
    condition.add_argument("--below", type=float, metavar="N", help="with --closed (today so far only grows)")
    condition.add_argument("--change", type=float, metavar="PERCENT", help="+30: up 30 %% against a week before")
    condition.add_argument("--band", type=int, metavar="WEEKS", help="outside the last WEEKS same weekdays' range")
    alerts.add_argument("--margin", type=float, default=0.0, metavar="PERCENT", help="with --band: widen it")
    alerts.add_argument("--closed", action="store_true", help="on each published day, not today so far")
    alerts.add_argument("--cooldown", type=int, default=60, metavar="MINUTES")
    aws_options(alerts)
    alerts.set_defaults(run=alerts_command)

    deliveries = commands.add_parser("deliveries", help="what digests and alerts sent, and what failed")
    aws_options(deliveries)
    deliveries.set_defaults(run=deliveries_command)


def channels_command(args: argparse.Namespace, config: LocalConfig) -> int:
    def run(admin, now_ms: int) -> None:  # noqa: ANN001
        if args.action == "add":
            kind, url, recipients = _channel_kind(args)
            channel, signing_secret = admin.create_channel(
                args.name, kind, url=url, recipients=recipients, by=_operator(), now_ms=now_ms
            )
            print(
                f"channel {channel.name!r} ({channel.kind.value}) added: {channel.target or ', '.join(channel.recipients)}"
            )
            if signing_secret:
                print(
                    f"Its signing secret, shown this once (docs/webhooks.md verifies with it):\n\n  {signing_secret}\n"
                )
        elif args.action == "delete":
            channel = admin.delete_channel(args.name)
            print(f"channel {channel.name!r} deleted, and its secret")
        else:
            listed = admin.channels()
            if not listed:
                print("no channels yet: headcount channels add NAME --slack URL | --email A,B | --webhook URL")
            for channel in listed:
                print(f"{channel.name:<24} {channel.kind.value:<8} {channel.target or ', '.join(channel.recipients)}")

    return _run("channels", args, config, run, needs_name=args.action != "list")


def subscriptions_command(args: argparse.Namespace, config: LocalConfig) -> int:
    def run(admin, now_ms: int) -> None:  # noqa: ANN001
        if args.action == "add":
            made = admin.create_subscription(
                {
                    "name": args.name,
                    "channel": args.channel,
                    "metrics": _split(args.metrics),
                    "groups": _split(args.groups),
                    "when": args.when,
                },
                by=_operator(),
                now_ms=now_ms,
            )
            when = (
                "when the nightly job publishes it"
                if made.when == "closed"
                else f"at {made.when} ({admin.notifier.tz})"
            )
            print(f"subscription {made.name!r}: {', '.join(made.metrics)} to {made.channel}, each day {when}")
        elif args.action == "delete":
            print(f"subscription {admin.delete_subscription(args.name).name!r} deleted")
        elif args.action == "test":
            delivery = admin.test_subscription(args.name, now_ms)
            if delivery.status == "sent":
                print(f"sent to {delivery.channel}: {delivery.summary}")
            else:
                raise RuntimeError(
                    f"not sent to {delivery.channel} after {delivery.attempts} attempt(s): {delivery.error}"
                )
        else:
            listed = admin.subscriptions()
            if not listed:
                print("no subscriptions yet: headcount subscriptions add NAME --channel C --metrics a,b [--when 09:00]")
            for sub in listed:
                groups = f" [{', '.join(sub.groups)}]" if sub.groups else ""
                print(f"{sub.name:<24} {sub.when:<7} → {sub.channel:<16} {', '.join(sub.metrics)}{groups}")

    return _run("subscriptions", args, config, run, needs_name=args.action != "list")


def alerts_command(args: argparse.Namespace, config: LocalConfig) -> int:
    def run(admin, now_ms: int) -> None:  # noqa: ANN001
        if args.action == "add":
            condition = next((c for c in ("above", "below", "change", "band") if getattr(args, c) is not None), None)
            if condition is None:
                raise ValueError("which condition? --above N, --below N, --change PERCENT or --band WEEKS")
            value = getattr(args, condition)
            doc = {
                "name": args.name,
                "channel": args.channel,
                "metric": args.metric,
                "group": args.group,
                "condition": condition,
                "scope": "closed" if args.closed else "today",
                "margin_percent": args.margin,
                "cooldown_minutes": args.cooldown,
                **({"threshold": value} if condition in ("above", "below") else {}),
                **({"percent": value} if condition == "change" else {}),
                **({"weeks": value} if condition == "band" else {}),
            }
            rule = admin.create_rule(doc, by=_operator(), now_ms=now_ms)
            print(f"alert rule {rule.name!r}: {rule.metric} {rule.describe()} ({rule.scope.value}) to {rule.channel}")
        elif args.action == "delete":
            print(f"alert rule {admin.delete_rule(args.name).name!r} deleted")
        else:
            listed = admin.rules()
            if not listed:
                print("no alert rules yet: headcount alerts add NAME --channel C --metric M --above N")
            for rule, state in listed:
                firing = "FIRING" if state.get("firing") else "ok"
                print(
                    f"{rule.name:<24} {firing:<6} {rule.metric} {rule.describe()} ({rule.scope.value}) → {rule.channel}"
                )

    return _run("alerts", args, config, run, needs_name=args.action != "list")


def deliveries_command(args: argparse.Namespace, config: LocalConfig) -> int:
    def run(admin, now_ms: int) -> None:  # noqa: ANN001
        listed = admin.deliveries()
        if not listed:
            print("nothing sent yet")
        for d in listed:
            at = datetime.fromtimestamp(d.updated_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
            why = f"  ({d.attempts} attempts: {d.error})" if d.status == "failed" else ""
            print(f"{at}  {d.status:<7} {d.kind:<10} → {d.channel:<16} {d.summary}{why}")

    return _run("deliveries", args, config, run, needs_name=False)


def _run(command: str, args: argparse.Namespace, config: LocalConfig, run: Callable, *, needs_name: bool) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from headcount.logic.errors import BadRequest, Conflict, NotFound, UnknownMetric

    action = getattr(args, "action", "")
    if needs_name and not args.name:
        print(f"headcount {command} {action}: which one? give its NAME", file=sys.stderr)
        return 2
    try:
        admin = _admin(args, config)
        run(admin, int(time.time() * 1000))  # the command's one reading of the clock
    except (BadRequest, Conflict, NotFound, UnknownMetric, ValueError, RuntimeError) as exc:
        print(f"headcount {command} {action}: {exc}".replace("  ", " "), file=sys.stderr)
        return 1
    except (LookupError, BotoCoreError, ClientError) as exc:
        where = (
            "the deployed stack (--prefix, --region?)" if args.aws else "the local stack (is `headcount up` running?)"
        )
        print(f"headcount {command} {action}: {exc} — {where}", file=sys.stderr)
        return 1
    return 0


def _admin(args: argparse.Namespace, config: LocalConfig):  # noqa: ANN202 - NotifyAdmin, imported lazily
    if not args.aws:
        from headcount.local.notifications import local_admin

        return local_admin(config)
    import os

    from headcount.logic.serving import MetricsService
    from headcount.runtimes import notifier, notify_admin, reads
    from headcount.settings import Settings
    from headcount.views.aws import client

    if args.region:
        os.environ["AWS_REGION"] = args.region
    # The deployed business function's own settings (its zone, tables, queue, sender, the dashboard's address): what
    # a test message from here must say is what the stack's would
    function = names.StackNames(args.prefix).business_function
    variables = client("lambda").get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    settings = Settings(
        **{k.removeprefix("HEADCOUNT_").lower(): v for k, v in variables.items() if k.startswith("HEADCOUNT_")}
    )
    return notify_admin(settings, notifier(settings, MetricsService(reads(settings)), settings.dashboard_url or ""))


def _channel_kind(args: argparse.Namespace) -> tuple[str, str | None, list[str]]:
    if args.slack:
        return "slack", args.slack, []
    if args.webhook:
        return "webhook", args.webhook, []
    if args.email:
        return "email", None, _split(args.email)
    raise ValueError("which kind? --slack URL, --webhook URL or --email ADDRESSES")


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _operator() -> str | None:
    import getpass

    try:
        return f"{getpass.getuser()} (cli)"
    except OSError:
        return None
