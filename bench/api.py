"""API benchmark: `make bench-api` (or `.venv/bin/python -m bench.api [--requests N]`).

Starts the local stack (4 shards) on ports of its own, folds a simulated game for yesterday and today (the real-time
view), and publishes the days before today in the batch view (`--published-days`, default 3: what the nightly job
publishes, yesterday and its 2 days back; 399 for the API's longest range), written as a run writes them: rows, a
distinct metric's union row, the publication; the KPIs' too (rolling windows, new players with their Theta sketches,
retention cells). Then, through the local API gateway, measures p50/p99 of each GET route over 31, 365 and 400 days
(`--ranges`), grouped and ungrouped, and of `POST /v1/events` with 500 events, next to bare DynamoDB calls of the same
items in the same run: the Query of the range's publications, and the Query of today's real-time items of the metric.
Targets on this machine: p99 <= 50 ms for every 31-day GET, <= 200 ms for 365 and 400 days. In another zone too:
`--zone` (Asia/Kolkata, answered from the sub-day twins; its new players and retention from the fold's quarter-hour
Theta twin, which holds yesterday and today here, a deployment's 35 days) and `--extra-zone` (Asia/Tokyo, a zone the nightly job computes
exactly: the stack's HEADCOUNT_EXTRA_ZONES, its copies of the metrics published as the job publishes them);
`--zones-only` measures only their lines.

The local stack's moto reads only the partition a Query asks for, as DynamoDB does (headcount/local/moto_server.py:
moto's own sorts the whole table for every Query). Requests share the function's reads for a second
(`--realtime-max-age`) and the next second's are read ahead, so under this steady traffic a route's time is the
function's own work and the transfer: the ratio to the bare Queries says what sharing saves. Each line's p99 is of 200 requests (`--requests`), each bare figure the
median of 30 calls (`--bare-requests`). `--tiny`: a few requests over 31 days, that it runs (the tests': tests/bench).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

from bench.local_stack import stack_config
from headcount.core.buckets import buckets_of_day
from headcount.core.catalog import Granularity, in_zone_name
from headcount.local.access import DEMO_KEY, tools_headers

PORTS = {"moto_port": 23566, "kinesis_port": 23567, "api_port": 23080}  # bench/local_stack.py: HEADCOUNT_* replace them
COMMAND = "make bench-api  # = .venv/bin/python -m bench.api"
COUNTRIES = [f"C{i:02d}" for i in range(30)]


def timed(work, n: int) -> list[float]:  # noqa: ANN001
    times = []
    for _ in range(n):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[int(q) - 1] if len(times) > 1 else times[0]


def call(port: int, path: str, body: bytes | None = None) -> dict:
    base = f"http://127.0.0.1:{port}"
    headers = {"x-api-key": DEMO_KEY} if body is not None else tools_headers(base)  # a game's key; a tool's token
    request = urllib.request.Request(f"{base}{path}", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - 127.0.0.1
        return json.loads(response.read())


def prefill(today: datetime, days: int, zone: str | None = None, extra_zone: str | None = None) -> int:
    """Publish `days` days before today as the nightly job would, written in bulk: rows, union rows, publications;
    with `zone`, also the sub-day twins (quarter hours) of the metrics the zone lines ask for; with `extra_zone`, the
    copies of the metrics the job computes in it (`<name>@<zone>`, the same rows)."""
    from headcount import names
    from headcount.core import sketches
    from headcount.logic.zones import day_edges
    from headcount.views.batch import BatchRow, DynamoBatchView

    view = DynamoBatchView(names.BATCH_TABLE)
    players = sketches.new_sketch(14)
    sketches.update_all(players, (f"p-{i}" for i in range(20_000)))
    country = sketches.new_sketch(12)
    sketches.update_all(country, (f"p-{i}" for i in range(700)))
    players_b, country_b = sketches.encode(players), sketches.encode(country)
    cohort_b = sketches.theta_of_values((f"p-{i}" for i in range(2_000)), 12)
    # a quarter hour's 1,500 players, each quarter's 200 on from the last one's: the day's 20,000 players over its 96
    quarter_b = [sketches.of_values((f"p-{(q * 200 + i) % 20_000}" for i in range(1_500)), 14) for q in range(100)]
    seen_b = sketches.theta_of_values((f"p-{i}" for i in range(200_000)), 12)
    items: list[dict] = []
    for n in range(1, days + 1):
        day = (today - timedelta(days=n)).date().isoformat()
        run = f"bench-{day}"
        rows = {
            "active_players": [BatchRow("active_players", day, day, "", 20_000, players_b)],
            "active_players_by_country": [
                BatchRow("active_players_by_country", day, day, c, 700, country_b) for c in COUNTRIES
            ],
            "matches_played": [BatchRow("matches_played", day, day, "", 41_000, None)],
            "ad_impressions": [
                BatchRow("ad_impressions", day, f"{day}T{h:02d}:00+00:00", "", 900 + h, None) for h in range(24)
            ],
            "weekly_active_players": [BatchRow("weekly_active_players", day, day, "", 90_000, None)],
            "monthly_active_players": [BatchRow("monthly_active_players", day, day, "", 260_000, None)],
            "new_players": [BatchRow("new_players", day, day, "", 2_000, cohort_b)],
            "retention": [BatchRow("retention", day, f"{day}+{k}", "", 600 // k, None) for k in (1, 7, 30) if k < n],
        }
        if zone:  # the twins of active_players, matches_played and ad_impressions (not the by-country one: 30x more)
            quarters = buckets_of_day(date.fromisoformat(day), Granularity.QUARTER, "UTC")
            rows["active_players~quarter"] = [
                BatchRow("active_players~quarter", day, q, "", 1_500, quarter_b[i]) for i, q in enumerate(quarters)
            ]
            for metric, value in (("matches_played~quarter", 430), ("ad_impressions~quarter", 240)):
                rows[metric] = [BatchRow(metric, day, q, "", value, None) for q in quarters]
        if extra_zone:  # the same rows as the zone's copies (hourly buckets in its offset, as the job writes them)
            copies = {in_zone_name(m, extra_zone): r for m, r in rows.items() if "~" not in m}
            copies[in_zone_name("ad_impressions", extra_zone)] = [
                BatchRow("ad_impressions", day, b, "", 900, None)
                for b in buckets_of_day(date.fromisoformat(day), Granularity.HOUR, extra_zone)
            ]
            rows |= copies
        for metric, metric_rows in rows.items():
            union = seen_b if metric.startswith("new_players") else None
            edges = (
                day_edges(metric_rows, date.fromisoformat(day), "UTC", 14)
                if metric == "active_players~quarter"
                else None
            )
            run_items, publication = view.run_items(metric, day, metric_rows, run, union, edges)
            items += [*run_items, publication]
    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda chunk: view._batch_write([{"PutRequest": {"Item": i}} for i in chunk]), chunks))  # noqa: SLF001
    for metric in {item["pk"]["S"] for item in items if "cells" in item}:  # the publications: readers read them again
        view.mark_published(metric)
    return len(items)


TWIN_DAYS = 35  # the real-time layer's retention (ttl_days): the days a zone's new players and retention read


def prefill_realtime_twin(today: date, days_back: int = TWIN_DAYS, players_per_quarter: int = 900) -> int:
    """The new metric's quarter-hour twin in the real-time view over the retention's days before yesterday (yesterday
    and today are the simulated game's), as the fold leaves them: each shard's Theta sketch of its share of each quarter
    hour's players, a third of them new that day; the days in the shards' statuses. What a zone's new players and
    retention read in a deployment."""
    from headcount import names
    from headcount.core import sketches
    from headcount.views.realtime import DynamoRealtimeStore, ItemKey, RealtimeItem

    store = DynamoRealtimeStore(names.REALTIME_TABLE)
    shards = [s.shard_id for s in store.shard_statuses()]
    per_shard = players_per_quarter // len(shards)
    days = [today - timedelta(days=n) for n in range(2, days_back)]
    expires = int(time.time()) + 86_400 * 36
    items = []
    for n, day in enumerate(days):
        for q, bucket in enumerate(buckets_of_day(day, Granularity.QUARTER, "UTC")):
            for s, shard in enumerate(shards):
                ids = [
                    f"p-{(q * 300 + s * per_shard + i) % 20_000 if i % 3 else f'{n}-{q}-{s}-{i}'}"
                    for i in range(per_shard)
                ]
                sketch = sketches.theta_of_values(ids, 12)
                items.append(RealtimeItem(ItemKey("new_players~quarter", bucket, "", shard), 1, sketch=sketch))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda item: store.write(item, None, expires), items))
    for shard in shards:
        store.add_days(shard, {d.isoformat() for d in days}, set())
    return len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--requests", type=int, default=200, help="requests per route and range (p99 of 200: not one outlier)"
    )
    parser.add_argument("--bare-requests", type=int, default=30, help="bare calls per median")
    parser.add_argument("--events", type=int, default=40_000, help="simulated events for yesterday and today")
    parser.add_argument(
        "--realtime-max-age",
        type=float,
        default=1.0,
        help="seconds requests share the real-time reads (HEADCOUNT_REALTIME_MAX_AGE_S; 0: every request reads)",
    )
    parser.add_argument(
        "--published-days", type=int, default=3, help="days before today in the batch view (the nightly job: 3)"
    )
    parser.add_argument(
        "--ranges",
        default="31,365,400",
        help="days of each route's range, comma-separated (400: the API's longest); target p99 50 ms for up to 31 days, "
        "200 ms beyond",
    )
    parser.add_argument(
        "--zone",
        default="Asia/Kolkata",
        help="the zone of the tz= lines (default Asia/Kolkata: +5:30, from the sub-day twins; '' for none)",
    )
    parser.add_argument(
        "--extra-zone",
        default="Asia/Tokyo",
        help="a zone the nightly job computes exactly (HEADCOUNT_EXTRA_ZONES; its lines read its copies; '' for none)",
    )
    parser.add_argument("--zones-only", action="store_true", help="only the lines of --zone and --extra-zone")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="that it runs, in a minute (the tests'): --requests 5 --bare-requests 3 --events 2000 --ranges 31",
    )
    args = parser.parse_args()
    if args.tiny:
        args.requests, args.bare_requests, args.events, args.ranges = 5, 3, 2_000, "31"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on the way out, as Ctrl-C does
    ranges = [int(days) for days in args.ranges.split(",")]

    reproduce = (
        f"{COMMAND} --requests {args.requests} --bare-requests {args.bare_requests} --events {args.events} "
        f"--published-days {args.published_days} --zone '{args.zone}' --extra-zone '{args.extra_zone}' "
        + ("--zones-only " if args.zones_only else "")
        + f"--realtime-max-age {args.realtime_max_age:g} --ranges {args.ranges}"
    )
    print(f"reproduce with: {reproduce}", flush=True)
    with stack_config("headcount-bench-api-", **PORTS) as config:
        measure(args, config, ranges, reproduce)


def measure(args: argparse.Namespace, config, ranges: list[int], reproduce: str) -> None:  # noqa: ANN001 - LocalConfig
    from headcount import names
    from headcount.core.buckets import day_bounds_ms, local_date
    from headcount.local.shards import wait_caught_up
    from headcount.local.simulator import simulate
    from headcount.local.stack import LocalStack
    from headcount.local.workers import WorkerSettings
    from headcount.views.aws import client
    from headcount.views.catalog_file import load_catalog
    from headcount.views.stream import Producer, send

    env = {
        "HEADCOUNT_TZ": "UTC",
        "HEADCOUNT_BATCH_AT": "off",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "HEADCOUNT_REALTIME_MAX_AGE_S": str(args.realtime_max_age),
        "HEADCOUNT_EXTRA_ZONES": args.extra_zone,
    }
    os.environ.update(env)
    with LocalStack(WorkerSettings(config, environment=env)) as stack:
        port = config.api_port
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        today = local_date(now_ms, "UTC")
        start_ms, _ = day_bounds_ms(today - timedelta(days=1), "UTC")
        sim = simulate(load_catalog(), "UTC", start_ms, now_ms, args.events, seed=3)
        producer = Producer(client("kinesis"))
        send(sim.records, producer)
        wait_caught_up(config, producer.last_sequence, "fold", timeout=600)
        started = time.monotonic()
        written = prefill(now, args.published_days, args.zone or None, args.extra_zone or None)
        print(
            f"published {args.published_days} day(s) before today ({written:,} items) in "
            f"{time.monotonic() - started:.0f} s",
            flush=True,
        )
        if args.zone:  # tiny: one day before yesterday
            started, twin_days = time.monotonic(), 3 if args.tiny else TWIN_DAYS
            twin_items = prefill_realtime_twin(today, twin_days)
            print(
                f"the real-time view: {twin_items:,} items of new_players~quarter over {twin_days - 2} days before "
                f"yesterday in {time.monotonic() - started:.0f} s",
                flush=True,
            )
        print(
            f"stack: {stack.endpoints()['api']}, 4 shards; {args.requests} requests per line, one after another "
            f"(bare: median of {args.bare_requests}); "
            f"requests share their reads for {args.realtime_max_age:g} s, the next ones read ahead\n",
            flush=True,
        )

        ddb = client("dynamodb")
        lines: list[tuple[str, list[float], float, float | None]] = []  # label, times, bare p50, target

        def bare_publications(metric: str, days: int) -> list[float]:
            first = (today - timedelta(days=days - 1)).isoformat()

            def query() -> None:
                pages = ddb.get_paginator("query").paginate(
                    TableName=names.BATCH_TABLE,
                    KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                    ExpressionAttributeValues={":pk": {"S": metric}, ":a": {"S": first}, ":b": {"S": str(today)}},
                )
                sum(len(page["Items"]) for page in pages)

            return timed(query, args.bare_requests)

        bare_today = {
            metric: timed(
                lambda m=metric: ddb.query(
                    TableName=names.REALTIME_TABLE,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"{m}#{today}"}},
                ),
                args.bare_requests,
            )
            for metric in (
                "active_players",
                "active_players_by_country",
                "matches_played",
                "ad_impressions",
                "new_players",
                *(
                    (
                        "active_players~quarter",
                        "matches_played~quarter",
                        "ad_impressions~quarter",
                        "new_players~quarter",
                    )
                    if args.zone
                    else ()
                ),
            )
        }
        # The KPIs read their base metric's (rolling, stickiness) or their own (new players, retention) items
        if args.extra_zone:  # the copies have no real-time items: the bare read is the Query that finds none
            bare_today[in_zone_name("active_players", args.extra_zone)] = bare_today["active_players"]
            bare_today[in_zone_name("new_players", args.extra_zone)] = bare_today["new_players"]
        bare_today |= {
            "weekly_active_players": bare_today["active_players"],
            "monthly_active_players": bare_today["active_players"],
            "stickiness": bare_today["active_players"],
            "retention": bare_today["new_players"],
        }
        for days in ranges:
            first = today - timedelta(days=days - 1)
            target = 50.0 if days <= 31 else 200.0
            routes = (
                []
                if args.zones_only
                else [
                    ("active_players", f"/v1/metrics/active_players?from={first}&to=today"),
                    ("active_players_by_country", f"/v1/metrics/active_players_by_country?from={first}&to=today"),
                    (
                        "active_players_by_country",
                        f"/v1/metrics/active_players_by_country?from={first}&to=today&group=C07",
                    ),
                    ("matches_played", f"/v1/metrics/matches_played?from={first}&to=today"),
                    ("ad_impressions", f"/v1/metrics/ad_impressions?from={first}&to=today"),
                    ("active_players", f"/v1/metrics/active_players/distinct?from={first}&to=today"),
                    (
                        "active_players_by_country",
                        f"/v1/metrics/active_players_by_country/distinct?from={first}&to=today",
                    ),
                    (
                        "active_players_by_country",
                        f"/v1/metrics/active_players_by_country/distinct?from={first}&to=today&group=C07",
                    ),
                    ("weekly_active_players", f"/v1/metrics/weekly_active_players?from={first}&to=today"),
                    ("monthly_active_players", f"/v1/metrics/monthly_active_players?from={first}&to=today"),
                    ("stickiness", f"/v1/metrics/stickiness?from={first}&to=today"),
                    ("new_players", f"/v1/metrics/new_players?from={first}&to=today"),
                    ("retention", f"/v1/retention/retention?from={first}&to=today"),
                ]
            )
            if args.zone:  # another zone: its days from the sub-day twins (the bare figures: the twins' reads)
                tz = f"&tz={args.zone}"
                zfirst = local_date(now_ms, args.zone) - timedelta(days=days - 1)  # its today may be UTC's tomorrow
                routes += [
                    ("active_players~quarter", f"/v1/metrics/active_players?from={zfirst}&to=today{tz}"),
                    ("active_players~quarter", f"/v1/metrics/active_players/distinct?from={zfirst}&to=today{tz}"),
                    ("matches_played~quarter", f"/v1/metrics/matches_played?from={zfirst}&to=today{tz}"),
                    ("ad_impressions~quarter", f"/v1/metrics/ad_impressions?from={zfirst}&to=today{tz}"),
                    ("active_players~quarter", f"/v1/metrics/weekly_active_players?from={zfirst}&to=today{tz}"),
                    ("active_players~quarter", f"/v1/metrics/stickiness?from={zfirst}&to=today{tz}"),
                    ("new_players~quarter", f"/v1/metrics/new_players?from={zfirst}&to=today{tz}"),
                    ("new_players~quarter", f"/v1/retention/retention?from={zfirst}&to=today{tz}"),
                ]
            if args.extra_zone:  # a zone the job computes: its copies' publications, exact
                tz = f"&tz={args.extra_zone}"
                xfirst = local_date(now_ms, args.extra_zone) - timedelta(days=days - 1)
                active, new = (in_zone_name(m, args.extra_zone) for m in ("active_players", "new_players"))
                routes += [
                    (active, f"/v1/metrics/active_players?from={xfirst}&to=today{tz}"),
                    (active, f"/v1/metrics/active_players/distinct?from={xfirst}&to=yesterday{tz}"),
                    (active, f"/v1/metrics/stickiness?from={xfirst}&to=today{tz}"),
                    (new, f"/v1/metrics/new_players?from={xfirst}&to=today{tz}"),
                    (new, f"/v1/retention/retention?from={xfirst}&to=today{tz}"),
                ]
            for metric, path in routes:
                bare = statistics.median(bare_publications(metric, days)) + statistics.median(bare_today[metric])
                first_ms = timed(lambda path=path: call(port, path), 1)[0]  # the function's first request of this route
                times = timed(lambda path=path: call(port, path), args.requests)
                label = path.replace(str(first), f"<{days} days ago>")
                if args.zone:
                    label = label.replace(str(zfirst), f"<{days} days ago>")
                if args.extra_zone:
                    label = label.replace(str(xfirst), f"<{days} days ago>")
                lines.append(
                    (
                        f"GET {label} (first {first_ms:.0f} ms)",
                        times,
                        bare,
                        target,
                    )
                )
        events = [
            {"type": "match_end", "player_id": f"bench-{i}", "ts": now_ms, "event_id": f"bench-{i}"} for i in range(500)
        ]
        body = json.dumps({"events": events}).encode()
        post = timed(lambda: call(port, "/v1/events", body), max(10, args.requests // 3))
        bare_put = timed(
            lambda: client("kinesis").put_records(
                StreamName=names.STREAM,
                Records=[{"Data": json.dumps(e).encode() + b"\n", "PartitionKey": e["player_id"]} for e in events],
            ),
            max(10, args.requests // 3),
        )
        lines.append(
            ("POST /v1/events (500 events; bare: one PutRecords of them)", post, statistics.median(bare_put), None)
        )

        print(f"{'route':<104} {'p50 ms':>7} {'p99 ms':>7} {'bare ms':>8} {'ratio':>6}  target")
        failed = 0
        for label, times, bare, target in lines:
            p50, p99 = statistics.median(times), p(times, 99)
            verdict = "" if target is None else (f"p99 <= {target:.0f}: " + ("ok" if p99 <= target else "MISSED"))
            failed += bool(target is not None and p99 > target)
            print(f"{label:<104} {p50:>7.1f} {p99:>7.1f} {bare:>8.1f} {p50 / bare:>6.1f}  {verdict}")
        print(
            "\nbare ms: one Query of the range's publications (batch view) plus one of today's real-time items of the "
            "metric (for POST: one PutRecords of the 500 events), bare boto3 on the same emulators in the same run; "
            "ratio = route p50 / bare ms. "
            f"{failed} target(s) missed.\nreproduce with: {reproduce}"
        )


if __name__ == "__main__":
    main()
