"""Child processes of the local stack: started with their output in a log file, stopped for sure."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil


class StartError(RuntimeError):
    """The local stack cannot start: what is missing or in the way, and what to do about it."""


def record_pid(pid_file: Path, pid: int) -> None:
    """Note a process of the stack under the state folder: its pid and its start time, which together name it (a pid
    alone may be reused by anyone's process once ours is gone)."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps({"pid": pid, "started": psutil.Process(pid).create_time()}))


def recorded_pid(pid_file: Path) -> int:
    """The pid `record_pid` noted in this file."""
    return int(json.loads(pid_file.read_text())["pid"])


def live_record(pid_file: Path) -> int | None:
    """The pid this file records, if that very process (same start time) is alive; else None."""
    try:
        record = json.loads(pid_file.read_text())
        process = psutil.Process(int(record["pid"]))
        return process.pid if abs(process.create_time() - float(record["started"])) < 0.01 else None
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None


def stop_leftovers(pid_dir: Path, timeout: float = 5.0) -> list[str]:
    """Stop what an earlier run of the stack left running (its `headcount up` killed, so nothing stopped its
    children: the emulators run in sessions of their own and would hold the ports), and only that: a recorded process
    counts as ours only if it is alive with the very start time recorded. Returns what was stopped."""
    stopped, processes = [], []
    for pid_file in sorted(pid_dir.glob("*.pid")):
        pid = live_record(pid_file)  # None: gone, not ours, or a record from an older version: nothing to stop
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                process.terminate()
                processes.append(process)
                stopped.append(f"{pid_file.stem} (pid {pid})")
        pid_file.unlink(missing_ok=True)
    _gone, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return stopped


class ChildProcess:
    def __init__(
        self,
        name: str,
        argv: list[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
        pid_dir: Path | None = None,
    ) -> None:
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            # A new session: a Ctrl-C in the terminal reaches `headcount up`, which then stops its children in order.
            self.popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.pid_file = pid_dir / f"{name}.pid" if pid_dir is not None else None
        if self.pid_file is not None:
            record_pid(self.pid_file, self.popen.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)


def wait_for_port(port: int, timeout: float, process: ChildProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise StartError(f"{process.name} exited early; see {process.log_path}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
