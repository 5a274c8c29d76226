"""End to end, the analysts' dashboard in a real browser (Debian's Chromium, driven by Playwright) against the local
stack with a simulated game whose yesterday is published: the tiles, the charts and their CSVs say what the API says.
Screenshots go to artifacts/screenshots/ (.ci/run lists them)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest

from tests.e2e.test_realtime import api

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
KEY = "local-dev-key"
CHARTS = ("players", "matches", "ads", "countries", "explore")
CSV_COLUMNS = ["bucket", "group", "value", "low", "high", "exact", "source", "as_of", "stale", "run_id"]
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


def csv_rows(points):
    """What the CSV holds for the API's points, as text."""
    return [
        {
            "bucket": p["bucket"],
            "group": p.get("group", ""),
            "value": str(p["value"]),
            "low": str(p["low"]),
            "high": str(p["high"]),
            "exact": "true" if p["exact"] else "false",
            "source": p["source"],
            "as_of": p.get("as_of") or "",
            "stale": "true" if p["stale"] else "false",
            "run_id": p["run_id"] or "",
        }
        for p in points
    ]


def download_csv(page, chart):
    with page.expect_download() as download:
        page.click(f'[data-chart="{chart}"] .csv')
    text = download.value.path().read_text()
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == CSV_COLUMNS
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

    # The explore chart offers exactly the catalog's metrics
    catalog = api(config, "/v1/metrics")["metrics"]
    options = page.eval_on_selector_all("#explore-metric option", "options => options.map(o => o.value)")
    assert options == [m["name"] for m in catalog]

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
    page.wait_for_selector('[data-chart="players"][data-state="empty"]')
    assert "headcount simulate" in page.inner_text('[data-chart="players"] .state')
    page.screenshot(path=screenshots / "empty-range.png", full_page=True)

    # The API down: a banner says what to do
    page.route("**/v1/**", lambda route: route.abort())
    page.click('[data-days="7"]')
    page.wait_for_selector("#banner:not([hidden])")
    assert "does not answer" in page.inner_text("#banner") and "headcount up" in page.inner_text("#banner")
    page.screenshot(path=screenshots / "api-down.png")
    assert not page.script_errors


def test_behind_a_stage_prefix_every_call_keeps_it(published_yesterday, local_stack, open_page):
    # Given the page as API Gateway serves it, under its stage (/prod…, passed on to the stack without it), opened
    # without the trailing slash
    origin = f"http://127.0.0.1:{local_stack.api_port}"
    page = open_page()
    asked = []

    def stage(route):
        path = route.request.url.removeprefix(f"{origin}/prod")
        asked.append(path.split("?")[0] or "/")
        route.continue_(url=f"{origin}{path or '/'}")

    page.route(lambda url: url.startswith(f"{origin}/prod"), stage)
    page.route(lambda url: not url.startswith(f"{origin}/prod"), lambda route: route.abort())
    page.goto(f"{origin}/prod")
    # Then it draws, with every file and API call under the stage
    wait_drawn(page)
    assert page.url == f"{origin}/prod/"
    assert {"/", "/dashboard/app.js", "/dashboard/vendor/uPlot.iife.min.js", "/v1/metrics"} <= set(asked)
