"""End to end, the analysts' dashboard in a real browser (Debian's Chromium, driven by Playwright) against the local
stack with a simulated game whose yesterday is published: people sign in to the stack's user pool (the local Cognito:
moto), the tiles, the charts (the game KPIs' too: DAU/WAU/MAU, stickiness, new players, the retention triangle) and
their CSVs say what the API says; an admin manages the ingest keys, a viewer sees no admin control, a person in no
group is told why not; signing out leaves nothing of the session in the browser. Screenshots go to
artifacts/screenshots/ (.ci/run lists them)."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.error
import urllib.request
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from headcount.local.access import DEMO_PASSWORD, DEMO_USER
from headcount.views.aws import client
from tests.e2e.conftest import IDENTITY_PROVIDER

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
# Besides the demo admin the stack creates: people an admin adds to the user pool (the tests' `people` fixture)
VIEWER, NOBODY = "viewer", "nobody"  # in the `viewer` group, and in no group
PASSWORDS = {DEMO_USER: DEMO_PASSWORD, VIEWER: "Headcount-viewer-1", NOBODY: "Headcount-nobody-1"}
CHARTS = ("players", "matches", "ads", "countries", "explore", "activity", "stickiness", "new-players", "retention")
CSV_COLUMNS = ["bucket", "group", "value", "low", "high", "exact", "source", "as_of", "stale", "run_id"]
RETENTION_COLUMNS = [
    *("cohort", "group", "size", "size_low", "size_high", "size_exact", "size_source"),
    *("k", "day", "value", "rate", "low", "high", "exact", "source", "as_of", "stale"),
]
MAX_COHORTS = 60  # the triangle's cohort days at most (headcount/dashboard/retention.js)
APPROXIMATE_FILL = "#ffffff"  # the hollow points' fill: the cards' background (headcount/dashboard/charts.js)


def call(local_stack, path: str, token: str | None = None, method: str = "GET") -> tuple[int, dict]:
    """The API's status and JSON answer, with a person's access token as the dashboard sends it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{local_stack.api_port}{path}", headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


@pytest.fixture(scope="module")
def user_pool(local_stack) -> dict:
    """Where the dashboard signs in (GET /v1/auth/config, public): region, userPoolId, clientId, cognitoEndpoint."""
    status, config = call(local_stack, "/v1/auth/config")
    assert status == 200, config
    return config


def tokens_of(user_pool, user: str, password: str) -> dict:
    """A sign-in's AuthenticationResult, as the dashboard's (USER_PASSWORD_AUTH on the dashboard's app client)."""
    answer = client("cognito-idp").initiate_auth(
        ClientId=user_pool["clientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": password},
    )
    return answer["AuthenticationResult"]


@pytest.fixture(scope="module")
def people(user_pool) -> dict[str, str]:
    """A viewer and a person in no group, added to the stack's user pool as an admin adds people; user -> password."""
    cognito, pool = client("cognito-idp"), user_pool["userPoolId"]
    for user, group in ((VIEWER, "viewer"), (NOBODY, None)):
        cognito.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORDS[user], Permanent=True)
        if group:
            cognito.admin_add_user_to_group(UserPoolId=pool, Username=user, GroupName=group)
    return PASSWORDS


@pytest.fixture(scope="module")
def read(local_stack, user_pool):
    """What the API answers to a GET, read as the demo admin (to compare with what the dashboard shows)."""
    token = tokens_of(user_pool, DEMO_USER, DEMO_PASSWORD)["AccessToken"]

    def read(path: str) -> dict:
        status, answer = call(local_stack, path, token)
        assert status == 200, (path, status, answer)
        return answer

    return read


