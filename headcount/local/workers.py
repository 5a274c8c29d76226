"""Stream consumers as worker processes, one per (consumer, shard), kept running by a supervisor.

A worker can be killed at any moment (SIGKILL included) and restarted: it resumes from its checkpoint, and everything it
did after that checkpoint is either idempotent (the fold's conditional writes) or replaced (the archiver's files).
"""

from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from headcount import names
from headcount.local.archiver import ArchiveSettings, ShardArchiver
from headcount.local.config import LocalConfig
from headcount.local.esm import MappingSettings, ShardMapping, sqs_sender
from headcount.local.faults import Faults
from headcount.local.meter import fold_observer, install_from_env
from headcount.local.processes import record_pid
from headcount.local.resources import stream_arn
from headcount.local.shards import Checkpoint, CheckpointStore, ShardReader, list_shards, ready_shards
from headcount.views.aws import client

FOLD, ARCHIVE = "fold", "archive"
POLL_INTERVAL_S = 0.2
FOLD_HANDLER = "headcount.functions.fold.handler.handler"  # functions/fold/handler.py, installed under headcount


@dataclass(frozen=True)
class WorkerSettings:
    config: LocalConfig
    mapping: MappingSettings = field(default_factory=MappingSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    consumers: tuple[str, ...] = (FOLD, ARCHIVE)
    environment: dict[str, str] = field(default_factory=dict)  # handler settings (HEADCOUNT_TZ, ...)
    faults: Faults | None = None  # the soak's service faults, on the workers' DynamoDB and Kinesis clients


def worker_main(kind: str, shard_id: str, settings: WorkerSettings) -> None:
    """Entry of a worker process."""
    config = settings.config
    log = open(config.log_dir / f"{kind}-{shard_id}.log", "ab", buffering=0)  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    os.environ.update(settings.environment)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon on this machine
    config.apply_aws_environment()
    meter = install_from_env(f"{kind}-{shard_id}")
    if settings.faults is not None:
        for service in ("dynamodb", "kinesis"):
            seed = zlib.crc32(f"{kind}-{shard_id}-{service}".encode())  # per worker and service, the same every run
            dataclasses.replace(settings.faults, seed=seed).attach(client(service))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop

    checkpoints = CheckpointStore(config.checkpoint_dir, kind)
    start = checkpoints.get(shard_id)
    reader = ShardReader(
        names.STREAM,
        shard_id,
        start.sequence_number if start else None,
        settings.mapping.starting_position if kind == FOLD else "TRIM_HORIZON",
    )
    committed = [start.sequence_number if start else None]

    def commit(sequence_number: str) -> None:
        committed[0] = sequence_number
        checkpoints.put(shard_id, Checkpoint(sequence_number))

    consumer: Any
    if kind == FOLD:
        handler = getattr(importlib.import_module(FOLD_HANDLER.rsplit(".", 1)[0]), FOLD_HANDLER.rsplit(".", 1)[1])
        queue_url = client("sqs").get_queue_url(QueueName=names.ON_FAILURE_QUEUE)["QueueUrl"]
        consumer = ShardMapping(
            settings.mapping,
            shard_id,
            stream_arn(),
            handler,
            commit,
            sqs_sender(queue_url),
            observe=fold_observer(meter) if meter is not None else None,
        )
    else:
        consumer = ShardArchiver(settings.archive, config.lake, shard_id, commit)

    pace = settings.mapping.min_read_interval_s if kind == FOLD else 0.0
    while not stop.is_set():
        capacity = consumer.capacity()
        read_at = time.monotonic()
        records = reader.read(capacity) if capacity > 0 else []
        consumer.offer(records)
        consumer.tick(closed=reader.closed)
        if reader.closed and consumer.empty():
            checkpoints.put(shard_id, Checkpoint(committed[0], finished=True))
            print(f"{kind} {shard_id}: closed shard read to its end", flush=True)
            return
        if not records:
            stop.wait(max(POLL_INTERVAL_S, pace))
        elif pace:
            stop.wait(max(0.0, read_at + pace - time.monotonic()))
    consumer.shutdown()
    sys.exit(0)


class Supervisor(threading.Thread):
    """Starts a worker for every ready (consumer, shard), restarts any that dies, stops them all on request."""

    def __init__(self, settings: WorkerSettings) -> None:
        super().__init__(name="supervisor", daemon=True)
        self.settings = settings
        self.workers: dict[tuple[str, str], BaseProcess] = {}
        self._stop_requested = threading.Event()
        self._round = threading.Lock()  # one reconcile round, or one restart, at a time
        self.restarts = 0  # workers that died and were started again (the soak reports it)
        self._context = multiprocessing.get_context("spawn")
        self.settings.config.pid_dir.mkdir(parents=True, exist_ok=True)

    def run(self) -> None:
        while not self._stop_requested.is_set():
            try:
                with self._round:
                    self.reconcile()
            except Exception as exc:  # noqa: BLE001 - the emulator may be briefly unreachable; try again next round
                print(f"supervisor: {exc}", file=sys.stderr, flush=True)
            self._stop_requested.wait(0.5)

    def reconcile(self) -> None:
        shards = list_shards(names.STREAM)
        for kind in self.settings.consumers:
            checkpoints = CheckpointStore(self.settings.config.checkpoint_dir, kind)
            for shard_id in ready_shards(shards, checkpoints):
                process = self.workers.get((kind, shard_id))
                if process is not None and process.is_alive():
                    continue
                if process is not None:
                    self.restarts += 1
                    print(
                        f"supervisor: {kind} {shard_id} exited with {process.exitcode}; restarting",
                        file=sys.stderr,
                        flush=True,
                    )
                self._start(kind, shard_id)

    def _start(self, kind: str, shard_id: str) -> None:
        process = self._context.Process(
            target=worker_main, args=(kind, shard_id, self.settings), name=f"{kind}-{shard_id}", daemon=True
        )
        process.start()
        self.workers[(kind, shard_id)] = process
        record_pid(self.settings.config.pid_dir / f"{kind}-{shard_id}.pid", process.pid)

    def restart(self, kind: str, meanwhile: Callable[[], None], timeout: float = 10.0) -> None:
        """Stop every worker of `kind`, run `meanwhile` while none runs (a checkpoint reset, say), and let the next
        round start them again."""
        with self._round:
            stopping = [key for key in self.workers if key[0] == kind]
            _stop_processes([self.workers.pop(key) for key in stopping], timeout)
            meanwhile()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_requested.set()
        self.join(timeout)
        _stop_processes(list(self.workers.values()), timeout)
        for kind, shard_id in self.workers:
            (self.settings.config.pid_dir / f"{kind}-{shard_id}.pid").unlink(missing_ok=True)


def _stop_processes(processes: list[BaseProcess], timeout: float) -> None:
    """SIGTERM to all (a worker finishes its batch and exits), then SIGKILL to any still running after `timeout`."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
