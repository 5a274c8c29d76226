"""End to end through the front door: `headcount simulate --via-api --wait` posts a simulated game to `POST /v1/events`
of the local stack, as game clients would, and the real-time answers match the simulation's truth."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_realtime import assert_real_time_is, snapshot

pytestmark = pytest.mark.e2e


def test_a_simulated_game_posted_through_the_api_is_counted_as_sent(local_stack):
    config = local_stack
    # Given the local stack, when `headcount simulate --via-api --events 5000 --wait` runs against it
    env = {
        **os.environ,
        "HEADCOUNT_MOTO_PORT": str(config.moto_port),
        "HEADCOUNT_KINESIS_PORT": str(config.kinesis_port),
        "HEADCOUNT_API_PORT": str(config.api_port),
        "HEADCOUNT_STATE_DIR": str(config.state_dir),
        "HEADCOUNT_TZ": "UTC",
    }
    done = subprocess.run(
        [sys.executable, "-m", "headcount", "simulate", "--via-api", "--events", "5000", "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr

    # Then it says what became of the events: every valid one (re-sent duplicates included) accepted, every malformed
    # one rejected for its reason and not resent, none unconfirmed
    simulated = re.search(r"simulated (\d+) valid events \(\d+ late\), (\d+) re-sent duplicates, (\d+) malformed", out)
    valid, duplicates, malformed = (int(n) for n in simulated.groups())
    posted = re.search(
        r"posted ([\d,]+) events in .* s \([\d,]+ events/s, [\d,]+ requests\): ([\d,]+) accepted; "
        r"([\d,]+) rejected \((.*)\); ([\d,]+) stream_unconfirmed",
        out,
    )
    assert posted, out
    total, accepted, rejected, reasons, unconfirmed = posted.groups()
    number = lambda text: int(text.replace(",", ""))  # noqa: E731
    assert number(accepted) == valid + duplicates == 5000 + duplicates and number(unconfirmed) == 0
    assert number(rejected) == malformed and number(total) == valid + duplicates + malformed
    assert "stream_throttled" not in reasons and "stream_unconfirmed" not in reasons
    assert "posted " in out.split("\n", 3)[2]  # progress while posting
    assert "fold caught up" in out

    # and, the fold having caught up before the command returned, every real-time number is the truth's as sent:
    # counts exact, distinct counts within their bounds
    truth = json.loads((config.state_dir / "truth.json").read_text())["as_sent"]
    assert_real_time_is(truth, snapshot(config, truth))
    assert truth["matches_played"]  # the count the README's report prints: exact, as sent
