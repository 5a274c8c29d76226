"""Freshness on the real stack: with one shard's fold stopped while the game keeps sending, today says it is behind,
as of that shard's last records; once the fold goes on, it catches up and says so."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from headcount.local.processes import recorded_pid, stop_leftovers
from support.reliability_stack import api, config_for, post_matches, start_up, stop, wait_for
from support.stack_process import wait_healthy

pytestmark = pytest.mark.e2e  # starts processes of the local stack: `-m "not e2e"` leaves it out


@pytest.fixture
def quick_stack(tmp_path):
    """The stack with a 3 s staleness threshold, watermarks and put marks written every 0.5 s (defaults: 60, 5, 30 s)."""
    config = config_for(tmp_path)
    up = start_up(
        tmp_path, HEADCOUNT_STALE_AFTER_S="3", HEADCOUNT_WATERMARK_EVERY_S="0.5", HEADCOUNT_PUT_MARK_EVERY_S="0.5"
    )
    try:
        wait_healthy(config, up, tmp_path)
        yield config
    finally:
        stop(up)
        stop_leftovers(config.pid_dir)


def today_point() -> dict:
    return api("/v1/metrics/matches_played?from=today")["points"][0]


def test_a_stopped_shard_makes_today_stale_until_its_fold_catches_up(quick_stack) -> None:
    config = quick_stack
    sending, sent = threading.Event(), [0]

    def game() -> None:  # matches from many players, so every shard gets records all along
        while not sending.is_set():
            post_matches(sent[0], 40)
            sent[0] += 40
            time.sleep(0.2)

    traffic = threading.Thread(target=game, daemon=True)
    traffic.start()
    fold = recorded_pid(config.pid_dir / "fold-shardId-000000000000.pid")
    try:
        # Given every shard folding: today is fresh, as of a moment ago
        wait_for(lambda: (p := today_point())["as_of"] is not None and not p["stale"] and p["value"] > 0, 60)
        # When one shard's fold stops (frozen, not dead: nothing restarts it) while the game goes on
        os.kill(fold, signal.SIGSTOP)
        stopped_at = time.time()
        # Then today says it is behind, as of no later than that shard's last records
        wait_for(lambda: today_point()["stale"], 30)
        point = today_point()
        as_of = time.mktime(time.strptime(point["as_of"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert as_of <= stopped_at + 1 and point["source"] == "realtime" and not point["exact"]
        # And once the fold goes on, it catches up and today is fresh again, as of later than before
        os.kill(fold, signal.SIGCONT)
        wait_for(lambda: not (p := today_point())["stale"] and p["as_of"] > point["as_of"], 60)
    finally:
        os.kill(fold, signal.SIGCONT)
        sending.set()
        traffic.join(10)
