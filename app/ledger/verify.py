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


@dataclass(frozen=True)
class BrokenInvariant:
    """An invariant of DOMAIN.md §4 broken by the totals recomputed from the entries."""

    account_id: int
    key: str
    problem: str

    def __str__(self) -> str:
        return f"account {self.key}: {self.problem}"


def _computed_totals(session: Session) -> dict[int, dict[str, int]]:
    sums: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(rules.FIELDS, 0))
    for account_id, field, total in session.execute(
        select(LedgerLeg.account_id, LedgerLeg.field, func.sum(LedgerLeg.delta_cents))
        .group_by(LedgerLeg.account_id, LedgerLeg.field)
    ):
        sums[account_id][field] = int(total)
    return sums


def check_invariants(session: Session) -> list[BrokenInvariant]:
    """Check every invariant on the totals recomputed from the legs (not on the
    stored ones, which ``check_totals`` compares): no negative total;
    reserved + committed within the limit on every capped account (plan, year,
    axis, call, file); payments within the commitment on every account but the
    years (on a file: payments ≤ commitment per file); a year's payments within
    its payment credits; the de minimis ceiling of every single undertaking."""
    sums = _computed_totals(session)
    out: list[BrokenInvariant] = []
    rows = session.execute(select(LedgerAccount.id, LedgerAccount.key, LedgerAccount.kind, LedgerAccount.limit_cents,
                                  LedgerAccount.credit_cents).order_by(LedgerAccount.id))
    for account_id, key, kind, limit, credits in rows:
        t = sums.get(account_id, dict.fromkeys(rules.FIELDS, 0))
        for field in rules.FIELDS:
            if t[field] < 0:
                out.append(BrokenInvariant(account_id, key, f"{field} is negative ({t[field]})"))
        if limit is not None and t["reserved"] + t["committed"] > limit:
            out.append(BrokenInvariant(account_id, key, f"reserved {t['reserved']} + committed {t['committed']} "
                                                        f"exceeds the limit {limit}"))
        if kind != "year" and t["paid"] > t["committed"]:
            out.append(BrokenInvariant(account_id, key, f"paid {t['paid']} exceeds committed {t['committed']}"))
        if credits is not None and t["paid"] > credits:
            out.append(BrokenInvariant(account_id, key, f"paid {t['paid']} exceeds the year's payment credits {credits}"))
    return out + check_de_minimis(session)


def check_de_minimis(session: Session) -> list[BrokenInvariant]:
    """Re-check the de minimis ceiling of every single undertaking (each SIREN
    with the companies linked to it) from the entries: for each file's aid,
    dated by its last reservation or grant, the group's aid within the rolling
    window ending that day plus what that file's applicant declared must stay
    within the ceiling."""
    from app.ledger.operations import _declared_de_minimis, aids_on_undertaking
    from app.ledger.undertakings import group_accounts
    from app.models import Application

    out: list[BrokenInvariant] = []
    done: set[int] = set()
    undertakings = session.execute(select(LedgerAccount).where(LedgerAccount.kind == "undertaking")
                                   .order_by(LedgerAccount.siren)).scalars().all()
    for account in undertakings:
        if account.id in done or account.rolling_limit_cents is None:
            continue
        group = group_accounts(session, account.siren)
        done |= {a.id for a in group}
        years = account.rolling_years or rules.DE_MINIMIS_YEARS
        aids = [a for a in aids_on_undertaking(session, group) if a.amount_cents > 0 and a.granted_on is not None]
        files = {application.id: application for application in session.execute(
            select(Application).where(Application.id.in_([a.application_id for a in aids]))).scalars()}
        for aid in aids:
            start = rules.years_before(aid.granted_on, years)
            within = sum(a.amount_cents for a in aids if start < a.granted_on <= aid.granted_on)
            application = files.get(aid.application_id)
            declared = _declared_de_minimis(application) if application is not None else 0
            if within + declared > account.rolling_limit_cents:
                name = "+".join(a.siren for a in group)
                out.append(BrokenInvariant(account.id, f"undertaking:{name}",
                                           f"de minimis {within} (+ {declared} declared) over {years} years to "
                                           f"{aid.granted_on.isoformat()} (file {aid.application_id}) exceeds the "
                                           f"ceiling {account.rolling_limit_cents}"))
    return out


@dataclass(frozen=True)
class Summary:
    """The ledger in one line: entries, and the plans' totals and envelope left."""

    entries: int
    accounts: int
    reserved_cents: int
    committed_cents: int
    paid_cents: int
    envelope_left_cents: int

    def __str__(self) -> str:
        def euros(cents: int) -> str:
            return f"{cents / 100:,.2f} €".replace(",", " ")

        return (f"{self.entries} entries over {self.accounts} accounts; reserved {euros(self.reserved_cents)}, "
                f"committed {euros(self.committed_cents)}, paid {euros(self.paid_cents)}, "
                f"envelope left {euros(self.envelope_left_cents)}")


def summary(session: Session) -> Summary:
    """Totals of the plan accounts recomputed from the legs (envelope left: the
    plans' envelopes less what is reserved and committed)."""
    sums = _computed_totals(session)
    reserved = committed = paid = left = 0
    for account_id, limit in session.execute(select(LedgerAccount.id, LedgerAccount.limit_cents)
                                             .where(LedgerAccount.kind == "plan")):
        t = sums.get(account_id, dict.fromkeys(rules.FIELDS, 0))
        reserved, committed, paid = reserved + t["reserved"], committed + t["committed"], paid + t["paid"]
        left += (limit or 0) - t["reserved"] - t["committed"]
    entries = session.execute(select(func.count(LedgerEntry.id))).scalar_one()
    accounts = session.execute(select(func.count(LedgerAccount.id))).scalar_one()
    return Summary(entries, accounts, reserved, committed, paid, left)
