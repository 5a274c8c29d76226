from datetime import date, datetime
from zoneinfo import ZoneInfo

from headcount.local.scheduler import NightlySchedule

ZONE = ZoneInfo("Europe/Berlin")


class Clock:
    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at


def test_the_job_runs_once_a_night_for_the_previous_day_without_catch_up():
    clock = Clock(datetime(2026, 11, 26, 3, 0, tzinfo=ZONE))  # started after today's 02:00
    schedule = NightlySchedule("02:00", "Europe/Berlin", lambda day: None, now=clock)
    assert schedule.due() is None
    clock.at = datetime(2026, 11, 27, 1, 59, tzinfo=ZONE)
    assert schedule.due() is None
    clock.at = datetime(2026, 11, 27, 2, 0, tzinfo=ZONE)
    assert schedule.due() == date(2026, 11, 26)
    assert schedule.due() is None
    clock.at = datetime(2026, 11, 28, 2, 30, tzinfo=ZONE)
    assert schedule.due() == date(2026, 11, 27)


def test_started_before_the_time_runs_that_night():
    clock = Clock(datetime(2026, 11, 26, 1, 0, tzinfo=ZONE))
    schedule = NightlySchedule("02:00", "Europe/Berlin", lambda day: None, now=clock)
    clock.at = datetime(2026, 11, 26, 2, 1, tzinfo=ZONE)
    assert schedule.due() == date(2026, 11, 25)


def test_a_failed_run_is_reported_and_the_next_night_runs(capsys):
    # Given a job that cannot start the first night
    runs = []

    def job(day):
        runs.append(day)
        if len(runs) == 1:
            raise OSError("no space left on device")

    clock = Clock(datetime(2026, 11, 26, 3, 0, tzinfo=ZONE))
    schedule = NightlySchedule("02:00", "Europe/Berlin", job, now=clock)
    # When two nights come
    clock.at = datetime(2026, 11, 27, 2, 0, tzinfo=ZONE)
    schedule.tick()
    clock.at = datetime(2026, 11, 28, 2, 0, tzinfo=ZONE)
    schedule.tick()
    # Then the failure is said, and the schedule went on
    assert runs == [date(2026, 11, 26), date(2026, 11, 27)]
    assert "nightly job for 2026-11-26 failed: OSError: no space left on device" in capsys.readouterr().err
