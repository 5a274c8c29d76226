"""The stack's schedules (EventBridge Scheduler on AWS): at a set local time, run the batch job for the previous day;
and every few minutes, the business function (today's KPIs so far into CloudWatch, here moto's).

Like EventBridge, a run missed while the stack was down is not caught up: `headcount batch --day D` does that by hand.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import os
import subprocess
import sys
import threading
import time as clock
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from headcount.local.esm import LocalLambdaContext, lambda_arn
from headcount.local.meter import install_from_env
from headcount.local.processes import record_pid

BUSINESS_HANDLER = "headcount.functions.business.handler.handler"  # functions/business/handler.py, installed


class NightlySchedule(threading.Thread):
    def __init__(
        self, at: str, tz: str, run: Callable[[date], None], now: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__(name="nightly-schedule", daemon=True)
        self.at = time.fromisoformat(at)
        self.zone = ZoneInfo(tz)
        self.run_job = run
        self.now = now or (lambda: datetime.now(self.zone))
        self._stop_requested = threading.Event()
        current = self.now()
        # The day whose run is next: today's if its time has not come yet, else tomorrow's (no catch-up).
        self.next_run_on = current.date() if current.time() < self.at else current.date() + timedelta(days=1)

    def due(self) -> date | None:
        """The day to compute when a run is due now, else None."""
        current = self.now()
        if current.date() > self.next_run_on or (current.date() == self.next_run_on and current.time() >= self.at):
            day = current.date() - timedelta(days=1)
            self.next_run_on = current.date() + timedelta(days=1)
            return day
        return None

    def run(self) -> None:
        while not self._stop_requested.wait(20):
            self.tick()

    def tick(self) -> None:
        """Run the job if it is due. A run that fails (the job's process could not start, say) is reported and the
        schedule goes on: the next night runs, and `headcount batch --day D` redoes the missed one."""
        day = self.due()
        if day is None:
            return
        try:
            self.run_job(day)
        except Exception as exc:  # noqa: BLE001 - one failed run must not end the schedule
            print(f"nightly job for {day} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._stop_requested.set()


class BatchProcess:
    """Runs `headcount batch --day D` as its own process (Spark's JVM does not live in the stack's process), and stops
    a run still going when the stack stops."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def __call__(self, day: date) -> None:
        with open(self.log_path, "ab") as log:
            with self._lock:
                if self._stopped:
                    return
                argv = [sys.executable, "-m", "headcount", "batch", "--day", day.isoformat()]
                self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.process.wait()  # on success it announces itself (headcount/local/notifications.py)

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._stopped = True
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class RateSchedule(threading.Thread):
    """EventBridge Scheduler's `rate(...)`: a run every `every_s` seconds from the start, given its scheduled time (epoch
    ms, what the stack's schedule passes as `<aws.scheduler.scheduled-time>`). Runs missed while one ran long are not
    caught up: the next run is the latest time that has come."""

    def __init__(
        self, every_s: float, run: Callable[[int], None], now: Callable[[], float] = clock.time, name: str = "rate"
    ) -> None:
        super().__init__(name=f"{name}-schedule", daemon=True)
        self.every_s, self.run_job, self.now = every_s, run, now
        self.next_at = now() + every_s
        self._stop_requested = threading.Event()

    def due(self) -> int | None:
        """The scheduled time (epoch ms) of the run due now, else None."""
        current = self.now()
        if current < self.next_at:
            return None
        missed = math.floor((current - self.next_at) / self.every_s)
        scheduled = self.next_at + missed * self.every_s
        self.next_at = scheduled + self.every_s
        return int(scheduled * 1000)

    def run(self) -> None:
        while not self._stop_requested.wait(min(self.every_s, 5.0)):
            self.tick()

    def tick(self) -> None:
        """Run if due; a run that fails is reported and the schedule goes on (as the nightly one)."""
        scheduled_ms = self.due()
        if scheduled_ms is None:
            return
        try:
            self.run_job(scheduled_ms)
        except Exception as exc:  # noqa: BLE001 - one failed run must not end the schedule
            print(f"{self.name} run at {scheduled_ms} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._stop_requested.set()


_handler: Any = None


def _start_function(
    handler_path: str, log_path: str, environment: dict[str, str], meter_role: str, pid_file: str | None
) -> None:
    """A function instance, as Lambda runs one: its own process, its output (logs) in its log, its pid recorded (it
    outlives a `headcount up` killed outright: the next start stops it)."""
    global _handler
    if pid_file is not None:
        record_pid(Path(pid_file), os.getpid())
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(environment)
    install_from_env(meter_role)
    module, name = handler_path.rsplit(".", 1)
    _handler = getattr(importlib.import_module(module), name)


def _invoke(event: dict[str, Any], function_name: str, timeout_s: float) -> Any:
    return _handler(
        event, LocalLambdaContext(function_name, str(uuid.uuid4()), lambda_arn(function_name), timeout_s=timeout_s)
    )


def nightly_event(now_ms: int) -> dict[str, str]:
    """What the stack's EventBridge rule on the nightly job's success sends the business function
    (infra/notifications.py): the event's time."""
    at = datetime.fromtimestamp(now_ms / 1000, UTC).replace(microsecond=0)
    return {"trigger": "nightly", "time": at.isoformat().replace("+00:00", "Z")}


def scheduled_event(scheduled_ms: int) -> dict[str, str]:
    """What the stack's schedule sends the business function (infra/business.py): its scheduled time, as Scheduler
    writes `<aws.scheduler.scheduled-time>`."""
    at = datetime.fromtimestamp(scheduled_ms / 1000, UTC).replace(microsecond=0)
    return {"scheduled_time": at.isoformat().replace("+00:00", "Z")}


class ScheduledFunction:
    """A function a schedule invokes (the business function): one execution environment in its own process, kept warm
    between runs as Lambda keeps one, started again when it died; its output in its own log."""

    def __init__(
        self,
        handler_path: str,
        log_path: Path,
        environment: dict[str, str],
        function_name: str,
        timeout_s: float = 60.0,
        pid_dir: Path | None = None,
    ) -> None:
        self.function_name, self.timeout_s = function_name, timeout_s
        self.pid_file = pid_dir / f"{function_name.removeprefix('headcount-')}.pid" if pid_dir is not None else None
        self._new = lambda: ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_function,
            initargs=(
                handler_path,
                str(log_path),
                environment,
                function_name.removeprefix("headcount-"),
                str(self.pid_file) if self.pid_file is not None else None,
            ),
        )
        self._pool = self._new()
        self._lock = threading.Lock()
        self._stopped = False

    def __call__(self, scheduled_ms: int) -> Any:
        return self.invoke(scheduled_event(scheduled_ms))

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            if self._stopped:
                return None
            pool = self._pool
        try:
            return pool.submit(_invoke, event, self.function_name, self.timeout_s).result(timeout=self.timeout_s)
        except BrokenProcessPool:
            with self._lock:  # the process died (killed, out of memory): a fresh one for the next run
                if self._pool is pool and not self._stopped:
                    self._pool = self._new()
            raise

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
