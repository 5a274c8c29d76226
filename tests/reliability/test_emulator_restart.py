"""An emulator that dies under `headcount up` is started again, and what it kept in memory is rebuilt: every number
is right afterwards, and the stack goes on taking events."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from headcount.local.processes import recorded_pid
from support.reliability_stack import matches_on, post_matches, wait_for

pytestmark = pytest.mark.e2e  # starts processes of the local stack: `-m "not e2e"` leaves it out


@pytest.mark.parametrize("emulator", ["moto", "kinesalite"])
def test_a_killed_emulator_comes_back_and_the_numbers_with_it(running_stack, tmp_path: Path, emulator: str) -> None:
    config, _up = running_stack
    # Given 30 matches counted
    today = post_matches(0, 30)
    wait_for(lambda: matches_on(today) == 30)
    # When the emulator is killed (moto loses the real-time view with it; kinesalite keeps the stream on disk)
    pid = recorded_pid(config.pid_dir / f"{emulator}.pid")
    os.kill(pid, signal.SIGKILL)
    # while events keep coming (the fold goes on writing the moment moto is back)
    posted, deadline = 30, time.monotonic() + 120
    while f"{emulator} is back" not in (tmp_path / "up.log").read_text():
        assert time.monotonic() < deadline, f"{emulator} was not started again"
        with contextlib.suppress(AssertionError, OSError):  # refused while kinesalite is down: sent again
            post_matches(posted, 5)
            posted += 5
        time.sleep(0.2)
    # Then it was started again, and every event is counted, once, those before the kill and those after
    assert recorded_pid(config.pid_dir / f"{emulator}.pid") != pid
    post_matches(posted, 10)
    wait_for(lambda: matches_on(today) == posted + 10)
