"""A notice rendered for Slack (held to a schema of Slack's documented Block Kit limits), email and webhooks."""

from __future__ import annotations

import copy
import html
import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from headcount.core.messages import (
    change,
    email_message,
    mrkdwn_escape,
    number,
    slack_message,
    webhook_request,
)
from headcount.core.notices import NoticeKind
from headcount.core.signing import verify
from support.notices import DASHBOARD, approximate_figure, exact_figure
from support.notices import sample_notice as notice

SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "slack_block_kit.schema.json").read_text())


def slack_errors(payload: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(payload)]


def all_text(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False)


# --- numbers -----------------------------------------------------------------------------------------------------------


def test_numbers_read_as_people_read_them() -> None:
    # Given counts, estimates, ratios and no value, Then each is written its way
    assert number(1234567) == "1,234,567"
    assert number(5012.4) == "5,012.4"
    assert number(0.4213, ratio=True) == "42.1 %"
    assert number(None) == "—"
    assert number(None, ratio=True) == "—"


def test_changes_are_arrows_with_percentages_and_points_for_ratios() -> None:
    assert change(110, 100) == "▲ 10.0 %"
    assert change(90, 100) == "▼ 10.0 %"
    assert change(100, 100) == "±0.0 %"
    assert change(0.25, 0.20, ratio=True) == "▲ 5.0 pp"
    assert change(5, 0) == "—"  # from nothing no percentage
    assert change(None, 3) == "—"


# --- Slack -------------------------------------------------------------------------------------------------------------


def test_a_digest_for_slack_has_a_header_the_figures_and_their_exactness() -> None:
    # Given a digest of an exact and an approximate figure
    message = slack_message(notice(exact_figure(), approximate_figure()))

    # Then it is valid Block Kit within Slack's limits
    assert slack_errors(message) == []
    # And the fallback text is the summary, the header the title
    assert message["text"] == "12,345 active players yesterday (exact), 2.9 % more than Friday"
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Yesterday, Sat 5 Dec 2026", "emoji": True},
    }
    sections = [b for b in message["blocks"] if b["type"] == "section" and "accessory" in b]
    exact_text, approximate_text = (s["text"]["text"] for s in sections)
    # And the exact figure says so, with when it was published and how it moved
    assert "✓ *12,345*" in exact_text and "exact, published 2026-12-06 03:12 UTC" in exact_text
    assert "▲ 2.9 % vs the day before (12,000)" in exact_text
    assert "▼ 5.0 % vs Sat 28 Nov (13,000)" in exact_text
    # And the approximate one its bounds and as-of
    assert "*≈ 5,012.4*" in approximate_text and "95 %: 4,890–5,140, as of 14:05 UTC" in approximate_text
    # And each links to its dashboard view (the link's & escaped as mrkdwn and JSON both carry it)
    assert sections[0]["accessory"]["url"] == exact_figure().link
    assert sections[0]["accessory"]["text"]["text"] == "Open in dashboard"
    # And a context block explains exactness; the notes are there
    context = next(b for b in message["blocks"] if b["type"] == "context")
    assert "exact" in context["elements"][0]["text"] and "95 %" in context["elements"][0]["text"]
    assert "Matches are today's so far." in all_text(message)


def test_an_alert_shows_its_baseline_and_a_follow_up_what_was_sent() -> None:
    # Given an alert and a follow-up
    alert = notice(
        approximate_figure(threshold=1000, baseline="+30 % against Sat 28 Nov at 14:05"),
        kind=NoticeKind.ALERT,
        id="alert:surge:1",
        title="matches above 1,000",
    )
    follow_up = notice(
        exact_figure(previous=None, week_ago=None, sent_value=12100.6, sent_exact=False),
        kind=NoticeKind.FOLLOW_UP,
    )

    # Then both are valid, the alert says against what it fired, the follow-up what it corrects
    for message in (slack_message(alert), slack_message(follow_up)):
        assert slack_errors(message) == []
    assert "baseline: +30 % against Sat 28 Nov at 14:05" in all_text(slack_message(alert))
    assert "was 12,100.6 (approximate), now 12,345 (exact)" in all_text(slack_message(follow_up))


def test_slack_control_characters_are_escaped() -> None:
    # Given a notice whose words hold Slack's control characters
    tricky = notice(
        exact_figure(label="<!channel> & <https://evil.example|click>"),
        summary="a < b & c > d",
        notes=("<@U123> look",),
    )

    # When it is rendered
    message = slack_message(tricky)

    # Then no < or > reaches Slack except in links headcount made, and the schema agrees
    assert slack_errors(message) == []
    assert message["text"] == "a &lt; b &amp; c &gt; d"
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in all_text(message)
    assert mrkdwn_escape("<&>") == "&lt;&amp;&gt;"


def test_sixty_figures_stay_within_slacks_limits() -> None:
    # Given a digest of 60 figures with long labels
    figures = [exact_figure(label=f"active_players_by_country · {i:02d} " + "x" * 100) for i in range(60)]
    message = slack_message(notice(*figures))

    # Then it is valid (≤ 50 blocks, ≤ 10 fields a section) and every figure is there
    assert slack_errors(message) == []
    assert len(message["blocks"]) <= 50
    assert all(f"· {i:02d} " in all_text(message) for i in range(60))


def test_a_thousand_figures_end_with_a_line_pointing_to_the_dashboard() -> None:
    # Given more figures than 50 blocks of 10 fields can hold
    message = slack_message(notice(*[exact_figure(label=f"g{i}") for i in range(1000)]))

    # Then the message is still valid and counts what it left out
    assert slack_errors(message) == []
    assert len(message["blocks"]) == 50
    assert "more in the <https://headcount.example.com/|dashboard>" in all_text(message)
    shown = sum(len(b.get("fields", [])) for b in message["blocks"])
    assert f"… and {1000 - shown:,} more" in all_text(message)


