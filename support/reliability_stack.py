"""`headcount up` for the reliability tests: in its own process, on ports of its own, and how to ask it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from headcount.local.config import LocalConfig
from support.stack_process import ingest_headers, read_headers

PORTS = {
    "HEADCOUNT_MOTO_PORT": "24566",
    "HEADCOUNT_KINESIS_PORT": "24567",
    "HEADCOUNT_API_PORT": "28080",
    "HEADCOUNT_SINK_PORT": "28091",
}


def config_for(state: Path) -> LocalConfig:
    return LocalConfig(
        state_dir=state,
        moto_port=int(PORTS["HEADCOUNT_MOTO_PORT"]),
        kinesis_port=int(PORTS["HEADCOUNT_KINESIS_PORT"]),
        api_port=int(PORTS["HEADCOUNT_API_PORT"]),
        sink_port=int(PORTS["HEADCOUNT_SINK_PORT"]),
    )


def start_up(state: Path, **settings: str) -> subprocess.Popen:
    """`settings`: more HEADCOUNT_* variables for the stack and its functions."""
    env = {**os.environ, **PORTS, "HEADCOUNT_STATE_DIR": str(state), "HEADCOUNT_BATCH_AT": "off", "HEADCOUNT_TZ": "UTC"}
    env.update(settings)
    log = open(state / "up.log", "ab")  # noqa: SIM115 - the process holds it
    return subprocess.Popen([sys.executable, "-m", "headcount", "up"], env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(*processes: subprocess.Popen | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def api(path: str, body: bytes | None = None) -> dict:
    """A read (a tool's token) or, with a body, a post of events (the demo's ingest key)."""
    headers = ingest_headers() if body is not None else read_headers(config_for(Path(".")))
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORTS['HEADCOUNT_API_PORT']}{path}", data=body, headers=headers
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def post_matches(first: int, n: int) -> str:
    """Post n matches (event ids m-first ..) at the stack's now (a real stack, on the real clock); their day, UTC."""
    posted_ms = int(time.time() * 1000)
    events = [
        {"event_id": f"m-{i}", "type": "match_end", "player_id": f"p-{i}", "ts": posted_ms}
        for i in range(first, first + n)
    ]
    assert api("/v1/events", json.dumps({"events": events}).encode())["accepted"] == n
    return time.strftime("%Y-%m-%d", time.gmtime(posted_ms / 1000))


def matches_on(day: str) -> int | None:
    """Matches counted on the day, or None while the API cannot answer."""
    try:
        return sum(p["value"] for p in api(f"/v1/metrics/matches_played?from={day}")["points"])
    except OSError:
        return None


def wait_for(predicate, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.5)
