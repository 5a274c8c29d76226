"""Dashboard benchmark: `make bench-dashboard` (or `.venv/bin/python -u -m bench.dashboard [--loads N]`).

How fast the analysts' dashboard is as a person meets it, on the local stack: the page opened after a quiet moment,
and its API requests as the page sends them. Starts the local stack (4 shards) on ports of its own, folds a simulated
game for yesterday and today and publishes the days before today in the batch view as the nightly job does
(`--published-days`, default 400: bench/api.py's `prefill`), then, for each range (`--ranges`, default 31 and 400
days, set through the page's link fragment `#from=…&to=…`):

1. **The page** (Debian's Chromium, driven by Playwright): `--loads` times, after `--quiet-s` of quiet, a new browser
   profile opens the dashboard, signs in (scripted) and waits for the page's own performance mark `headcount:drawn`
   (headcount/dashboard/app.js: every tile, chart and the retention triangle drawn). Reported: navigation to drawn,
   reading (the first request after signing in) to drawn, and the slowest of its API calls (Resource Timing).
   Baseline, in the same run: the same loads with every API answer replayed from memory (what the page itself costs:
   parsing, drawing), so `ratio` is what waiting for the API adds. Target: what a person waits, p75 <= 1.2 s: from
   navigation to the sign-in form, then from sending it to drawn (the typing between is theirs).
2. **The API as the page meets it**: the page's requests (recorded from a load) sent again through the local API
   gateway, each of the page's waves at once (the catalog, today's tiles, then the range's dozen), `--bursts` times
   after `--quiet-s` of quiet (every read the function shares has expired: `burst`), and as many times back to back
   (`steady`: the function's shared reads are fresh and read ahead). Targets: a burst's p99 <= 50 ms for a route of up
   to 31 days, <= 100 ms beyond; steady p99 <= 25 ms. Two floors, in the same run: the same bursts to a function that
   answers at once (`floor`: the gateway, its checks and two instances), and to one that makes only the reads the real
   one makes for each request that moments share (`Reads.read`, `Reads.publications`; a finished day's sketches are
   kept by a warm function, so not made again), through the same shared moments (`reads`: the gateway's floor and
   those reads after quiet, without merging or rendering).

`--tiny`: one load and a few bursts over 31 days and 3 published days, that it runs (the tests': tests/bench).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench.api import p, prefill
from bench.local_stack import stack_config
from headcount.local.access import DEMO_PASSWORD, DEMO_USER

PORTS = {"moto_port": 25566, "kinesis_port": 25567, "api_port": 25080}  # bench/local_stack.py: HEADCOUNT_* replace them
COMMAND = "make bench-dashboard  # = .venv/bin/python -u -m bench.dashboard"
CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it)
PAGE_TARGET_MS = 1200.0  # navigation to drawn, p75
BURST_TARGETS_MS = {31: 50.0, 400: 100.0}  # a burst's p99, by the days the route asks for (up to 31; beyond)
STEADY_TARGET_MS = 25.0
EVERY = "every request"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=20, help="page loads per range (and as many replayed)")
    parser.add_argument("--bursts", type=int, default=30, help="the page's requests sent again, per range and mode")
    parser.add_argument("--quiet-s", type=float, default=2.0, help="seconds of quiet before each load and burst")
    parser.add_argument("--events", type=int, default=40_000, help="simulated events for yesterday and today")
    parser.add_argument("--published-days", type=int, default=400, help="days before today in the batch view")
    parser.add_argument("--ranges", default="31,400", help="days of the page's range, comma-separated")
    parser.add_argument("--tiny", action="store_true", help="that it runs (the tests'): 1 load, 3 bursts, 31 days")
    args = parser.parse_args()
    if args.tiny:
        args.loads, args.bursts, args.events, args.published_days, args.ranges = 1, 3, 2_000, 3, "31"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on the way out, as Ctrl-C does
    reproduce = (
        f"{COMMAND} --loads {args.loads} --bursts {args.bursts} --quiet-s {args.quiet_s:g} --events {args.events} "
        f"--published-days {args.published_days} --ranges {args.ranges}"
    )
    print(f"reproduce with: {reproduce}", flush=True)
    with stack_config("headcount-bench-dashboard-", **PORTS) as config:
        failed = measure(args, config, [int(days) for days in args.ranges.split(",")])
    print(f"\n{failed} target(s) missed.\nreproduce with: {reproduce}")


def measure(args: argparse.Namespace, config, ranges: list[int]) -> int:  # noqa: ANN001 - LocalConfig
    from playwright.sync_api import sync_playwright

    from headcount.core.buckets import day_bounds_ms, local_date
    from headcount.local.gateway import LocalApiGateway
    from headcount.local.shards import wait_caught_up
    from headcount.local.simulator import simulate
    from headcount.local.stack import LocalStack
    from headcount.local.workers import WorkerSettings
    from headcount.views.aws import client
    from headcount.views.catalog_file import load_catalog
    from headcount.views.stream import Producer, send

    env = {"HEADCOUNT_TZ": "UTC", "HEADCOUNT_BATCH_AT": "off", "POWERTOOLS_METRICS_DISABLED": "true"}
    os.environ.update(env)
    failed = 0
    with LocalStack(WorkerSettings(config, environment=env)) as stack, sync_playwright() as playwright:
        base = stack.endpoints()["api"].rstrip("/")
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        today = local_date(now_ms, "UTC")
        start_ms, _ = day_bounds_ms(today - timedelta(days=1), "UTC")
        producer = Producer(client("kinesis"))
        send(simulate(load_catalog(), "UTC", start_ms, now_ms, args.events, seed=3).records, producer)
        wait_caught_up(config, producer.last_sequence, "fold", timeout=600)
        started = time.monotonic()
        written = prefill(now, args.published_days)
        print(
            f"{args.events:,} events folded; {args.published_days} day(s) before today published ({written:,} items, "
            f"{time.monotonic() - started:.0f} s); the API at {base}, 4 shards",
            flush=True,
        )
        with ExitStack() as running:  # whatever started is stopped, in reverse, however the run ends
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            running.callback(chromium.close)
            # Two floors: the same gateway, its checks and two function instances, with a function that answers at
            # once; and with one that makes only the reads the real one makes for each request
            recordings = tempfile.mkdtemp(prefix="reads-floor-", dir=config.state_dir)
            floors = [
                LocalApiGateway(
                    f"{__name__}.{function}",
                    0,
                    str(config.log_dir / f"{function}.log"),
                    environment,
                    access_checks=stack.gateway.access_checks,
                )
                for function, environment in (
                    ("answer_at_once", {}),
                    ("reads_only", {**stack.gateway.environment, "HEADCOUNT_BENCH_READS": recordings}),
                )
            ]
            for gateway in floors:  # on free ports
                gateway.start()
                running.callback(gateway.stop)
            floor_base, reads_base = (gateway.url for gateway in floors)
            for days in ranges:
                first = today - timedelta(days=days - 1)
                url = f"{base}/#from={first}&to={today}"
                print(f"\n== the last {days} days: {url}", flush=True)
                recorded = load(chromium, url)  # a first load: the function's first requests, and the page's calls
                answers = {call["url"]: call["body"] for call in recorded["calls"]}
                waves, auth = page_waves(recorded["calls"])
                # every function instance started (a deployed one is warm too); the reads' floor records each request's
                # reads at its first, and meets them all again
                for warmed in (base, floor_base, reads_base, reads_base):
                    send_waves(warmed, waves, auth)
                loads = [quiet(args.quiet_s, load, chromium, url) for _ in range(args.loads)]
                replays = [quiet(args.quiet_s, load, chromium, url, answers) for _ in range(args.loads)]
                failed += report_page(loads, replays)
                bursts = [quiet(args.quiet_s, send_waves, base, waves, auth) for _ in range(args.bursts)]
                steady = [send_waves(base, waves, auth) for _ in range(args.bursts)]
                floor = [quiet(args.quiet_s, send_waves, floor_base, waves, auth) for _ in range(args.bursts)]
                reads = [quiet(args.quiet_s, send_waves, reads_base, waves, auth) for _ in range(args.bursts)]
                runs = {"burst": bursts, "steady": steady, "floor": floor, "reads": reads}
                failed += report_api(waves, runs, days, first, today)
    return failed


def answer_at_once(event: dict, context: object) -> dict:
    """The floor's function: an answer without any work."""
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


