"""Working days for deadlines, with French public holidays by department.

Moselle (57), Bas-Rhin (67) and Haut-Rhin (68) have two more public holidays
(Good Friday, 26 December). The ``holidays`` package knows them through its
subdivisions ``"57"`` (Moselle) and ``"6AE"`` (Collectivité européenne
d'Alsace, i.e. 67 + 68); other departments use the national calendar (or the
package's own subdivision when it has one, e.g. overseas departments).

Conventions: a working day is Monday to Friday and not a public holiday; the day
the clock starts is not counted (``add_working_days(d, 1)`` is the next
working day after ``d``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from functools import cache, lru_cache

import holidays

_ALSACE = "6AE"
_DEPARTMENT_SUBDIVISIONS = {"67": _ALSACE, "68": _ALSACE}


def subdivision_for(department: str | None) -> str | None:
    """The ``holidays.France`` subdivision for a department code (None: national)."""
    if department is None:
        return None
    code = str(department).strip().upper()
    if code.isdigit() and len(code) == 1:
        code = "0" + code
    if code in _DEPARTMENT_SUBDIVISIONS:
        return _DEPARTMENT_SUBDIVISIONS[code]
    if code[:1].isdigit() and code != _ALSACE and code in _france_subdivisions():
        return code
    return None


@cache
def _france_subdivisions() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries()["FR"])


@lru_cache(maxsize=256)
def _holidays(subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("FR", subdiv=subdivision, years=year).keys())


def is_holiday(day: date, department: str | None = None) -> bool:
    return day in _holidays(subdivision_for(department), day.year)


def is_working_day(day: date, department: str | None = None) -> bool:
    """Monday to Friday and not a public holiday of the department."""
    return day.weekday() < 5 and not is_holiday(day, department)


def add_working_days(start: date, n: int, department: str | None = None) -> date:
    """The ``n``-th working day after ``start`` (before it when ``n < 0``).

    ``n == 0`` returns ``start`` unchanged.
    """
    return _advance(start, n, department, paused=())


def working_days_between(a: date, b: date, department: str | None = None) -> int:
    """Working days in ``(a, b]``; negative when ``b < a``.

    Inverse of :func:`add_working_days`:
    ``working_days_between(a, add_working_days(a, n)) == n``.
    """
    if b < a:
        return -working_days_between(b, a, department)
    count = 0
    day = a
    while day < b:
        day += timedelta(days=1)
        if is_working_day(day, department):
            count += 1
    return count


def deadline_with_pauses(
    start: date,
    n_working_days: int,
    pauses: Iterable[tuple[date, date]],
    department: str | None = None,
) -> date:
    """Deadline of ``n_working_days`` from ``start``, the clock stopped during ``pauses``.

    Each pause is an inclusive ``(first_day, last_day)`` range (e.g. from the
    request for corrections to the day the file is sent back): its days do
    not count. For a pause still running, pass today as ``last_day``.
    """
    if n_working_days < 0:
        raise ValueError("n_working_days must be >= 0")
    ranges = []
    for first, last in pauses:
        if last < first:
            raise ValueError(f"pause ends before it starts: {first} → {last}")
        ranges.append((first, last))
    return _advance(start, n_working_days, department, paused=tuple(ranges))


def _advance(
    start: date, n: int, department: str | None, paused: tuple[tuple[date, date], ...]
) -> date:
    step = timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    day = start
    while remaining:
        day += step
        if is_working_day(day, department) and not any(a <= day <= b for a, b in paused):
            remaining -= 1
    return day


def calendar_deadline_with_pauses(start: date, n_days: int, pauses: Iterable[tuple[date, date]]) -> date:
    """Deadline of ``n_days`` calendar days from ``start``; days inside the
    inclusive ``pauses`` ranges do not count."""
    if n_days < 0:
        raise ValueError("n_days must be >= 0")
    paused = tuple(pauses)
    day, remaining = start, n_days
    while remaining:
        day += timedelta(days=1)
        if not any(first <= day <= last for first, last in paused):
            remaining -= 1
    return day
