"""Time buckets in the reporting time zone.

A day bucket is the local date, `2026-11-25`. An hour bucket is the local hour with its UTC offset,
`2026-10-25T02:00+01:00`, so the repeated hour of a DST fall-back day is two distinct buckets and a day has 23, 24 or 25 of them.
A quarter bucket (the sub-day metrics') is the local quarter hour with its offset, `2026-10-25T02:15+01:00`: 92, 96 or 100
a day. Every bucket starts with its local day, which is what partitions the stores, and an hour or quarter bucket names
its instant (`bucket_start_ms`), whatever zone asks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from headcount.core.catalog import Granularity

DAY_MS = 86_400_000
SLOT_MS = 15 * 60 * 1000  # every UTC offset in use is a multiple of 15 minutes, so a slot lies within one local hour


class BadDate(ValueError):
    """A date parameter that is not YYYY-MM-DD, today or yesterday."""


class BadZone(ValueError):
    """A time zone that is not an IANA name this machine knows."""


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # not the machine's own (`localtime`) nor tzdata's placeholder (`Factory`)
    return frozenset(available_timezones()) - {"localtime", "Factory", "posixrules"}


@lru_cache(maxsize=1)
def _zone_infos() -> tuple[tuple[str, ZoneInfo], ...]:
    # kept: ZoneInfo's own cache holds a few zones only, and reading ~600 files again costs ~60 ms
    return tuple((zone, ZoneInfo(zone)) for zone in sorted(_zones()))


def check_zone(name: str) -> str:
    """An IANA time zone name (`Asia/Kolkata`, `UTC`), or BadZone naming it."""
    if name not in _zones():
        raise BadZone(
            f"{name!r} is not a time zone: give an IANA name such as Asia/Kolkata, America/Los_Angeles or UTC"
        )
    return name


def check_zones(text: str, reporting: str) -> tuple[str, ...]:
    """A comma-separated list of IANA names (the extra zones the nightly job computes: `Asia/Tokyo,Asia/Kolkata`), each
    once, without the reporting zone (computed anyway); BadZone naming one that is not."""
    zones = [check_zone(z.strip()) for z in text.split(",") if z.strip()]
    return tuple(dict.fromkeys(z for z in zones if z != reporting))


def last_day_ended_by(day: date, tz: str, zone: str) -> date:
    """The last day of `zone` that has ended when `day` of `tz` has: the day of `zone` the nightly run of `day`
    computes (Tokyo's same day for UTC, Los Angeles' day before)."""
    end = datetime.fromtimestamp(day_bounds_ms(day, tz)[1] / 1000, ZoneInfo(zone))
    return end.date() - timedelta(days=1)


def bucket_of(ts_ms: int, granularity: Granularity, tz: str) -> str:
    """A function of the 15-minute slot (every zone's offset is a multiple of 15 minutes): the fold finds a bucket's
    delta by its slot (deltas.fold_records)."""
    return _bucket_of_slot(ts_ms // SLOT_MS, granularity, tz)


@lru_cache(maxsize=65536)
def _bucket_of_slot(slot: int, granularity: Granularity, tz: str) -> str:
    local = datetime.fromtimestamp(slot * SLOT_MS / 1000, ZoneInfo(tz))
    if granularity is Granularity.DAY:
        return local.date().isoformat()
    if granularity is Granularity.QUARTER:
        return _quarter_bucket(local)
    return _hour_bucket(local)


def _hour_bucket(local: datetime) -> str:
    # The local hour with the offset in force at this instant. Not `local.replace(minute=0)`: where a DST shift is
    # 30 minutes (Lord Howe), 01:30+10:30 would become 01:00+11:00, a different hour of UTC.
    return f"{local:%Y-%m-%dT%H}:00{local.isoformat(timespec='minutes')[-6:]}"


def _quarter_bucket(local: datetime) -> str:
    return local.isoformat(timespec="minutes")


def bucket_start_ms(bucket: str) -> int:
    """When an hour or quarter bucket starts (its offset makes it one instant, a DST day's repeated hour included)."""
    return _start_ms(bucket)


@lru_cache(maxsize=65536)
def _start_ms(bucket: str) -> int:
    return int(datetime.fromisoformat(bucket).timestamp()) * 1000


def local_date(now_ms: int, tz: str) -> date:
    return datetime.fromtimestamp(now_ms / 1000, ZoneInfo(tz)).date()


def resolve_day(text: str, now_ms: int, tz: str) -> date:
    """`YYYY-MM-DD`, `today` or `yesterday` (in the reporting time zone) as a date."""
    if text == "today":
        return local_date(now_ms, tz)
    if text == "yesterday":
        return local_date(now_ms, tz) - timedelta(days=1)
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadDate(f"{text!r} is not YYYY-MM-DD, today or yesterday") from None


class DayNotOver(ValueError):
    """The requested day has not ended in the reporting time zone: its counts would be published as exact while the
    day is still growing (and would then hide the real-time layer's fresher numbers)."""


def finished_day(text: str, now_ms: int, tz: str) -> date:
    """`YYYY-MM-DD` or `yesterday` as a date, refusing a day that has not ended yet in `tz`."""
    day = resolve_day(text, now_ms, tz)
    if day >= local_date(now_ms, tz):
        raise DayNotOver(
            f"{day.isoformat()} has not ended yet in {tz}: the nightly job computes finished days "
            "(the real-time layer answers today)"
        )
    return day


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_bounds_ms(day: date, tz: str) -> tuple[int, int]:
    """[start, end) of a local day in epoch milliseconds."""
    zone = ZoneInfo(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000


@lru_cache(maxsize=1024)
def zone_day_cuts(day: date, tz: str) -> tuple[str, ...]:
    """The quarter hours of `tz`'s day at which another zone's day begins (every IANA zone, on that date): where
    some zone's day cuts this one, so where the batch view keeps the union of the quarter hours before and of those
    from it on (zones.py). About 35 of a day's 96 for UTC: the whole hours and the :30 and :45 offsets in use."""
    start_ms, end_ms = day_bounds_ms(day, tz)
    cuts: set[int] = set()
    for zone, info in _zone_infos():
        offset = datetime.fromtimestamp(start_ms / 1000, info).utcoffset()
        if offset is None or offset != datetime.fromtimestamp(end_ms / 1000, info).utcoffset():
            # its offset changes during the day: its own days' bounds, around the date
            starts = (day_bounds_ms(d, zone)[0] for d in (day - timedelta(days=1), day, day + timedelta(days=1)))
            cuts.update(at for at in starts if start_ms < at < end_ms)
            continue
        offset_ms = int(offset.total_seconds()) * 1000
        at = ((start_ms + offset_ms) // DAY_MS + 1) * DAY_MS - offset_ms  # its first midnight after the day's start
        while at < end_ms:
            cuts.add(at)
            at += DAY_MS
    return tuple(bucket_of(at, Granularity.QUARTER, tz) for at in sorted(cuts) if at % SLOT_MS == 0)


@lru_cache(maxsize=4096)  # a year of hours is 8,760 buckets to name, on every request for it: named once
def buckets_of_day(day: date, granularity: Granularity, tz: str) -> tuple[str, ...]:
    """Every bucket of a local day, in time order (dense: 23, 24 or 25 hours on DST days)."""
    if granularity is Granularity.DAY:
        return (day.isoformat(),)
    start_ms, end_ms = day_bounds_ms(day, tz)
    zone = ZoneInfo(tz)
    name = _quarter_bucket if granularity is Granularity.QUARTER else _hour_bucket
    buckets: list[str] = []
    for slot_ms in range(start_ms, end_ms, SLOT_MS):
        bucket = name(datetime.fromtimestamp(slot_ms / 1000, UTC).astimezone(zone))
        if not buckets or buckets[-1] != bucket:
            buckets.append(bucket)
    return tuple(buckets)
