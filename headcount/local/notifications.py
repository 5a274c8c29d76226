"""Digests and alerts on the local stack: what the functions' settings say there (the dead-letter queue and SES of
moto, links to the local dashboard, targets on 127.0.0.1 allowed), and the demo's channel and subscription, which send
to the local sink (headcount/local/sink.py: it records what would go to Slack or a webhook) and to moto's SES."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from headcount import names
from headcount.local.config import LocalConfig
from headcount.local.resources import ACCOUNT, LOCAL_EMAIL_FROM

DEMO_CHANNEL = "local-slack"  # a Slack channel whose incoming webhook is the local sink's /slack/demo
DEMO_MAIL_CHANNEL = "local-mail"  # email through moto's SES
DEMO_SUBSCRIPTION = "morning"
DEMO_METRICS = ("active_players", "new_players", "matches_played", "monthly_active_players", "stickiness")
DEMO_RECIPIENT = "studio@example.com"
NIGHTLY_SUCCEEDED = "nightly-succeeded.json"  # a control request: the nightly job published (its time)


def local_environment(config: LocalConfig) -> dict[str, str]:
    """The notifications' settings of the local functions (HEADCOUNT_*), the same for the CLI."""
    return {
        "HEADCOUNT_DELIVERY_DEAD_LETTERS": f"http://127.0.0.1:{config.moto_port}/{ACCOUNT}/{names.DELIVERY_DEAD_LETTERS}",
        "HEADCOUNT_EMAIL_FROM": LOCAL_EMAIL_FROM,
        "HEADCOUNT_DASHBOARD_URL": f"http://127.0.0.1:{config.api_port}/",
        "HEADCOUNT_ALLOW_LOOPBACK_TARGETS": "true",
    }


def local_admin(config: LocalConfig):  # noqa: ANN201 - NotifyAdmin (imported here: the stack's modules load lightly)
    """The local stack's notifications, managed from this process (`headcount channels|subscriptions|alerts`, the
    demo), with the local functions' settings."""
    from headcount.logic.serving import MetricsService
    from headcount.runtimes import notifier, notify_admin, reads
    from headcount.settings import Settings

    config.apply_aws_environment()
    env = local_environment(config)
    settings = Settings(**{k.removeprefix("HEADCOUNT_").lower(): v for k, v in env.items()})
    return notify_admin(settings, notifier(settings, MetricsService(reads(settings)), env["HEADCOUNT_DASHBOARD_URL"]))


def moto_mailbox(config: LocalConfig) -> list[dict]:
    """The emails moto's SES took, oldest first (moto keeps them in memory; its data endpoint shows them)."""
    url = f"http://127.0.0.1:{config.moto_port}/moto-api/data.json"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the local moto only
            return json.loads(answer.read()).get("ses", {}).get("Message", [])
    except (OSError, ValueError):
        return []


def sink_url(config: LocalConfig) -> str:
    return f"http://127.0.0.1:{config.sink_port}"


def add_demo_subscription(admin, config: LocalConfig, now_ms: int) -> None:  # noqa: ANN001 - NotifyAdmin
    """The demo's digest when the day closes, to the sink as Slack and to moto's SES as email (made once)."""
    if not any(c.name == DEMO_CHANNEL for c in admin.channels()):
        admin.create_channel(
            DEMO_CHANNEL, "slack", url=f"{sink_url(config)}/slack/demo", recipients=[], by="demo", now_ms=now_ms
        )
    if not any(c.name == DEMO_MAIL_CHANNEL for c in admin.channels()):
        admin.create_channel(
            DEMO_MAIL_CHANNEL, "email", url=None, recipients=[DEMO_RECIPIENT], by="demo", now_ms=now_ms
        )
    made = {s.name for s in admin.subscriptions()}
    for name, channel in ((DEMO_SUBSCRIPTION, DEMO_CHANNEL), (f"{DEMO_SUBSCRIPTION}-mail", DEMO_MAIL_CHANNEL)):
        if name not in made:
            admin.create_subscription(
                {"name": name, "channel": channel, "metrics": list(DEMO_METRICS), "when": "closed"},
                by="demo",
                now_ms=now_ms,
            )


def announce_nightly(config: LocalConfig, now_ms: int) -> None:
    """Tell a running stack that the nightly job published (EventBridge's "Glue Job State Change" on AWS): its watch
    runs the business function at once. Without a running stack nobody reads it, and the next start clears it."""
    config.control_dir.mkdir(parents=True, exist_ok=True)
    partial = config.control_dir / f".{NIGHTLY_SUCCEEDED}.{os.getpid()}"
    partial.write_text(json.dumps({"time_ms": now_ms}))
    partial.replace(config.control_dir / NIGHTLY_SUCCEEDED)


def take_nightly(config: LocalConfig) -> int | None:
    """The time of the nightly job's announced success, taken (None: none announced)."""
    request: Path = config.control_dir / NIGHTLY_SUCCEEDED
    try:
        at = int(json.loads(request.read_text())["time_ms"])
    except (OSError, ValueError, KeyError):
        return None
    request.unlink(missing_ok=True)
    return at
