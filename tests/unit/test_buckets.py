from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headcount.core.buckets import BadDate, bucket_of, buckets_of_day, day_bounds_ms, resolve_day
from headcount.core.catalog import Granularity

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
instants = st.integers(1_700_000_000_000, 1_900_000_000_000)


def test_dst_days_have_23_and_25_hours_in_berlin():
    spring = buckets_of_day(date(2026, 3, 29), Granularity.HOUR, "Europe/Berlin")
    autumn = buckets_of_day(date(2026, 10, 25), Granularity.HOUR, "Europe/Berlin")
    assert len(spring) == 23 and "2026-03-29T02:00+01:00" not in spring
    assert len(autumn) == 25 and autumn[2:4] == ("2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00")


def test_the_repeated_hour_splits_into_two_buckets():
    first = int(datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp() * 1000)  # 02:30 CEST
    second = first + 3_600_000  # 02:30 CET
    assert bucket_of(first, Granularity.HOUR, "Europe/Berlin") == "2026-10-25T02:00+02:00"
    assert bucket_of(second, Granularity.HOUR, "Europe/Berlin") == "2026-10-25T02:00+01:00"


@given(instants, st.sampled_from(ZONES))
def test_a_bucket_is_the_local_hour_and_day_of_the_instant(ts, tz):
    local = datetime.fromtimestamp(ts / 1000, ZoneInfo(tz))
    hour = bucket_of(ts, Granularity.HOUR, tz)
    assert bucket_of(ts, Granularity.DAY, tz) == local.date().isoformat() == hour[:10]
    start = datetime.fromisoformat(hour)
    assert start <= local < start + timedelta(hours=1)


@given(instants, st.sampled_from(ZONES))
def test_every_instant_falls_in_one_dense_bucket_of_its_day(ts, tz):
    day = date.fromisoformat(bucket_of(ts, Granularity.DAY, tz))
    start_ms, end_ms = day_bounds_ms(day, tz)
    assert start_ms <= ts < end_ms
    hours = buckets_of_day(day, Granularity.HOUR, tz)
    assert bucket_of(ts, Granularity.HOUR, tz) in hours
    assert len(hours) == len(set(hours)) and (end_ms - start_ms) / 3_600_000 >= len(hours) - 1


@given(st.dates(date(2020, 1, 1), date(2035, 1, 1)), st.sampled_from(ZONES))
def test_hours_of_a_day_cover_its_length(day, tz):
    start_ms, end_ms = day_bounds_ms(day, tz)
    hours = buckets_of_day(day, Granularity.HOUR, tz)
    # Lord Howe shifts by 30 minutes: a 23.5-hour day still shows 24 local hours, a 24.5-hour day 25
    assert len(hours) == -(-(end_ms - start_ms) // 3_600_000)


def test_keywords_and_bad_dates():
    now = int(datetime(2026, 11, 26, 0, 30, tzinfo=UTC).timestamp() * 1000)
    assert resolve_day("today", now, "UTC") == date(2026, 11, 26)
    assert resolve_day("yesterday", now, "UTC") == date(2026, 11, 25)
    assert resolve_day("today", now, "America/New_York") == date(2026, 11, 25)
    for bad in ("2026-13-01", "26-11-01", "tomorrow", ""):
        with pytest.raises(BadDate):
            resolve_day(bad, now, "UTC")


def test_a_half_hour_dst_shift_keeps_each_bucket_within_one_utc_hour():
    # Lord Howe falls back from 02:00+11:00 to 01:30+10:30: that half hour is a bucket of its own
    hours = buckets_of_day(date(2032, 4, 4), Granularity.HOUR, "Australia/Lord_Howe")
    assert len(hours) == 25 and hours[1:4] == (
        "2032-04-04T01:00+11:00",
        "2032-04-04T01:00+10:30",
        "2032-04-04T02:00+10:30",
    )
    half_hour = int(datetime(2032, 4, 3, 15, 10, tzinfo=UTC).timestamp() * 1000)  # 01:40+10:30
    assert bucket_of(half_hour, Granularity.HOUR, "Australia/Lord_Howe") == "2032-04-04T01:00+10:30"
