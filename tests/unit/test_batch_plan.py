"""Which days a nightly run recomputes, and from which arrival partitions (no Spark needed)."""

from datetime import date, timedelta

import pytest

from headcount.batch.plan import JobOptions, parse_options, plan_run
from headcount.core.buckets import DayNotOver

D = date(2026, 11, 25)


def plan(present, first_arrival_day=None):
    return plan_run(
        JobOptions(day=D, lake="/lake", run_id="run-1"),
        lambda dt: dt in {d.isoformat() for d in present},
        first_arrival_day,
    )


def test_a_normal_night_recomputes_three_days_from_their_arrival_partitions():
    result = plan([D + timedelta(days=i) for i in range(-3, 2)])  # D+2 has not happened yet
    assert result.days == ["2026-11-23", "2026-11-24", "2026-11-25"] and not result.skipped
    assert result.partitions == [(D + timedelta(days=i)).isoformat() for i in range(-3, 2)]


def test_earlier_days_whose_own_partitions_are_gone_keep_their_published_answer():
    result = plan([D - timedelta(days=1), D, D + timedelta(days=1)])  # dt=D-2 and D-3 expired
    assert result.days == ["2026-11-24", "2026-11-25"] and result.skipped == ["2026-11-23"]


def test_a_day_without_input_is_computed_and_said_to_be_without_input_only_once_traffic_has_started():
    # Before the game has any traffic (an empty archive): day D is a day of no events, nothing to alarm about
    quiet = plan([])
    assert quiet.days == ["2026-11-25"] and quiet.partitions == [] and quiet.without_input == []
    assert quiet.skipped == ["2026-11-23", "2026-11-24"]
    # The archive's first arrivals are D's own (a game that launched on D-1 in UTC): still not a stopped archive
    assert plan([], first_arrival_day="2026-11-24").without_input == []
    # Earlier days in the archive, none for D: the archive stopped, and D keeps what it has (no exact zeros over the
    # real-time numbers), said once
    stopped = plan([D - timedelta(days=2)], first_arrival_day="2026-11-01")
    assert stopped.days == ["2026-11-23"] and stopped.without_input == ["2026-11-25"]
    assert stopped.skipped == ["2026-11-24", "2026-11-25"] and stopped.partitions == ["2026-11-23"]
    nothing = plan([], first_arrival_day="2026-11-01")
    assert nothing.days == nothing.partitions == [] and nothing.without_input == ["2026-11-25"]


def test_the_stack_gives_the_job_its_service_and_region():
    options = parse_options(
        ["--day", "2026-11-20", "--lake", "s3://lake/", "--service", "hc-dev", "--region", "eu-west-1"],
        1_795_649_400_000,
    )
    assert (options.service, options.region) == ("hc-dev", "eu-west-1")
    assert parse_options(["--day", "2026-11-20", "--lake", "/lake"], 1_795_649_400_000).service == "headcount"


def test_only_a_day_that_has_ended_can_be_computed():
    # Given 2026-11-25 23:30 UTC: already 2026-11-26 in Berlin, still 2026-11-25 in UTC
    now_ms = 1_795_649_400_000
    berlin = ["--lake", "/lake", "--tz", "Europe/Berlin"]
    # Then Berlin's 2026-11-25 is over, UTC's is not
    assert parse_options(["--day", "yesterday", *berlin], now_ms).day == date(2026, 11, 25)
    assert parse_options(["--day", "2026-11-25", *berlin], now_ms).day == date(2026, 11, 25)
    with pytest.raises(DayNotOver, match="2026-11-26 has not ended yet in Europe/Berlin"):
        parse_options(["--day", "today", *berlin], now_ms)
    with pytest.raises(DayNotOver):
        parse_options(["--day", "2026-12-01", *berlin], now_ms)
    assert parse_options(["--day", "yesterday", "--lake", "/lake"], now_ms).day == date(2026, 11, 24)
    with pytest.raises(DayNotOver, match="2026-11-25 has not ended yet in UTC"):
        parse_options(["--day", "2026-11-25", "--lake", "/lake"], now_ms)


