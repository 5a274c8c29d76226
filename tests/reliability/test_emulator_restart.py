"""An emulator that dies under `headcount up` is started again, and what it kept in memory is rebuilt: every number
is right afterwards, and the stack goes on taking events."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from headcount.local.processes import port_in_use, recorded_pid
from tests.e2e.conftest import _wait_healthy
from tests.reliability.local_stack import PORTS, config_for, matches_on, post_matches, start_up, stop, wait_for


@pytest.mark.parametrize("emulator", ["moto", "kinesalite"])
def test_a_killed_emulator_comes_back_and_the_numbers_with_it(tmp_path: Path, emulator: str) -> None:
    assert not any(port_in_use(int(p)) for p in PORTS.values()), "another stack holds the test's ports"
    config = config_for(tmp_path)
    up = start_up(tmp_path)
    try:
        _wait_healthy(config, up, tmp_path)
        # Given 30 matches counted
        today = post_matches(0, 30)
        wait_for(lambda: matches_on(today) == 30)
        # When the emulator is killed (moto loses the real-time view with it; kinesalite keeps the stream on disk)
        pid = recorded_pid(config.pid_dir / f"{emulator}.pid")
        os.kill(pid, signal.SIGKILL)
        # Then it is started again, the 30 are counted again, once, and new events are taken and counted
        wait_for(lambda: f"{emulator} is back" in (tmp_path / "up.log").read_text())
        assert recorded_pid(config.pid_dir / f"{emulator}.pid") != pid
        wait_for(lambda: matches_on(today) == 30)
        post_matches(30, 10)
        wait_for(lambda: matches_on(today) == 40)
    finally:
        stop(up)
    assert up.returncode == 0 and not any(port_in_use(int(p)) for p in PORTS.values())
