"""File references such as ``PIA-2026-0042``: a gapless counter per prefix and year."""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ReferenceCounter


def next_reference(session: Session, prefix: str, year: int) -> str:
    """Advance the counter with one conditional UPDATE (row-locked on PostgreSQL,
    serialised on SQLite); the first of the year inserts the row under a savepoint."""
    stmt = (
        update(ReferenceCounter)
        .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
        .values(last_value=ReferenceCounter.last_value + 1)
        .returning(ReferenceCounter.last_value)
    )
    value = session.execute(stmt).scalar()
    if value is None:
        try:
            with session.begin_nested():
                session.execute(insert(ReferenceCounter).values(prefix=prefix, year=year, last_value=1))
            value = 1
        except IntegrityError:  # another transaction created it first
            value = session.execute(stmt).scalar()
    return format_reference(prefix, year, int(value))


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:04d}"


def reserve_numbers(session: Session, prefix: str, year: int, count: int) -> range:
    """Take ``count`` consecutive numbers at once (bulk loads)."""
    if count <= 0:
        return range(0)
    first = int(next_reference(session, prefix, year).rsplit("-", 1)[1])
    if count > 1:
        session.execute(
            update(ReferenceCounter)
            .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
            .values(last_value=ReferenceCounter.last_value + (count - 1))
        )
    return range(first, first + count)
