"""The nightly batch job: exact counts of day D (and, again, of D-1 and D-2) from the raw archive, and the game KPIs
those days change.

The same code runs as the Glue 5.0 job (`glue_jobs/nightly_counts.py`, a thin entry point; this package shipped to
Glue as a zip with `--extra-py-files`, its wheels with `--additional-python-modules`) and on this machine
(`headcount batch`, through `headcount.local.batch`, which also publishes).

- `plan`: the job's options, which days it computes and which arrival partitions it reads.
- `validation`: the batched Python stage (`mapInArrow`): every raw line through the fold's own validator.
- `transforms`: pure DataFrame -> DataFrame steps (validate, dedupe, cell_players, aggregate, finish).
- `kpis`: the KPIs' pure steps (activity, players, rolling, new players, retention); `theta`: their Python stage.
- `lake_io`: reading the raw archive and writing the counts table, and the KPI tables, for a folder or S3 alike.
- `session`: the Spark session, local or Glue's.
- `job`: `run_job`, the I/O around the transforms; `kpi_job`: the KPIs' part of a run.

- Input: `{lake}/raw/dt=YYYY-MM-DD/hr=HH/*.gz` (`headcount.views.lake`), gzip JSON lines, one record per line,
  partitioned by arrival time (UTC). An event of local day X can only arrive in dt X-1 .. X+2, so a run for D reads
  dt D-3 .. D+2.
- Validation: `headcount.core.events.parse_event`, the validator of the real-time fold, with the window of possible
  arrival times of its file: from its archive hour's start to when the file was written. Buckets and groups are computed
  there too, with the same code as the fold (`bucket_of`, `Metric.group_of`), so DST and group rules cannot drift.
  Rejected lines are tallied by reason (empty lines are no records).
- Dedup: one copy per `event_id`, the first to arrive (ties: the smallest MD5 of the record); events without an id all
  count.
- Output: Parquet table `{lake}/counts/`, partitioned by `day`, columns metric, bucket, group_value, value, sketch,
  run_id. Dynamic partition overwrite: a run replaces exactly the days it computed. Ungrouped metrics get a row for every
  bucket of every computed day (0 when nothing happened), so an empty day is a valid zero that overwrites an older
  answer.
- KPIs: `{lake}/activity/`, `{lake}/players/`, `{lake}/kpis/` (docs/DESIGN.md, "Batch layer").
"""
