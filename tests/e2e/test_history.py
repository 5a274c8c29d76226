"""End to end, a game with a history (`headcount simulate --history-days`, what `headcount demo` runs): the days before
yesterday go straight into the raw archive, as the archiver would have filed them, and one nightly run computes them;
the batch view then answers every KPI of those days exactly, equal to the simulator's truth, and the retention route
the cells of old cohorts. Yesterday and today go through the stream. Its own stack, on ports of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headcount.core.catalog import Kind
from headcount.local.config import LocalConfig
from headcount.local.feed import run_simulate_history
from headcount.local.processes import port_in_use, stop_leftovers
from headcount.views.catalog_file import load_catalog
from support.stack_process import wait_healthy
from tests.e2e.test_realtime import api

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
PORTS = {
    "moto_port": 16566,
    "kinesis_port": 16567,
    "api_port": 18280,
    "sink_port": 16591,
}  # none of the other tests' ports
HISTORY_DAYS = 32  # the two oldest cohorts have their D+30 among them
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    busy = [port for port in PORTS.values() if port_in_use(port)]
    if busy:
        pytest.fail(f"ports {busy} are in use on 127.0.0.1: is another run of this test going on?")
    config = LocalConfig(state_dir=tmp_path_factory.mktemp("history-state"), **PORTS)
    env = {"HEADCOUNT_TZ": "UTC", "HEADCOUNT_BATCH_AT": "off"}  # the test runs the nightly job itself
    log = open(config.state_dir / "up.log", "wb")  # noqa: SIM115 - closed in teardown
    process = subprocess.Popen(
        [sys.executable, "-m", "headcount", "up"],
        env={
            **os.environ,
            **env,
            "HEADCOUNT_STATE_DIR": str(config.state_dir),
            "HEADCOUNT_MOTO_PORT": str(config.moto_port),
            "HEADCOUNT_KINESIS_PORT": str(config.kinesis_port),
            "HEADCOUNT_API_PORT": str(config.api_port),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        wait_healthy(config, process, config.state_dir)
        with pytest.MonkeyPatch.context() as patch:  # the test's own calls go to this stack, until teardown
            for key, value in {**config.aws_environment(), **env}.items():
                patch.setenv(key, value)
            yield config
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        stop_leftovers(config.pid_dir)
        from headcount.views.aws import client

        client.cache_clear()


def test_the_history_days_are_archived_computed_in_one_run_and_answered_exactly(stack):
    config = stack
    # Given a game of 32 days before yesterday, yesterday and today so far, simulated as of now: the history archived
    # and computed by one nightly run, yesterday and today sent to the stream and folded
    simulated = run_simulate_history(config, int(time.time() * 1000), HISTORY_DAYS, new_per_day=40, seed=11, wait=True)
    history = simulated.history
    truth = history.history_truth()  # what had arrived by yesterday's start, when the archive is all the run read
    first, last = history.days[0], history.days[-1]

    # Then every KPI of every history day is the batch layer's, exact and the truth's
    for metric in CATALOG.kpis():
        if metric.kind is Kind.RETENTION:
            continue
        points = api(config, f"/v1/metrics/{metric.name}?from={first}&to={last}")["points"]
        assert [p["bucket"] for p in points] == history.days, metric.name
        for point in points:
            assert (point["source"], point["exact"]) == ("batch", True), (metric.name, point)
            if metric.kind is Kind.RATIO:
                ratio = truth.ratios[(metric.name, point["bucket"])]
                assert point["value"] == ratio, (metric.name, point)
            else:
                assert point["value"] == truth.kpis[(metric.name, point["bucket"], "")], (metric.name, point)
    # and the retention route answers every cell of a history day exactly: D+1 of every cohort but the last, D+7 of
    # all but the last 7, D+30 of the two oldest
    checked = {k: 0 for k in (1, 7, 30)}
    for cohort in api(config, f"/v1/retention/retention?from={first}&to={last}")["cohorts"]:
        size = cohort["size"]
        assert size["exact"] and size["value"] == truth.kpis[("new_players", cohort["day"], "")], cohort["day"]
        for cell in cohort["returned"]:
            if cell["day"] <= last:
                expected = truth.kpis[("retention", f"{cohort['day']}+{cell['k']}", "")]
                assert (cell["exact"], cell["value"]) == (True, expected), (cohort["day"], cell)
                checked[cell["k"]] += 1
    assert checked == {1: HISTORY_DAYS - 1, 7: HISTORY_DAYS - 7, 30: HISTORY_DAYS - 30}
    # And yesterday, sent through the stream, is the real-time layer's
    yesterday = str(history.yesterday)
    [point] = api(config, f"/v1/metrics/active_players?from={yesterday}&to={yesterday}")["points"]
    players = history.truth().counts[("active_players", yesterday, "")]
    assert point["source"] == "realtime" and abs(point["value"] - players) <= max(2, players // 50), (point, players)
