"""`headcount up` killed the hard way (SIGKILL: a closed terminal, an OOM kill) leaves its emulators and workers
running; the next `headcount up` finds and stops them, never anyone else's process, and every number is back."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from headcount.local.processes import port_in_use, recorded_pid, stop_leftovers
from support.reliability_stack import PORTS, config_for, matches_on, post_matches, start_up, stop, wait_for
from support.stack_process import wait_healthy

pytestmark = pytest.mark.e2e  # starts processes of the local stack: `-m "not e2e"` leaves it out


@pytest.fixture
def stranger():
    """A process that is not the stack's, with a pid file that names it as if it were (a reused pid)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_an_abrupt_exit_is_cleaned_up_by_the_next_start_and_the_numbers_come_back(tmp_path: Path, stranger) -> None:
    assert not any(port_in_use(int(p)) for p in PORTS.values()), "another stack holds the test's ports"
    config = config_for(tmp_path)
    first = start_up(tmp_path)
    second = None
    try:
        wait_healthy(config, first, tmp_path)
        # Given 30 matches posted and counted
        today = post_matches(0, 30)
        wait_for(lambda: matches_on(today) == 30)
        # And a second `headcount up` on the same state folder is refused, and stops nothing of the first
        refused = start_up(tmp_path)
        assert refused.wait(60) == 1
        assert "another `headcount up`" in (tmp_path / "up.log").read_text()
        assert first.poll() is None and matches_on(today) == 30
        # When `headcount up` is killed outright, its emulators and workers live on and hold the ports
        recorded = {p.stem: recorded_pid(p) for p in config.pid_dir.glob("*.pid")}
        assert {"kinesalite", "moto", "up"} <= recorded.keys() and any(k.startswith("fold-") for k in recorded)
        assert any(k.startswith("serve-") for k in recorded)  # the API's function processes
        descendants = psutil.Process(first.pid).children(recursive=True)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert all(psutil.pid_exists(pid) for name, pid in recorded.items() if name != "up")
        assert port_in_use(config.moto_port) and port_in_use(config.kinesis_port)
        # And a pid file names a stranger's live process (its start time is not the recorded one)
        (config.pid_dir / "moto-old.pid").write_text(json.dumps({"pid": stranger.pid, "started": 1.0}))
        # Then the next `headcount up` stops exactly the leftovers, starts, and every number is back
        second = start_up(tmp_path)
        wait_healthy(config, second, tmp_path)
        assert not any(psutil.pid_exists(pid) for pid in recorded.values())
        # (and nothing else the first one started lives on: multiprocessing's helpers end with their users)
        wait_for(lambda: not [p for p in descendants if alive(p)])
        assert stranger.poll() is None  # never anyone else's
        wait_for(lambda: matches_on(today) == 30)
        assert "left running by an earlier `headcount up`" in (tmp_path / "up.log").read_text()
    finally:
        stop(first, second)
        stop_leftovers(config.pid_dir)  # whatever a failed assertion above left behind
    assert not any(port_in_use(int(p)) for p in PORTS.values())
