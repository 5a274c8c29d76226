"""The erasure batch: the nightly run forgets the players of the pending requests, everywhere the lake and the views
keep them, and writes each receipt as it goes.

When: after the night's own days, if a batch is due (`ErasurePolicy.due`: the oldest request would otherwise wait longer
than a week, or enough are waiting) or forced (`headcount batch --erase-now`). In order, each step stamped on the
receipts:
1. found: the archive hours holding the players' lines, from the players' index (`player_index/dt=/`: player_id, hr,
   kept by every nightly run for the arrival days it reads; days never indexed are indexed first), so a batch reads
   those hours' objects only, never all history. The batch's plan (the objects to rewrite, when each was first written,
   the days their lines counted in; no ids) is written to the lake before anything changes.
2. raw: each object rewritten without the players' lines (S3: a new version under the same key, then every older
   version of the key deleted; an object left without lines is deleted with all its versions); the index's days of
   those objects rewritten from them.
3. lake: the days the lines counted in, recomputed by the nightly job's own code (counts, activity, the KPIs' days they
   change), the players dropped from the players tables.
4. published: those days republished as the batch view (each day's unique players one fewer where they were counted).
5. realtime: the real-time items of those days (sketches, recent ids, Theta sketches) deleted: a published day is
   served from the batch view only. A day not published yet (today) cannot lose one member of a sketch: the receipt
   names it (`realtime_days_left`), and its items are deleted by the first nightly run after the one that publishes
   it (the day's TTL, 35 days, is the backstop should the job never publish it).
A batch killed at any point leaves its receipts `running`; the next run takes the same batch up again from its plan.
"""

from __future__ import annotations

