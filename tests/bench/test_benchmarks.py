"""Every benchmark of bench/ runs: each at a tiny size, as `python -m bench.<name> <tiny args>` in a process of its own
from the repository's root, so a change that breaks one fails here and not on the day someone runs `make bench-*`.

A test checks only that its benchmark completes (exit 0: a benchmark whose own check fails exits 1) and prints its
figures, the lines naming what it measured; never a number or a time (tiny sizes on a shared machine say nothing about
speed: the real sizes are `make bench-*`'s). The benchmarks that start the local stack run it on ports no other test
uses, in a state folder of the test's (bench/local_stack.py reads them from the HEADCOUNT_* variables).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from headcount.local.processes import port_in_use, stop_leftovers

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600  # a tiny run takes seconds to a few minutes (the Spark ones, on 2 busy cores)
# Not tests/e2e's (14566, 14567, 18080, 18091), test_cost's (15566), test_history's (16566), tests/reliability's (24566,
# 24567, 28080, 28091), a benchmark's own (21566, 22566, 23566, 25566: the real runs) nor `headcount up`'s (4566, 4567,
# 8080, 8091): moto, kinesalite, the API and the local Slack and webhook sink
STACK_PORTS = {
    "realtime": (19566, 19567, 19080, 19091),
    "api": (19666, 19667, 19180, 19191),
    "soak": (19766, 19767, 19280, 19291),
    "dashboard": (19866, 19867, 19380, 19391),
}


def run_bench(name: str, tmp_path: Path, *args: str) -> str:
    """`python -m bench.<name> *args` to its end; its output. A benchmark that starts the stack runs it on its test
    ports in tmp_path/state; a run that outlives the timeout is interrupted as Ctrl-C would (the stack stops), and
    whatever it left running is stopped."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    state = tmp_path / "state"
    if name in STACK_PORTS:
        moto, kinesis, api, sink = STACK_PORTS[name]
        busy = [port for port in (moto, kinesis, api, sink) if port_in_use(port)]
        if busy:
            pytest.fail(f"ports {busy} are in use on 127.0.0.1: is another test run going on?")
        env |= {
            "HEADCOUNT_STATE_DIR": str(state),
            "HEADCOUNT_MOTO_PORT": str(moto),
            "HEADCOUNT_KINESIS_PORT": str(kinesis),
            "HEADCOUNT_API_PORT": str(api),
            "HEADCOUNT_SINK_PORT": str(sink),
        }
    process = subprocess.Popen(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # the benchmark's `with LocalStack(...)` stops the stack on the way out
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        pytest.fail(f"bench.{name} {' '.join(args)} ran over {TIMEOUT_S} s:\n{output[-3000:]}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if (state / "pids").is_dir():
            stop_leftovers(state / "pids")
    logs = f" (the stack's logs: {state / 'logs'})" if name in STACK_PORTS else ""
    assert process.returncode == 0, (
        f"bench.{name} {' '.join(args)} exited {process.returncode}{logs}:\n{output[-3000:]}"
    )
    return output


def assert_prints(output: str, *figures: str) -> None:
    """Each pattern matches a line of the output (re.search, multi-line)."""
    missing = [figure for figure in figures if not re.search(figure, output, re.MULTILINE)]
    assert not missing, f"missing from the output: {missing}\n{output[-3000:]}"


NUMBER = r"[\d,]+(?:\.\d+)?"


def test_sketch_writes(tmp_path: Path) -> None:
    output = run_bench("sketch_writes", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-sketch-writes",
        rf"^\s+12\s+{NUMBER}\s+{NUMBER}\s+\d+\s+{NUMBER}\s+\d+\s+{NUMBER}\s+\d+\s+{NUMBER}% / {NUMBER}%$",
        r"^active_players \(lg_k 14\) of one shard through a day",
        rf"^\s+10\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$",  # a window's WRU whole, recent ids, ratio
    )


def test_kpi_accuracy(tmp_path: Path) -> None:
    output = run_bench("kpi_accuracy", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-kpi-accuracy",
        r"^retention in real time",
        rf"^\s+{NUMBER}\s+{NUMBER}\s+30%\s+{NUMBER}\s+{NUMBER}%\s+{NUMBER}%\s+{NUMBER}%$",
        r"^new players in real time",
        rf"^\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}%\s+{NUMBER}%\s+{NUMBER}%$",
    )


def test_kpi_fold(tmp_path: Path) -> None:
    output = run_bench("kpi_fold", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-kpi-fold",
        rf"^without the KPIs\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$",
        rf"^with the KPIs\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$",
        rf"^added: -?{NUMBER} WRU per 1,000 events .* the fold's time x{NUMBER}$",
    )


def test_zones(tmp_path: Path) -> None:
    output = run_bench("zones", tmp_path, "--tiny")
    n = rf"\s+{NUMBER}"
    assert_prints(
        output,
        r"^reproduce with: make bench-zones",
        *(rf"^{variant}{n * 7}$" for variant in ("off", "hour", "quarter")),  # the fold: WRU, $, time, items, bytes
        rf"^quarter \+ 1 extra zone{n * 4}$",  # the job (tiny: the default and one extra zone): time, rows, sketches
    )


def test_lake(tmp_path: Path) -> None:
    output = run_bench("lake", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-lake",
        rf"^lake: {NUMBER} lines .* MiB of gzip$",
        rf"^written in {NUMBER} s: {NUMBER} lines/s$",
        rf"^read back \(gunzip, lines\) in {NUMBER} s: {NUMBER} lines/s$",
        rf"^ratio write / read back: {NUMBER}x$",
    )


@pytest.mark.spark
def test_batch(tmp_path: Path) -> None:
    output = run_bench("batch", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-batch",
        rf"^Glue job \(Spark local\[\*\], start-up included\):\s+{NUMBER} s, {NUMBER} events/s, peak memory",
        rf"^DuckDB, same files and rules:\s+{NUMBER} s, {NUMBER} events/s, peak memory",
        rf"^ratio job / DuckDB: {NUMBER}x",
        rf"^counts: {NUMBER} rows from the job, {NUMBER} from DuckDB",
        rf"^kpis: {NUMBER} rows from the job, {NUMBER} from DuckDB",
    )


@pytest.mark.spark
def test_kpis(tmp_path: Path) -> None:
    output = run_bench("kpis", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-kpis",
        rf"^nightly job without the KPIs:\s+{NUMBER} s",
        rf"^nightly job with the KPIs:\s+{NUMBER} s",
        rf"^ratio with / without: {NUMBER}x",
        r"^counts table: the same with and without the KPIs$",
    )


@pytest.mark.spark
def test_erasure(tmp_path: Path) -> None:
    output = run_bench("erasure", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-erasure",
        rf"^baseline: the nightly run of one day .*: {NUMBER} s",
        rf"^\(d\) 10 players\s+10\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x$",
        rf"^\(d\) 10 players(\s+{NUMBER}){{8}}$",  # the stages: found, raw, lake, recompute, publish, realtime, total
        r"^checks: all passed$",
    )


@pytest.mark.e2e
def test_realtime(tmp_path: Path) -> None:
    output = run_bench("realtime", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-realtime",
        rf"^\(a\) fold handler, .*: {NUMBER} events/s$",
        rf"^\s+bare loop base64 -> JSON -> one HLL update:\s+{NUMBER} events/s$",
        rf"^\s+bare loop base64 -> JSON -> the catalog's updates .*: {NUMBER} events/s$",
        rf"^\s+the same after the contract's checks .*: {NUMBER} events/s$",
        rf"^\s+handler / catalog loop time ratio: {NUMBER}x \(target <= 1.5x\); handler / HLL-only loop: {NUMBER}x; "
        rf"handler / checked catalog loop: {NUMBER}x \(",
        rf"^\(b\) whole local stack: {NUMBER} records in {NUMBER} s = {NUMBER} events/s$",
        r"^\s+freshness put -> visible in the API at the steady load: p50 ",
        r"^\(c\) DynamoDB writes per 1,000 events",
        rf"^\s+burst, full 1,000-record batches: {NUMBER} write requests, {NUMBER} write units",
        rf"^\s+steady half load: {NUMBER} write requests, {NUMBER} write units",
    )


@pytest.mark.e2e
def test_api(tmp_path: Path) -> None:
    output = run_bench("api", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-api",
        rf"^GET /v1/metrics/active_players\?from=<31 days ago>&to=today \(first {NUMBER} ms\)\s+{NUMBER}\s+{NUMBER}",
        rf"^GET /v1/retention/retention\?from=<31 days ago>&to=today \(first {NUMBER} ms\)\s+{NUMBER}\s+{NUMBER}",
        rf"^POST /v1/events \(500 events; bare: one PutRecords of them\)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}",
        r"\d+ target\(s\) missed",
    )


@pytest.mark.e2e
def test_dashboard(tmp_path: Path) -> None:
    output = run_bench("dashboard", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-dashboard",
        rf"^  waited: to the form, then from sending it to drawn\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}",
        rf"^  /v1/metrics/stickiness\?from=.+?(\s+{NUMBER}){{8}}  burst <= 50: (ok|MISSED), steady: (ok|MISSED)$",
        rf"^  every request(\s+{NUMBER}){{8}}$",
        r"\d+ target\(s\) missed",
    )


@pytest.mark.e2e
@pytest.mark.spark
def test_soak(tmp_path: Path) -> None:
    output = run_bench("soak", tmp_path, "--tiny")
    assert_prints(
        output,
        r"^reproduce with: make bench-soak",
        rf"^events sent: {NUMBER} over ",
        rf"^counted by the real-time layer: {NUMBER} ",
        rf"^archived: {NUMBER} distinct events in {NUMBER} lines",
        rf"^counted by the nightly job: {NUMBER} ",
        r"^kills: \d+ .*; restarts: \d+ workers",
        r"^memory \(RSS MB, start -> end\):$",
    )