def reads_only(event: dict, context: object) -> dict:
    """The reads' floor function: the first time any instance meets a request (the warm-up), the real serve function
    answers it while its reads (`Reads.read`, `Reads.publications`) are recorded, in a file that every instance reads
    (`HEADCOUNT_BENCH_READS`: a folder); each time after, only those reads are made again, as of now, through the
    instance's own shared moments, and the answer is `{}`: what the reads cost, without merging or rendering. The
    recorded days are dates: a run that crosses midnight makes the reads of the day before's `today`."""
    from headcount.functions.serve.handler import handler
    from headcount.functions.serve.runtime import runtime

    from headcount.logic.reads import Reads

    query = sorted((event.get("queryStringParameters") or {}).items())
    recording = (
        Path(os.environ["HEADCOUNT_BENCH_READS"]) / hashlib.sha256(f"{event['path']}?{query}".encode()).hexdigest()
    )
    reads = runtime().service.reads
    if not recording.exists():
        calls: list[list] = []
        read, publications = Reads.read, Reads.publications

        def recorded(method):  # noqa: ANN001, ANN202
            def call(self: Reads, metric, first, last, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                if self is not reads:
                    raise RuntimeError("the reads' floor replays the deployment zone's reads only")
                settled = kwargs.get("settled_after_ms", args[1] if len(args) > 1 else None)
                calls.append([method.__name__, metric.name, first.isoformat(), last.isoformat(), settled])
                return method(self, metric, first, last, *args, **kwargs)

            return call

        Reads.read, Reads.publications = recorded(read), recorded(publications)
        try:
            answer = handler(event, context)
        finally:
            Reads.read, Reads.publications = read, publications
        if answer["statusCode"] == 200:  # a failed answer's reads are not the request's: recorded at its next meeting
            written = recording.with_suffix(f".{os.getpid()}")
            written.write_text(json.dumps(calls))
            os.replace(written, recording)  # whole, at once: another instance may read it now
        return answer
    now_ms = int(time.time() * 1000)  # as the request's own would be
    for method, name, first, last, settled in json.loads(recording.read_text()):
        metric, first, last = reads.catalog.get(name), date.fromisoformat(first), date.fromisoformat(last)
        if method == "read":
            reads.read(metric, first, last, now_ms, settled)
        else:
            reads.publications(metric, first, last)
    return answer_at_once(event, context)


def quiet(seconds: float, work, *args):  # noqa: ANN001, ANN002, ANN201
    """`work(*args)` after `seconds` of quiet."""
    time.sleep(seconds)
    return work(*args)


def load(chromium, url: str, answers: dict[str, bytes] | None = None) -> dict:  # noqa: ANN001 - a Browser
    """One visit in a new browser profile: open, sign in, wait for the page's `headcount:drawn`. With `answers`, every
    API call is answered from them (the page alone). Its marks (ms since navigation) and its API calls."""
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    try:
        calls: list[dict] = []
        if answers is not None:
            context.route(
                lambda u: urlsplit(u).path.startswith("/v1/"),
                lambda route: (
                    route.fulfill(status=200, content_type="application/json", body=answers[route.request.url])
                    if route.request.url in answers
                    else route.continue_()
                ),
            )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        if answers is None:
            page.on("requestfinished", lambda r: _note_call(r, calls))
        page.goto(url)
        page.wait_for_selector("#sign-in[open] #user-name")
        page.fill("#user-name", DEMO_USER)
        page.fill("#password", DEMO_PASSWORD)
        page.click("#sign-in-submit")
        page.wait_for_function("() => performance.getEntriesByName('headcount:drawn').length > 0", timeout=120_000)
        if errors:
            raise RuntimeError(f"the page failed: {errors}")
        marks = page.evaluate(
            """() => {
              const at = (name) => performance.getEntriesByName(name).at(-1).startTime;
              const [asked, signing, reading, drawn] = ['headcount:asked-to-sign-in', 'headcount:signing-in',
                                                       'headcount:reading', 'headcount:drawn'].map(at);
              const api = performance.getEntriesByType('resource')
                .filter((e) => /\\/v1\\/(metrics|retention)/.test(e.name) && e.startTime >= reading);
              return {ready: asked, signed_in_to_drawn: drawn - signing, reading_to_drawn: drawn - reading,
                      waited: asked + drawn - signing, api_calls: api.length,
                      slowest: Math.max(...api.map((e) => e.duration))};
            }"""
        )
        states = page.eval_on_selector_all("[data-chart]", "cards => cards.map((c) => c.dataset.state)")
        if any(s not in ("ready", "empty") for s in states):
            raise RuntimeError(f"a chart was not drawn: {states}")
        return {**marks, "calls": calls}
    finally:
        context.close()


def _note_call(request, calls: list[dict]) -> None:  # noqa: ANN001 - a Playwright Request
    if request.method == "GET" and urlsplit(request.url).path.startswith("/v1/"):
        response = request.response()
        auth = request.headers.get("authorization")
        timing = request.timing  # ms: startTime since the epoch, the others since startTime
        end = timing["startTime"] + timing["responseEnd"]
        calls.append(
            {"url": request.url, "body": response.body(), "start": timing["startTime"], "end": end, "auth": auth}
        )


def report_page(loads: list[dict], replays: list[dict]) -> int:
    def row(label: str, key: str, target: float | None = None) -> int:
        values, baseline = [x[key] for x in loads], [x[key] for x in replays]
        p50, p75 = statistics.median(values), p(values, 75)
        verdict = "" if target is None else f"  p75 <= {target:.0f}: " + ("ok" if p75 <= target else "MISSED")
        print(
            f"  {label:<52} {p50:>7.0f} {p75:>7.0f} {max(values):>7.0f} {statistics.median(baseline):>9.0f} "
            f"{p50 / statistics.median(baseline):>6.1f}{verdict}"
        )
        return int(target is not None and p75 > target)

    print(
        f"  the page, {len(loads)} loads after quiet (ms)               {'p50':>7} {'p75':>7} {'max':>7} "
        f"{'from mem':>9} {'ratio':>6}"
    )
    row("navigation to the sign-in form", "ready")
    row("signing in (sent) to drawn", "signed_in_to_drawn")
    row("  of which reading (the catalog on) to drawn", "reading_to_drawn")
    row("  the slowest of its API calls", "slowest")
    missed = row("waited: to the form, then from sending it to drawn", "waited", PAGE_TARGET_MS)
    print(
        f"  ({loads[0]['api_calls']} API calls a load after signing in; from mem: p50 with every API answer replayed "
        "from memory, the page's own part; ratio: p50 over it)"
    )
    return missed


def page_waves(calls: list[dict]) -> tuple[list[list[str]], str]:
    """The page's signed-in reads in the waves it sends them (a wave: the calls that start before any of them has
    answered: the page sends the next after an answer), and the signed-in person's Authorization header."""
    waves: list[list[str]] = []
    answered = float("-inf")  # the earliest answer of the current wave
    for call in sorted((c for c in calls if c["auth"]), key=lambda c: c["start"]):
        split = urlsplit(call["url"])
        path = f"{split.path}?{split.query}" if split.query else split.path
        if not waves or call["start"] >= answered:
            waves.append([])
            answered = float("inf")
        waves[-1].append(path)
        answered = min(answered, call["end"])
    return waves, next(c["auth"] for c in calls if c["auth"])


def send_waves(base: str, waves: list[list[str]], auth: str) -> list[tuple[str, float]]:
    """Each wave's requests at once, the next wave when the last answered; each request's path and time in ms."""
    headers = {"Authorization": auth}
    times: list[tuple[str, float]] = []

    def get(path: str) -> tuple[str, float]:
        started = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=60) as answer:  # noqa: S310
            json.loads(answer.read())
        return path, (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(max(len(w) for w in waves)) as pool:
        for wave in waves:
            times += pool.map(get, wave)
    return times


def route_days(path: str, today: date) -> int:
    """The days a request asks for (its from and to: dates, today or yesterday; none: today)."""
    query = parse_qs(urlsplit(path).query)
    named = {"today": today, "yesterday": today - timedelta(days=1)}

    def day(name: str) -> date:
        value = query.get(name, ["today"])[0]
        return named[value] if value in named else date.fromisoformat(value)

    return (day("to") - day("from")).days + 1


def report_api(waves: list[list[str]], runs: dict[str, list[list]], days: int, first: date, today: date) -> int:
    """Each request's p50 and p99 after quiet (burst), back to back (steady), and against the floor's function; the
    burst target by the days each asks for."""
    at_once = ", ".join(str(len(w)) for w in waves)
    print(
        f"\n  the API: the page's {sum(map(len, waves))} requests in {len(waves)} waves ({at_once} at once), "
        f"{len(runs['burst'])} times each way (ms)"
    )
    print(
        f"  {'':<72} {'burst p50':>9} {'p99':>6} {'steady p50':>10} {'p99':>6} {'floor p50':>9} {'p99':>6} "
        f"{'reads p50':>9} {'p99':>6}"
    )
    missed = 0
    for path in [*dict.fromkeys(path for wave in waves for path in wave), EVERY]:
        times = {mode: [t for run in done for q, t in run if path in (q, EVERY)] for mode, done in runs.items()}
        figures = " ".join(
            f"{statistics.median(times[mode]):>{width}.1f} {p(times[mode], 99):>6.1f}"
            for mode, width in (("burst", 9), ("steady", 10), ("floor", 9), ("reads", 9))
        )
        verdict = ""
        if path != EVERY:
            target = BURST_TARGETS_MS[31] if route_days(path, today) <= 31 else BURST_TARGETS_MS[400]
            burst_ok, steady_ok = p(times["burst"], 99) <= target, p(times["steady"], 99) <= STEADY_TARGET_MS
            missed += (not burst_ok) + (not steady_ok)
            verdict = (
                f"  burst <= {target:.0f}: {'ok' if burst_ok else 'MISSED'}, steady: {'ok' if steady_ok else 'MISSED'}"
            )
        print(f"  {path.replace(str(first), f'<{days} days ago>'):<72} {figures}{verdict}")
    print(
        f"  (targets: a burst's p99 <= {BURST_TARGETS_MS[31]:.0f} ms for up to 31 days, <= {BURST_TARGETS_MS[400]:.0f} "
        f"ms beyond; steady p99 <= {STEADY_TARGET_MS:.0f} ms. floor: the same requests after quiet through the same "
        "gateway, its checks and two function instances, to a function that answers at once: what they cost on this "
        "machine before any work; reads: the same after quiet to a function that makes only the shared reads the real "
        "one makes for each request, through the same shared moments, and answers at once: the gateway's floor and the "
        "local views' after quiet)"
    )
    return missed


if __name__ == "__main__":
    main()