import calendar
import gzip
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from headcount.batch.erasure_plan import BatchPlan, plan_uri, read_bytes, read_plan
from headcount.batch.lake_io import (
    computed_days,
    drop_replaced_players,
    index_of,
    players_first_days,
    read_raw,
    write_index,
)
from headcount.batch.plan import JobOptions, JobResult, Plan, new_run_id, overlapping_days, plan_days
from headcount.core.buckets import bucket_of
from headcount.core.catalog import Catalog, Granularity, Kind
from headcount.core.erasure import (
    ARCHIVE_SETTLE_MS,
    DAY_MS,
    STEPS,
    ErasurePolicy,
    Filtered,
    Receipt,
    State,
    filter_lines,
)
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import (
    arrival_days_of,
    data_files,
    index_uri,
    is_s3,
    lake_filesystem,
    raw_object_key,
    raw_uri,
    read_count_runs,
    write_object,
    zone_lake,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from headcount.views.erasure_store import ErasureStore
    from headcount.views.realtime import RealtimeStore

READERS = 8  # objects read and rewritten at once (S3 GETs and PUTs are latency-bound)


@dataclass
class ErasureResult:
    batch: str
    receipts: list[Receipt]
    job: JobResult | None  # the recompute (None: no day to recompute)
    objects_rewritten: int
    objects_deleted: int
    versions_deleted: int
    events: int
    realtime_items: int
    realtime_days_left: list[str]  # not published yet: their real-time items go the night after they are
    seconds: float


@dataclass
class Erasure:
    """One erasure batch's run: the lake, its stores, and how it publishes (the caller's: the nightly job's publish)."""

    spark: SparkSession
    options: JobOptions  # the nightly run's: lake, time zone, catalog
    store: ErasureStore
    publish: Callable[[JobResult], None]
    realtime: RealtimeStore | None = None
    policy: ErasurePolicy = field(default_factory=ErasurePolicy)
    clock: Callable[[], int] = lambda: int(time.time() * 1000)
    say: Callable[[str], None] = lambda _message: None
    on_step: Callable[[str], None] = lambda _step: None  # called after each step (tests stop a batch there)

    def run(self, now_ms: int, force: bool = False) -> ErasureResult | None:
        """Erase what is due at `now_ms` (when the archive was last read: the night's run); None when nothing is.
        First, the real-time items of days an earlier batch left (not published then) that are published now."""
        self._purge_left()
        taken = self._take(now_ms, force)
        if taken is None:
            return None
        batch, requests = taken
        started = time.monotonic()
        ids = frozenset(i for _receipt, request_ids in requests for i in request_ids)
        receipts = [receipt for receipt, _ids in requests]
        self.say(f"erasure {batch}: {len(receipts)} requests, {len(ids)} players")
        try:
            return self._erase(batch, requests, ids, receipts, started)
        except BaseException as exc:  # failed (a run killed outright leaves them `running`): the next run goes on
            for receipt in receipts:
                current = self.store.receipt(receipt.id) or receipt
                # The error's kind and the step it stopped in: its message (in the job's log) could quote an id
                step = next((s for s in STEPS if s not in current.steps), "realtime")
                error = f"{type(exc).__name__} in step {step} (the nightly job's log says more)"
                self.store.save(replace(current, state=State.FAILED, error=error))
            raise

    def _erase(
        self,
        batch: str,
        requests: list[tuple[Receipt, list[str]]],
        ids: frozenset[str],
        receipts: list[Receipt],
        started: float,
    ) -> ErasureResult:
        lake = self.options.lake
        plan, found = self._find(batch, requests, ids)
        receipts = self._stamp(receipts, "found")

        rewritten, deleted, versions = plan.add_raw(*self._rewrite(plan, ids))
        days, left = self._days_to_recompute(plan.days)
        recomputed = plan_days(days, arrival_days_of(lake))
        if not plan.kpi_days:  # recorded before the recompute changes the players tables (a stopped try's rerun
            plan.kpi_days = self._kpi_days_of(ids)  # no longer finds the players' first days there)
        write_object(plan_uri(lake, batch), plan.to_json())
        # The recompute writes the index of the arrival days it reads; the others of the objects rewritten, here
        touched = sorted({key[3:13] for key in plan.objects} - set(recomputed.partitions))
        if touched:
            write_index(index_of(read_raw(self.spark, lake, touched)), lake, touched)
        self.say(
            f"erasure {batch}: raw: rewrote {rewritten} objects, deleted {deleted} left empty, and {versions} older "
            f"versions"
        )
        receipts = self._stamp(receipts, "raw")

        job: JobResult | None = None
        if recomputed.days:
            from headcount.batch.job import run_plan

            recompute = replace(self.options, run_id=new_run_id_at(self.clock()), days_back=0)
            job = run_plan(
                self.spark,
                recompute,
                recomputed,
                self.say,
                blocked=self.store.blocked(),
                erased=sorted(ids),
                kpi_days=plan.kpi_days,
                zone_plans=self._zone_plans(recomputed.days),
            )
            for kpi_days in (job.kpi_days, *(zone.kpi_days for zone in job.zones.values())):
                for metric, metric_days in kpi_days.items():
                    plan.kpi_days[metric] = sorted({*plan.kpi_days.get(metric, []), *metric_days})
            write_object(plan_uri(lake, batch), plan.to_json())
        for catalog, tables in self._catalogs():
            for metric in catalog.new_metrics():  # the versions the recompute replaced still hold the players
                drop_replaced_players(tables, metric.name)
        receipts = self._stamp(receipts, "lake")
        if job is not None:
            self.publish(job)
        receipts = self._stamp(receipts, "published")

        purged = self._purge_realtime(job.days if job else [])
        receipts = self._stamp(receipts, "realtime")

        events = sum(mine["events"] for mine in plan.receipts.values())
        finished_ms = self.clock()
        done = []
        for receipt, _request_ids in requests:
            mine = plan.receipts.get(receipt.id, {"events": 0, "objects": 0, "days": []})
            final = replace(
                self.store.receipt(receipt.id) or receipt,
                state=State.DONE,
                error=None,
                finished_ms=finished_ms,
                removed={
                    "events": mine["events"],
                    "raw_objects_rewritten": mine["objects"],
                    "days_recomputed": [d for d in mine["days"] if job and d in job.days],
                    "realtime_days_left": [d for d in mine["days"] if d in left],
                    "batch": {
                        "raw_objects_rewritten": rewritten,
                        "raw_objects_deleted": deleted,
                        "object_versions_deleted": versions,
                        "days_recomputed": job.days if job else [],
                        "kpi_days_recomputed": sum(len(d) for d in job.kpi_days.values()) if job else 0,
                        "realtime_items_purged": purged,
                    },
                },
            )
            self.store.finish(final)
            done.append(final)
        seconds = time.monotonic() - started
        self.say(
            f"erasure {batch}: done in {seconds:.1f} s: {events} events of {len(ids)} players removed from "
            f"{rewritten + deleted} raw objects, {len(job.days) if job else 0} days recomputed and republished, "
            f"{purged} real-time items purged" + (f"; real-time days left to expire: {', '.join(left)}" if left else "")
        )
        return ErasureResult(batch, done, job, rewritten, deleted, versions, events, purged, left, seconds)

    # ---------------------------------------------------------------------------------------------------- steps

    def _take(self, now_ms: int, force: bool) -> tuple[str, list[tuple[Receipt, list[str]]]] | None:
        """The batch to run: one a run left unfinished (`running`: killed; `failed`), the same batch with its requests
        only, else the requests made early enough for the archive read at `now_ms`, when a batch is due (or forced)."""
        open_ = self.store.open_requests()
        unfinished = [(r, ids) for r, ids in open_ if r.state in (State.RUNNING, State.FAILED) and r.batch]
        if unfinished:
            batch = min(r.batch for r, _ids in unfinished if r.batch)
            self.say(f"erasure {batch}: taken up again (a run stopped during it)")
            taken = [(replace(r, state=State.RUNNING), ids) for r, ids in unfinished if r.batch == batch]
            for receipt, _ids in taken:
                self.store.save(receipt)
            return batch, taken
        eligible = [(r, ids) for r, ids in open_ if r.requested_ms in self.policy.eligible([r.requested_ms], now_ms)]
        reason = "forced" if force else self.policy.due([r.requested_ms for r, _ids in open_], now_ms)
        if not eligible or reason is None:
            if open_ and force:
                first = min(r.requested_ms for r, _ids in open_) + self.policy.settle_ms
                self.say(
                    f"erasure: {len(open_)} requests open, none made {self.policy.settle_ms // 1000} s before the "
                    f"archive was read (records still on their way into it): the first can go from "
                    f"{datetime.fromtimestamp(first / 1000, UTC):%Y-%m-%d %H:%M:%S} UTC"
                )
            elif open_:
                self.say(f"erasure: {len(open_)} requests open, no batch due yet")
            return None
        batch = new_run_id_at(now_ms)
        self.say(f"erasure {batch}: a batch is due ({reason})")
        taken = []
        for receipt, ids in eligible:
            running_receipt = replace(receipt, state=State.RUNNING, batch=batch, error=None)
            self.store.save(running_receipt)
            taken.append((running_receipt, ids))
        return batch, taken

    def _find(
        self, batch: str, requests: list[tuple[Receipt, list[str]]], ids: frozenset[str]
    ) -> tuple[BatchPlan, dict[str, Filtered]]:
        """The objects holding the players' lines (through the index), and the batch's plan, written before any
        object changes (merged with the plan of an earlier try of the same batch)."""
        lake = self.options.lake
        missing = _unindexed_days(lake)
        if missing:
            self.say(f"erasure {batch}: indexing {len(missing)} arrival days the index did not hold whole yet")
            write_index(index_of(read_raw(self.spark, lake, missing)), lake, missing)
        hours = _indexed_hours(lake, ids)
        files = [path for dt, hr in sorted(hours) for path in data_files(f"{raw_uri(lake)}/dt={dt}/hr={hr}", "")]
        fs, _ = lake_filesystem(raw_uri(lake))
        with ThreadPoolExecutor(READERS) as pool:
            results = list(pool.map(lambda path: (path, _filtered(fs, path, ids)), files))
        found = {path: filtered for path, filtered in results if filtered.removed}
        plan = read_plan(lake, batch) or BatchPlan(batch)
        new = {path: f for path, f in found.items() if (raw_object_key(path) or path) not in plan.written}
        for path in new:
            key = raw_object_key(path) or path
            plan.objects.append(key)
            plan.written[key] = int(fs.get_file_info(path).mtime_ns // 1_000_000)
        days = {d for f in found.values() for ts in f.removed.values() for d in self._days_of(ts)}
        plan.days = sorted(days | set(plan.days))
        for receipt, request_ids in requests:  # (objects an earlier try found are counted already)
            plan.count(receipt.id, new, set(request_ids), self._days_of)
        write_object(plan_uri(lake, batch), plan.to_json())
        lines = sum(f.lines for f in found.values())
        self.say(
            f"erasure {batch}: found {lines} lines in {len(found)} raw objects of {len(hours)} archive hours; "
            f"they counted in {len(plan.days)} days"
        )
        return plan, found

    def _rewrite(self, plan: BatchPlan, ids: frozenset[str]) -> tuple[int, int]:
        """Rewrite the plan's objects without the players' lines; -> (objects deleted, left without lines; older
        versions deleted)."""
        lake = self.options.lake
        fs, _ = lake_filesystem(raw_uri(lake))
        # Which are still there, by listing their hours (on S3 a read of a missing key is a 403 without s3:ListBucket)
        hours = sorted({key.rsplit("/", 1)[0] for key in plan.objects})
        present = {raw_object_key(p) for hour in hours for p in data_files(f"{raw_uri(lake)}/{hour}", "")}

        def one(key: str) -> tuple[int, int]:
            uri = f"{raw_uri(lake)}/{key}"
            if key not in present:  # deleted by an earlier try of the batch (left without lines)
                return 0, _delete_versions(uri, keep_latest=False)
            _, path = lake_filesystem(uri)
            filtered = _filtered(fs, path, ids)
            left = any(line.strip() for line in filtered.data.split(b"\n"))
            if filtered.removed and left:
                write_object(uri, gzip.compress(filtered.data), modified_s=plan.written[key] / 1000)
            elif filtered.removed and not is_s3(uri):
                fs.delete_file(path)  # (on S3: deleting every version of the key deletes the object, below)
            return int(bool(filtered.removed) and not left), _delete_versions(uri, keep_latest=left)

        with ThreadPoolExecutor(READERS) as pool:
            counts = list(pool.map(one, plan.objects))
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    def _days_to_recompute(self, days: Sequence[str]) -> tuple[list[str], list[str]]:
        """(the days to recompute: those the job has computed, all ended; the days left: not computed yet (their
        nightly run will read the rewritten archive, and the run after it purges their real-time items))."""
        computed = set(read_count_runs(self.options.lake))
        today = bucket_of(self.clock(), Granularity.DAY, self.options.tz)
        again = [d for d in days if d in computed and d < today]
        return again, [d for d in days if d not in again]

    def _kpi_days_of(self, ids: frozenset[str]) -> dict[str, list[str]]:
        """The KPI days erasing these players changes through their first days (read from the players tables before
        the recompute drops them): each new-players metric's days from the earliest of them on (everyone seen up to
        the day), and each retention metric's cohorts of those days."""
        days: dict[str, list[str]] = {}
        for catalog, tables in self._catalogs():
            for metric in catalog.new_metrics():
                firsts = players_first_days(tables, metric.name, ids)
                if not firsts:
                    continue
                computed = computed_days(self.spark, tables, catalog.base(metric).name)
                days[metric.name] = [d for d in computed if d >= min(firsts)]
                for retention in catalog.metrics:
                    if retention.kind is Kind.RETENTION and retention.of == metric.name:
                        days[retention.name] = sorted(set(firsts) & set(computed))
        return days

    def _catalogs(self) -> list[tuple[Catalog, str]]:
        """The catalog and the lake of its tables, then its copy in each extra zone and that zone's tables."""
        catalog, lake = load_catalog(self.options.catalog_path), self.options.lake
        return [(catalog, lake), *((catalog.in_zone(z), zone_lake(lake, z)) for z in self.options.extra_zones)]

    def _zone_plans(self, days: Sequence[str]) -> dict[str, Plan]:
        """Each extra zone's days over the reporting days recomputed that the job has computed there (as
        `_days_to_recompute`: a day it never computed stays so, not one computed alone, without its history)."""
        existing = arrival_days_of(self.options.lake)
        plans = {}
        for zone in self.options.extra_zones:
            computed = set(read_count_runs(zone_lake(self.options.lake, zone)))
            today = bucket_of(self.clock(), Granularity.DAY, zone)
            again = [d for d in overlapping_days(days, self.options.tz, zone) if d in computed and d < today]
            plans[zone] = plan_days(again, existing)
        return plans

    def _purge_left(self) -> None:
        """The real-time items of the days batches left (their days were not published then: today) once the nightly
        job has published them (the run before this one: the next night)."""
        waiting = [r for r in self.store.receipts() if r.state is State.DONE and r.removed.get("realtime_days_left")]
        if not waiting:
            return
        computed = set(read_count_runs(self.options.lake))
        for receipt in waiting:
            left = receipt.removed["realtime_days_left"]
            ready = [d for d in left if d in computed]
            if ready:
                purged = self._purge_realtime(ready)
                removed = {
                    **receipt.removed,
                    "realtime_days_left": [d for d in left if d not in ready],
                    "realtime_items_purged_later": receipt.removed.get("realtime_items_purged_later", 0) + purged,
                }
                self.store.save(replace(receipt, removed=removed))
                self.say(f"erasure: receipt {receipt.id}: purged the real-time items of {', '.join(ready)}")

    def _purge_realtime(self, days: Sequence[str]) -> int:
        if self.realtime is None or not days:
            return 0
        catalog = load_catalog(self.options.catalog_path)
        holding_ids = [m.name for m in catalog.metrics if m.kind in (Kind.DISTINCT, Kind.NEW)]
        purged = sum(self.realtime.delete_day(metric, day) for metric in holding_ids for day in days)
        self.say(f"realtime: deleted {purged} items of {', '.join(holding_ids)} on {len(days)} published days")
        return purged

    def _stamp(self, receipts: list[Receipt], step: str) -> list[Receipt]:
        at = self.clock()
        stamped = [(self.store.receipt(r.id) or r).with_step(step, at) for r in receipts]
        for receipt in stamped:
            self.store.save(receipt)
        self.on_step(step)
        return stamped

    def _days_of(self, ts_list: Sequence[int | None]) -> set[str]:
        return {bucket_of(ts, Granularity.DAY, self.options.tz) for ts in ts_list if ts is not None}


def new_run_id_at(now_ms: int) -> str:
    return new_run_id(datetime.fromtimestamp(now_ms / 1000, UTC))


def _filtered(fs: Any, path: str, ids: frozenset[str]) -> Filtered:
    data = read_bytes(fs, path)
    return filter_lines(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data, ids)


def _unindexed_days(lake: str) -> list[str]:
    """The arrival days of the archive the index does not hold whole: never indexed, or indexed before the day's
    archive was complete (its end, and Firehose's buffer, had not passed: the nightly runs' last reading of a day is
    whole; a day whose runs stopped midway, an outage, is not)."""
    import pyarrow.fs as pafs

    fs, base = lake_filesystem(index_uri(lake))
    written: dict[str, float] = {}
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
        parts = info.path[len(base) :].strip("/").split("/")
        if info.type == pafs.FileType.File and len(parts) == 2 and parts[0].startswith("dt=") and info.mtime:
            written[parts[0][3:]] = max(written.get(parts[0][3:], 0.0), info.mtime.timestamp())
    complete = {
        dt
        for dt, at in written.items()
        if at * 1000 >= calendar.timegm(date.fromisoformat(dt).timetuple()) * 1000 + DAY_MS + ARCHIVE_SETTLE_MS
    }
    return sorted(set(arrival_days_of(lake)) - complete)


def _indexed_hours(lake: str, ids: frozenset[str]) -> set[tuple[str, str]]:
    """The (dt, hr) archive hours the index says hold a line of these players."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    files = data_files(index_uri(lake), ".parquet")
    if not files:
        return set()
    fs, base = lake_filesystem(index_uri(lake))
    partitioning = ds.partitioning(pa.schema([("dt", pa.string())]), flavor="hive")
    dataset = ds.dataset(files, filesystem=fs, format="parquet", partitioning=partitioning, partition_base_dir=base)
    table = dataset.to_table(columns=["dt", "hr"], filter=ds.field("player_id").isin(sorted(ids)))
    return set(zip(table.column("dt").to_pylist(), table.column("hr").to_pylist(), strict=True))


def _delete_versions(uri: str, keep_latest: bool) -> int:
    """Delete the older versions (and delete markers) of an S3 object, or all of them; a folder keeps none."""
    if not is_s3(uri):
        return 0
    from headcount.views.aws import client

    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    s3 = client("s3")
    doomed = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if version["Key"] == key and not (keep_latest and version.get("IsLatest")):
                doomed.append({"Key": key, "VersionId": version["VersionId"]})
    for start in range(0, len(doomed), 1000):
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True})
        if answer.get("Errors"):
            raise RuntimeError(f"could not delete versions of s3://{bucket}/{key}: {answer['Errors'][:3]}")
    return len(doomed)
