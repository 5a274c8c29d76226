"""The Glue 5.0 job script of the nightly counts and KPIs: arguments in, `headcount.batch` does the work, then the
publish.

On Glue: `--day yesterday --lake s3://bucket/lake --tz Europe/Berlin --batch_table headcount-batch --service headcount
--region eu-west-1` (the stack sets them), with the `headcount`
package shipped as a zip (`--extra-py-files`) and its wheels (`--additional-python-modules`). On this machine:
`python -m glue_jobs.nightly_counts --day 2026-11-25 --lake .headcount/lake` (no publish without --batch_table;
`headcount batch` runs the same code and publishes). Nothing runs at import.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from headcount.batch.erasure import Erasure
from headcount.batch.job import run_job
from headcount.batch.plan import JobResult, parse_options
from headcount.batch.session import glue_spark, local_spark, on_glue
from headcount.core.erasure import ErasurePolicy
from headcount.logic.publishing import publish_run
from headcount.views.batch import DynamoBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.erasure_store import DynamoErasureStore
from headcount.views.realtime import DynamoRealtimeStore


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv, now_ms=int(time.time() * 1000))
    if options.region:  # boto3 and pyarrow read the region from the environment: the stack's, before either runs
        os.environ.setdefault("AWS_REGION", options.region)
        os.environ.setdefault("AWS_DEFAULT_REGION", options.region)
    spark = glue_spark() if on_glue() else local_spark()

    def say(message: str) -> None:
        print(f"nightly_counts: {message}", flush=True)

    now_ms = int(time.time() * 1000)  # when the archive is read: the erasure takes the requests made before
    store = DynamoErasureStore(options.erasures_table) if options.erasures_table else None
    result = run_job(spark, options, progress=say, blocked=store.blocked() if store else frozenset())
    if not options.batch_table:
        return 0
    view = DynamoBatchView(options.batch_table)
    catalog = load_catalog(options.catalog_path)

    def publish_job(job: JobResult) -> None:
        published = publish_run(options.lake, job, view, catalog)
        rows = sum(len(day_rows) for day_rows in published.values())
        kpi_days = sum(len(days) for days in job.kpi_days.values())
        zones = "".join(f"; in {zone}: {', '.join(run.days) or 'no day'}" for zone, run in job.zones.items())
        say(f"published {rows} rows of {', '.join(job.days)} (and {kpi_days} KPI days{zones}) to {options.batch_table}")

    publish_job(result)
    if store is not None:
        realtime = DynamoRealtimeStore(options.realtime_table) if options.realtime_table else None
        policy = ErasurePolicy(options.erasure_every_days, options.erasure_max_pending)
        Erasure(spark, options, store, publish_job, realtime, policy, say=say).run(now_ms, options.erase_now)
    return 0


if __name__ == "__main__":
    sys.exit(main())
