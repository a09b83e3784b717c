"""The payment schedule of a grant as plain values (no Flask, no SQLAlchemy).

Shares are in basis points of the committed aid (3000 = 30 %). Every
statement of expenses is cumulative (« état récapitulatif des dépenses »):
the costs spent on the project since its start, so an interim payment is the
aid rate × the costs so far, capped by the cumulated share, less what was
already paid; the balance is the aid rate × the final actual costs, capped by
the commitment, less what was paid, and what remains of the commitment is
decommitted (DOMAIN.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

FULL = 10_000  # basis points


def share(amount_cents: int, basis_points: int) -> int:
    """``basis_points`` of ``amount_cents``, rounded down to the cent."""
    return amount_cents * basis_points // FULL


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (0 when ``end`` is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (1 if end.day < start.day else 0)
    return max(months, 0)


@dataclass(frozen=True)
class Schedule:
    """A file's payment schedule, from its agreement."""

    committed_cents: int
    aid_rate_bp: int
    advance_share_bp: int
    interim_cap_bp: int
    long_interim_cap_bp: int
    long_after_months: int

    def advance_cap(self) -> int:
        return share(self.committed_cents, self.advance_share_bp)

    def cumulative_cap_bp(self, started_on: date | None, on: date) -> int:
        """Advance + interim payments together: 80 %, 90 % once the work has
        run longer than ``long_after_months``."""
        if started_on is not None and months_between(started_on, on) >= self.long_after_months:
            return self.long_interim_cap_bp
        return self.interim_cap_bp

    def cumulative_cap(self, started_on: date | None, on: date) -> int:
        return share(self.committed_cents, self.cumulative_cap_bp(started_on, on))

    def aid_on(self, costs_cents: int) -> int:
        """The aid due on ``costs_cents`` of eligible costs, never above the commitment."""
        return min(share(costs_cents, self.aid_rate_bp), self.committed_cents)

    def advance_max(self, paid_cents: int) -> int:
        """The most an advance may pay (the advance is the first payment)."""
        return max(self.advance_cap() - paid_cents, 0)

    def interim_max(self, costs_cents: int, paid_cents: int, started_on: date | None, on: date) -> int:
        """The most an interim payment may pay on cumulative costs ``costs_cents``."""
        return max(min(self.aid_on(costs_cents), self.cumulative_cap(started_on, on)) - paid_cents, 0)

    def balance(self, costs_cents: int, paid_cents: int) -> tuple[int, int]:
        """``(to pay, to decommit)`` on the final actual costs: the aid due less
        what was paid (never negative), and the rest of the commitment."""
        to_pay = max(self.aid_on(costs_cents) - paid_cents, 0)
        return to_pay, self.committed_cents - paid_cents - to_pay
