"""Working days with French holidays, Alsace-Moselle included, and paused clocks."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest

from workflows.deadlines import (
    add_working_days,
    calendar_deadline_with_pauses,
    deadline_with_pauses,
    is_working_day,
    subdivision_for,
    working_days_between,
)

GOOD_FRIDAY_2026 = date(2026, 4, 3)
SAINT_STEPHEN_2025 = date(2025, 12, 26)  # a Friday


def test_holidays_package_knows_alsace_moselle() -> None:
    assert {"57", "6AE"} <= set(holidays.France.subdivisions)
    assert subdivision_for("57") == "57"
    assert subdivision_for("67") == subdivision_for("68") == "6AE"
    assert subdivision_for("51") is None
    assert subdivision_for(None) is None
    assert subdivision_for("8") is None  # Ardennes, written without the leading zero


@pytest.mark.parametrize("day", [GOOD_FRIDAY_2026, SAINT_STEPHEN_2025])
def test_alsace_moselle_extra_holidays(day: date) -> None:
    assert day.weekday() == 4
    for department in ("51", "08", "10", "52", "54", "55", "88", None):
        assert is_working_day(day, department), department
    for department in ("57", "67", "68"):
        assert not is_working_day(day, department), department


@pytest.mark.parametrize(
    "day", [date(2026, 1, 1), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 8), date(2026, 5, 14),
            date(2026, 7, 14), date(2026, 11, 11), date(2025, 12, 25)],
)
def test_national_holidays_everywhere(day: date) -> None:
    assert day.weekday() < 5
    assert not is_working_day(day, "51")
    assert not is_working_day(day, "67")


def test_weekends_are_not_working_days() -> None:
    assert not is_working_day(date(2026, 1, 10), "51")  # Saturday
    assert not is_working_day(date(2026, 1, 11), "51")  # Sunday
    assert add_working_days(date(2026, 1, 9), 1, "51") == date(2026, 1, 12)


def test_add_working_days_around_easter_2026() -> None:
    thursday = date(2026, 4, 2)
    assert add_working_days(thursday, 1, "51") == GOOD_FRIDAY_2026
    assert add_working_days(thursday, 1, "67") == date(2026, 4, 7)  # Good Friday, weekend, Easter Monday
    assert add_working_days(thursday, 2, "51") == date(2026, 4, 7)
    assert add_working_days(thursday, 2, "57") == date(2026, 4, 8)


def test_add_working_days_across_christmas_2025() -> None:
    assert add_working_days(date(2025, 12, 24), 1, "51") == SAINT_STEPHEN_2025
    assert add_working_days(date(2025, 12, 24), 1, "68") == date(2025, 12, 29)


def test_zero_and_negative_offsets() -> None:
    sunday = date(2026, 1, 11)
    assert add_working_days(sunday, 0, "51") == sunday
    assert add_working_days(date(2026, 4, 7), -1, "51") == GOOD_FRIDAY_2026
    assert add_working_days(date(2026, 4, 7), -1, "67") == date(2026, 4, 2)


def test_working_days_between() -> None:
    assert working_days_between(date(2025, 12, 24), date(2025, 12, 31), "51") == 4
    assert working_days_between(date(2025, 12, 24), date(2025, 12, 31), "67") == 3
    assert working_days_between(date(2025, 12, 31), date(2025, 12, 24), "67") == -3
    assert working_days_between(date(2026, 3, 2), date(2026, 3, 2), "51") == 0
    # a full ordinary week (Mon 2 → Mon 9 March 2026): 5 working days
    assert working_days_between(date(2026, 3, 2), date(2026, 3, 9), None) == 5


@pytest.mark.parametrize("department", ["51", "57", "67", None])
def test_between_is_the_inverse_of_add(department: str | None) -> None:
    start = date(2025, 12, 15)
    for offset in range(0, 160, 7):
        a = start + timedelta(days=offset)
        for n in (0, 1, 5, 10, 30):
            assert working_days_between(a, add_working_days(a, n, department), department) == n


def test_a_year_has_fewer_working_days_in_alsace_moselle() -> None:
    a, b = date(2025, 12, 31), date(2026, 12, 31)
    national = working_days_between(a, b, "51")
    assert working_days_between(a, b, "67") == national - 1  # Good Friday (26/12/2026 is a Saturday)
    assert working_days_between(a, b, "57") == national - 1


def test_deadline_without_pause_is_plain_addition() -> None:
    start = date(2026, 3, 2)
    assert deadline_with_pauses(start, 20, [], "51") == add_working_days(start, 20, "51")


def test_pause_extends_deadline_by_its_working_days() -> None:
    start = date(2026, 3, 2)  # Monday
    plain = add_working_days(start, 20, "51")
    pause = (date(2026, 3, 9), date(2026, 3, 13))  # Monday → Friday: 5 working days
    assert deadline_with_pauses(start, 20, [pause], "51") == add_working_days(plain, 5, "51")


def test_holidays_inside_a_pause_do_not_matter() -> None:
    start = date(2026, 3, 30)  # Monday
    # without pause, Good Friday makes Alsace one day later
    assert add_working_days(start, 5, "51") == date(2026, 4, 7)
    assert add_working_days(start, 5, "67") == date(2026, 4, 8)
    # paused Wed 1 → Wed 8 April (Good Friday and Easter Monday inside): same deadline
    pause = (date(2026, 4, 1), date(2026, 4, 8))
    assert deadline_with_pauses(start, 3, [pause], "51") == date(2026, 4, 10)  # 31/03, 09/04, 10/04
    assert deadline_with_pauses(start, 3, [pause], "67") == date(2026, 4, 10)
    assert deadline_with_pauses(start, 10, [pause], "51") == add_working_days(date(2026, 4, 8), 9, "51")


def test_overlapping_and_past_pauses() -> None:
    start = date(2026, 3, 2)
    single = deadline_with_pauses(start, 10, [(date(2026, 3, 4), date(2026, 3, 6))], "51")
    overlapping = deadline_with_pauses(
        start, 10, [(date(2026, 3, 4), date(2026, 3, 5)), (date(2026, 3, 5), date(2026, 3, 6))], "51"
    )
    assert overlapping == single == add_working_days(start, 13, "51")
    before_start = deadline_with_pauses(start, 10, [(date(2026, 2, 2), date(2026, 2, 27))], "51")
    assert before_start == add_working_days(start, 10, "51")


def test_invalid_pauses_and_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        deadline_with_pauses(date(2026, 3, 2), 5, [(date(2026, 3, 6), date(2026, 3, 4))], "51")
    with pytest.raises(ValueError):
        deadline_with_pauses(date(2026, 3, 2), -1, [], "51")


def test_calendar_day_limit_counts_weekends_and_holidays_but_not_a_pause() -> None:
    """Calendar-day limits (instruction, agreement): every day counts, Good Friday and weekends
    included, in Moselle as in Marne; the days of a correction pause do not."""
    start = date(2026, 3, 31)  # Tuesday before Easter
    assert calendar_deadline_with_pauses(start, 7, []) == date(2026, 4, 7)
    assert calendar_deadline_with_pauses(start, 0, []) == start
    pause = (date(2026, 4, 2), date(2026, 4, 6))  # five days paused, Good Friday and Easter Monday among them
    assert calendar_deadline_with_pauses(start, 7, [pause]) == date(2026, 4, 12)
    assert calendar_deadline_with_pauses(start, 7, [pause, (date(2026, 4, 3), date(2026, 4, 8))]) == date(2026, 4, 14)
    with pytest.raises(ValueError):
        calendar_deadline_with_pauses(start, -1, [])
