"""Which days a nightly run recomputes, and from which arrival partitions (no Spark needed)."""

from datetime import date, timedelta

import pytest

from glue_jobs.nightly_counts import JobOptions, MissingInput, plan_run

D = date(2026, 11, 25)


def plan(present):
    return plan_run(JobOptions(day=D, lake="/lake"), lambda dt: dt in {d.isoformat() for d in present})


def test_a_normal_night_recomputes_three_days_from_their_arrival_partitions():
    result = plan([D + timedelta(days=i) for i in range(-3, 2)])  # D+2 has not happened yet
    assert result.days == ["2026-11-23", "2026-11-24", "2026-11-25"] and not result.skipped
    assert result.partitions == [(D + timedelta(days=i)).isoformat() for i in range(-3, 2)]


def test_earlier_days_whose_own_partitions_are_gone_keep_their_published_answer():
    result = plan([D - timedelta(days=1), D, D + timedelta(days=1)])  # dt=D-2 and D-3 expired
    assert result.days == ["2026-11-24", "2026-11-25"] and result.skipped == ["2026-11-23"]


def test_no_partition_for_the_day_itself_fails_with_a_clear_message():
    with pytest.raises(MissingInput, match="no raw input for 2026-11-25"):
        plan([D - timedelta(days=3)])