@pytest.fixture
def open_page(local_stack, browser):
    """A fresh browser profile on the dashboard, signed in as `user` (the demo admin unless told; None: not signed in).
    With `clock`, the page's clock is Playwright's (time flows, and the test may jump it forward)."""
    contexts = []

    def open_page(
        user: str | None = DEMO_USER, width: int = 1440, height: int = 900, clock: bool = False, init_script: str = ""
    ):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        if clock:
            page.clock.install()
        errors = []
        page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}"))
        page.goto(f"http://127.0.0.1:{local_stack.api_port}/")
        page.script_errors = errors
        if user is not None:
            sign_in(page, user)
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, user: str, password: str | None = None) -> None:
    """Signs in with the dialog the dashboard shows, and waits until it is gone."""
    fill_sign_in(page, user, password or PASSWORDS[user])
    page.wait_for_selector("#sign-in", state="hidden")
    assert page.inner_text("#who") == user


def fill_sign_in(page, user: str, password: str) -> None:
    page.wait_for_selector("#sign-in[open] #user-name")
    page.fill("#user-name", user)
    page.fill("#password", password)
    page.click("#sign-in-submit")


def sign_in_error(page) -> str:
    page.wait_for_selector("#sign-in[open] #sign-in-error:not([hidden])")
    return page.inner_text("#sign-in-error")


def kept_by_the_browser(page) -> str:
    """Everything a script of the page can read that outlives it: localStorage, sessionStorage, document.cookie."""
    return page.evaluate(
        "() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}, cookie: document.cookie})"
    )


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


def test_the_analyst_signs_in_and_the_tiles_show_the_apis_numbers(published_yesterday, read, open_page, screenshots):
    # Given a browser that never saw the dashboard
    page = open_page(user=None)
    # Then it asks to sign in, and shows nothing of the session yet
    page.wait_for_selector("#sign-in[open] #user-name")
    assert not page.is_visible("#session")
    page.screenshot(path=screenshots / "sign-in.png")
    # which Escape does not close (there is nothing behind it to go back to)
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.wait_for_selector("#sign-in[open] #user-name", timeout=5000)  # Chromium's second Escape closes it: reopened

    # When the demo admin signs in
    sign_in(page, DEMO_USER)
    wait_drawn(page)

    # Then the page marks when it asked to sign in, sent the form, began reading and had the whole range drawn (what
    # `make bench-dashboard` reads), in that order
    page.wait_for_function("() => performance.getEntriesByName('headcount:drawn').length > 0")
    marks = page.evaluate(
        """() => Object.fromEntries(['asked-to-sign-in', 'signing-in', 'reading', 'drawn']
             .map((m) => [m, performance.getEntriesByName(`headcount:${m}`).at(-1).startTime]))"""
    )
    assert marks["asked-to-sign-in"] < marks["signing-in"] < marks["reading"] < marks["drawn"], marks
    print(f"the dashboard: reading to drawn {marks['drawn'] - marks['reading']:.0f} ms")
    # and the two cards that draw active_players over the range (players, activity) shared one request
    asked = page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name)")
    ranges = [u for u in asked if re.search(r"/v1/metrics/active_players\?from=\d{4}-\d{2}-\d{2}&to=", u)]
    assert len(ranges) == 1, ranges

    # Then the top bar says who is signed in, with "Sign out"
    assert page.is_visible("#who") and page.is_visible("#sign-out")
    # and each of today's tiles shows the API's number for today, formatted
    for tile, metric in (("players", "active_players"), ("matches", "matches_played"), ("ads", "ad_impressions")):
        points = read(f"/v1/metrics/{metric}?from=today")["points"]
        assert page.inner_text(f'[data-tile="{tile}"] .tile-value') == f"{sum(p['value'] for p in points):,}", tile
        badge = "exact" if all(p["exact"] for p in points) else "approximate"
        assert badge in page.inner_text(f'[data-tile="{tile}"] .tile-badges').lower()
    # and the range's tile the API's unique players over the chosen range, with its bounds
    start, end = chosen_range(page)
    assert (date.fromisoformat(end) - date.fromisoformat(start)).days == 29  # the last 30 days by default
    whole = read(f"/v1/metrics/active_players/distinct?from={start}&to={end}")
    assert page.inner_text('[data-tile="range"] .tile-value') == f"{whole['value']:,}"
    if whole["high"] > whole["low"]:
        assert f"{whole['low']:,} – {whole['high']:,}" in page.inner_text('[data-tile="range"] .tile-precision')
    page.screenshot(path=screenshots / "dashboard.png", full_page=True)

    # And the session lives in the page only: a reload asks to sign in again
    page.reload()
    page.wait_for_selector("#sign-in[open] #user-name")
    assert not page.is_visible("#session")