def test_the_day_after_tomorrow_is_read_and_no_later_one():
    # Given every arrival partition from D-4 to D+3 (a late run: D+2 and D+3 have happened)
    present = [D + timedelta(days=i) for i in range(-4, 4)]
    # When the night of D is planned, with the default two days back and with none
    default = plan(present)
    alone = plan_run(JobOptions(day=D, lake="/lake", run_id="run-1", days_back=0), lambda dt: True)
    # Then the arrival partitions that can hold events of D reach dt=D+2 (docs/DESIGN.md, batch layer): D+2 is read,
    # D+3 is not; before D, dt=D-1 for D's own events, and dt=D-3 for those of D-2
    assert default.partitions == [(D + timedelta(days=i)).isoformat() for i in range(-3, 3)]
    assert alone.partitions == ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    assert "2026-11-27" in default.partitions and "2026-11-28" not in default.partitions + alone.partitions


def test_an_extra_zones_run_day_is_its_last_day_ended_with_the_reporting_days():
    from headcount.core.buckets import last_day_ended_by

    day = date(2026, 11, 1)
    assert last_day_ended_by(day, "UTC", "Asia/Tokyo") == day  # ended at 15:00 UTC
    assert last_day_ended_by(day, "UTC", "Asia/Kolkata") == day  # ended at 18:30 UTC
    assert last_day_ended_by(day, "UTC", "America/Los_Angeles") == day - timedelta(days=1)  # 11-01 ends 08:00 UTC 11-02
    assert last_day_ended_by(day, "UTC", "Etc/UTC") == day  # the same instant: ended
    assert last_day_ended_by(day, "Asia/Tokyo", "UTC") == day - timedelta(days=1)  # Tokyo's 11-01 ends 15:00 UTC 11-01


def test_the_days_of_a_zone_over_reporting_days_are_those_they_overlap():
    from headcount.batch.plan import overlapping_days

    assert overlapping_days(["2026-11-01"], "UTC", "Etc/UTC") == ["2026-11-01"]
    assert overlapping_days(["2026-11-01"], "UTC", "Asia/Kolkata") == ["2026-11-01", "2026-11-02"]
    assert overlapping_days(["2026-11-01", "2026-11-05"], "UTC", "America/Los_Angeles") == [
        "2026-10-31",
        "2026-11-01",
        "2026-11-04",
        "2026-11-05",
    ]
    # Kiribati (+14) and Niue (-11), 25 hours apart: Kiribati's 11-01 is Niue's 10-30 23:00 to 10-31 23:00
    assert overlapping_days(["2026-11-01"], "Pacific/Kiritimati", "Pacific/Niue") == ["2026-10-30", "2026-10-31"]


def test_extra_zones_are_options_of_the_job_checked_before_spark_starts():
    from headcount.core.buckets import BadZone

    now_ms = 1_793_000_000_000  # 2026-10-27
    options = parse_options(
        ["--day", "2026-10-20", "--lake", "/l", "--tz", "UTC", "--extra_zones", "Asia/Tokyo,UTC,Asia/Tokyo"], now_ms
    )
    assert options.extra_zones == ("Asia/Tokyo",)
    assert parse_options(["--day", "2026-10-20", "--lake", "/l"], now_ms).extra_zones == ()
    with pytest.raises(BadZone, match="'Asia/Tokio' is not a time zone"):
        parse_options(["--day", "2026-10-20", "--lake", "/l", "--extra_zones", "Asia/Tokio"], now_ms)


def test_a_catalogs_copy_in_a_zone_renames_each_metric_and_what_it_is_built_on():
    from headcount.core.catalog import Kind
    from headcount.core.lake_tables import zone_table
    from headcount.views.catalog_file import load_catalog

    catalog = load_catalog()
    copy = catalog.in_zone("Etc/GMT+5")
    assert [m.name for m in copy.metrics] == [f"{m.name}@Etc.GMTplus5" for m in catalog.listed()]
    stickiness = copy.get("stickiness@Etc.GMTplus5")
    assert stickiness is not None
    assert (stickiness.numerator, stickiness.denominator) == (
        "active_players@Etc.GMTplus5",
        "monthly_active_players@Etc.GMTplus5",
    )
    retention = copy.get("retention@Etc.GMTplus5")
    assert retention is not None and copy.base(retention).name == "active_players@Etc.GMTplus5"
    assert not any(m.sub_day_of for m in copy.metrics) and copy.new_metrics()[0].kind is Kind.NEW
    assert zone_table("counts", "America/Argentina/Buenos_Aires") == "counts_america_argentina_buenos_aires"
    assert zone_table("kpis", "Etc/GMT+5") == "kpis_etc_gmtplus5"
