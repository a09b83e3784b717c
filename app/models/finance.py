"""The execution of a grant: its agreement (« convention »), the payment
requests filed by the applicant and validated and paid by finance, and the
co-financing of each file by funder. The money itself moves in the ledger
(``app.ledger``); these rows say why."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.application import Application
    from app.models.ledger import LedgerEntry
    from app.models.user import User

PAYMENT_REQUEST_KINDS = ("advance", "interim", "balance")
PAYMENT_REQUEST_STATUSES = ("filed", "validated", "paid", "rejected", "reversed")
FUNDERS = ("region", "feder", "etat", "industriel", "academique")


class Agreement(Base):
    """The signed agreement of a file: the aid rate on the eligible cost base,
    the amount committed, and the payment schedule's shares (basis points,
    copied from the configuration when it is recorded)."""

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    signed_on: Mapped[date] = mapped_column(Date)
    aid_rate_bp: Mapped[int] = mapped_column(Integer)  # 5000 = 50 %
    eligible_costs_cents: Mapped[int] = mapped_column(BigInteger)
    committed_cents: Mapped[int] = mapped_column(BigInteger)
    bank_guarantee: Mapped[bool] = mapped_column(Boolean, default=False)
    advance_share_bp: Mapped[int] = mapped_column(Integer)
    interim_cap_bp: Mapped[int] = mapped_column(Integer)
    long_interim_cap_bp: Mapped[int] = mapped_column(Integer)
    long_after_months: Mapped[int] = mapped_column(Integer)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped["Application"] = relationship()

    @property
    def single_payment(self) -> bool:
        """An aid at or below the agreement threshold: no convention, the decision letter's terms
        (no advance, no interim payment: one payment on justification)."""
        return self.long_interim_cap_bp == 0

    __table_args__ = (
        CheckConstraint("aid_rate_bp > 0 AND aid_rate_bp <= 10000", name="aid_rate"),
        CheckConstraint("eligible_costs_cents > 0", name="eligible_costs_positive"),
        CheckConstraint("committed_cents > 0", name="committed_positive"),
        CheckConstraint("advance_share_bp >= 0 AND advance_share_bp <= interim_cap_bp", name="advance_share"),
        CheckConstraint("interim_cap_bp <= long_interim_cap_bp AND long_interim_cap_bp <= 10000", name="interim_caps"),
        CheckConstraint("long_after_months > 0", name="long_after_positive"),
    )


class PaymentRequest(Base):
    """A request for payment (advance, interim, balance) with the expenses spent
    (``expenses``: lines ``{"label", "amount_cents"}``); finance validates it
    (« service fait »), possibly reducing it with a reason, then pays it."""

    __tablename__ = "payment_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="filed")
    requested_cents: Mapped[int] = mapped_column(BigInteger)
    expenses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    declared_costs_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted_costs_cents: Mapped[int | None] = mapped_column(BigInteger)
    accepted_cents: Mapped[int | None] = mapped_column(BigInteger)
    decommit_cents: Mapped[int | None] = mapped_column(BigInteger)
    reduction_reason: Mapped[str | None] = mapped_column(Text)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    validated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pay_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    decommit_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))

    application: Mapped["Application"] = relationship()
    filed_by: Mapped["User | None"] = relationship(foreign_keys=[filed_by_id])
    pay_entry: Mapped["LedgerEntry | None"] = relationship(foreign_keys=[pay_entry_id])

    __table_args__ = (
        CheckConstraint("kind IN ('advance', 'interim', 'balance')", name="kind"),
        CheckConstraint("status IN ('filed', 'validated', 'paid', 'rejected', 'reversed')", name="status"),
        CheckConstraint("requested_cents >= 0", name="requested_positive"),
        CheckConstraint("declared_costs_cents >= 0", name="declared_positive"),
        CheckConstraint("accepted_costs_cents IS NULL OR accepted_costs_cents >= 0", name="accepted_costs_positive"),
        CheckConstraint("accepted_cents IS NULL OR accepted_cents >= 0", name="accepted_positive"),
        CheckConstraint("status IN ('filed', 'rejected') OR accepted_cents IS NOT NULL", name="validated_amount"),
        CheckConstraint("status <> 'paid' OR paid_at IS NOT NULL", name="paid_date"),
    )

    @property
    def open(self) -> bool:
        return self.status in ("filed", "validated")


class CoFinancing(Base):
    """One funder's amount in a file's financing plan."""

    __tablename__ = "cofinancings"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    funder: Mapped[str] = mapped_column(String(12))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("funder IN ('region', 'feder', 'etat', 'industriel', 'academique')", name="funder"),
        CheckConstraint("amount_cents >= 0", name="amount_positive"),
        UniqueConstraint("application_id", "funder", name="uq_cofinancings_application_funder"),
    )
