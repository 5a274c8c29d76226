"""`headcount up`: the whole pipeline on one machine, started in order and stopped for sure."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from headcount import names
from headcount.local import resources
from headcount.local.config import LocalConfig
from headcount.local.gateway import LocalApiGateway
from headcount.local.processes import ChildProcess, StartError, port_in_use, stop_leftovers, wait_for_port
from headcount.local.scheduler import BatchProcess, NightlySchedule
from headcount.local.shards import CheckpointStore
from headcount.local.workers import ARCHIVE, FOLD, Supervisor, WorkerSettings
from headcount.settings import Settings
from headcount.views.batch import DynamoBatchView
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import Republished, republish

REPO_ROOT = Path(__file__).resolve().parents[2]  # the clone (for an installed package: site-packages)


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
    """moto server on the config's port (DynamoDB, SQS); its state lives in its memory only."""
    return ChildProcess(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(config.moto_port)],
        config.log_dir,
        pid_dir=config.pid_dir,
    )


class LocalStack:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.config = settings.config
        self.children: list[ChildProcess] = []
        self.supervisor: Supervisor | None = None
        self.gateway: LocalApiGateway | None = None
        self.schedule: NightlySchedule | None = None
        self.batch: BatchProcess | None = None
        self.republished = Republished()  # the days of the lake's counts published again at start

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
        for leftover in stop_leftovers(config.pid_dir):
            print(f"stopped {leftover}, left running by an earlier `headcount up` that did not stop", flush=True)
        for port in (config.moto_port, config.kinesis_port, config.api_port):
            if port_in_use(port):
                raise StartError(f"127.0.0.1:{port} is already in use: is another `headcount up` running?")
        config.state_dir.mkdir(parents=True, exist_ok=True)
        fresh_stream = not config.kinesis_dir.exists()
        self.children.append(start_kinesalite(config))
        self.children.append(start_moto(config))
        wait_for_port(config.kinesis_port, 30, self.children[0])
        wait_for_port(config.moto_port, 60, self.children[1])
        config.apply_aws_environment()
        os.environ.update(self.settings.environment)
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon on this machine
        resources.create_all(config.shards)
        # moto keeps state in memory only, so the real-time view starts empty: the fold re-reads the stream from its
        # start (the writes are idempotent, so this rebuilds the view exactly). The archive lives on disk with its
        # checkpoints; it starts over only with a new stream.
        CheckpointStore(config.checkpoint_dir, FOLD).reset()
        if fresh_stream:
            CheckpointStore(config.checkpoint_dir, ARCHIVE).reset()
        settings = Settings()
        # The batch view is in moto's memory too, while the counts table it came from is on disk: publish it again, so
        # the days the nightly job covered stay exact across restarts.
        self.republished = republish(
            config.lake_dir, DynamoBatchView(settings.batch_table), load_catalog(settings.catalog_path)
        )
        self.supervisor = Supervisor(self.settings)
        self.supervisor.start()
        self.gateway = LocalApiGateway(
            "headcount.functions.serve.handler.handler",
            config.api_port,
            str(config.log_dir / "serve.log"),
            self.settings.environment,
        )
        self.gateway.start()
        if settings.batch_at != "off":
            self.batch = BatchProcess(config.log_dir / "batch.log")
            self.schedule = NightlySchedule(settings.batch_at, settings.tz, self.batch)
            self.schedule.start()

    def stop(self) -> None:
        if self.schedule is not None:
            self.schedule.stop()
        if self.batch is not None:
            self.batch.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self.supervisor is not None:
            self.supervisor.stop()
        for child in reversed(self.children):
            child.stop()

    def endpoints(self) -> dict[str, str]:
        env = self.config.aws_environment()
        return {
            "api": f"http://127.0.0.1:{self.config.api_port}",
            "kinesis": env["AWS_ENDPOINT_URL_KINESIS"],
            "aws": env["AWS_ENDPOINT_URL"],
            "stream": names.STREAM,
            "lake": str(self.config.lake_dir),
        }
