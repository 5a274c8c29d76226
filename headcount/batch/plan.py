"""The job's options, and its plan: which days a run computes and which arrival partitions it reads, and which days of
each KPI those days change."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from headcount import names
from headcount.batch.session import on_glue
from headcount.core.buckets import check_zones, day_bounds_ms, finished_day, local_date
from headcount.core.buckets import days as bucket_days
from headcount.core.keys import check_run_id

ARRIVAL_DAYS_BEFORE, ARRIVAL_DAYS_AFTER = 1, 2  # an event of local day X arrives in dt X-1 .. X+2 (UTC)


@dataclass(frozen=True)
class JobOptions:
    day: date
    lake: str  # a local folder or an s3:// URI
    run_id: str  # new_run_id(), or the caller's
    tz: str = "UTC"
    catalog_path: str | None = None
    days_back: int = 2
    batch_table: str | None = None  # Glue only: publish to this DynamoDB table after writing
    service: str = names.POWERTOOLS_SERVICE  # the `service` dimension of the run's metrics: the stack's (its alarms')
    region: str | None = (
        None  # the stack's: the region of the lake and the batch table (Glue's environment may not say)
    )
    erasures_table: str | None = None  # Glue only: the erasure requests (headcount/batch/erasure.py)
    realtime_table: str | None = None  # Glue only: whose items of erased players' days an erasure deletes
    erase_now: bool = False  # run an erasure batch of the pending requests even if none is due yet
    erasure_every_days: int = 7  # ErasurePolicy: no request waits longer for its batch
    erasure_max_pending: int = 50  # ErasurePolicy: a batch as soon as this many wait
    # more zones the run computes exactly besides `tz`, each over the same raw events as its own catalog
    # (`Catalog.in_zone`: `<name>@<zone>`), its days those of the zone that have ended when `day` has
    extra_zones: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_run_id(self.run_id)  # before Spark starts, not at publish time


@dataclass(frozen=True)
class Plan:
    days: list[str]  # the local days this run computes (and overwrites), oldest first
    skipped: list[str]  # days of the run left as they are (no arrival partition of their own, or `without_input`)
    partitions: list[str]  # the arrival days (dt) to read, existing ones only
    # Days without any input (none of their arrival partitions exists) although the archive held earlier days: the
    # archive stopped, not a game that has no players yet. Skipped, and put as names.METRIC_NIGHTLY_DAYS_WITHOUT_INPUT.
    without_input: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobResult:
    run_id: str
    day: str
    days: list[str]
    skipped: list[str]
    partitions: list[str]
    counts_uri: str
    seconds: float
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> records among those read
    kpi_days: dict[str, list[str]] = field(default_factory=dict)  # KPI metric -> the days of the kpis it wrote
    without_input: list[str] = field(default_factory=list)  # Plan.without_input
    service: str = names.POWERTOOLS_SERVICE  # JobOptions.service
    zones: dict[str, ZoneRun] = field(default_factory=dict)  # what the run computed in each extra zone
    tz: str = "UTC"  # JobOptions.tz: the zone of `days`


@dataclass(frozen=True)
class ZoneRun:
    """The days of an extra zone a run computed (of its metrics `<name>@<zone>`), and the days of their KPIs."""

    days: list[str]
    kpi_days: dict[str, list[str]] = field(default_factory=dict)


def new_run_id(now: datetime) -> str:
    """A run id that sorts by when the run started (`now`, aware) and cannot collide with a concurrent run's."""
    now = now.astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def arrival_days(day: date) -> list[date]:
    return [day + timedelta(days=i) for i in range(-ARRIVAL_DAYS_BEFORE, ARRIVAL_DAYS_AFTER + 1)]


