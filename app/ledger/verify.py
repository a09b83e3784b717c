"""Checking the ledger: stored totals against the sum of the legs, and the
balance of every entry. Read-only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.ledger import rules
from app.models import LedgerAccount, LedgerEntry, LedgerLeg


@dataclass(frozen=True)
class TotalMismatch:
    account_id: int
    key: str
    field: str
    stored_cents: int
    computed_cents: int

    def __str__(self) -> str:
        return (f"account {self.key}: {self.field} stored {self.stored_cents}, "
                f"sum of entries {self.computed_cents}")


@dataclass(frozen=True)
class UnbalancedEntry:
    entry_id: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.entry_id}: {self.problem}"


def check_totals(session: Session) -> list[TotalMismatch]:
    """Recompute every account's totals from the legs; list each difference."""
    sums: dict[tuple[int, str], int] = defaultdict(int)
    for account_id, field, total in session.execute(
        select(LedgerLeg.account_id, LedgerLeg.field, func.sum(LedgerLeg.delta_cents))
        .group_by(LedgerLeg.account_id, LedgerLeg.field)
    ):
        sums[(account_id, field)] = int(total)
    out = []
    rows = session.execute(select(LedgerAccount.id, LedgerAccount.key, LedgerAccount.reserved_cents,
                                  LedgerAccount.committed_cents, LedgerAccount.paid_cents).order_by(LedgerAccount.id))
    for account_id, key, reserved, committed, paid in rows:
        for field, stored in zip(rules.FIELDS, (reserved, committed, paid)):
            computed = sums.get((account_id, field), 0)
            if stored != computed:
                out.append(TotalMismatch(account_id, key, field, stored, computed))
    return out


def check_entries(session: Session, batch: int = 5000) -> list[UnbalancedEntry]:
    """Check that every entry's legs balance as its operation requires."""
    out: list[UnbalancedEntry] = []
    reversed_entry = aliased(LedgerEntry)
    last_id = 0
    while True:
        entries = session.execute(
            select(LedgerEntry.id, LedgerEntry.operation, LedgerEntry.amount_cents, LedgerEntry.regime,
                   reversed_entry.operation)
            .outerjoin(reversed_entry, reversed_entry.id == LedgerEntry.reverses_id)
            .where(LedgerEntry.id > last_id).order_by(LedgerEntry.id).limit(batch)
        ).all()
        if not entries:
            return out
        ids = [e[0] for e in entries]
        legs: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        for entry_id, kind, field, delta in session.execute(
            select(LedgerLeg.entry_id, LedgerAccount.kind, LedgerLeg.field, LedgerLeg.delta_cents)
            .join(LedgerAccount, LedgerAccount.id == LedgerLeg.account_id)
            .where(LedgerLeg.entry_id.in_(ids))
        ):
            legs[entry_id].append((kind, field, int(delta)))
        for entry_id, operation, amount, regime, reversed_operation in entries:
            for problem in rules.balance_problems(operation, amount, regime, legs[entry_id], reversed_operation):
                out.append(UnbalancedEntry(entry_id, problem))
        last_id = ids[-1]