def test_exact_and_approximate_days_are_drawn_differently(published_yesterday, read, open_page):
    page = open_page()
    wait_drawn(page)
    start, end = chosen_range(page)
    points = read(f"/v1/metrics/active_players?from={start}&to={end}")["points"]
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
    published_yesterday, read, open_page
):
    page = open_page()
    wait_drawn(page)
    start, end = chosen_range(page)

    # The explore chart offers exactly the catalog's metrics that are series (a retention metric is a triangle)
    catalog = read("/v1/metrics")["metrics"]
    options = page.eval_on_selector_all("#explore-metric option", "options => options.map(o => o.value)")
    assert options == [m["name"] for m in catalog if m["kind"] != "retention"]
    assert any(m["kind"] == "retention" for m in catalog)

    # A chart's CSV is the API's points of the range (day and hour buckets)
    for chart, metric in (("players", "active_players"), ("ads", "ad_impressions")):
        name, rows = download_csv(page, chart)
        assert name == f"headcount-{metric}-{start}-to-{end}.csv"
        assert rows == csv_rows(read(f"/v1/metrics/{metric}?from={start}&to={end}")["points"])

    # and so is the explore chart's, for one group of a grouped metric
    grouped = next(m["name"] for m in catalog if m["group_by"])
    page.select_option("#explore-metric", grouped)
    page.wait_for_function("() => document.querySelectorAll('#explore-group option').length > 1")
    group = page.eval_on_selector_all("#explore-group option", "options => options[1].value")
    page.select_option("#explore-group", group)
    page.wait_for_function(f"() => window.headcountDashboard.charts.explore?.group === {json.dumps(group)}")
    _, rows = download_csv(page, "explore")
    assert rows == csv_rows(read(f"/v1/metrics/{grouped}?from={start}&to={end}&group={group}")["points"])
    assert not page.script_errors


def test_error_states_say_what_to_do(published_yesterday, open_page, screenshots):
    # A wrong password: asked again, saying so
    page = open_page(user=None)
    fill_sign_in(page, DEMO_USER, "not-the-password")
    assert sign_in_error(page) == "Wrong user name or password."
    page.screenshot(path=screenshots / "sign-in-refused.png")
    # and so is an unknown user (the same words: the page does not tell who exists)
    fill_sign_in(page, "nobody-of-this-pool", "Headcount-nobody-9")
    assert sign_in_error(page) == "Wrong user name or password."
    assert page.is_visible("#sign-in[open]") and not page.is_visible("#session")

    # A session the API takes no more (401): the sign-in dialog again, saying why; signing in goes on where it was
    page = open_page()
    wait_drawn(page)
    unauthorized = {"error": {"code": "unauthorized", "message": "this route needs a valid token"}}
    page.route("**/v1/metrics**", lambda route: route.fulfill(status=401, json=unauthorized))
    page.click('[data-days="7"]')
    assert sign_in_error(page) == "Your session ended: sign in again."
    page.screenshot(path=screenshots / "session-ended.png")
    page.unroute("**/v1/metrics**")
    sign_in(page, DEMO_USER)
    wait_drawn(page)

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
    page = open_page(user=None)
    asked = []

    def stage(route):
        asked.append(route.request.url.removeprefix(f"{origin}/prod").split("?")[0] or "/")
        route.continue_()

    page.route(lambda url: url.startswith(f"{origin}/prod"), stage)
    # (anything else of the API's origin refused; the user pool is another origin, and answers)
    page.route(lambda url: url.startswith(f"{origin}/") and not url.startswith(f"{origin}/prod"), lambda r: r.abort())
    page.goto(f"{origin}/prod")
    sign_in(page, DEMO_USER)
    # Then the API sends it to the stage's root, where it signs in and draws, with every file and API call under
    # the stage
    wait_drawn(page)
    assert page.url == f"{origin}/prod/"
    assert {"/", "/dashboard/app.js", "/dashboard/vendor/uPlot.iife.min.js", "/v1/auth/config", "/v1/metrics"} <= set(
        asked
    )


