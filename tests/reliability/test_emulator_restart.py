"""An emulator that dies under `headcount up` is started again, and what it kept in memory is rebuilt: every number
is right afterwards, and the stack goes on taking events."""

from __future__ import annotations

import contextlib
import os
import signal
import time
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
        # while events keep coming (the fold goes on writing the moment moto is back)
        posted = 30
        while f"{emulator} is back" not in (tmp_path / "up.log").read_text():
            with contextlib.suppress(AssertionError, OSError):  # refused while kinesalite is down: sent again
                post_matches(posted, 5)
                posted += 5
            time.sleep(0.2)
        # Then it was started again, and every event is counted, once, those before the kill and those after
        assert recorded_pid(config.pid_dir / f"{emulator}.pid") != pid
        post_matches(posted, 10)
        wait_for(lambda: matches_on(today) == posted + 10)
    finally:
        stop(up)
    assert up.returncode == 0 and not any(port_in_use(int(p)) for p in PORTS.values())
