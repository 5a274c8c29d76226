"""`headcount up`: the whole pipeline on one machine, started in order and stopped for sure."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

from headcount import names
from headcount.local import resources
from headcount.local.access import MOTO_ID_STRATEGIES, LocalAccess, create_access, function_environment
from headcount.local.authorizer import GatewayAccess
from headcount.local.config import LocalConfig
from headcount.local.gateway import LocalApiGateway
from headcount.local.meter import api_observer, install_from_env
from headcount.local.notifications import local_environment, moto_mailbox, sink_url, take_nightly
from headcount.local.processes import (
    ChildProcess,
    StartError,
    live_record,
    port_in_use,
    record_pid,
    stop_leftovers,
    wait_for_port,
)
from headcount.local.replay import REBUILD_REQUEST
from headcount.local.scheduler import (
    BUSINESS_HANDLER,
    BatchProcess,
    NightlySchedule,
    RateSchedule,
    ScheduledFunction,
    nightly_event,
)
from headcount.local.shards import CheckpointStore
from headcount.local.sink import LocalSink
from headcount.local.token_endpoint import LocalUserPoolDomain
from headcount.local.workers import ARCHIVE, FOLD, Supervisor, WorkerSettings
from headcount.logic.publishing import Republished, republish
from headcount.settings import Settings
from headcount.views.batch import DynamoBatchView
from headcount.views.catalog_file import load_catalog

REPO_ROOT = Path(__file__).resolve().parents[2]  # the clone (for an installed package: site-packages)
OWNER = "up.pid"  # the `headcount up` (or demo) whose processes the other records are


def kinesalite_modules() -> Path:
    """The node_modules folder holding kinesalite (npm; `make` installs package.json's pin into the clone's): the
    clone's, else the current folder's."""
    for folder in (REPO_ROOT / "node_modules", Path.cwd() / "node_modules"):
        if (folder / "kinesalite" / "package.json").is_file():
            return folder
    raise StartError(
        "kinesalite (the local Kinesis, an npm package) is not installed: run `make` in the headcount clone, or "
        "`npm install kinesalite@3.3.3` in this folder"
    )


def start_kinesalite(config: LocalConfig) -> ChildProcess:
    """kinesalite on the config's port, its data in the state folder (it survives a restart of the process)."""
    node = shutil.which("node")
    if node is None:
        raise StartError("node is not installed: kinesalite (the local Kinesis) needs Node.js 18 or later")
    node_modules = kinesalite_modules()
    config.kinesis_dir.mkdir(parents=True, exist_ok=True)
    return ChildProcess(
        "kinesalite",
        [node, str(Path(__file__).with_name("kinesalite.js")), str(config.kinesis_port), str(config.kinesis_dir)],
        config.log_dir,
        env={**os.environ, "NODE_PATH": str(node_modules)},
        pid_dir=config.pid_dir,
    )


def start_moto(config: LocalConfig) -> ChildProcess:
    """moto server on the config's port (DynamoDB, SQS); its state lives in its memory only. Its DynamoDB Query reads
    the partition asked for, not the whole table (local/moto_server.py)."""
    return ChildProcess(
        "moto",
        [sys.executable, "-m", "headcount.local.moto_server", "-H", "127.0.0.1", "-p", str(config.moto_port)],
        config.log_dir,
        env={**os.environ, **MOTO_ID_STRATEGIES},  # the user pool keeps its ids across a restart (local/access.py)
        pid_dir=config.pid_dir,
    )


def start_minio(config: LocalConfig) -> ChildProcess:
    """The local S3 on the config's port (HEADCOUNT_LAKE=s3), its objects in the state folder (they survive it)."""
    from headcount.local import s3

    config.s3_dir.mkdir(parents=True, exist_ok=True)
    try:
        command = s3.minio_command(config.s3_dir, config.s3_port)
    except FileNotFoundError as exc:
        raise StartError(str(exc)) from exc
    return ChildProcess("minio", command, config.log_dir, env=s3.minio_environment(), pid_dir=config.pid_dir)


