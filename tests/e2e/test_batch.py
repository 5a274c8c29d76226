"""End to end, batch layer: after the nightly job, yesterday is exact and equals the deduplicated truth; today stays
real-time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from headcount.core.buckets import day_bounds_ms, local_date
from headcount.core.catalog import Kind
from headcount.core.messages import email_message
from headcount.core.notices import Notice
from headcount.local.shards import wait_caught_up
from headcount.local.simulator import simulate
from headcount.views.aws import client
from headcount.views.catalog_file import load_catalog
from headcount.views.lake import data_files, raw_uri
from headcount.views.stream import Producer, send
from tests.e2e.conftest import SCREENSHOTS, stack_env
from tests.e2e.test_realtime import api

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
CATALOG = load_catalog()
DIGESTED = ("active_players", "matches_played", "ad_impressions")  # a distinct, a count, an hourly count


def headcount(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "headcount", *argv], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def wait_for_digests(config, path: str, count: int, timeout_s: float = 90) -> list[dict]:
    """The webhook bodies the local sink received on `path`, once there are `count` (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = config.sink_path.read_text().splitlines() if config.sink_path.exists() else []
        bodies = [r["body"] for r in map(json.loads, lines) if r["path"] == path]
        if len(bodies) >= count or time.monotonic() > deadline:
            return bodies
        time.sleep(1)


def nightly_runs(config, count: int, timeout_s: float = 90) -> None:
    """Wait until the stack ran the business function after the nightly job `count` times (its log says so)."""
    deadline = time.monotonic() + timeout_s
    while (config.state_dir / "up.log").read_text().count("after the nightly job:") < count:
        assert time.monotonic() < deadline, "the business function did not run after the nightly job"
        time.sleep(1)


# The lake a folder, and a bucket of the local S3: the archiver puts its files there as Firehose, the job reads and writes
# it through S3A, publishing and `headcount sql` through pyarrow.
@pytest.mark.parametrize("local_stack", ["folder", "s3"], indirect=True)
def test_yesterday_becomes_exact_after_the_nightly_job_and_today_stays_realtime(local_stack, browser):
    config = local_stack
    # Given yesterday and today so far, folded and archived
    now_ms = int(time.time() * 1000)
    today = local_date(now_ms, "UTC")
    yesterday = today - timedelta(days=1)
    start_ms, _ = day_bounds_ms(yesterday, "UTC")
    sim = simulate(CATALOG, "UTC", start_ms, now_ms, 20_000, seed=21)
    truth = sim.truth.to_json()
    producer = Producer(client("kinesis"))
    send(sim.records, producer)
    sent_to = producer.last_sequence
    wait_caught_up(config, sent_to, "fold", timeout=300)
    wait_caught_up(config, sent_to, "archive", timeout=300)
    # (archived where the stack's lake is: the local S3's bucket, or the folder)
    assert data_files(raw_uri(config.lake), ".gz")
    assert config.lake_dir.exists() == (config.lake_kind == "folder")

    # And a digest "when the day closes" to a webhook (the local sink), subscribed as an admin does
    env = stack_env(config)
    hook = f"/hook/{config.lake_kind}"
    headcount(env, "channels", "add", "ops-hook", "--webhook", f"http://127.0.0.1:{config.sink_port}{hook}")
    headcount(env, "subscriptions", "add", "closing", "--channel", "ops-hook", "--metrics", ",".join(DIGESTED))

    # When the nightly job runs for yesterday, as a user runs it (dates named, not `yesterday`: the test may cross
    # midnight, and what the words mean is the unit tests' business)
    headcount(env, "batch", "--day", str(yesterday))

    # Then every point of yesterday is batch, exact and equal to the deduplicated truth
    for metric in (m for m in CATALOG.listed() if m.kind.counted):
        points = api(config, f"/v1/metrics/{metric.name}?from={yesterday}&to={yesterday}")["points"]
        expected = {
            (b, g): v
            for b, groups in truth["deduplicated"][metric.name].items()
            if b.startswith(str(yesterday))
            for g, v in groups.items()
        }
        got = {
            (p["bucket"], p.get("group", "")): p["value"]
            for p in points
            if p["value"] or (p["bucket"], p.get("group", "")) in expected
        }
        assert all(p["source"] == "batch" and p["exact"] and p["low"] == p["value"] == p["high"] for p in points)
        assert got == expected, metric.name
        # and today is still the real-time layer's
        today_points = api(config, f"/v1/metrics/{metric.name}?from={today}&to={today}")["points"]
        assert {p["source"] for p in today_points} <= {"realtime", "none"} and not any(p["exact"] for p in today_points)
        if metric.kind is Kind.COUNT:  # real-time counts keep the re-sent duplicates the batch layer drops
            as_sent = sum(
                g for b, gs in truth["as_sent"][metric.name].items() if b.startswith(str(today)) for g in gs.values()
            )
            assert sum(p["value"] for p in today_points) == as_sent

    # And yesterday's KPIs are exact: the lake holds one day of play, so every window holds yesterday's players and all
    # of them were new; today's are approximate (sketches), and yesterday's cohort coming back today too
    players = truth["deduplicated"]["active_players"][str(yesterday)][""]
    for name in ("weekly_active_players", "monthly_active_players", "new_players"):
        (point,) = api(config, f"/v1/metrics/{name}?from={yesterday}&to={yesterday}")["points"]
        assert (point["value"], point["exact"], point["source"]) == (players, True, "batch"), name
        (point,) = api(config, f"/v1/metrics/{name}?from=today&to=today")["points"]
        assert not point["exact"] and point["source"] == "realtime" and point["low"] <= point["value"] <= point["high"]
    (sticky,) = api(config, f"/v1/metrics/stickiness?from={yesterday}&to={yesterday}")["points"]
    assert sticky["exact"] and sticky["value"] == 1.0
    (cohort,) = api(config, f"/v1/retention/retention?from={yesterday}&to={yesterday}")["cohorts"]
    assert cohort["size"] == {**cohort["size"], "value": players, "exact": True, "source": "batch"}
    back = cohort["returned"][0]
    assert (back["k"], back["exact"], back["source"]) == (1, False, "realtime") and 0 < back["value"] < players
    assert [r["value"] for r in cohort["returned"][1:]] == [None, None]  # D+7 and D+30 have not come yet

    # And the digest went once the day was published, once, with exactly the published numbers: the truth
    (digest,) = wait_for_digests(config, hook, 1)
    assert digest["kind"] == "digest" and digest["day"] == str(yesterday) and digest["exact"]
    day_truth = {
        name: sum(
            v for b, gs in truth["deduplicated"][name].items() if b.startswith(str(yesterday)) for v in gs.values()
        )
        for name in DIGESTED
    }
    assert {f["metric"]: f["value"] for f in digest["figures"]} == day_truth
    assert all(f["exact"] and f["low"] == f["value"] == f["high"] for f in digest["figures"])
    if config.lake_kind == "folder":  # (the job's rerun is the same on either lake)
        # (and what an email channel would show of it, in Chromium: the README's picture)
        page = browser.new_page(viewport={"width": 800, "height": 700})
        page.set_content(email_message(Notice.from_json(digest)).html)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "digest-email.png"), full_page=True)
        page.close()
        # When the nightly job runs again (a rerun publishes the same numbers under a new run)
        headcount(env, "batch", "--day", str(yesterday))
        nightly_runs(config, 2)
        # Then nothing more was sent: the digest of a day goes once, and its numbers did not change
        assert len(wait_for_digests(config, hook, 1)) == 1

    # And the batch tables answer SQL
    sql = subprocess.run(
        [
            sys.executable,
            "-m",
            "headcount",
            "sql",
            f"SELECT value FROM counts WHERE metric = 'active_players' AND day = '{yesterday}'",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sql.returncode == 0 and str(truth["deduplicated"]["active_players"][str(yesterday)][""]) in sql.stdout
