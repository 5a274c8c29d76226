"""`headcount batch` and `headcount sql`: the batch layer's commands."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headcount.local.config import LocalConfig


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    batch = subparsers.add_parser(
        "batch",
        help="run the nightly Spark job for a day on this machine and publish it as the batch view",
        description="Computes the exact counts of DAY and recomputes the 2 days before it (late events), from the raw "
        "archive in the lake, writes the counts table, then publishes those days to DynamoDB.",
    )
    batch.add_argument(
        "--day", default="yesterday", help="YYYY-MM-DD or yesterday (default), in HEADCOUNT_TZ; a day that has ended"
    )
    batch.add_argument("--days-back", type=int, default=2, help="also recompute this many days before DAY (default 2)")
    batch.add_argument("--run-id", default=None, help="default: a new one")
    batch.add_argument(
        "--erase-now",
        action="store_true",
        help="also erase the pending requests to forget players now (by default the run erases them when a batch is "
        "due: the oldest request would wait longer than HEADCOUNT_ERASURE_EVERY_DAYS, or "
        "HEADCOUNT_ERASURE_MAX_PENDING are waiting)",
    )
    batch.set_defaults(
        run=lambda args, config: run_batch_command(config, args.day, args.days_back, args.run_id, args.erase_now)
    )
    sql = subparsers.add_parser(
        "sql", help="query the tables raw and counts: DuckDB over the local lake, or Athena with --athena"
    )
    sql.add_argument("query", help="e.g. \"SELECT day, value FROM counts WHERE metric = 'active_players'\"")
    sql.add_argument(
        "--athena",
        action="store_true",
        help="query the deployed stack's tables through Athena (workgroup headcount) with your AWS credentials",
    )
    sql.add_argument(
        "--prefix",
        default=None,
        help="with --athena: the deployed stack's headcount:prefix (default headcount), whose Glue database and "
        "Athena workgroup to use",
    )
    sql.set_defaults(
        run=lambda args, config: run_sql_command(config, args.query, athena=args.athena, prefix=args.prefix)
    )


# The local archiver flushes every 10 s (headcount/local/archiver.py): a request older than this has every record that
# arrived before it in the archive (on AWS the job waits for Firehose's buffer, up to 15 minutes)
LOCAL_ARCHIVE_SETTLE_MS = 30_000


def run_batch_command(
    config: LocalConfig, day_text: str, days_back: int = 2, run_id: str | None = None, erase_now: bool = False
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from headcount.batch.plan import new_run_id
    from headcount.core.buckets import BadDate, DayNotOver, finished_day
    from headcount.core.erasure import ErasurePolicy
    from headcount.core.keys import BadRunId, check_run_id
    from headcount.local.batch import ErasureSetup, run_batch
    from headcount.local.notifications import announce_nightly
    from headcount.logic.publishing import PublishError
    from headcount.settings import Settings
    from headcount.views.aws import client
    from headcount.views.batch import DynamoBatchView
    from headcount.views.erasure_store import DynamoErasureStore
    from headcount.views.realtime import DynamoRealtimeStore

    settings = Settings()
    now = datetime.now(UTC)  # the command's one reading of the clock: what `yesterday` is, and the run's id
    try:
        day = finished_day(day_text, int(now.timestamp() * 1000), settings.tz)
        if run_id is None:
            run_id = new_run_id(now)
        check_run_id(run_id)
    except (BadDate, DayNotOver, BadRunId) as exc:
        print(f"headcount batch: {exc}", file=sys.stderr)
        return 2
    config.apply_aws_environment()
    try:  # fail before Spark starts when there is nowhere to publish
        client("dynamodb").describe_table(TableName=settings.batch_table)
    except (BotoCoreError, ClientError) as exc:
        print(
            f"headcount batch: cannot reach the batch table {settings.batch_table} ({exc}); is `headcount up` running?",
            file=sys.stderr,
        )
        return 1

    def say(message: str) -> None:
        print(f"  {message}", flush=True)

    print(
        f"batch: {day.isoformat()} in {settings.tz} (and the {days_back} days before)"
        + (f", and in {', '.join(settings.computed_zones)}" if settings.computed_zones else "")
        + f", lake {config.lake}",
        flush=True,
    )
    try:
        summary = run_batch(
            config.lake,
            day,
            settings.tz,
            run_id,
            batch_view=DynamoBatchView(settings.batch_table),
            catalog_path=settings.catalog_path,
            days_back=days_back,
            progress=say,
            extra_zones=settings.computed_zones,
            erasure=ErasureSetup(
                DynamoErasureStore(settings.erasures_table),
                DynamoRealtimeStore(settings.realtime_table),
                ErasurePolicy(
                    settings.erasure_every_days,
                    settings.erasure_max_pending,
                    settings.erasure_deadline_days,
                    settle_ms=LOCAL_ARCHIVE_SETTLE_MS,
                ),
                force=erase_now,
            ),
        )
    except PublishError as exc:
        print(f"headcount batch: {exc}", file=sys.stderr)
        return 1
    print(f"published to DynamoDB table {settings.batch_table}:")
    for line in summary.lines():
        print(line)
    # As EventBridge's rule on the Glue job's success does (infra/notifications.py): the running stack's business
    # function sends what the published days made due (digests when the day closes)
    announce_nightly(config, int(datetime.now(UTC).timestamp() * 1000))
    return 0


def run_sql_command(config: LocalConfig, query: str, athena: bool = False, prefix: str | None = None) -> int:
    import duckdb
    from botocore.exceptions import BotoCoreError, ClientError

    from headcount.names import DEFAULT_PREFIX, StackNames
    from headcount.views.tables import AthenaTables, DuckDBTables, Tables, format_table

    tables: Tables
    errors: tuple[type[Exception], ...]
    if athena:  # the deployed stack, with the shell's AWS credentials (not the local emulators)
        import awswrangler as wr

        try:
            stack = StackNames(prefix or DEFAULT_PREFIX)
        except ValueError as exc:
            print(f"headcount sql: {exc}", file=sys.stderr)
            return 2
        tables = AthenaTables(stack.glue_database, stack.athena_workgroup)
        errors = (BotoCoreError, ClientError, wr.exceptions.QueryFailed)
    else:
        from headcount.settings import Settings

        tables, errors = DuckDBTables(config.lake, Settings().computed_zones), (duckdb.Error,)
    try:
        result = tables.sql(query)
    except errors as exc:
        print(f"headcount sql: {exc}", file=sys.stderr)
        return 1
    print(format_table(result))
    return 0
