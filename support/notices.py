"""Sample digests for the channels' tests (tests/unit/test_messages.py, test_signing.py, test_channels.py): an exact
figure, an approximate one, and a notice holding them, each with any field changed."""

from __future__ import annotations

from dataclasses import replace

from headcount.core.notices import Figure, Notice, NoticeKind

DASHBOARD = "https://headcount.example.com/"


def exact_figure(**changes) -> Figure:
    base = Figure(
        metric="active_players",
        label="active_players",
        group=None,
        day="2026-12-05",
        value=12345,
        exact=True,
        low=12345,
        high=12345,
        as_of="2026-12-06T03:12:00Z",
        run_id="run-2026-12-06",
        link=f"{DASHBOARD}#metric=active_players&from=2026-12-05",
        previous=12000,
        week_ago=13000,
    )
    return replace(base, **changes)


def approximate_figure(**changes) -> Figure:
    base = Figure(
        metric="matches",
        label="matches_by_country · DE",
        group="DE",
        day="2026-12-06",
        value=5012.4,
        exact=False,
        low=4890,
        high=5140,
        as_of="2026-12-06T14:05:30Z",
        run_id=None,
        link=f"{DASHBOARD}#metric=matches&group=DE",
    )
    return replace(base, **changes)


def sample_notice(*figures: Figure, **changes) -> Notice:
    """A digest of these figures (none given: the exact one)."""
    base = Notice(
        id="digest:team-daily:2026-12-05",
        kind=NoticeKind.DIGEST,
        title="Yesterday, Sat 5 Dec 2026",
        summary="12,345 active players yesterday (exact), 2.9 % more than Friday",
        timezone="Europe/Berlin",
        sent_at="2026-12-06T07:00:00Z",
        dashboard=DASHBOARD,
        figures=figures or (exact_figure(),),
        subscription="team-daily",
        day="2026-12-05",
        notes=("Matches are today's so far.",),
    )
    return replace(base, **changes)
