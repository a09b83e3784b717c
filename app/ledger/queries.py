"""Reading balances (no change)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from app.ledger import rules
from app.models import Application, LedgerAccount, LedgerEntry, Plan


@dataclass(frozen=True)
class Balance:
    account_id: int | None
    key: str
    kind: str
    label: str
    limit_cents: int | None
    reserved_cents: int
    committed_cents: int
    paid_cents: int
    year: int | None = None

    @property
    def available_cents(self) -> int | None:
        """What can still be reserved (None: uncapped)."""
        if self.limit_cents is None:
            return None
        return self.limit_cents - self.reserved_cents - self.committed_cents

    @property
    def to_pay_cents(self) -> int:
        """Committed and not yet paid (meaningless on year accounts, where
        payments are counted by year of payment)."""
        return self.committed_cents - self.paid_cents

    @classmethod
    def of(cls, account: LedgerAccount) -> "Balance":
        return cls(account.id, account.key, account.kind, account.label, account.limit_cents, account.reserved_cents,
                   account.committed_cents, account.paid_cents, account.year)


def balances(session: Session, plan: Plan | None = None, *, kinds: tuple[str, ...] = ("plan", "year", "axis", "call"),
             call_id: int | None = None) -> list[Balance]:
    """The accounts' balances, in tree order: plan, its years, axes, calls
    (``kinds`` may add ``file`` and ``undertaking``), optionally one plan's or one call's."""
    order = case({kind: i for i, kind in enumerate(rules.LOCK_ORDER)}, value=LedgerAccount.kind)
    stmt = select(LedgerAccount).where(LedgerAccount.kind.in_(kinds))
    if plan is not None:
        stmt = stmt.where((LedgerAccount.plan_id == plan.id) | (LedgerAccount.kind == "undertaking"))
    if call_id is not None:
        stmt = stmt.where(LedgerAccount.call_id == call_id)
    stmt = stmt.order_by(order, LedgerAccount.year, LedgerAccount.id)
    return [Balance.of(a) for a in session.execute(stmt).scalars()]


def file_balance(session: Session, application: Application) -> Balance:
    """The file's totals (zeros when nothing was ever reserved)."""
    account = session.execute(select(LedgerAccount).where(LedgerAccount.key == f"file:{application.id}")).scalar_one_or_none()
    if account is None:
        return Balance(None, f"file:{application.id}", "file", application.reference, None, 0, 0, 0)
    return Balance.of(account)


def entries_of(session: Session, application: Application) -> list[LedgerEntry]:
    """The file's entries, oldest first."""
    return list(session.execute(
        select(LedgerEntry).where(LedgerEntry.application_id == application.id).order_by(LedgerEntry.id)
    ).scalars())
