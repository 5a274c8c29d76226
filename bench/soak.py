"""Soak: steady traffic through the whole local stack for a while, with workers killed, an emulator killed now and then
and service faults on; at the end, every event must be counted exactly once by the real-time layer, archived, and
counted by the nightly job, with lag and memory flat.

    make bench-soak                           # 10 minutes, 200 events/s, a worker killed every 30 s, 2 % faults
    .venv/bin/python -m bench.soak --minutes 3 --rate 300 --kill-every 20 --faults 0.05
    .venv/bin/python -m bench.soak --tiny     # 15 s of 50 events/s, a kill every 5 s: that it runs (the tests')

The events are matches of yesterday (UTC) with unique ids, sent now: the real-time layer counts them in yesterday's
bucket as they arrive, and the nightly job, which computes finished days only, can count them at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from bench.local_stack import stack_config
from headcount.local.access import tools_headers

PORTS = {"moto_port": 22566, "kinesis_port": 22567, "api_port": 22080}  # bench/local_stack.py: HEADCOUNT_* replace them
COMMAND = "make bench-soak  # = .venv/bin/python -m bench.soak"


def api(port: int, path: str) -> dict:
    base = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(f"{base}{path}", headers=tools_headers(base))  # a tool's token
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def counted(port: int, day: str) -> int | None:
    try:
        return sum(p["value"] for p in api(port, f"/v1/metrics/matches_played?from={day}")["points"])
    except OSError:
        return None  # the API's store is being rebuilt (moto was killed)


def memory_mb(pids: dict[str, int]) -> dict[str, float]:
    sizes = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            sizes[name] = psutil.Process(pid).memory_info().rss / 2**20
    return sizes


def stack_pids(config) -> dict[str, int]:  # noqa: ANN001 - LocalConfig
    from headcount.local.processes import recorded_pid
    from headcount.local.stack import OWNER

    pids = {"headcount up": os.getpid()}
    for pid_file in sorted(config.pid_dir.glob("*.pid")):
        if pid_file.name == OWNER:  # this process, the stack's owner
            continue
        with contextlib.suppress(OSError, ValueError):
            pids[pid_file.stem] = recorded_pid(pid_file)
    return pids


def archived_ids(lake: Path) -> tuple[int, set[str]]:
    import gzip

    lines, ids = 0, set()
    for path in (lake / "raw").rglob("*.gz"):
        with gzip.open(path, "rb") as f:
            for line in f:
                if line.strip():
                    lines += 1
                    ids.add(json.loads(line)["event_id"])
    return lines, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=200, help="events per second")
    parser.add_argument("--kill-every", type=float, default=30.0, help="seconds between worker kills (0: none)")
    parser.add_argument("--emulator-every", type=int, default=4, help="every Nth kill is an emulator's (0: never)")
    parser.add_argument("--faults", type=float, default=0.02, help="share of the workers' AWS calls that fail")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="that it runs (the tests'): --minutes 0.25 --rate 50 --kill-every 5 --emulator-every 0",
    )
    args = parser.parse_args()
    if args.tiny:
        args.minutes, args.rate, args.kill_every, args.emulator_every = 0.25, 50, 5.0, 0
    with stack_config("headcount-soak-", **PORTS) as config:
        exact = soak(args, config)
    if not exact:
        sys.exit(1)  # a soak that lost or double-counted an event failed, whatever its figures


def soak(args: argparse.Namespace, config) -> bool:  # noqa: ANN001 - LocalConfig
    """Runs the soak, prints its figures; whether every event was counted once by both layers and archived."""
    from headcount import names
    from headcount.local.batch import run_batch
    from headcount.local.faults import Faults
    from headcount.local.stack import LocalStack
    from headcount.local.workers import WorkerSettings
    from headcount.views.aws import client
    from headcount.views.batch import DynamoBatchView
    from headcount.views.stream import Producer, send

    faults = Faults(share=args.faults) if args.faults > 0 else None
    now = datetime.now(UTC)
    day = (now - timedelta(days=1)).date()
    ts_ms = int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() * 1000)
    env = {"HEADCOUNT_TZ": "UTC", "HEADCOUNT_BATCH_AT": "off", "POWERTOOLS_METRICS_DISABLED": "true"}
    os.environ.update(env)
    print(
        f"reproduce with: {COMMAND} --minutes {args.minutes:g} --rate {args.rate} "
        f"--kill-every {args.kill_every:g} --emulator-every {args.emulator_every} --faults {args.faults:g}",
        flush=True,
    )
    with LocalStack(WorkerSettings(config, environment=env, faults=faults)) as stack:
        time.sleep(3)  # the workers start
        memory_start = memory_mb(stack_pids(config))
        producer = Producer(client("kinesis"))
        stop = threading.Event()
        sent = [0]

        def traffic() -> None:
            started, rng = time.monotonic(), random.Random(1)
            while not stop.is_set():
                batch = []
                for _ in range(args.rate):
                    i = sent[0] + len(batch)
                    doc = {"event_id": f"s-{i}", "type": "match_end", "player_id": f"p-{rng.randrange(50_000)}"}
                    batch.append((json.dumps({**doc, "ts": ts_ms}).encode() + b"\n", doc["player_id"]))
                send(batch, producer, writers=1)
                sent[0] += len(batch)
                stop.wait(max(0.0, started + sent[0] / args.rate - time.monotonic()))

        kills: list[str] = []

        def chaos() -> None:
            rng = random.Random(2)
            while args.kill_every > 0 and not stop.wait(args.kill_every):
                pids = stack_pids(config)
                emulator = args.emulator_every and (len(kills) + 1) % args.emulator_every == 0
                victims = (
                    [n for n in pids if n in ("moto", "kinesalite")]
                    if emulator
                    else [n for n in pids if n.startswith(("fold-", "archive-"))]
                )
                if victims:
                    name = rng.choice(sorted(victims))
                    try:
                        os.kill(pids[name], signal.SIGKILL)
                        kills.append(name)
                        print(f"  {time.strftime('%H:%M:%S')} killed {name}", flush=True)
                    except ProcessLookupError:
                        pass

        threads = [threading.Thread(target=traffic, daemon=True), threading.Thread(target=chaos, daemon=True)]
        for thread in threads:
            thread.start()
        began, samples = time.monotonic(), []
        print(f"{'t (s)':>6} {'sent':>9} {'counted':>9} {'behind':>8}", flush=True)
        while time.monotonic() - began < args.minutes * 60:
            time.sleep(min(15.0, max(0.0, began + args.minutes * 60 - time.monotonic())))
            now_counted = counted(config.api_port, day.isoformat())
            samples.append((time.monotonic() - began, sent[0], now_counted))
            shown = "—" if now_counted is None else f"{now_counted:,}"
            behind = "—" if now_counted is None else f"{sent[0] - now_counted:,}"
            print(f"{samples[-1][0]:6.0f} {sent[0]:9,} {shown:>9} {behind:>8}", flush=True)
        stop.set()
        for thread in threads:
            thread.join(120)
        total = sent[0]
        settle = time.monotonic()
        while counted(config.api_port, day.isoformat()) != total and time.monotonic() - settle < 300:
            time.sleep(1)
        realtime = counted(config.api_port, day.isoformat())
        caught_up_s = time.monotonic() - settle
        time.sleep(15)  # the archivers' buffers flush (10 s)
        memory_end = memory_mb(stack_pids(config))
        lines, ids = archived_ids(config.lake_dir)
        summary = run_batch(
            config.lake_dir, day, "UTC", f"soak-{int(time.time())}", batch_view=DynamoBatchView(names.BATCH_TABLE)
        )
        batch = summary.totals.get(day.isoformat(), {}).get("matches_played")
        restarts = (stack.supervisor.restarts if stack.supervisor else 0, stack.watch.restarts if stack.watch else 0)

    print()
    print(f"events sent: {total:,} over {args.minutes:g} min ({args.rate}/s)")
    print(
        f"counted by the real-time layer: {number(realtime)} ({'exact' if realtime == total else 'WRONG'}; caught up "
        f"{caught_up_s:.0f} s after the traffic stopped)"
    )
    print(f"archived: {len(ids):,} distinct events in {lines:,} lines ({'none lost' if len(ids) == total else 'LOST'})")
    print(f"counted by the nightly job: {number(batch)} ({'exact' if batch == total else 'WRONG'})")
    print(
        f"kills: {len(kills)} ({', '.join(sorted(set(k.split('-')[0] for k in kills)))}); restarts: {restarts[0]} "
        f"workers, {restarts[1]} emulators; service faults on {args.faults:.0%} of the workers' calls"
    )
    behind = [s - c for _t, s, c in samples if c is not None]
    print(
        f"behind over time (events sent, not yet counted): max {max(behind, default=0):,}, last sample "
        f"{behind[-1] if behind else 0:,}"
    )
    print("memory (RSS MB, start -> end):")
    for name in sorted(set(memory_start) & set(memory_end)):
        print(f"  {name:<28} {memory_start[name]:7.1f} -> {memory_end[name]:7.1f}")
    for name in sorted(set(memory_end) - set(memory_start)):
        print(f"  {name:<28} {'(restarted)':>7} -> {memory_end[name]:7.1f}")
    return realtime == total and len(ids) == total and batch == total


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


if __name__ == "__main__":
    main()
