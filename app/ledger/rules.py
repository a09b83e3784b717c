"""The ledger's rules as plain values (no Flask, no SQLAlchemy).

Each operation moves an amount between the three states of money on every
level of a file's chain. ``VECTORS`` says how: for an operation of amount
``a`` the legs of one level sum to ``a × (reserved, committed, paid)``.
A reversal moves the negated vector of the entry it reverses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Iterable

FIELDS = ("reserved", "committed", "paid")

VECTORS: dict[str, tuple[int, int, int]] = {
    "reserve": (1, 0, 0),    # committee proposal
    "release": (-1, 0, 0),   # refusal, withdrawal, reservation not taken up
    "commit": (-1, 1, 0),    # signed decision: the reservation becomes a legal commitment
    "pay": (0, 0, 1),        # advance, interim payment, balance
    "decommit": (0, -1, 0),  # underspend, cancellation, lapse (« dégagement »)
}

# The levels of a chain, in the order their rows are locked (every
# transaction takes them in this order, so two cannot deadlock).
LOCK_ORDER = ("plan", "year", "axis", "call", "undertaking", "file")

DE_MINIMIS = "de_minimis"
# Reg. (EU) 2023/2831: 300,000 € per single undertaking over any 3 years.
DE_MINIMIS_CEILING_CENTS = 30_000_000
DE_MINIMIS_YEARS = 3

_GBER = re.compile(r"^gber:[0-9A-Za-z][0-9A-Za-z.()\-]{0,30}$")


def valid_regime(regime: str) -> bool:
    """``de_minimis`` or ``gber:<article>`` (``gber:25``, ``gber:28``, ``gber:25(2)(b)``…)."""
    return regime == DE_MINIMIS or bool(_GBER.match(regime or ""))


def vector(operation: str, reversed_operation: str | None = None) -> tuple[int, int, int]:
    if operation == "reversal":
        if reversed_operation is None or reversed_operation == "reversal":
            raise ValueError("a reversal reverses a plain operation")
        return tuple(-v for v in VECTORS[reversed_operation])  # type: ignore[return-value]
    return VECTORS[operation]


def expected_levels(base_operation: str, regime: str) -> frozenset[str]:
    """The levels an entry must move: the whole chain, plus the undertaking
    for de minimis aid (payments do not touch the de minimis count)."""
    levels = {"plan", "year", "axis", "call", "file"}
    if regime == DE_MINIMIS and base_operation != "pay":
        levels.add("undertaking")
    return frozenset(levels)


def expected_sums(operation: str, amount_cents: int, reversed_operation: str | None = None) -> dict[str, int]:
    """What the legs of one level must sum to, per field (zeros included)."""
    return {f: v * amount_cents for f, v in zip(FIELDS, vector(operation, reversed_operation))}


def balance_problems(
    operation: str,
    amount_cents: int,
    regime: str,
    legs: Iterable[tuple[str, str, int]],
    reversed_operation: str | None = None,
) -> list[str]:
    """Check one entry's legs, given as (level, field, delta). Empty list: balanced."""
    base = reversed_operation if operation == "reversal" else operation
    if base is None:
        return ["reversal without the entry it reverses"]
    want = expected_sums(operation, amount_cents, reversed_operation)
    got: dict[str, dict[str, int]] = {}
    for level, field, delta in legs:
        got.setdefault(level, dict.fromkeys(FIELDS, 0))[field] += delta
    problems = []
    levels = expected_levels(base, regime)
    for level in sorted(set(got) - levels):
        problems.append(f"unexpected legs on the {level} level")
    for level in sorted(levels):
        sums = got.get(level, dict.fromkeys(FIELDS, 0))
        if sums != want:
            problems.append(f"{level} level moves {sums}, {operation} of {amount_cents} requires {want}")
    return problems


def years_before(on: date, years: int) -> date:
    """The same day ``years`` years earlier (29 February → 28 February)."""
    try:
        return on.replace(year=on.year - years)
    except ValueError:
        return on.replace(year=on.year - years, day=28)


@dataclass(frozen=True)
class AidOnUndertaking:
    """One file's de minimis aid as the ledger holds it: its amount still
    reserved or committed, and the last date it was reserved or granted."""

    application_id: int
    amount_cents: int
    granted_on: date | None


def counted_de_minimis(aids: Iterable[AidOnUndertaking], on: date, years: int = DE_MINIMIS_YEARS) -> int:
    """The aid that counts at ``on``: every file whose aid was reserved or
    granted within the rolling window (``on`` − ``years``, ``on``]."""
    start = years_before(on, years)
    return sum(a.amount_cents for a in aids if a.amount_cents > 0 and (a.granted_on is None or a.granted_on > start))


def split_from_years(available: Iterable[tuple[int, int]], amount_cents: int, preferred_year: int) -> tuple[list[tuple[int, int]], int]:
    """Take ``amount_cents`` from per-year amounts ``(year, available)``: the
    preferred year first, then the others in year order. Returns the takes
    ``(year, amount)`` and what could not be covered."""
    pairs = sorted(available, key=lambda p: (p[0] != preferred_year, p[0]))
    takes, remaining = [], amount_cents
    for year, held in pairs:
        if remaining <= 0:
            break
        take = min(held, remaining)
        if take > 0:
            takes.append((year, take))
            remaining -= take
    return takes, remaining