def plan_run(
    options: JobOptions, raw_partition_exists: Callable[[str], bool], first_arrival_day: str | None = None
) -> Plan:
    """Which days to compute and which arrival partitions to read. Day D is computed even without any input while the
    archive holds nothing older (a game without players yet): days of no events, published as such, never a failed
    run. Once the archive held earlier days, a day without input is left as it is and reported (`without_input`).
    `first_arrival_day`: the archive's earliest dt, which tells the two apart."""
    run_days = [options.day - timedelta(days=i) for i in range(options.days_back, -1, -1)]
    wanted = sorted({dt for d in run_days for dt in arrival_days(d)})
    existing = {dt for dt in wanted if raw_partition_exists(dt.isoformat())}
    # Day D without any input once the archive held earlier days: the archive stopped (or the game did), and the day
    # keeps what it has (the real-time numbers) rather than exact zeros; the alarm says so, once (the nights after
    # leave it as the rule below leaves a day without its own arrival partition).
    stopped = (
        not set(arrival_days(options.day)) & existing
        and first_arrival_day is not None
        and first_arrival_day < arrival_days(options.day)[0].isoformat()
    )
    # A day before D is recomputed only while its own arrival day is in the lake: a day whose early partitions are gone
    # (a lifecycle rule, a new lake) keeps its published answer rather than being overwritten by a partial one.
    days = [d for d in run_days if d in existing or (d == options.day and not stopped)]
    needed = {dt for d in days for dt in arrival_days(d)} & existing
    return Plan(
        days=[d.isoformat() for d in days],
        skipped=[d.isoformat() for d in run_days if d not in days],
        partitions=[dt.isoformat() for dt in sorted(needed)],
        without_input=[options.day.isoformat()] if stopped else [],
    )


def plan_days(days: Collection[str], existing: Collection[str]) -> Plan:
    """The plan of a run over given days (an erasure's: apart, any age, each one the job computed before), and the
    arrival partitions of them that exist. A day none of whose partitions is left (an erasure emptied them) is
    computed all the same: a day of no events."""
    needed = {dt.isoformat() for d in days for dt in arrival_days(date.fromisoformat(d))} & set(existing)
    return Plan(days=sorted(set(days)), skipped=[], partitions=sorted(needed))


def overlapping_days(days: Iterable[str], tz: str, zone: str) -> list[str]:
    """The days of `zone` that overlap these days of `tz` (one to three each): those an erasure recomputes there."""
    found: set[str] = set()
    for day in days:
        start_ms, end_ms = day_bounds_ms(date.fromisoformat(day), tz)
        found |= {d.isoformat() for d in bucket_days(local_date(start_ms, zone), local_date(end_ms - 1, zone))}
    return sorted(found)


def shift(day: str, days: int) -> str:
    """The ISO day `days` after (or before, negative) `day`."""
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def rolling_days(run_days: Sequence[str], computed: Collection[str], window_days: int) -> list[str]:
    """The days whose rolling window holds a day of the run: the run's days, and the days after them (up to the last one
    plus window_days-1) already computed. `computed`: the days with activity in the lake."""
    windows = [(day, shift(day, window_days - 1)) for day in run_days]  # run days may be apart (an erasure's)
    return sorted(d for d in {*computed, *run_days} if any(first <= d <= last for first, last in windows))


def new_days(
    run_days: Sequence[str], moved: Iterable[tuple[str | None, str | None]], computed: Collection[str]
) -> list[str]:
    """The cohort days of a new-players metric to write: the run's days, and the computed days whose cohort or whose
    "everyone seen up to the day" changed. `moved`: (old first day, new first day) of players whose first day or group
    changed (None: not seen before / not seen any more); such a player changes the cohorts of both days, and everyone
    seen up to every day from the earlier of them until the later one (or from then on)."""
    known = {*computed, *run_days}
    days = set(run_days)
    for old, new in moved:
        ends = sorted(d for d in (old, new) if d is not None)
        days.update(ends)
        until = ends[-1] if len(ends) == 2 else None
        days.update(d for d in known if ends[0] <= d and (until is None or d < until))
    return sorted(days & known)