class LocalStack:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.config = settings.config
        self.children: list[ChildProcess] = []
        self.supervisor: Supervisor | None = None
        self.watch: StackWatch | None = None
        self.gateway: LocalApiGateway | None = None
        self.schedule: NightlySchedule | None = None
        self.batch: BatchProcess | None = None
        self.business: ScheduledFunction | None = None  # today's KPIs into (moto's) CloudWatch, as the stack's schedule
        self.business_schedule: RateSchedule | None = None
        self.sink: LocalSink | None = None  # where the local Slack and webhook channels send
        self.republished = Republished()  # the days of the lake's counts published again at start
        self.access: LocalAccess  # the user pool, its clients, the ingest keys' usage plan (moto's, made at start)

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        config = self.config
        owner = live_record(config.pid_dir / OWNER)
        if owner is not None:
            raise StartError(f"another `headcount up` (pid {owner}) runs on {config.state_dir}: stop it first")
        for leftover in stop_leftovers(config.pid_dir):
            print(f"stopped {leftover}, left running by an earlier `headcount up` that did not stop", flush=True)
        record_pid(config.pid_dir / OWNER, os.getpid())
        s3_lake = config.lake_kind == "s3"
        ports = (config.moto_port, config.kinesis_port, config.api_port, config.sink_port)
        for port in (*ports, *([config.s3_port] if s3_lake else [])):
            if port_in_use(port):
                raise StartError(f"127.0.0.1:{port} is already in use: is another `headcount up` running?")
        config.state_dir.mkdir(parents=True, exist_ok=True)
        fresh_stream = not config.kinesis_dir.exists()
        self.children.append(start_kinesalite(config))
        self.children.append(start_moto(config))
        wait_for_port(config.kinesis_port, 30, self.children[0])
        wait_for_port(config.moto_port, 60, self.children[1])
        if s3_lake:
            self._start_s3()
        config.apply_aws_environment()
        os.environ.update(self.settings.environment)
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon on this machine
        if fresh_stream:  # the archive lives on disk with its checkpoints; it starts over only with a new stream
            CheckpointStore(config.checkpoint_dir, ARCHIVE).reset()
        self._fill_moto()
        take_nightly(config)  # a success announced while no stack ran is not this start's to act on
        self.sink = LocalSink(config.sink_port, config.sink_path, mailbox=lambda: moto_mailbox(config)).start()
        functions_env = {**self.settings.environment, **local_environment(config)}
        settings = Settings()
        self.supervisor = Supervisor(self.settings)
        self.supervisor.start()
        self.watch = StackWatch(self)
        self.watch.start()
        moto_url = config.aws_environment()["AWS_ENDPOINT_URL"]
        pool_id = self.access.user_pool_id
        meter = install_from_env("stack")  # `headcount cost`: the API's requests, and what this process publishes
        self.gateway = LocalApiGateway(
            "headcount.functions.serve.handler.handler",
            config.api_port,
            str(config.log_dir / "serve.log"),
            {
                **functions_env,
                **function_environment(self.access, moto_url, config.api_port, settings.identity_provider),
            },
            observe=api_observer(meter) if meter is not None else None,
            pid_dir=config.pid_dir,
            access_checks=GatewayAccess(
                pool_id, names.DEFAULT_NAMES.ingest_usage_plan, f"{moto_url}/{pool_id}/.well-known/jwks.json"
            ),
            user_pool_domain=LocalUserPoolDomain(
                pool_id,
                settings.identity_provider,
                self.access.dashboard_client_id,
                # the dashboard's addresses: the API's root, and its stage's (the stack's client has its stage's)
                callback_urls=(f"http://127.0.0.1:{config.api_port}/", f"http://127.0.0.1:{config.api_port}/prod/"),
            ),
        )
        self.gateway.start()
        if settings.batch_at != "off":
            self.batch = BatchProcess(config.log_dir / "batch.log")
            self.schedule = NightlySchedule(settings.batch_at, settings.tz, self.batch)
            self.schedule.start()
        # the business function: on its schedule, and when the nightly job succeeded (StackWatch)
        self.business = ScheduledFunction(
            BUSINESS_HANDLER,
            config.log_dir / "business.log",
            functions_env,
            names.BUSINESS_FUNCTION,
            pid_dir=config.pid_dir,
        )
        if settings.business_every_s > 0:
            self.business_schedule = RateSchedule(settings.business_every_s, self.business, name="business")
            self.business_schedule.start()

    def _start_s3(self, index: int | None = None) -> None:
        from headcount.local import s3
        from headcount.local.config import LAKE_BUCKET

        child = start_minio(self.config)
        if index is None:
            self.children.append(child)
        else:
            self.children[index] = child
        wait_for_port(self.config.s3_port, 30, child)
        s3.create_bucket(f"http://127.0.0.1:{self.config.s3_port}", LAKE_BUCKET)

    def _fill_moto(self) -> None:
        """What moto, which keeps its state in memory only, holds: the resources, and both views rebuilt. The fold
        reads the stream again from its start (its writes are idempotent: the real-time view comes back exactly), and
        the batch view is published again from the counts table on disk (the days the nightly job covered stay
        exact)."""
        config, settings = self.config, Settings()
        resources.create_all(config.shards)
        self.access = create_access()
        self.rebuild_realtime()
        self.republished = republish(
            config.lake,
            DynamoBatchView(settings.batch_table),
            load_catalog(settings.catalog_path),
            settings.computed_zones,
            tz=settings.tz,
        )

    def rebuild_realtime(self) -> None:
        """The real-time view again from the stream's start (at every start, after moto came back, for `headcount
        replay`): the fold workers stopped, the table emptied and their checkpoints reset while none runs, then started
        again. Emptied while they are stopped: an item a worker wrote meanwhile (moto was back before the workers were
        stopped) would hold a later sequence number, and the fold would take the records before it as applied."""

        def empty_view() -> None:
            resources.recreate_table(names.REALTIME_TABLE, ttl_attribute="expires_at")
            CheckpointStore(self.config.checkpoint_dir, FOLD).reset()

        if self.supervisor is None:  # at start: moto's table is new and empty, no worker runs yet
            CheckpointStore(self.config.checkpoint_dir, FOLD).reset()
        else:
            self.supervisor.restart(FOLD, meanwhile=empty_view)

    def restart_emulator(self, index: int) -> None:
        """Start the emulator at `children[index]` again (it died), and give it back what it lost."""
        config, name = self.config, self.children[index].name
        if name == "kinesalite":  # its data is on disk: the stream is as it was
            child = start_kinesalite(config)
            self.children[index] = child
            wait_for_port(config.kinesis_port, 30, child)
        elif name == "minio":  # its objects are on disk: the lake is as it was
            self._start_s3(index)
        else:
            child = start_moto(config)
            self.children[index] = child
            wait_for_port(config.moto_port, 60, child)
            self._fill_moto()

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        if self.schedule is not None:
            self.schedule.stop()
        if self.batch is not None:
            self.batch.stop()
        if self.business_schedule is not None:
            self.business_schedule.stop()
        if self.business is not None:
            self.business.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self.sink is not None:
            self.sink.stop()
        if self.supervisor is not None:
            self.supervisor.stop()
        for child in reversed(self.children):
            child.stop()
        if live_record(self.config.pid_dir / OWNER) == os.getpid():
            (self.config.pid_dir / OWNER).unlink()

    def endpoints(self) -> dict[str, str]:
        env = self.config.aws_environment()
        return {
            "api": f"http://127.0.0.1:{self.config.api_port}",
            "kinesis": env["AWS_ENDPOINT_URL_KINESIS"],
            "aws": env["AWS_ENDPOINT_URL"],
            "stream": names.STREAM,
            "lake": self.config.lake,
            "sink": sink_url(self.config),
        }