def by_kind(catalog, kind, **fields):
    return [m for m in catalog if m["kind"] == kind and all(m.get(k) == v for k, v in fields.items())]


def percent(cell_text: str) -> float:
    """The percentage a cell shows ("≈ 29.6%") as a number."""
    return float(re.sub(r"[^0-9.]", "", cell_text))


def test_dau_wau_mau_stickiness_and_new_players_are_found_by_kind_and_drawn_as_the_api_answers(
    published_yesterday, read, open_page
):
    catalog = read("/v1/metrics")["metrics"]
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
        points = read(f"/v1/metrics/{name}?from={start}&to={end}")["points"]
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
    points = read(f"/v1/metrics/{stickiness['name']}?from={start}&to={end}")["points"]
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
    assert rows == csv_rows(read(f"/v1/metrics/{new['name']}?from={start}&to={end}")["points"])
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
    published_yesterday, read, open_page, screenshots
):
    catalog = read("/v1/metrics")["metrics"]
    # Given the dashboard on its default range
    page = open_page()
    wait_drawn(page)
    start, end = chosen_range(page)

    # Then the retention triangle holds the range's cohorts (the newest first), a column per returned_after
    [retention] = by_kind(catalog, "retention")
    first = max(date.fromisoformat(start), date.fromisoformat(end) - timedelta(days=MAX_COHORTS - 1))
    answer = read(f"/v1/retention/{retention['name']}?from={first}&to={end}")
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


# ---- who may see what ------------------------------------------------------------------------------------------------


def test_an_admin_creates_an_ingest_key_sees_its_value_once_and_revokes_it(
    published_yesterday, read, open_page, screenshots
):
    # Given the demo admin on the dashboard
    page = open_page()
    wait_drawn(page)
    # When they open the ingest keys from the top bar and create one
    page.click("#keys-open")
    page.wait_for_selector('#keys-panel[open][data-state="ready"]')
    page.fill("#key-name", "e2e-android")
    page.click("#key-create button[type=submit]")

    # Then its value is shown, with what to do with it: now or never, sent as x-api-key
    page.wait_for_selector("#new-key:not([hidden])")
    value = page.inner_text("#new-key-value")
    note = page.inner_text("#new-key")
    assert value and "shown only now" in note and "x-api-key" in note
    # and the list, as the API's, has it active (the API lists no value)
    row = '#keys-list tr[data-name="e2e-android"]'
    page.wait_for_selector(f'{row}[data-enabled="true"]')
    [listed] = [k for k in read("/v1/admin/keys")["keys"] if k["name"] == "e2e-android"]
    assert listed["enabled"] is True and value not in json.dumps(listed)
    assert page.inner_text(f"{row} .key-id") == listed["id"]
    page.screenshot(path=screenshots / "ingest-key-created.png")

    # When they try the same name again: the API's refusal is said in the panel, and the value is gone
    page.fill("#key-name", "e2e-android")
    page.click("#key-create button[type=submit]")
    page.wait_for_selector("#keys-message.error:not([hidden])")
    assert "e2e-android" in page.inner_text("#keys-message") and "409" in page.inner_text("#keys-message")
    assert page.is_hidden("#new-key") and value not in page.content()
    # and a name the API would refuse is refused before it is sent
    page.fill("#key-name", "not a name!")
    assert not page.eval_on_selector("#key-name", "input => input.checkValidity()")

    # When they revoke it (asked once more in its row)
    page.click(f'{row} [data-action="revoke"]')
    page.click(f'{row} [data-action="confirm"]')
    # Then it is listed revoked, here as in the API
    page.wait_for_selector(f'{row}[data-enabled="false"]')
    assert page.inner_text(f"{row} td:nth-child(4)") == "revoked"
    assert "Revoked e2e-android" in page.inner_text("#keys-message")
    assert [k["enabled"] for k in read("/v1/admin/keys")["keys"] if k["name"] == "e2e-android"] == [False]
    page.screenshot(path=screenshots / "ingest-key-revoked.png")

    # And once closed and opened again, the panel never shows a value again
    page.click("#keys-close")
    page.click("#keys-open")
    page.wait_for_selector('#keys-panel[open][data-state="ready"]')
    assert page.is_hidden("#new-key") and value not in page.content()
    assert not page.script_errors


