"""End to end, the analysts' dashboard in a real browser (Debian's Chromium, driven by Playwright) against the local
stack with a simulated game whose yesterday is published: the tiles, the charts (the game KPIs' too: DAU/WAU/MAU,
stickiness, new players, the retention triangle) and their CSVs say what the API says. Screenshots go to
artifacts/screenshots/ (.ci/run lists them)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta

import pytest

from tests.e2e.test_realtime import api

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
KEY = "local-dev-key"
CHARTS = ("players", "matches", "ads", "countries", "explore", "activity", "stickiness", "new-players", "retention")
CSV_COLUMNS = ["bucket", "group", "value", "low", "high", "exact", "source", "as_of", "stale", "run_id"]
RETENTION_COLUMNS = [
    *("cohort", "group", "size", "size_low", "size_high", "size_exact", "size_source"),
    *("k", "day", "value", "rate", "low", "high", "exact", "source", "as_of", "stale"),
]
MAX_COHORTS = 60  # the triangle's cohort days at most (headcount/dashboard/retention.js)
APPROXIMATE_FILL = "#ffffff"  # the hollow points' fill: the cards' background (headcount/dashboard/charts.js)


@pytest.fixture
def open_page(local_stack, browser):
    """A fresh browser profile (an empty localStorage unless `key` is given) on the dashboard."""
    contexts = []

    def open_page(key: str | None = KEY, width: int = 1440, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        contexts.append(context)
        if key is not None:
            context.add_init_script(f"localStorage.setItem('headcount.apiKey', {json.dumps(key)})")
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{local_stack.api_port}/")
        page.script_errors = errors
        return page

    yield open_page
    for context in contexts:
        context.close()


def wait_drawn(page):
    for chart in CHARTS:
        page.wait_for_selector(f'[data-chart="{chart}"]:is([data-state="ready"], [data-state="empty"])')
    for tile in ("players", "matches", "ads", "range"):
        page.wait_for_selector(f'[data-tile="{tile}"] .tile-value')
    assert not page.script_errors


def chosen_range(page):
    return page.input_value("#from"), page.input_value("#to")


def text(value) -> str:
    """A number as the CSV writes it (JavaScript's String(); null is empty)."""
    return "" if value is None else str(value)


def csv_rows(points):
    """What the CSV holds for the API's points (of counts), as text."""
    return [
        {
            "bucket": p["bucket"],
            "group": p.get("group", ""),
            "value": text(p["value"]),
            "low": text(p["low"]),
            "high": text(p["high"]),
            "exact": "true" if p["exact"] else "false",
            "source": p["source"],
            "as_of": p.get("as_of") or "",
            "stale": "true" if p["stale"] else "false",
            "run_id": p["run_id"] or "",
        }
        for p in points
    ]


def download_csv(page, chart, columns=CSV_COLUMNS):
    with page.expect_download() as download:
        page.click(f'[data-chart="{chart}"] .csv')
    reader = csv.DictReader(io.StringIO(download.value.path().read_text()))
    assert reader.fieldnames == columns
    return download.value.suggested_filename, list(reader)


def test_the_dashboard_asks_for_the_key_once_and_its_tiles_show_the_apis_numbers(
    published_yesterday, local_stack, open_page, screenshots
):
    config = local_stack
    # Given a browser that never saw the dashboard
    page = open_page(key=None)
    # Then it asks for the key
    page.wait_for_selector("#key-prompt[open] #key-input")
    page.screenshot(path=screenshots / "key-prompt.png")

    # When the analyst types it
    page.fill("#key-input", KEY)
    page.click("#key-form button[type=submit]")
    wait_drawn(page)

    # Then each of today's tiles shows the API's number for today, formatted
    for tile, metric in (("players", "active_players"), ("matches", "matches_played"), ("ads", "ad_impressions")):
        points = api(config, f"/v1/metrics/{metric}?from=today")["points"]
        assert page.inner_text(f'[data-tile="{tile}"] .tile-value') == f"{sum(p['value'] for p in points):,}", tile
        badge = "exact" if all(p["exact"] for p in points) else "approximate"
        assert badge in page.inner_text(f'[data-tile="{tile}"] .tile-badges').lower()
    # and the range's tile the API's unique players over the chosen range, with its bounds
    start, end = chosen_range(page)
    assert (date.fromisoformat(end) - date.fromisoformat(start)).days == 29  # the last 30 days by default
    whole = api(config, f"/v1/metrics/active_players/distinct?from={start}&to={end}")
    assert page.inner_text('[data-tile="range"] .tile-value') == f"{whole['value']:,}"
    if whole["high"] > whole["low"]:
        assert f"{whole['low']:,} – {whole['high']:,}" in page.inner_text('[data-tile="range"] .tile-precision')
    page.screenshot(path=screenshots / "dashboard.png", full_page=True)

    # And the key is kept: the next visit does not ask again
    page.reload()
    wait_drawn(page)
    assert not page.is_visible("#key-prompt")
    assert page.evaluate("localStorage.getItem('headcount.apiKey')") == KEY


def test_exact_and_approximate_days_are_drawn_differently(published_yesterday, local_stack, open_page):
    config = local_stack
    page = open_page()
    wait_drawn(page)
    start, end = chosen_range(page)
    points = api(config, f"/v1/metrics/active_players?from={start}&to={end}")["points"]
    # (which days are which, from the API's answer: the clock may have passed midnight since the game was sent)
    exact = [p["bucket"] for p in points].index(str(published_yesterday))
    approximate = max(i for i, p in enumerate(points) if p["source"] == "realtime")
    assert points[exact]["source"] == "batch"

    # What uPlot was given to draw a point at a bucket, and the colour of the pixel at that point's centre
    drawn = page.evaluate(
        """(idxs) => {
            const u = window.headcountDashboard.charts.players.plot;
            const rgb = (idx, value) => {
                const x = Math.round(u.valToPos(idx, "x", true)), y = Math.round(u.valToPos(value, "y", true));
                return Array.from(u.ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
            };
            const pointsAt = (idx) => u.series.flatMap((s, si) => {
                const value = si > 0 ? u.data[si][idx] : null;
                const only = si > 0 && s.points.filter(u, si, true, null);
                if (value == null || !s.points.show(u, si, 0, u.data[0].length - 1) || (only && !only.includes(idx))) {
                    return [];
                }
                return [{label: s.label, dash: s.dash ?? [], fill: s.points.fill(u, si), stroke: s.points.stroke(u, si),
                         pixel: rgb(idx, value)}];
            });
            const band = u.bands[0];
            return {exact: pointsAt(idxs[0]), approximate: pointsAt(idxs[1]),
                    band: band && band.series.map((si) => u.data[si][idxs[1]])};
        }""",
        [exact, approximate],
    )

    # Then the exact day is one filled point on a solid line
    [on_exact] = drawn["exact"]
    assert on_exact["label"].startswith("exact") and on_exact["dash"] == []
    assert on_exact["fill"] == on_exact["stroke"] and near(on_exact["pixel"], rgb(on_exact["stroke"]))
    # and the approximate day one hollow point on a dashed line
    [on_approximate] = drawn["approximate"]
    assert on_approximate["label"].startswith("approximate") and on_approximate["dash"]
    assert on_approximate["fill"] == APPROXIMATE_FILL != on_approximate["stroke"]
    assert near(on_approximate["pixel"], rgb(APPROXIMATE_FILL))
    # with its 95 % bounds as the band, when the API gives it any width
    p = points[approximate]
    assert drawn["band"] == ([p["high"], p["low"]] if p["high"] > p["low"] else None)


def near(pixel, colour, tolerance=12):
    """The same colour but for anti-aliasing (a channel or two off by a few levels)."""
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def rgb(hex_color):
    return [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]


def test_the_metric_picker_lists_the_catalog_and_each_csv_is_what_the_api_answered(
    published_yesterday, local_stack, open_page
):
    config = local_stack
    page = open_page()
    wait_drawn(page)
    start, end = chosen_range(page)

    # The explore chart offers exactly the catalog's metrics that are series (a retention metric is a triangle)
    catalog = api(config, "/v1/metrics")["metrics"]
    options = page.eval_on_selector_all("#explore-metric option", "options => options.map(o => o.value)")
    assert options == [m["name"] for m in catalog if m["kind"] != "retention"]
    assert any(m["kind"] == "retention" for m in catalog)

    # A chart's CSV is the API's points of the range (day and hour buckets)
    for chart, metric in (("players", "active_players"), ("ads", "ad_impressions")):
        name, rows = download_csv(page, chart)
        assert name == f"headcount-{metric}-{start}-to-{end}.csv"
        assert rows == csv_rows(api(config, f"/v1/metrics/{metric}?from={start}&to={end}")["points"])

    # and so is the explore chart's, for one group of a grouped metric
    grouped = next(m["name"] for m in catalog if m["group_by"])
    page.select_option("#explore-metric", grouped)
    page.wait_for_function("() => document.querySelectorAll('#explore-group option').length > 1")
    group = page.eval_on_selector_all("#explore-group option", "options => options[1].value")
    page.select_option("#explore-group", group)
    page.wait_for_function(f"() => window.headcountDashboard.charts.explore?.group === {json.dumps(group)}")
    _, rows = download_csv(page, "explore")
    assert rows == csv_rows(api(config, f"/v1/metrics/{grouped}?from={start}&to={end}&group={group}")["points"])
    assert not page.script_errors


def test_error_states_say_what_to_do(published_yesterday, local_stack, open_page, screenshots):
    # A refused key: asked again, saying so
    page = open_page(key="not-the-key")
    page.wait_for_selector("#key-prompt[open] #key-error:not([hidden])")
    assert page.inner_text("#key-error") == "The API refused the key: enter it again."
    page.screenshot(path=screenshots / "key-refused.png")

    # A range without events: each chart says where the events would come from
    page = open_page(width=1366, height=768)
    wait_drawn(page)
    page.screenshot(path=screenshots / "dashboard-1366x768.png")
    end = date.fromisoformat(chosen_range(page)[1]) - timedelta(days=200)  # long before the simulated game
    page.fill("#from", str(end - timedelta(days=6)))
    page.fill("#to", str(end))
    page.dispatch_event("#to", "change")
    for chart in ("players", "activity", "stickiness", "new-players", "retention"):
        page.wait_for_selector(f'[data-chart="{chart}"][data-state="empty"]')
        assert "headcount simulate" in page.inner_text(f'[data-chart="{chart}"] .state'), chart
    page.screenshot(path=screenshots / "empty-range.png", full_page=True)

    # The API down: a banner says what to do
    page.route("**/v1/**", lambda route: route.abort())
    page.click('[data-days="7"]')
    page.wait_for_selector("#banner:not([hidden])")
    assert "does not answer" in page.inner_text("#banner") and "headcount up" in page.inner_text("#banner")
    page.screenshot(path=screenshots / "api-down.png")
    assert not page.script_errors


def test_behind_a_stage_prefix_every_call_keeps_it(published_yesterday, local_stack, open_page):
    # Given the page as API Gateway serves it, under its stage (/prod…: the local API answers there too), opened
    # without the trailing slash
    origin = f"http://127.0.0.1:{local_stack.api_port}"
    page = open_page()
    asked = []

    def stage(route):
        asked.append(route.request.url.removeprefix(f"{origin}/prod").split("?")[0] or "/")
        route.continue_()

    page.route(lambda url: url.startswith(f"{origin}/prod"), stage)
    page.route(lambda url: not url.startswith(f"{origin}/prod"), lambda route: route.abort())
    page.goto(f"{origin}/prod")
    # Then the API sends it to the stage's root, where it draws, with every file and API call under the stage
    wait_drawn(page)
    assert page.url == f"{origin}/prod/"
    assert {"/", "/dashboard/app.js", "/dashboard/vendor/uPlot.iife.min.js", "/v1/metrics"} <= set(asked)


def by_kind(catalog, kind, **fields):
    return [m for m in catalog if m["kind"] == kind and all(m.get(k) == v for k, v in fields.items())]


def percent(cell_text: str) -> float:
    """The percentage a cell shows ("≈ 29.6%") as a number."""
    return float(re.sub(r"[^0-9.]", "", cell_text))


def test_dau_wau_mau_stickiness_and_new_players_are_found_by_kind_and_drawn_as_the_api_answers(
    published_yesterday, local_stack, open_page
):
    config = local_stack
    catalog = api(config, "/v1/metrics")["metrics"]
    # Given the dashboard on its default range (the last 30 days, yesterday published, today real-time)
    page = open_page()
    wait_drawn(page)
    start, end = chosen_range(page)

    # Then the DAU/WAU/MAU chart draws active_players and its rolling metrics, shortest window first, each as the API
    # answers it: exact days on the solid line, approximate ones on the dashed line with hollow points
    rolling = sorted(by_kind(catalog, "rolling", of="active_players"), key=lambda m: m["window_days"])
    lines = ["active_players", *(m["name"] for m in rolling)]
    assert len(lines) >= 3
    drawn = page.evaluate(
        """() => {
            const {plot: u, lines} = window.headcountDashboard.charts.activity;
            return {lines: lines.map((l) => [l.name, l.label]), series: u.series.slice(1).map((s, i) => ({
                label: s.label, dash: s.dash ?? [], stroke: s.stroke(u, i + 1),
                fill: s.points.show ? s.points.fill(u, i + 1) : null, data: u.data[i + 1]}))};
        }"""
    )
    labels = dict(drawn["lines"])
    assert list(labels) == lines and list(labels.values())[:3] == ["DAU", "WAU", "MAU"]
    series = {s["label"]: s for s in drawn["series"]}
    kinds = set()
    for name in lines:
        points = api(config, f"/v1/metrics/{name}?from={start}&to={end}")["points"]
        exact, approximate = series[f"{labels[name]} exact"], series[f"{labels[name]} approximate"]
        assert exact["data"] == [p["value"] if p["exact"] else None for p in points], name
        assert exact["dash"] == [] and exact["fill"] == exact["stroke"]
        assert approximate["dash"] and approximate["fill"] == APPROXIMATE_FILL
        for i, p in enumerate(points):
            if not p["exact"] and p["source"] != "none":
                assert approximate["data"][i] == p["value"], (name, p["bucket"])
        kinds |= {p["exact"] for p in points if p["source"] != "none"}
    assert kinds == {True, False}  # yesterday exact, today approximate
    assert "never add these lines up" in page.inner_text('[data-chart="activity"] .caution').lower()

    # and the stickiness chart the ratio of DAU to MAU as percentages, its CSV the API's fractions
    [stickiness] = [
        m for m in by_kind(catalog, "ratio", numerator="active_players") if m["denominator"] == rolling[-1]["name"]
    ]
    points = api(config, f"/v1/metrics/{stickiness['name']}?from={start}&to={end}")["points"]
    assert page.evaluate("() => window.headcountDashboard.charts.stickiness.lines.map((l) => l.name)") == [
        stickiness["name"]
    ]
    assert "DAU/MAU" in page.inner_text('[data-chart="stickiness"] h3')
    assert re.search(r"\d%", page.inner_text('[data-chart="stickiness"] .readout'))
    name, rows = download_csv(page, "stickiness", ["metric", *CSV_COLUMNS])
    assert name == f"headcount-{stickiness['name']}-{start}-to-{end}.csv"
    assert [r["bucket"] for r in rows] == [p["bucket"] for p in points]
    for row, p in zip(rows, points, strict=True):
        for field in ("value", "low", "high"):
            assert (float(row[field]) if row[field] else None) == p[field], (p["bucket"], field)
        assert row["exact"] == ("true" if p["exact"] else "false") and row["source"] == p["source"]
    # and new players per day as the API's points
    [new] = by_kind(catalog, "new", of="active_players")
    name, rows = download_csv(page, "new-players")
    assert name == f"headcount-{new['name']}-{start}-to-{end}.csv"
    assert rows == csv_rows(api(config, f"/v1/metrics/{new['name']}?from={start}&to={end}")["points"])
    assert not page.script_errors


def cell_kind(figure, rate_of_a_cell: bool) -> str:
    """How the triangle draws a figure of the API's answer (a cohort's size, or a cell with its rate)."""
    if figure["value"] is None:
        return "unknown"  # a day still to come
    if figure["source"] == "none" or (rate_of_a_cell and figure["rate"] is None):
        return "none"
    return "exact" if figure["exact"] else "approximate"


def check_cell(td, figure, rate_of_a_cell: bool) -> str:
    """The cell's class says what the API says of its figure; approximate ones with "≈" and their bounds."""
    kind = cell_kind(figure, rate_of_a_cell)
    assert td["kind"] == kind and f"cell-{kind}" in td["classes"], (td, figure)
    if kind == "unknown":
        assert td["text"] == ""
    elif kind == "approximate":
        assert td["text"].startswith("≈")
        if figure["high"] > figure["low"]:
            assert f"{figure['low']:,} – {figure['high']:,}" in td["title"]  # the bounds, in the tooltip
    elif kind == "exact":
        assert "≈" not in td["text"]
    if rate_of_a_cell and kind in ("exact", "approximate"):
        assert abs(percent(td["text"]) - figure["rate"] * 100) <= 0.051, (td, figure)
    return kind


def test_the_retention_triangle_tells_exact_approximate_and_unknown_cells_apart(
    published_yesterday, local_stack, open_page, screenshots
):
    config = local_stack
    catalog = api(config, "/v1/metrics")["metrics"]
    # Given the dashboard on its default range
    page = open_page()
    wait_drawn(page)
    start, end = chosen_range(page)

    # Then the retention triangle holds the range's cohorts (the newest first), a column per returned_after
    [retention] = by_kind(catalog, "retention")
    first = max(date.fromisoformat(start), date.fromisoformat(end) - timedelta(days=MAX_COHORTS - 1))
    answer = api(config, f"/v1/retention/{retention['name']}?from={first}&to={end}")
    heads = page.eval_on_selector_all(".triangle th", "cells => cells.map((c) => c.textContent)")
    assert heads == ["cohort", "new players", *(f"D+{k}" for k in answer["returned_after"])]
    cells = page.eval_on_selector_all(
        ".triangle tbody tr",
        """rows => rows.map((r) => [...r.querySelectorAll("td[data-kind]")].map((td) =>
            ({kind: td.dataset.kind, classes: [...td.classList], text: td.textContent, title: td.title})))""",
    )
    cohorts = sorted(answer["cohorts"], key=lambda c: c["day"], reverse=True)
    assert len(cells) == len(cohorts)
    seen = set()
    for (size, *returned), cohort in zip(cells, cohorts, strict=True):
        seen.add(check_cell(size, cohort["size"], rate_of_a_cell=False))
        seen |= {check_cell(td, c, rate_of_a_cell=True) for td, c in zip(returned, cohort["returned"], strict=True)}
    # (yesterday's cohort is published, its D+1 today real-time, today's cohort has nothing to show yet)
    assert {"exact", "approximate", "unknown"} <= seen

    # and its CSV a row per cell
    name, rows = download_csv(page, "retention", RETENTION_COLUMNS)
    assert name == f"headcount-{retention['name']}-{first}-to-{end}.csv"
    expected = [
        {
            "cohort": c["day"],
            "size": text(c["size"]["value"]),
            "k": str(cell["k"]),
            "value": text(cell["value"]),
            "exact": "true" if cell["exact"] else "false",
            "source": cell["source"],
        }
        for c in cohorts
        for cell in c["returned"]
    ]
    assert [{k: r[k] for k in ("cohort", "size", "k", "value", "exact", "source")} for r in rows] == expected
    kpis = page.evaluate(  # where the section is on the page: a full-page shot has no sticky bar over it
        """() => { const r = document.querySelector("section[aria-labelledby=kpi-title]").getBoundingClientRect();
                   return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; }"""
    )
    page.screenshot(path=screenshots / "kpis.png", full_page=True, clip=kpis)
    assert not page.script_errors
