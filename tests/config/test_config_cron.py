from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sitesnap.config.cron import parse_cron


def test_fields_are_expanded() -> None:
    spec = parse_cron("0 */6 * * *")
    assert spec.minute == {0}
    assert spec.hour == {0, 6, 12, 18}
    assert len(spec.day) == 31
    assert spec.day_of_week == set(range(7))


def test_names_lists_ranges_steps() -> None:
    spec = parse_cron("5,35 8-18/5 * jan-mar MON-FRI")
    assert spec.minute == {5, 35}
    assert spec.hour == {8, 13, 18}
    assert spec.month == {1, 2, 3}
    assert spec.day_of_week == {1, 2, 3, 4, 5}


def test_seven_is_sunday_and_macros_expand() -> None:
    assert parse_cron("0 0 * * 7").day_of_week == {0}
    assert parse_cron("@weekly").expression == "0 0 * * 0"
    assert parse_cron("@daily").hour == {0}


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 2 * *", "has 4 fields; need 5"),
        ("0 2 * * * *", "has 6 fields"),
        ("60 * * * *", "minute 60 is outside 0-59"),
        ("0 24 * * *", "hour 24 is outside 0-23"),
        ("0 0 0 * *", "day of month 0 is outside 1-31"),
        ("0 0 * 13 *", "month 13 is outside 1-12"),
        ("0 0 * * 8", "day of week 8 is outside 0-7"),
        ("0 0 * * fun", "'fun' is not a number or a name"),
        ("*/0 * * * *", "invalid step"),
        ("0 5-2 * * *", "runs backwards"),
        ("0 0 1 * 1", "restricts both day of month and day of week"),
        ("x * * * *", "'x' is not a number"),
    ],
)
def test_invalid_expressions(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_cron(expression)


def test_trigger_fields_keep_crontab_weekdays_in_apscheduler() -> None:
    """APScheduler 3 numbers weekdays from Monday; the names we hand it must mean Sunday."""
    from apscheduler.triggers.cron import CronTrigger

    fields = parse_cron("0 2 * * 0").trigger_fields()
    assert fields["day_of_week"] == "sun"
    trigger = CronTrigger(timezone=UTC, **fields)
    monday = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
    fire = trigger.get_next_fire_time(None, monday)
    assert fire == datetime(2025, 1, 12, 2, 0, tzinfo=UTC)
    assert fire.strftime("%A") == "Sunday"


def test_trigger_fields_for_stepped_weekdays() -> None:
    from apscheduler.triggers.cron import CronTrigger

    fields = parse_cron("30 4 * * */2").trigger_fields()  # crontab: Sun, Tue, Thu, Sat
    assert fields["day_of_week"] == "tue,thu,sat,sun"
    trigger = CronTrigger(timezone=UTC, **fields)
    now = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # a Monday
    days = []
    for _ in range(4):
        now = trigger.get_next_fire_time(None, now)
        days.append(now.strftime("%a"))
        now = now.replace(minute=31)
    assert days == ["Tue", "Thu", "Sat", "Sun"]
    assert parse_cron("0 0 * * *").trigger_fields()["day_of_week"] == "*"
