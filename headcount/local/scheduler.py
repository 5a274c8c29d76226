"""The nightly schedule (EventBridge on AWS): at a set local time, run the batch job for the previous day.

Like EventBridge, a run missed while the stack was down is not caught up: `headcount batch --day D` does that by hand.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo


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
            self.process.wait()

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
