"""The local stack as a user starts it: `headcount up` in its own process, on ports of its own, stopped at teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest

from headcount.core.buckets import day_bounds_ms, local_date
from headcount.local.config import LocalConfig
from headcount.local.processes import port_in_use, recorded_pid
from headcount.local.shards import wait_caught_up
from headcount.local.simulator import simulate
from headcount.views.catalog_file import load_catalog
from headcount.views.stream import Producer, send
from support.stack_process import wait_healthy

PORTS = {
    "HEADCOUNT_MOTO_PORT": "14566",
    "HEADCOUNT_KINESIS_PORT": "14567",
    "HEADCOUNT_API_PORT": "18080",
    "HEADCOUNT_SINK_PORT": "18091",
}
IDENTITY_PROVIDER = "CompanyIdP"  # the "company's identity provider" of the e2e stack
S3_PORT = 14569  # a stack whose lake is on the local S3 (`local_stack` parametrized with "s3")


def stack_env(config: LocalConfig) -> dict[str, str]:
    """The environment of a `headcount` command run against the test's stack."""
    return {
        **os.environ,
        **PORTS,
        "HEADCOUNT_STATE_DIR": str(config.state_dir),
        "HEADCOUNT_TZ": "UTC",
        "HEADCOUNT_LAKE": config.lake_kind,
        "HEADCOUNT_S3_PORT": str(config.s3_port),
    }


CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it): Playwright never downloads a browser here
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"  # .ci/run lists them in its log


@pytest.fixture(scope="module")
def local_stack(request, tmp_path_factory):
    """`headcount up`, its lake a folder, or (parametrized indirectly with "s3") a bucket of the local S3."""
    busy = [port for port in [*PORTS.values(), S3_PORT] if port_in_use(int(port))]
    if busy:  # another stack (another test run?) would answer in place of ours
        pytest.fail(f"ports {busy} are in use on 127.0.0.1: is another test run going on?")
    state = tmp_path_factory.mktemp("headcount-state")
    lake = getattr(request, "param", "folder")
    config = LocalConfig(
        state_dir=state,
        moto_port=14566,
        kinesis_port=14567,
        api_port=18080,
        lake_kind=lake,
        s3_port=S3_PORT,
        sink_port=18091,
    )
    env = {
        **stack_env(config),
        "HEADCOUNT_BATCH_AT": "off",  # the tests run the nightly job themselves
        "HEADCOUNT_IDENTITY_PROVIDER": IDENTITY_PROVIDER,  # the dashboard offers it (the local domain stands in for it)
    }
    log = open(state / "up.log", "wb")  # noqa: SIM115 - closed in teardown
    process = subprocess.Popen(
        [sys.executable, "-m", "headcount", "up"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        wait_healthy(config, process, state)
        with pytest.MonkeyPatch.context() as patch:  # the tests' own AWS calls go to the stack, until teardown
            for key, value in config.aws_environment().items():
                patch.setenv(key, value)
            from headcount.views.aws import client

            client.cache_clear()  # a client an earlier test made holds its endpoint: made again, the stack's
            yield config
    finally:
        recorded = [recorded_pid(p) for p in config.pid_dir.glob("*.pid")]
        process.send_signal(signal.SIGTERM)  # as a service manager stops it (Ctrl-C is the same path)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        from headcount.views.aws import client

        client.cache_clear()
    # `headcount up` stopped everything it started: emulators, API and workers
    assert process.returncode == 0, (state / "up.log").read_text()[-2000:]
    assert not any(port_in_use(int(port)) for port in [*PORTS.values(), S3_PORT])
    assert recorded and not any(psutil.pid_exists(pid) for pid in recorded)
    assert not list(config.pid_dir.glob("*.pid"))  # and left no record of a process behind


@pytest.fixture(scope="module")
def published_yesterday(local_stack) -> date:
    """A simulated game of yesterday and today so far, folded and archived, then yesterday's nightly job run and
    published: yesterday is exact (batch), today approximate (real-time). Returns yesterday."""
    from headcount.views.aws import client

    config = local_stack
    now_ms = int(time.time() * 1000)
    yesterday = local_date(now_ms, "UTC") - timedelta(days=1)
    start_ms, _ = day_bounds_ms(yesterday, "UTC")
    producer = Producer(client("kinesis"))
    send(simulate(load_catalog(), "UTC", start_ms, now_ms, 20_000, seed=31).records, producer)
    wait_caught_up(config, producer.last_sequence, "fold", timeout=300)
    wait_caught_up(config, producer.last_sequence, "archive", timeout=300)
    env = stack_env(config)
    done = subprocess.run(  # the day named, not `yesterday`: the clock may pass midnight meanwhile
        [sys.executable, "-m", "headcount", "batch", "--day", str(yesterday), "--days-back", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return yesterday


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright (no sandbox: the tests run as root)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """The folder of this run's screenshots, emptied of an earlier run's."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS
