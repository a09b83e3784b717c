"""The budget ledger: capped accounts with running totals, append-only entries
and their legs. The rules that move money live in ``app.ledger``.

The database holds the invariants: totals are never negative, what is reserved
plus what is committed never exceeds a capped account's limit, payments never
exceed commitments (except on year accounts, where commitments are counted by
year of decision and payments by year of payment), and amounts are positive.
Triggers (see the migration) refuse UPDATE and DELETE on entries and legs:
corrections are reversing entries.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.application import Application
    from app.models.user import User

ACCOUNT_KINDS = ("plan", "year", "axis", "call", "file", "undertaking")
LEDGER_OPERATIONS = ("reserve", "release", "commit", "pay", "decommit", "reversal")
LEG_FIELDS = ("reserved", "committed", "paid")
PAYMENT_KINDS = ("advance", "interim", "balance")


class LedgerAccount(Base):
    """One envelope: the plan, a year of the plan, an axis, a call, a file, or a
    single undertaking (de minimis). ``key`` names it uniquely (``plan:1``,
    ``year:1:2026``, ``axis:3``, ``call:7``, ``file:42``, ``undertaking:812345678``)."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    label: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_accounts.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    year: Mapped[int | None] = mapped_column(Integer)
    axis_id: Mapped[int | None] = mapped_column(ForeignKey("axes.id"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), unique=True)
    siren: Mapped[str | None] = mapped_column(String(9))
    # Cap on reserved + committed (NULL: uncapped), enforced by a CHECK.
    limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    # De minimis: ceiling over a rolling window of years, enforced by the
    # operations under this row's lock (a running total cannot roll).
    rolling_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    rolling_years: Mapped[int | None] = mapped_column(Integer)
    # Year accounts: the payment credits (CP) voted for the year, a cap on what
    # the year pays (NULL: not voted, uncapped), enforced by a CHECK.
    credit_cents: Mapped[int | None] = mapped_column(BigInteger)
    reserved_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    committed_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paid_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    parent: Mapped["LedgerAccount | None"] = relationship(remote_side="LedgerAccount.id")

    __table_args__ = (
        CheckConstraint("kind IN ('plan', 'year', 'axis', 'call', 'file', 'undertaking')", name="kind"),
        CheckConstraint("reserved_cents >= 0", name="reserved_positive"),
        CheckConstraint("committed_cents >= 0", name="committed_positive"),
        CheckConstraint("paid_cents >= 0", name="paid_positive"),
        CheckConstraint("limit_cents IS NULL OR limit_cents >= 0", name="limit_positive"),
        CheckConstraint("limit_cents IS NULL OR reserved_cents + committed_cents <= limit_cents", name="within_limit"),
        CheckConstraint("kind = 'year' OR paid_cents <= committed_cents", name="paid_within_committed"),
        CheckConstraint(
            "(rolling_limit_cents IS NULL AND rolling_years IS NULL) OR "
            "(kind = 'undertaking' AND rolling_limit_cents >= 0 AND rolling_years > 0)",
            name="rolling_limit",
        ),
        CheckConstraint("kind <> 'year' OR (plan_id IS NOT NULL AND year IS NOT NULL)", name="year_identity"),
        CheckConstraint("credit_cents IS NULL OR (kind = 'year' AND credit_cents >= 0 AND paid_cents <= credit_cents)",
                        name="within_credits"),
        CheckConstraint("kind <> 'file' OR application_id IS NOT NULL", name="file_identity"),
        CheckConstraint("kind <> 'undertaking' OR siren IS NOT NULL", name="undertaking_identity"),
    )

    @property
    def available_cents(self) -> int | None:
        if self.limit_cents is None:
            return None
        return self.limit_cents - self.reserved_cents - self.committed_cents

    def __repr__(self) -> str:
        return f"<LedgerAccount {self.key} r={self.reserved_cents} c={self.committed_cents} p={self.paid_cents}>"


class LedgerEntry(Base):
    """One operation on one file, never changed once written."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    operation: Mapped[str] = mapped_column(String(10))
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    # Budget year: of the decision (reserve, commit, release, decommit), of the payment (pay).
    year: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # "de_minimis" or "gber:<article>" (e.g. "gber:25" for R&D).
    regime: Mapped[str] = mapped_column(String(40))
    payment_kind: Mapped[str | None] = mapped_column(String(10))
    # The date the operation takes effect (decision, payment); dates the de minimis window.
    effective_on: Mapped[date] = mapped_column(Date)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped["Application"] = relationship()
    actor: Mapped["User | None"] = relationship()
    reverses: Mapped["LedgerEntry | None"] = relationship(remote_side="LedgerEntry.id")
    legs: Mapped[list["LedgerLeg"]] = relationship(back_populates="entry", order_by="LedgerLeg.id")

    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "operation IN ('reserve', 'release', 'commit', 'pay', 'decommit', 'reversal')", name="operation"
        ),
        CheckConstraint(
            "(operation = 'reversal' AND reverses_id IS NOT NULL) OR (operation <> 'reversal' AND reverses_id IS NULL)",
            name="reversal_target",
        ),
        CheckConstraint("regime = 'de_minimis' OR regime LIKE 'gber:_%'", name="regime"),
        CheckConstraint("payment_kind IS NULL OR payment_kind IN ('advance', 'interim', 'balance')", name="payment_kind"),
        CheckConstraint("operation <> 'pay' OR payment_kind IS NOT NULL", name="pay_has_kind"),
    )

    def __repr__(self) -> str:
        return f"<LedgerEntry {self.id} {self.operation} {self.amount_cents}>"


class LedgerLeg(Base):
    """One movement of one entry on one account's total (reserved, committed or paid)."""

    __tablename__ = "ledger_legs"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    field: Mapped[str] = mapped_column(String(10))
    delta_cents: Mapped[int] = mapped_column(BigInteger)

    entry: Mapped[LedgerEntry] = relationship(back_populates="legs")
    account: Mapped[LedgerAccount] = relationship()

    __table_args__ = (
        CheckConstraint("field IN ('reserved', 'committed', 'paid')", name="field"),
        CheckConstraint("delta_cents <> 0", name="delta_not_zero"),
        UniqueConstraint("entry_id", "account_id", "field", name="uq_ledger_legs_entry_account_field"),
    )


class UndertakingLink(Base):
    """Two companies (by SIREN) declared linked: for de minimis they are one
    single undertaking (Reg. (EU) 2023/2831, art. 2(2)), the group of every
    SIREN connected to another by links. The pair is stored in order
    (``siren`` < ``linked_siren``), once."""

    __tablename__ = "undertaking_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    siren: Mapped[str] = mapped_column(String(9))
    linked_siren: Mapped[str] = mapped_column(String(9), index=True)
    # How they are linked, in the declarant's words (« filiale détenue à 100 % »).
    relation: Mapped[str] = mapped_column(String(200))
    declared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    declared_by: Mapped["User | None"] = relationship()

    __table_args__ = (
        CheckConstraint("siren < linked_siren", name="ordered_pair"),
        UniqueConstraint("siren", "linked_siren", name="uq_undertaking_links_pair"),
    )

    def other(self, siren: str) -> str:
        return self.linked_siren if siren == self.siren else self.siren