def test_a_long_title_is_clipped_to_the_headers_limit() -> None:
    message = slack_message(notice(exact_figure(), title="t" * 400, summary="s" * 5000))
    assert slack_errors(message) == []
    assert len(message["blocks"][0]["text"]["text"]) == 150


# The schema itself must refuse what Slack refuses, or the tests above prove nothing
@pytest.mark.parametrize(
    "break_it",
    [
        pytest.param(lambda m: m["blocks"][0]["text"].update(type="mrkdwn"), id="mrkdwn header"),
        pytest.param(lambda m: m["blocks"][0]["text"].update(text="t" * 151), id="header over 150"),
        pytest.param(
            lambda m: m["blocks"].append({"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}),
            id="11 fields",
        ),
        pytest.param(lambda m: m["blocks"].extend([{"type": "divider"}] * 51), id="51 blocks"),
        pytest.param(lambda m: m["blocks"][1]["text"].update(text="x" * 3001), id="section text over 3000"),
        pytest.param(lambda m: m["blocks"][1]["text"].update(text="<!channel>"), id="unescaped <"),
        pytest.param(lambda m: m["blocks"][1]["text"].update(text="a & b"), id="unescaped &"),
        pytest.param(
            lambda m: m["blocks"].append({"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}),
            id="11 context elements",
        ),
        pytest.param(
            lambda m: next(b for b in m["blocks"] if "accessory" in b)["accessory"]["text"].update(text="b" * 76),
            id="button text over 75",
        ),
        pytest.param(
            lambda m: next(b for b in m["blocks"] if "accessory" in b).update(
                accessory={"type": "button", "text": {"type": "plain_text", "text": "x"}, "url": "https://x/" * 301}
            ),
            id="url over 3000",
        ),
    ],
)
def test_the_block_kit_schema_rejects_what_slack_rejects(break_it) -> None:
    # Given a valid message
    message = slack_message(notice(exact_figure()))
    assert slack_errors(message) == []

    # When it is broken one way
    broken = copy.deepcopy(message)
    break_it(broken)

    # Then the schema refuses it
    assert slack_errors(broken) != []


# --- email -------------------------------------------------------------------------------------------------------------


def test_an_email_has_a_text_and_an_html_part_marking_every_figure() -> None:
    # Given a digest of an exact and an approximate figure
    email = email_message(notice(exact_figure(), approximate_figure()))

    # Then the subject is the summary
    assert email.subject == "12,345 active players yesterday (exact), 2.9 % more than Friday"
    # And the text part marks each figure, the approximate one with bounds and as-of
    assert "active_players: 12,345 (exact, published 2026-12-06 03:12 UTC)" in email.text
    assert "matches_by_country · DE: ≈ 5,012.4 (approximate, 95 %: 4,890–5,140, as of 14:05 UTC)" in email.text
    assert exact_figure().link in email.text and DASHBOARD in email.text
    # And the html part is a table with the same markers, links and bounds
    assert email.html.startswith("<!DOCTYPE html>") and "<table" in email.html
    assert email.html.count(">exact</span>") == 1 and email.html.count(">approximate</span>") == 1
    assert "95 %: 4,890–5,140, as of 14:05 UTC" in email.html
    assert f'href="{html.escape(exact_figure().link)}"' in email.html
    assert "<style" not in email.html  # inline CSS only: mail clients drop style sheets


def test_an_email_escapes_everything_it_shows() -> None:
    # Given words that are markup
    email = email_message(
        notice(
            exact_figure(label="<script>alert(1)</script>", link='https://x.example/"onmouseover="x'),
            title="<b>title</b>",
            notes=("a & b",),
            summary="line one\nline two",
        )
    )

    # Then the html shows them as text, and the subject is one line
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert "<b>title</b>" not in email.html and "a &amp; b" in email.html
    assert 'href="https://x.example/&quot;onmouseover=&quot;x"' in email.html
    assert email.subject == "line one line two"


def test_a_ratio_figure_is_a_percentage_everywhere() -> None:
    stickiness = exact_figure(label="stickiness", ratio=True, value=0.2351, low=0.2351, high=0.2351, previous=0.2)
    message, email = slack_message(notice(stickiness)), email_message(notice(stickiness))
    assert "23.5 %" in all_text(message) and "23.5 %" in email.text and "23.5 %" in email.html
    assert "▲ 3.5 pp vs the day before (20.0 %)" in email.text


# --- webhook -----------------------------------------------------------------------------------------------------------


def test_a_webhook_request_is_the_notices_json_signed() -> None:
    # Given a notice
    given = notice(exact_figure(), approximate_figure())

    # When its webhook request is made
    body, headers = webhook_request(given, "whsec_test", 1_765_000_000)

    # Then the body is the notice's JSON, compact, and the headers say what it is and sign it
    assert orjson.loads(body) == given.to_json()
    assert b'": ' not in body and b'", "' not in body  # compact: no spaces between tokens
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "headcount-webhooks/1"
    assert headers["X-Headcount-Delivery"] == given.id
    assert headers["X-Headcount-Timestamp"] == "1765000000"
    assert headers["X-Headcount-Signature"].startswith("v1=")
    verify("whsec_test", headers["X-Headcount-Timestamp"], body, headers["X-Headcount-Signature"], 1_765_000_010)
