"""`headcount up` killed the hard way (SIGKILL: a closed terminal, an OOM kill) leaves its emulators and workers
running; the next `headcount up` finds and stops them, never anyone else's process, and every number is back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from headcount.local.config import LocalConfig
from headcount.local.processes import port_in_use, recorded_pid
from tests.e2e.conftest import _wait_healthy

PORTS = {"HEADCOUNT_MOTO_PORT": "24566", "HEADCOUNT_KINESIS_PORT": "24567", "HEADCOUNT_API_PORT": "28080"}
CONFIG = dict(moto_port=24566, kinesis_port=24567, api_port=28080)


def start_up(state: Path) -> subprocess.Popen:
    env = {**os.environ, **PORTS, "HEADCOUNT_STATE_DIR": str(state), "HEADCOUNT_BATCH_AT": "off", "HEADCOUNT_TZ": "UTC"}
    log = open(state / "up.log", "ab")  # noqa: SIM115 - the process holds it
    return subprocess.Popen([sys.executable, "-m", "headcount", "up"], env=env, stdout=log, stderr=subprocess.STDOUT)


def api(path: str, body: bytes | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORTS['HEADCOUNT_API_PORT']}{path}", data=body, headers={"x-api-key": "local-dev-key"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def matches_today(today: str) -> int:
    return sum(p["value"] for p in api(f"/v1/metrics/matches_played?from={today}")["points"])


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.5)


@pytest.fixture
def stranger():
    """A process that is not the stack's, with a pid file that names it as if it were (a reused pid)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def test_an_abrupt_exit_is_cleaned_up_by_the_next_start_and_the_numbers_come_back(tmp_path: Path, stranger) -> None:
    assert not any(port_in_use(int(p)) for p in PORTS.values()), "another stack holds the test's ports"
    config = LocalConfig(state_dir=tmp_path, **CONFIG)
    first = start_up(tmp_path)
    second = None
    try:
        _wait_healthy(config, first, tmp_path)
        # Given 30 matches posted and counted (at the stack's now: it is a real stack, on the real clock)
        posted_ms = int(time.time() * 1000)
        events = [
            {"event_id": f"m-{i}", "type": "match_end", "player_id": f"p-{i}", "ts": posted_ms} for i in range(30)
        ]
        assert api("/v1/events", json.dumps({"events": events}).encode())["accepted"] == 30
        today = time.strftime("%Y-%m-%d", time.gmtime(posted_ms / 1000))  # the stack's reporting zone is UTC
        wait_for(lambda: matches_today(today) == 30)
        # When `headcount up` is killed outright, its emulators and workers live on and hold the ports
        recorded = {p.stem: recorded_pid(p) for p in config.pid_dir.glob("*.pid")}
        assert {"kinesalite", "moto"} <= recorded.keys() and any(k.startswith("fold-") for k in recorded)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert all(psutil.pid_exists(pid) for pid in recorded.values())
        assert port_in_use(config.moto_port) and port_in_use(config.kinesis_port)
        # And a pid file names a stranger's live process (its start time is not the recorded one)
        (config.pid_dir / "moto-old.pid").write_text(json.dumps({"pid": stranger.pid, "started": 1.0}))
        # Then the next `headcount up` stops exactly the leftovers, starts, and every number is back
        second = start_up(tmp_path)
        _wait_healthy(config, second, tmp_path)
        assert not any(psutil.pid_exists(pid) for pid in recorded.values())
        assert stranger.poll() is None  # never anyone else's
        wait_for(lambda: matches_today(today) == 30)
        assert "left running by an earlier `headcount up`" in (tmp_path / "up.log").read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    assert not any(port_in_use(int(p)) for p in PORTS.values())
