"""End to end, the dashboard's notifications panel in a real browser (Debian's Chromium, driven by Playwright) against
the local stack: an admin adds a signed webhook channel on the stack's local sink (its signing secret shown once), a
digest on it, and sends a test that the sink really receives, signed with that secret; a channel nobody answers fails
its test, in red with why, counted on the top bar's button; alerts are added and deleted, the API's refusals said in
the panel. A viewer sees no notifications control. A message's link (#metric=…&from=…&to=…[&group=…]) opens the
dashboard on that metric and those days. Screenshots go to artifacts/screenshots/ (.ci/run lists them)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from headcount.core.signing import verify
from headcount.local.access import DEMO_PASSWORD, DEMO_USER
from tests.e2e import test_dashboard as dashboard
from tests.e2e.conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e]

# The people and pages of the dashboard's browser test (tests/e2e/test_dashboard.py), shared rather than copied
open_page = dashboard.open_page
people = dashboard.people
user_pool = dashboard.user_pool
read = dashboard.read

SHOTS = ("notifications-page.png", "notifications-secret.png", "notifications-failed.png", "deep-link.png")
CLOSED_PORT = "http://127.0.0.1:9/"  # nothing listens on the discard port: connection refused, retried, then failed
SEND_TIMEOUT_MS = 60_000  # a failing test send is one attempt (at most 5 s); a busy machine takes longer
PANEL = '#notify-panel[open][data-state="ready"]'


@pytest.fixture(scope="module")
def shots():
    """The screenshots' folder, emptied of this module's earlier ones only (the other modules' stay)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in SHOTS:
        (SCREENSHOTS / name).unlink(missing_ok=True)
    return SCREENSHOTS


def open_panel(page) -> None:
    page.click("#notify-open")
    page.wait_for_selector(PANEL)


def panel_message(page, kind: str = "error") -> str:
    page.wait_for_selector(f"#notify-message.{kind}:not([hidden])")
    return page.inner_text("#notify-message")


def add_channel(page, name: str, kind: str, url: str) -> None:
    page.fill("#channel-name", name)
    page.select_option("#channel-kind", kind)
    page.fill("#channel-url", url)
    page.click('#channel-create button[type="submit"]')


def add_digest(page, name: str, channel: str, metrics: list[str]) -> None:
    page.fill("#subscription-name", name)
    page.select_option("#subscription-channel", channel)
    for metric in metrics:
        page.check(f'#subscription-metrics input[value="{metric}"]')
    page.check('input[name="subscription-when"][value="closed"]')
    page.click('#subscription-create button[type="submit"]')
    page.wait_for_selector(f'#subscriptions-list tr[data-name="{name}"]')


def send_test(page, subscription: str) -> tuple[str, str]:
    """Presses the digest's "Send test"; its result's status and words once the API answered."""
    row = f'#subscriptions-list tr[data-name="{subscription}"]'
    page.click(f'{row} button[data-action="test"]')
    result = page.wait_for_selector(f"{row} .test-result[data-status]", timeout=SEND_TIMEOUT_MS)
    return result.get_attribute("data-status"), result.inner_text()


def sink_records(local_stack, path: str) -> list[dict]:
    records = local_stack.sink_path
    lines = records.read_text().splitlines() if records.exists() else []
    return [r for r in map(json.loads, filter(str.strip, lines)) if r["path"] == path]


def test_an_admin_adds_a_webhook_digest_and_its_test_reaches_the_sink_signed(local_stack, read, open_page, shots):
    # Given an admin on the dashboard
    page = open_page()
    page.wait_for_selector("#notify-open:visible")
    # When they open the notifications and add a webhook channel on the stack's local sink
    open_panel(page)
    add_channel(page, "e2e-hook", "webhook", f"{local_stack_sink(local_stack)}/hooks/e2e")
    # Then its signing secret is shown, once, with a copy button
    page.wait_for_selector("#new-secret:not([hidden])")
    secret = page.inner_text("#new-secret-value").strip()
    assert secret.startswith("whsec_") and page.inner_text("#new-secret-name") == "e2e-hook"
    assert page.is_visible("#new-secret-copy")
    row = '#channels-list tr[data-name="e2e-hook"]'
    page.wait_for_selector(row)
    assert page.inner_text(f"{row} td:nth-child(2)") == "webhook"
    assert page.inner_text(f"{row} td:nth-child(3)") == local_stack_sink(local_stack)  # the target, never the URL
    page.screenshot(path=shots / "notifications-secret.png")
    # and no more once the panel was closed and opened again
    page.click("#notify-close")
    open_panel(page)
    assert page.is_hidden("#new-secret") and secret not in page.inner_text("#notify-panel")

    # When they add a digest of two metrics on it (the catalog's metrics to pick from, but no retention)
    offered = page.eval_on_selector_all("#subscription-metrics input", "boxes => boxes.map(b => b.value)")
    assert {"active_players", "matches_played", "active_players_by_country"} <= set(offered)
    assert "retention" not in offered
    add_digest(page, "e2e-digest", "e2e-hook", ["matches_played", "active_players"])
    # Then the API has it as the panel shows it
    [made] = [s for s in read("/v1/admin/subscriptions")["subscriptions"] if s["name"] == "e2e-digest"]
    assert made["channel"] == "e2e-hook" and made["when"] == "closed"
    assert sorted(made["metrics"]) == ["active_players", "matches_played"]
    digest = '#subscriptions-list tr[data-name="e2e-digest"]'
    assert "when the day closes" in page.inner_text(digest)

    # When they press "Send test"
    before = len(sink_records(local_stack, "/hooks/e2e"))
    status, words = send_test(page, "e2e-digest")
    # Then the panel says it was sent, and the sink received it, signed with the secret the panel showed
    assert (status, words) == ("sent", "sent")
    [received] = sink_records(local_stack, "/hooks/e2e")[before:]
    headers = {k.lower(): v for k, v in received["headers"].items()}
    body = orjson.dumps(received["body"])  # the sender's bytes: orjson's, as the sink parsed them
    verify(secret, headers["x-headcount-timestamp"], body, headers["x-headcount-signature"], time.time())
    assert received["body"]["kind"] == "test"
    # and the deliveries list it, sent
    delivery = f'#deliveries-list tr[data-id="{headers["x-headcount-delivery"]}"]'
    page.wait_for_selector(delivery)
    assert page.get_attribute(delivery, "data-status") == "sent"
    assert "e2e-hook" in page.inner_text(delivery) and page.is_hidden("#notify-count")


def test_a_channel_that_fails_shows_red_with_why_and_is_counted(local_stack, read, open_page, shots):
    # Given an admin with a webhook channel nobody answers, and a digest on it
    page = open_page()
    open_panel(page)
    add_channel(page, "e2e-closed", "webhook", CLOSED_PORT)
    page.wait_for_selector('#channels-list tr[data-name="e2e-closed"]')
    add_digest(page, "e2e-broken", "e2e-closed", ["matches_played"])
    assert page.is_hidden("#notify-count")
    # When they send a test (retried, then given up: seconds)
    status, words = send_test(page, "e2e-broken")
    # Then the panel says it failed, with the API's error and the attempts
    [failed] = [d for d in read("/v1/admin/deliveries")["deliveries"] if d["channel"] == "e2e-closed"]
    assert failed["status"] == "failed" and failed["attempts"] == 1 and failed["error"]  # a test: one attempt
    assert status == "failed"
    assert failed["error"] in words and "1 attempt" in words
    # and the deliveries list it in red, with the error and the attempts
    row = f'#deliveries-list tr[data-id="{failed["id"]}"]'
    page.wait_for_selector(f'{row}[data-status="failed"]')
    cell = f"{row} .status-failed"
    assert "failed after 1 attempt" in page.inner_text(cell) and failed["error"] in page.inner_text(cell)
    assert page.eval_on_selector(cell, "e => getComputedStyle(e).color") == "rgb(185, 28, 28)"  # --error
    # and the failures are counted, in the panel's title and on the top bar's button
    count = sum(d["status"] == "failed" for d in read("/v1/admin/deliveries")["deliveries"])
    assert count >= 1
    assert page.inner_text("#notify-failures") == f"{count} failed in the last 7 days"
    assert page.inner_text("#notify-count") == str(count)
    page.screenshot(path=shots / "notifications-page.png")
    page.click("#notify-close")
    assert page.is_visible("#notify-count")
    assert page.get_attribute("#notify-open", "aria-label") == f"Notifications: {count} failed in the last 7 days"
    page.screenshot(path=shots / "notifications-failed.png", clip={"x": 0, "y": 0, "width": 1440, "height": 120})
    # and a page opened afresh shows the count too, before anything is opened
    fresh = open_page()
    fresh.wait_for_selector("#notify-count:not([hidden])")
    assert fresh.inner_text("#notify-count") == str(count)


def test_an_admin_adds_and_deletes_an_alert_and_is_told_what_the_api_refused(local_stack, read, open_page):
    # Given an admin with a channel
    page = open_page()
    open_panel(page)
    add_channel(page, "e2e-alerts", "slack", f"{local_stack_sink(local_stack)}/slack/e2e")
    page.wait_for_selector('#channels-list tr[data-name="e2e-alerts"]')
    # When they add an alert: matches played today above 1,000, at most every 30 minutes
    page.fill("#rule-name", "e2e-busy")
    page.select_option("#rule-channel", "e2e-alerts")
    page.select_option("#rule-metric", "matches_played")
    page.select_option("#rule-scope", "today")
    page.select_option("#rule-condition", "above")
    page.fill("#rule-number", "1000")
    page.fill("#rule-cooldown", "30")
    page.click('#rule-create button[type="submit"]')
    # Then the API has it, and the panel says it in words, quiet so far
    row = '#rules-list tr[data-name="e2e-busy"]'
    page.wait_for_selector(row)
    [rule] = [r for r in read("/v1/admin/alerts")["rules"] if r["name"] == "e2e-busy"]
    assert (rule["condition"], rule["threshold"], rule["cooldown_minutes"]) == ("above", 1000, 30)
    assert "matches_played above 1,000" in page.inner_text(row)
    assert "today so far" in page.inner_text(row) and page.inner_text(f"{row} td:nth-child(5)") == "ok"
    # When they delete the channel the alert uses
    page.click('#channels-list tr[data-name="e2e-alerts"] button[data-action="delete"]')
    page.click('#channels-list tr[data-name="e2e-alerts"] button[data-action="confirm"]')
    # Then the API's refusal is said in the panel, and the channel stays
    message = panel_message(page)
    assert "used by e2e-busy" in message and "409" in message
    assert "e2e-alerts" in [c["name"] for c in read("/v1/admin/channels")["channels"]]
    # When they add a channel of a name taken
    add_channel(page, "e2e-alerts", "slack", f"{local_stack_sink(local_stack)}/slack/other")
    # Then they are told so
    assert "exists" in panel_message(page)
    # When they delete the alert (asked once more), then its channel
    page.click(f'{row} button[data-action="delete"]')
    assert page.is_visible(f'{row} button[data-action="keep"]')
    page.click(f'{row} button[data-action="confirm"]')
    assert "Deleted the alert e2e-busy" in panel_message(page, "notice")
    page.wait_for_selector(row, state="detached")
    page.click('#channels-list tr[data-name="e2e-alerts"] button[data-action="delete"]')
    page.click('#channels-list tr[data-name="e2e-alerts"] button[data-action="confirm"]')
    page.wait_for_selector('#channels-list tr[data-name="e2e-alerts"]', state="detached")
    # Then both are gone from the API too
    assert "e2e-busy" not in [r["name"] for r in read("/v1/admin/alerts")["rules"]]
    assert "e2e-alerts" not in [c["name"] for c in read("/v1/admin/channels")["channels"]]
    assert not page.script_errors


def test_a_viewer_sees_no_notifications_control(local_stack, people, user_pool, open_page):
    # Given a viewer signed in
    page = open_page(dashboard.VIEWER)
    page.wait_for_selector('[data-chart="explore"]:is([data-state="ready"], [data-state="empty"])')
    # Then there is no notifications control, nor panel
    assert page.is_hidden("#notify-open") and page.is_hidden("#notify-panel") and page.is_hidden("#notify-count")
    # (and the API would refuse them anyway)
    token = dashboard.tokens_of(user_pool, dashboard.VIEWER, people[dashboard.VIEWER])["AccessToken"]
    assert dashboard.call(local_stack, "/v1/admin/deliveries", token)[0] == 403
    # while an admin sees it
    admin = open_page()
    admin.wait_for_selector("#notify-open:visible")


def test_a_messages_link_opens_the_dashboard_on_its_metric_and_days(local_stack, browser, shots):
    today = datetime.now(UTC).date()  # the e2e stack's reporting zone is UTC
    first, last = today - timedelta(days=13), today - timedelta(days=1)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # Given a digest's link to matches_played over two weeks
        page.goto(f"http://127.0.0.1:{local_stack.api_port}/#metric=matches_played&from={first}&to={last}")
        # When the person signs in
        dashboard.sign_in(page, DEMO_USER, DEMO_PASSWORD)
        # Then the range is the link's, and Explore draws its metric over it
        explore = '[data-chart="explore"]'
        page.wait_for_selector(f'{explore}:is([data-state="ready"], [data-state="empty"])')
        assert (page.input_value("#from"), page.input_value("#to")) == (str(first), str(last))
        assert page.input_value("#explore-metric") == "matches_played"
        drawn = page.evaluate("() => window.headcountDashboard.charts.explore")
        assert (drawn["metric"], drawn["from"], drawn["to"], drawn["group"]) == (
            "matches_played",
            str(first),
            str(last),
            "",
        )
        page.screenshot(path=shots / "deep-link.png")
        # When another link, of a group, is followed in the same page
        page.evaluate(f"location.hash = 'metric=active_players_by_country&group=US&from={last}&to={last}'")
        # Then Explore draws that group of that metric on that day
        page.wait_for_function(
            "() => window.headcountDashboard.charts.explore?.metric === 'active_players_by_country'"
            " && document.querySelector('[data-chart=explore]').dataset.state !== 'loading'"
        )
        drawn = page.evaluate("() => window.headcountDashboard.charts.explore")
        assert (drawn["group"], drawn["from"], drawn["to"]) == ("US", str(last), str(last))
        assert page.input_value("#explore-group") == "US"
        assert not errors
    finally:
        context.close()


def local_stack_sink(local_stack) -> str:
    """The stack's local sink (loopback targets are allowed on one machine)."""
    return f"http://127.0.0.1:{local_stack.sink_port}"
