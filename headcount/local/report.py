"""The answers `headcount demo` and `headcount report` print: yesterday's numbers exact, today's so far, the month and the
latest retention cells, read from the local API as any client would (each says how exact and how fresh it is)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta

from headcount.local.access import tools_headers
from headcount.local.config import LocalConfig


def api_get(config: LocalConfig, path: str) -> dict:
    base = f"http://127.0.0.1:{config.api_port}"
    request = urllib.request.Request(f"{base}{path}", headers=tools_headers(base))  # noqa: S310 - 127.0.0.1 only
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def report_lines(config: LocalConfig) -> Iterator[str]:
    """The morning's questions, answered by the local API: yesterday exact, today so far, the month and retention; each
    line as soon as its answers are in."""

    def one(metric: str, day: str) -> dict:
        return api_get(config, f"/v1/metrics/{metric}?from={day}&to={day}")["points"][0]

    def describe(point: dict) -> str:
        fresh = f"as of {point['as_of']}" if point.get("as_of") else "freshness unknown"
        fresh += ", BEHIND: a shard's fold lags" if point.get("stale") else ""
        if point["exact"]:
            return f"{point['value']:,} (exact, {point['source']} run {point.get('run_id')}, {fresh})"
        if point["low"] == point["high"]:
            return f"{point['value']:,} ({point['source']}, {fresh})"
        return f"{point['value']:,} (95 % between {point['low']:,} and {point['high']:,}, {point['source']}, {fresh})"

    yield ""
    yield f"unique players yesterday: {describe(one('active_players', 'yesterday'))}"
    yield f"unique players today so far: {describe(one('active_players', 'today'))}"
    yield f"matches played today: {describe(one('matches_played', 'today'))}"
    countries = api_get(config, "/v1/metrics/active_players_by_country?from=today&to=today")["points"]
    top = sorted(countries, key=lambda p: -p["value"])[:5]
    yield "top countries today: " + ", ".join(f"{p.get('group')} {p['value']:,}" for p in top)
    week = api_get(config, "/v1/metrics/active_players/distinct?from=yesterday&to=today")
    yield (
        f"unique players yesterday and today together: {week['value']:,} "
        f"(95 % between {week['low']:,} and {week['high']:,})"
    )
    yield f"weekly active players (7 days to today): {describe(one('weekly_active_players', 'today'))}"
    yield f"monthly active players (28 days to today): {describe(one('monthly_active_players', 'today'))}"
    sticky = one("stickiness", "today")
    if sticky["value"] is not None:
        bounds = "exact" if sticky["exact"] else f"95 % between {sticky['low']:.1%} and {sticky['high']:.1%}"
        yield f"stickiness today so far (DAU / MAU): {sticky['value']:.1%} ({bounds})"
    month = one("monthly_active_players", "yesterday")
    if month["exact"]:  # the nightly job has published the days before yesterday: a month of play is known exactly
        yield f"monthly active players (28 days to yesterday): {describe(month)}"
        sticky = one("stickiness", "yesterday")
        if sticky["value"] is not None and sticky["exact"]:
            yield f"stickiness yesterday (DAU / MAU): {sticky['value']:.1%} (exact)"
    yield f"new players yesterday: {describe(one('new_players', 'yesterday'))}"
    yield f"new players today so far: {describe(one('new_players', 'today'))}"
    answer = api_get(config, "/v1/retention/retention?from=yesterday&to=yesterday")
    (cohort,) = answer["cohorts"]
    back = cohort["returned"][0]
    if back["value"] is not None and cohort["size"]["value"]:
        bounds = "exact" if back["exact"] else f"95 % between {back['low']:,} and {back['high']:,}"
        yield (
            f"of yesterday's new players, back today (D+{back['k']}): {back['value']:,} = {back['rate']:.0%} ({bounds})"
        )
    yield from _retention_of_earlier_cohorts(config, date.fromisoformat(cohort["day"]), answer["returned_after"])
    base = f"http://127.0.0.1:{config.api_port}"
    yield f"dashboard: {base}/   API: {base}/v1/metrics (a token of the user pool), documented at {base}/v1/docs"


def _retention_of_earlier_cohorts(config: LocalConfig, yesterday: date, returned_after: list[int]) -> list[str]:
    """For each k, the D+k cell of the latest cohort that has it exact: the one that joined k days before yesterday
    (none before the nightly job has published those days)."""
    first, last = (yesterday - timedelta(days=k) for k in (max(returned_after), min(returned_after)))
    cohorts = {c["day"]: c for c in api_get(config, f"/v1/retention/retention?from={first}&to={last}")["cohorts"]}
    lines = []
    for k in returned_after:
        cohort = cohorts.get(str(yesterday - timedelta(days=k)))
        cell = next((r for r in cohort["returned"] if r["k"] == k), None) if cohort else None
        if cell and cell["exact"] and cell["value"] is not None and cohort["size"]["exact"] and cohort["size"]["value"]:
            lines.append(
                f"of the {cohort['size']['value']:,} new players of {cohort['day']}, back on D+{k}: "
                f"{cell['value']:,} = {cell['rate']:.0%} (exact)"
            )
    return lines