def retention_days(
    run_days: Sequence[str], changed: Iterable[str], computed: Collection[str], returned_after: Sequence[int]
) -> list[str]:
    """The cohort days of a retention metric to write: those whose cohort changed, and those with a day of the run k
    days later, among the computed days that have a day D+k computed (a cell of each, the day's partition)."""
    known = {*computed, *run_days}
    wanted = {*changed, *(shift(d, -k) for d in run_days for k in returned_after)}
    return sorted(d for d in wanted & known if any(shift(d, k) in known for k in returned_after))


_REQUIRED = ("day", "lake")
_OPTIONAL = (
    "tz",
    "catalog",
    "run_id",
    "days_back",
    "batch_table",
    "service",
    "region",
    "erasures_table",
    "realtime_table",
    "erase_now",
    "erasure_every_days",
    "erasure_max_pending",
    "extra_zones",
)


def parse_options(argv: Sequence[str], now_ms: int) -> JobOptions:
    """Glue's `getResolvedOptions` when awsglue is importable (it ignores Glue's own arguments), argparse otherwise.
    `now_ms` (epoch milliseconds) is when the run starts: what `yesterday` means, and whether the day has ended."""
    if on_glue():
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]

        wanted = [*_REQUIRED, *(name for name in _OPTIONAL if f"--{name}" in argv)]
        args = getResolvedOptions(["nightly_counts", *argv], wanted)
    else:
        parser = argparse.ArgumentParser(prog="nightly_counts", description="the nightly exact counts job")
        parser.add_argument("--day", required=True, help="YYYY-MM-DD or yesterday (in --tz), a day that has ended")
        parser.add_argument("--lake", required=True, help="the lake: a folder or s3://bucket/prefix")
        parser.add_argument("--tz", default="UTC", help="the reporting time zone")
        parser.add_argument("--catalog", default=None, help="the metric catalog (default: the packaged one)")
        parser.add_argument("--run_id", "--run-id", default=None)
        parser.add_argument("--days_back", "--days-back", type=int, default=2, help="also recompute this many days")
        parser.add_argument("--batch_table", "--batch-table", default=None, help="publish to this DynamoDB table")
        parser.add_argument("--service", default=None, help="the service dimension of the run's metrics")
        parser.add_argument("--region", default=None, help="the AWS region of the lake and the batch table")
        parser.add_argument(
            "--erasures_table", "--erasures-table", default=None, help="erase the requests of this table"
        )
        parser.add_argument("--realtime_table", "--realtime-table", default=None, help="purge erased days from it")
        parser.add_argument("--erase_now", "--erase-now", default=None, help="true: an erasure batch even if not due")
        parser.add_argument("--erasure_every_days", default=None, help="a request waits at most this long (7)")
        parser.add_argument("--erasure_max_pending", default=None, help="a batch as soon as this many wait (50)")
        parser.add_argument(
            "--extra_zones",
            "--extra-zones",
            default=None,
            help="more zones to compute exactly: Asia/Tokyo,Asia/Kolkata",
        )
        args = vars(parser.parse_args(list(argv)))
    tz = args.get("tz") or "UTC"
    return JobOptions(
        day=finished_day(args["day"], now_ms, tz),
        lake=args["lake"],
        tz=tz,
        catalog_path=args.get("catalog") or None,
        run_id=args.get("run_id") or new_run_id(datetime.fromtimestamp(now_ms / 1000, UTC)),
        days_back=2 if args.get("days_back") in (None, "") else int(args["days_back"]),
        batch_table=args.get("batch_table") or None,
        service=args.get("service") or names.POWERTOOLS_SERVICE,
        region=args.get("region") or None,
        erasures_table=args.get("erasures_table") or None,
        realtime_table=args.get("realtime_table") or None,
        erase_now=str(args.get("erase_now") or "").lower() == "true",
        erasure_every_days=int(args.get("erasure_every_days") or 7),
        erasure_max_pending=int(args.get("erasure_max_pending") or 50),
        extra_zones=check_zones(args.get("extra_zones") or "", tz),
    )
