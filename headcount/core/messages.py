"""A `Notice` rendered for each channel: a Slack incoming webhook's Block Kit payload, an email's text and HTML parts, and
the webhook's signed JSON request.

Every figure says whether it is exact; an approximate one carries its 95 % bounds and its as-of, so nobody reads an
estimate of today so far as yesterday's published count. The words of a figure (its value, marker and comparisons) are
made once here and laid out per channel. Pure: no clock (the webhook's timestamp is given), no AWS.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import orjson

from headcount.core.notices import Figure, Notice, NoticeKind
from headcount.core.notices import format_number as number
from headcount.core.signing import sign

NONE = number(None)  # "—"
EXACTNESS = (
    "✓ exact: the nightly batch's count of a closed day, published once the day's events are in. "
    "≈ approximate: the real-time view's estimate of a day still open, the true value within the 95 % bounds."
)

# Slack's documented Block Kit limits (api.slack.com/reference/block-kit): tests/schemas/slack_block_kit.schema.json
# holds the same, and the tests hold every payload made here to it.
MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
# A section (with its own button) per figure up to this many figures; more are laid out ten to a section, as fields.
ONE_SECTION_EACH = 20


# --- the words of a number --------------------------------------------------------------------------------------------


def _utc(iso: str | None, *, with_day: bool) -> str:
    if not iso:
        return NONE
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M UTC" if with_day else "%H:%M UTC")


def _day_label(iso_day: str) -> str:
    """'Sat 28 Nov' (no zero padding, as the notice's titles write days)."""
    day = date.fromisoformat(iso_day)
    return f"{day:%a} {day.day} {day:%b}"


def change(value: int | float | None, before: int | float | None, *, ratio: bool = False) -> str:
    """▲/▼ how much `value` moved from `before`: a relative change for counts, percentage points for a ratio (a ratio's
    relative change, "▲ 12 %" of a 20 % stickiness, would read as twelve points)."""
    if value is None or before is None:
        return NONE
    if ratio:
        delta, unit = (value - before) * 100, "pp"
    elif before == 0:
        return NONE  # from nothing: no percentage
    else:
        delta, unit = (value - before) / abs(before) * 100, "%"
    if round(delta, 1) == 0:
        return f"±0.0 {unit}"
    return f"{'▲' if delta > 0 else '▼'} {abs(delta):.1f} {unit}"


@dataclass(frozen=True)
class FigureWords:
    """One figure in words, the same in every channel."""

    label: str
    value: str  # "12,345" or "≈ 12,345"
    marker: str  # "exact" or "approximate"
    detail: str  # "published 2026-12-06 03:12 UTC" or "95 %: 12,100–12,600, as of 14:05 UTC"
    comparisons: tuple[str, ...]  # the kind's lines: changes, the baseline, what was sent before
    link: str


def figure_words(figure: Figure, kind: NoticeKind) -> FigureWords:
    def fmt(v: int | float | None) -> str:
        return number(v, ratio=figure.ratio)

    if figure.exact:
        value, marker, detail = fmt(figure.value), "exact", f"published {_utc(figure.as_of, with_day=True)}"
    else:
        value, marker = f"≈ {fmt(figure.value)}", "approximate"
        detail = f"95 %: {fmt(figure.low)}–{fmt(figure.high)}, as of {_utc(figure.as_of, with_day=False)}"
    comparisons: list[str] = []
    if figure.previous is not None:
        moved = change(figure.value, figure.previous, ratio=figure.ratio)
        comparisons.append(f"{moved} vs the day before ({fmt(figure.previous)})")
    if figure.week_ago is not None:
        moved = change(figure.value, figure.week_ago, ratio=figure.ratio)
        week_ago = _day_label((date.fromisoformat(figure.day) - timedelta(days=7)).isoformat())
        comparisons.append(f"{moved} vs {week_ago} ({fmt(figure.week_ago)})")
    if figure.baseline is not None:
        comparisons.append(f"baseline: {figure.baseline}")
    elif figure.threshold is not None:
        comparisons.append(f"threshold: {fmt(figure.threshold)}")
    if kind in (NoticeKind.FOLLOW_UP, NoticeKind.CORRECTION) or figure.sent_value is not None:
        was = "exact" if figure.sent_exact else "approximate"
        comparisons.append(f"was {fmt(figure.sent_value)} ({was}), now {fmt(figure.value)} ({marker})")
    return FigureWords(figure.label, value, marker, detail, tuple(comparisons), figure.link)


# --- Slack --------------------------------------------------------------------------------------------------------------


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters (api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn_link(url: str, text: str) -> str:
    # In a link, `|` ends the address and `>` the link: they are percent-encoded, &, < and > escaped as in text.
    address = mrkdwn_escape(url.replace("|", "%7C"))
    return f"<{address}|{mrkdwn_escape(text)}>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_figure_text(words: FigureWords, *, with_link: bool, limit: int) -> str:
    sign_ = "✓ " if words.marker == "exact" else ""
    lines = [
        f"*{mrkdwn_escape(words.label)}*",
        f"{sign_}*{mrkdwn_escape(words.value)}*  _{words.marker}, {mrkdwn_escape(words.detail)}_",
        *(mrkdwn_escape(line) for line in words.comparisons),
    ]
    if with_link and len(words.link) <= MAX_URL:
        lines.append(_mrkdwn_link(words.link, "Open in dashboard"))
    return _clip("\n".join(lines), limit)


def _button(text: str, url: str, action_id: str) -> dict:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": _clip(text, MAX_BUTTON_TEXT)},
        "url": url,
        "action_id": action_id,
    }


def _figure_blocks(notice: Notice, room: int) -> list[dict]:
    """The figures in at most `room` blocks: a section and a button each when few, ten to a section when many, and a
    line counting the rest when even that does not fit."""
    words = [figure_words(figure, notice.kind) for figure in notice.figures]
    if len(words) <= min(ONE_SECTION_EACH, room):
        blocks = []
        for i, w in enumerate(words):
            block: dict = {"type": "section", "text": {"type": "mrkdwn", "text": ""}}
            block["text"]["text"] = _slack_figure_text(w, with_link=False, limit=MAX_SECTION_TEXT)
            if len(w.link) <= MAX_URL:
                block["accessory"] = _button("Open in dashboard", w.link, f"figure-{i}")
            blocks.append(block)
        return blocks
    groups = [words[i : i + MAX_FIELDS] for i in range(0, len(words), MAX_FIELDS)]
    shown = groups if len(groups) <= room else groups[: room - 1]
    blocks = [
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _slack_figure_text(w, with_link=True, limit=MAX_FIELD_TEXT)} for w in group
            ],
        }
        for group in shown
    ]
    rest = len(words) - sum(len(group) for group in shown)
    if rest:
        more = f"… and {rest:,} more in the {_mrkdwn_link(notice.dashboard, 'dashboard')}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": more}})
    return blocks