def test_signing_out_leaves_nothing_of_the_session_in_the_browser(
    published_yesterday, user_pool, open_page, screenshots
):
    # Given a browser where an earlier dashboard kept its API key
    page = open_page(user=None, init_script="localStorage.setItem('headcount.apiKey', 'local-dev-key')")
    # When the demo admin signs in (the tokens the user pool gives the page noted)
    with page.expect_response(user_pool_answer(user_pool, "InitiateAuth")) as signed_in:
        sign_in(page, DEMO_USER)
    tokens = signed_in.value.json()["AuthenticationResult"]
    access, refresh = tokens["AccessToken"], tokens["RefreshToken"]
    wait_drawn(page)

    # Then the browser keeps nothing of the session, nor the old key, while signed in
    def assert_nothing_kept():
        kept = kept_by_the_browser(page)
        assert access not in kept and refresh not in kept and tokens["IdToken"] not in kept, kept
        assert "token" not in kept.lower() and "local-dev-key" not in kept, kept
        assert not any(access in c["value"] or refresh in c["value"] for c in page.context.cookies())

    assert_nothing_kept()
    # When they sign out
    page.click("#sign-out")
    # Then the page is back to the sign-in dialog, with nothing of the session on screen or in the browser
    page.wait_for_selector("#sign-in[open] #user-name")
    assert not page.is_visible("#session") and not page.is_visible('[data-tile="players"] .tile-value')
    assert_nothing_kept()
    # and the user pool revoked the session: its refresh token refreshes no more
    with pytest.raises(client("cognito-idp").exceptions.NotAuthorizedException):
        client("cognito-idp").initiate_auth(
            ClientId=user_pool["clientId"], AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh}
        )
    page.screenshot(path=screenshots / "signed-out.png")
    assert not page.script_errors


