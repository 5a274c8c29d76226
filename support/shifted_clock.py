"""`pytest --clock=…`: the whole run under a shifted wall clock, so a test that reads today's date shows itself.

    --clock=+400d                the wall clock 400 days ahead of now (any `+Nd`)
    --clock=dst:Europe/Berlin    a few seconds before that zone's next daylight-saving change, so the run crosses it;
                                 the zone is also the reporting zone (HEADCOUNT_TZ) and the process's local zone (TZ)

time-machine moves what Python reads as wall time (`time.time`, `datetime.now`, …) in this process, ticking on from the
destination; monotonic clocks, the file system's times and other processes are not moved. Code under test reads the
clock only through a parameter or an injected clock, so every test passes under any shift; this run proves it. The last
line of the run (`clock: …`) says under which clock it ran and how it went (`.ci/run` prints it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

SECONDS_BEFORE_THE_CHANGE = 5  # the unit and integration suites run for longer: the change falls inside the run


@dataclass(frozen=True)
class ShiftedClock:
    spec: str
    start: datetime  # the wall clock when the run starts
    zone: str | None  # the reporting and local zone the run uses, when the spec names one


def next_offset_change(after: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after `after` at which `zone`'s UTC offset changes (to the minute)."""
    at = after.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    offset = at.astimezone(zone).utcoffset()
    for _ in range(24 * 366 * 2):
        at += timedelta(hours=1)
        if at.astimezone(zone).utcoffset() != offset:
            while (at - timedelta(minutes=1)).astimezone(zone).utcoffset() != offset:
                at -= timedelta(minutes=1)
            return at
    raise pytest.UsageError(f"--clock: {zone.key} has no daylight-saving change in the next two years")


def parse_clock(spec: str, now: datetime) -> ShiftedClock:
    if match := re.fullmatch(r"\+(\d+)d", spec):
        return ShiftedClock(spec, now + timedelta(days=int(match[1])), None)
    if match := re.fullmatch(r"dst:(.+)", spec):
        zone = ZoneInfo(match[1])
        change = next_offset_change(now, zone)
        return ShiftedClock(spec, change - timedelta(seconds=SECONDS_BEFORE_THE_CHANGE), zone.key)
    raise pytest.UsageError(f"--clock={spec!r}: expected +<days>d or dst:<IANA zone>")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock",
        default=None,
        metavar="SHIFT",
        help="run under a shifted wall clock: +400d (days ahead), or dst:Europe/Berlin (across that zone's next DST "
        "change, with it as the reporting zone)",
    )


def pytest_configure(config: pytest.Config) -> None:
    spec = config.getoption("--clock", default=None)
    if not spec:
        return
    import time_machine

    clock = parse_clock(spec, datetime.now(UTC))
    if clock.zone:
        os.environ["HEADCOUNT_TZ"] = clock.zone
    # A destination in a ZoneInfo zone makes time-machine set TZ to it as well; a timestamp leaves TZ alone.
    destination = clock.start.astimezone(ZoneInfo(clock.zone)) if clock.zone else clock.start.timestamp()
    traveller = time_machine.travel(destination, tick=True)
    traveller.start()
    config.stash[_KEY] = (clock, traveller)


def pytest_report_header(config: pytest.Config) -> str | None:
    if _KEY not in config.stash:
        return None
    clock, _ = config.stash[_KEY]
    return f"clock: {_describe(clock)}"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    if _KEY not in config.stash:
        return
    clock, _ = config.stash[_KEY]
    counts = {k: len(terminalreporter.stats.get(k, [])) for k in ("passed", "failed", "error", "skipped")}
    result = ", ".join(f"{n} {k}" for k, n in counts.items() if n or k in ("passed", "failed"))
    verdict = "green" if exitstatus == 0 else "RED"
    terminalreporter.write_line(f"clock: {_describe(clock)}: {verdict}, {result}")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _KEY in config.stash:
        config.stash[_KEY][1].stop()


def _describe(clock: ShiftedClock) -> str:
    where = f", reporting zone {clock.zone}" if clock.zone else ""
    return f"--clock={clock.spec} (the run started at {clock.start:%Y-%m-%dT%H:%M:%SZ}{where})"


_KEY = pytest.StashKey[tuple[ShiftedClock, object]]()