def slack_message(notice: Notice) -> dict:
    """An incoming webhook's payload: `text` is the notification's (and a client without blocks') text."""
    title = notice.title.strip() or "headcount"  # Slack refuses an empty text
    summary = _clip(mrkdwn_escape(notice.summary.strip() or title), MAX_SECTION_TEXT)
    head = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, MAX_HEADER), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
    ]
    tail: list[dict] = []
    if notice.notes:
        notes = "\n".join(mrkdwn_escape(note) for note in notice.notes)
        tail.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(notes, MAX_SECTION_TEXT)}})
    context = [EXACTNESS, f"Days are in {notice.timezone}. Sent {_utc(notice.sent_at, with_day=True)}."]
    tail.append({"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn_escape(t)} for t in context]})
    if len(notice.dashboard) <= MAX_URL:
        tail.append({"type": "actions", "elements": [_button("Open the dashboard", notice.dashboard, "dashboard")]})
    figures = _figure_blocks(notice, MAX_BLOCKS - len(head) - len(tail) - 1) if notice.figures else []
    divider = [{"type": "divider"}] if figures else []
    return {
        "text": summary,
        "blocks": head + figures + divider + tail,
    }


# --- email ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailMessage:
    subject: str
    text: str
    html: str


_CELL = "padding:8px 12px;border-bottom:1px solid #e5e7eb;vertical-align:top;text-align:left"
_BADGE = "display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600"
_BADGES = {"exact": "background:#dcfce7;color:#166534", "approximate": "background:#fef3c7;color:#92400e"}
_MUTED = "color:#6b7280;font-size:12px"


def _text_part(notice: Notice, words: list[FigureWords]) -> str:
    lines = [notice.title, "", notice.summary, ""]
    for w in words:
        lines.append(f"{w.label}: {w.value} ({w.marker}, {w.detail})")
        lines += [f"  {line}" for line in w.comparisons]
        lines += [f"  {w.link}", ""]
    if notice.notes:
        lines += [*notice.notes, ""]
    lines += [EXACTNESS, f"Days are in {notice.timezone}.", f"Dashboard: {notice.dashboard}", ""]
    return "\n".join(lines)


def _html_row(w: FigureWords) -> str:
    e = html.escape
    comparisons = "".join(f'<div style="{_MUTED}">{e(line)}</div>' for line in w.comparisons)
    return (
        f'<tr><td style="{_CELL}"><a href="{e(w.link)}" style="color:#1d4ed8;text-decoration:none">{e(w.label)}</a></td>'
        f'<td style="{_CELL};font-weight:600;white-space:nowrap;text-align:right">{e(w.value)}</td>'
        f'<td style="{_CELL}"><span style="{_BADGE};{_BADGES[w.marker]}">{e(w.marker)}</span>'
        f'<div style="{_MUTED}">{e(w.detail)}</div>{comparisons}</td></tr>'
    )


def _html_part(notice: Notice, words: list[FigureWords]) -> str:
    e = html.escape
    rows = "".join(_html_row(w) for w in words)
    table = (
        '<table role="presentation" style="border-collapse:collapse;width:100%;margin:16px 0">'
        f'<thead><tr><th style="{_CELL};{_MUTED}">Metric</th><th style="{_CELL};{_MUTED};text-align:right">Value</th>'
        f'<th style="{_CELL};{_MUTED}">How sure</th></tr></thead><tbody>{rows}</tbody></table>'
        if words
        else ""
    )
    notes = "".join(f'<p style="margin:8px 0">{e(note)}</p>' for note in notice.notes)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{e(notice.title)}</title></head>"
        '<body style="margin:0;padding:24px;background:#f3f4f6;font-family:-apple-system,Segoe UI,Helvetica,Arial,'
        'sans-serif;color:#111827">'
        '<div style="max-width:640px;margin:0 auto;background:#ffffff;border-radius:8px;padding:24px">'
        f'<h1 style="font-size:20px;margin:0 0 8px">{e(notice.title)}</h1>'
        f'<p style="margin:0;font-size:15px">{e(notice.summary)}</p>{table}{notes}'
        f'<p style="margin:16px 0"><a href="{e(notice.dashboard)}" style="display:inline-block;padding:8px 16px;'
        f'background:#1d4ed8;color:#ffffff;border-radius:6px;text-decoration:none">Open the dashboard</a></p>'
        f'<p style="{_MUTED}">{e(EXACTNESS)}<br>Days are in {e(notice.timezone)}. '
        f"Sent {e(_utc(notice.sent_at, with_day=True))}.</p>"
        "</div></body></html>"
    )


def email_message(notice: Notice) -> EmailMessage:
    words = [figure_words(figure, notice.kind) for figure in notice.figures]
    subject = " ".join(notice.summary.split())  # one line: a header cannot hold a newline
    return EmailMessage(subject=subject, text=_text_part(notice, words), html=_html_part(notice, words))


# --- webhook ----------------------------------------------------------------------------------------------------------

USER_AGENT = "headcount-webhooks/1"


def webhook_request(notice: Notice, signing_secret: str, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """The body (the notice's JSON, docs/webhook.schema.json) and headers of a webhook delivery (docs/webhooks.md)."""
    body = orjson.dumps(notice.to_json())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Headcount-Delivery": notice.id,
        "X-Headcount-Timestamp": str(timestamp),
        "X-Headcount-Signature": sign(signing_secret, timestamp, body),
    }
    return body, headers