def test_a_person_of_the_company_signs_in_through_its_identity_provider(
    published_yesterday, local_stack, open_page, screenshots
):
    # Given the dashboard of a stack that trusts the company's identity provider
    page = open_page(user=None)
    page.wait_for_selector("#sign-in[open] #federated-sign-in")
    assert page.inner_text("#federated-sign-in") == f"Sign in with {IDENTITY_PROVIDER}"
    # When a person chooses it, and signs in there (the local domain's stand-in for the provider)
    page.click("#federated-sign-in")
    page.wait_for_url("**/oauth2/authorize?*")
    query = parse_qs(urlsplit(page.url).query)
    assert query["code_challenge_method"] == ["S256"] and query["identity_provider"] == [IDENTITY_PROVIDER]
    page.fill("input[name=username]", DEMO_USER)
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "Wrong user name or password." in page.inner_text("body")
    page.fill("input[name=username]", DEMO_USER)
    page.fill("input[name=password]", PASSWORDS[DEMO_USER])
    with page.expect_request("**/oauth2/token") as trade:
        page.click("button[type=submit]")
    # Then the dashboard, back with a code, trades it for the session and shows the numbers
    page.wait_for_selector("#sign-in", state="hidden")
    assert page.inner_text("#who") == DEMO_USER
    wait_drawn(page)
    # and neither the code in the address nor anything of the sign-in in the browser stays
    assert page.url == f"http://127.0.0.1:{local_stack.api_port}/"
    kept = kept_by_the_browser(page)
    assert "token" not in kept.lower() and "verifier" not in kept, kept
    page.screenshot(path=screenshots / "federated.png")
    # And the code was good once: the same trade again is refused
    again = urllib.request.Request(trade.value.url, data=trade.value.post_data.encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(again, timeout=30)
    assert refused.value.code == 400 and json.loads(refused.value.read()) == {"error": "invalid_grant"}
    assert not page.script_errors


def test_a_viewer_sees_the_numbers_and_no_admin_control(published_yesterday, people, read, open_page, screenshots):
    # Given a person in the viewer group, signed in
    page = open_page(user=VIEWER)
    wait_drawn(page)
    # Then they see the numbers, as the API answers them
    points = read("/v1/metrics/active_players?from=today")["points"]
    assert page.inner_text('[data-tile="players"] .tile-value') == f"{sum(p['value'] for p in points):,}"
    # and no admin control at all: no ingest keys, no way to open them
    assert page.inner_text("#who") == VIEWER and page.is_visible("#sign-out")
    assert page.is_hidden("#keys-open") and page.is_hidden("#keys-panel")
    assert page.get_by_text(re.compile("ingest key", re.IGNORECASE)).filter(visible=True).count() == 0
    page.screenshot(path=screenshots / "viewer.png")
    assert not page.script_errors


def test_a_person_in_no_group_is_told_access_is_denied_and_why(
    published_yesterday, people, user_pool, local_stack, open_page, screenshots
):
    # Given a person of the user pool in no group
    token = tokens_of(user_pool, NOBODY, PASSWORDS[NOBODY])["AccessToken"]
    status, refusal = call(local_stack, "/v1/metrics", token)
    assert status == 403 and refusal["error"]["code"] == "no_role"
    # When they sign in
    page = open_page(user=NOBODY)
    # Then the page says access is denied, and why in the API's words (no "try again": the same token, the same answer)
    page.wait_for_selector("#banner.denied:not([hidden])")
    banner = page.inner_text("#banner-text")
    assert banner.startswith("Access denied: ") and refusal["error"]["message"].rstrip(".") in banner
    assert NOBODY in banner and page.is_hidden("#banner-retry")
    assert page.is_hidden("#keys-open") and not page.is_visible('[data-tile="players"] .tile-value')
    page.screenshot(path=screenshots / "access-denied.png")
    assert not page.script_errors


def test_a_person_given_a_temporary_password_chooses_their_own(published_yesterday, user_pool, open_page, screenshots):
    # Given a viewer an admin created with a temporary password
    cognito, pool = client("cognito-idp"), user_pool["userPoolId"]
    cognito.admin_create_user(
        UserPoolId=pool, Username="newcomer", TemporaryPassword="Headcount-temp-1", MessageAction="SUPPRESS"
    )
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="newcomer", GroupName="viewer")
    # When they sign in with it
    page = open_page(user=None)
    fill_sign_in(page, "newcomer", "Headcount-temp-1")
    # Then they are asked for a password of their own, twice
    page.wait_for_selector("#new-password-step:not([hidden]) #new-password")
    assert page.is_hidden("#password-step")
    page.fill("#new-password", "Headcount-newcomer-1")
    page.fill("#new-password-again", "Headcount-newcomer-2")
    page.click("#sign-in-submit")
    assert "differ" in sign_in_error(page)
    page.screenshot(path=screenshots / "new-password.png")
    page.fill("#new-password", "Headcount-newcomer-1")
    page.fill("#new-password-again", "Headcount-newcomer-1")
    page.click("#sign-in-submit")
    # and with it they are in, and it is theirs from now on
    page.wait_for_selector("#sign-in", state="hidden")
    wait_drawn(page)
    assert page.inner_text("#who") == "newcomer"
    assert tokens_of(user_pool, "newcomer", "Headcount-newcomer-1")["AccessToken"]


