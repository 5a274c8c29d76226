"""`running_stack`: `headcount up` in its own process on the reliability tests' ports, healthy, stopped at teardown with
whatever a failed test left behind."""

from __future__ import annotations

import pytest

from headcount.local.processes import port_in_use, stop_leftovers
from support.reliability_stack import PORTS, config_for, start_up, stop
from support.stack_process import wait_healthy


@pytest.fixture
def running_stack(tmp_path):
    assert not any(port_in_use(int(p)) for p in PORTS.values()), "another stack holds the test's ports"
    config = config_for(tmp_path)
    up = start_up(tmp_path)
    try:
        wait_healthy(config, up, tmp_path)
        yield config, up
    finally:
        stop(up)
        stop_leftovers(config.pid_dir)
    assert up.returncode == 0 and not any(port_in_use(int(p)) for p in PORTS.values())