class StackWatch(threading.Thread):
    """Starts an emulator again when it dies (killed, crashed, out of memory), as the supervisor does the workers; takes
    `headcount replay`'s requests to rebuild the real-time view; and runs the business function when the nightly job
    announced its success (EventBridge's rule on AWS)."""

    def __init__(self, stack: LocalStack, interval_s: float = 1.0) -> None:
        super().__init__(name="stack-watch", daemon=True)
        self.stack, self.interval_s = stack, interval_s
        self.restarts = 0
        self._stop_requested = threading.Event()

    def run(self) -> None:
        request = self.stack.config.control_dir / REBUILD_REQUEST
        while not self._stop_requested.wait(self.interval_s):
            if request.exists():
                print("rebuilding the real-time view from the stream (headcount replay)", file=sys.stderr, flush=True)
                try:
                    self.stack.rebuild_realtime()
                except Exception as exc:  # noqa: BLE001 - reported; `headcount replay` times out and says so
                    print(f"the real-time view was not rebuilt: {exc}", file=sys.stderr, flush=True)
                finally:
                    request.unlink(missing_ok=True)
            published_ms = take_nightly(self.stack.config)
            if published_ms is not None and self.stack.business is not None:
                threading.Thread(target=self._after_nightly, args=(published_ms,), daemon=True).start()
            for index, child in enumerate(self.stack.children):
                if child.alive() or self._stop_requested.is_set():
                    continue
                print(
                    f"{child.name} exited with {child.popen.returncode}; starting it again", file=sys.stderr, flush=True
                )
                try:
                    self.stack.restart_emulator(index)
                    self.restarts += 1
                    print(f"{child.name} is back", file=sys.stderr, flush=True)
                except Exception as exc:  # noqa: BLE001 - reported; the next round tries again
                    print(f"{child.name} did not come back: {exc}", file=sys.stderr, flush=True)

    def _after_nightly(self, published_ms: int) -> None:
        try:
            notified = (self.stack.business.invoke(nightly_event(published_ms)) or {}).get("notified", {})
            sent, failed = len(notified.get("sent", [])), len(notified.get("failed", []))
            print(
                f"after the nightly job: {sent} digest(s) and alert(s) sent, {failed} failed",
                file=sys.stderr,
                flush=True,
            )
        except Exception as exc:  # noqa: BLE001 - reported; the next scheduled run sends what is due
            print(f"the business function failed after the nightly job: {exc}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(30)