def test_the_session_is_refreshed_before_its_access_token_expires(published_yesterday, user_pool, open_page):
    # Given the demo admin signed in, on a page whose clock the test moves
    page = open_page(user=None, clock=True)
    refreshes = []
    page.on("request", lambda r: refreshes.append(r) if "REFRESH_TOKEN_AUTH" in (r.post_data or "") else None)
    with page.expect_response(user_pool_answer(user_pool, "InitiateAuth", "USER_PASSWORD_AUTH")) as signed_in:
        sign_in(page, DEMO_USER)
    lifetime_s = signed_in.value.json()["AuthenticationResult"]["ExpiresIn"]
    wait_drawn(page)
    assert not refreshes
    # When 80 % of the access token's life has passed
    with page.expect_response(user_pool_answer(user_pool, "InitiateAuth", "REFRESH_TOKEN_AUTH")) as refreshed:
        page.clock.fast_forward(int(lifetime_s * 0.8 + 5) * 1000)
    # Then the page has refreshed the session with the user pool, once
    new_token = refreshed.value.json()["AuthenticationResult"]["AccessToken"]
    assert len(refreshes) == 1
    # and the API calls that follow carry the new access token
    with page.expect_request(lambda r: "/v1/metrics/" in r.url) as asked:
        page.click('[data-days="7"]')
    assert asked.value.headers["authorization"] == f"Bearer {new_token}"
    wait_drawn(page)


def user_pool_answer(user_pool, action: str, flow: str = ""):
    """A predicate of page.expect_response: the user pool's answer to the page's `action` (of AuthFlow `flow`)."""

    def matches(response) -> bool:
        request = response.request
        return (
            response.url.rstrip("/") == user_pool["cognitoEndpoint"].rstrip("/")
            and request.method == "POST"
            and request.headers.get("x-amz-target") == f"AWSCognitoIdentityProviderService.{action}"
            and flow in (request.post_data or "")
        )

    return matches


def test_a_zone_chosen_shows_that_zones_days_and_hours_and_is_remembered(
    published_yesterday, read, open_page, screenshots
):
    # Given the dashboard drawn in the API's zone (UTC)
    page = open_page()
    wait_drawn(page)
    assert page.inner_text("#zone-pick option:checked") == "the API's (UTC)"
    # When the analyst chooses Kolkata (+5:30)
    page.select_option("#zone-pick", "Asia/Kolkata")
    page.wait_for_function(
        """() => ["matches", "ads"].every((id) => {
            const chart = window.headcountDashboard.charts[id];
            return chart?.tz === "Asia/Kolkata" && document.querySelector(`[data-chart="${id}"]`).dataset.state !== "loading";
        })"""
    )
    # Then its charts are the API's answers in Kolkata: Kolkata's days, and its hours (+05:30)
    start, end = chosen_range(page)
    for chart, metric in (("matches", "matches_played"), ("ads", "ad_impressions")):
        _, rows = download_csv(page, chart)
        assert rows == csv_rows(read(f"/v1/metrics/{metric}?from={start}&to={end}&tz=Asia/Kolkata")["points"])
        assert rows and all(r["bucket"].endswith("+05:30") for r in rows if "T" in r["bucket"])
    # and today is Kolkata's, and the top bar says players are approximate there
    today = read("/v1/metrics/matches_played?from=today&tz=Asia/Kolkata")["points"][0]["bucket"]
    assert end == today
    assert page.inner_text("#zone") == "players approximate in Asia/Kolkata"
    # and new players and retention are drawn there too (estimated from the fold's quarter hours), not an error
    for card in ("new-players", "retention"):
        page.wait_for_function(
            "(id) => document.querySelector(`[data-chart='${id}']`).dataset.state !== 'loading'", arg=card
        )
        assert page.get_attribute(f'[data-chart="{card}"]', "data-state") == "ready", card
    page.screenshot(path=screenshots / "zone-kolkata.png", full_page=True)
    assert not page.script_errors
    # When the page is opened again and the same person signs in: still Kolkata
    page.reload()
    sign_in(page, DEMO_USER)
    page.wait_for_function("() => window.headcountDashboard.charts.ads?.tz === 'Asia/Kolkata'")
    assert page.input_value("#zone-pick") == "Asia/Kolkata"
