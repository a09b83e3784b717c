"""Organisations (companies, labs, associations) identified by their SIRET."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from stdnum.exceptions import ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.user import User

GRAND_EST_DEPARTMENTS = ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88")
SIZE_CATEGORIES = ("micro", "small", "medium", "large")


class InvalidIdentifier(ValueError):
    """A SIRET or SIREN that fails python-stdnum's checks (La Poste's rule included)."""


def clean_siret(value: str) -> str:
    try:
        return stdnum_siret.validate(value)
    except ValidationError as exc:
        raise InvalidIdentifier(f"invalid SIRET {value!r}: {exc}") from None


def clean_siren(value: str) -> str:
    try:
        return stdnum_siren.validate(value)
    except ValidationError as exc:
        raise InvalidIdentifier(f"invalid SIREN {value!r}: {exc}") from None


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    siret: Mapped[str] = mapped_column(String(14), unique=True)
    siren: Mapped[str] = mapped_column(String(9), index=True)
    name: Mapped[str] = mapped_column(String(255))
    legal_form: Mapped[str | None] = mapped_column(String(100))
    headcount: Mapped[int | None] = mapped_column(Integer)
    turnover_cents: Mapped[int | None] = mapped_column(BigInteger)
    balance_sheet_cents: Mapped[int | None] = mapped_column(BigInteger)
    department: Mapped[str | None] = mapped_column(String(3))
    naf_code: Mapped[str | None] = mapped_column(String(6))
    address: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    # Figures of linked and partner enterprises, already aggregated as the EU
    # SME definition requires (100 % of linked ones, pro rata of partners).
    group_headcount: Mapped[int | None] = mapped_column(Integer)
    group_turnover_cents: Mapped[int | None] = mapped_column(BigInteger)
    group_balance_sheet_cents: Mapped[int | None] = mapped_column(BigInteger)
    size_category: Mapped[str | None] = mapped_column(String(10))
    # The figures and the rule that produced size_category, kept with it.
    size_basis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    size_computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="organisation", cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("length(siret) = 14", name="siret_length"),
        CheckConstraint("length(siren) = 9", name="siren_length"),
        CheckConstraint("substr(siret, 1, 9) = siren", name="siret_starts_with_siren"),
        CheckConstraint("headcount IS NULL OR headcount >= 0", name="headcount_positive"),
        CheckConstraint("turnover_cents IS NULL OR turnover_cents >= 0", name="turnover_positive"),
        CheckConstraint("balance_sheet_cents IS NULL OR balance_sheet_cents >= 0", name="balance_positive"),
        CheckConstraint(
            "size_category IS NULL OR size_category IN ('micro', 'small', 'medium', 'large')", name="size_category"
        ),
    )

    @validates("siret")
    def _validate_siret(self, key: str, value: str) -> str:
        return clean_siret(value)

    @validates("siren")
    def _validate_siren(self, key: str, value: str) -> str:
        return clean_siren(value)

    def __repr__(self) -> str:
        return f"<Organisation {self.siret} {self.name}>"


class Membership(Base):
    """A user acting for an organisation; the owner invites the others."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    is_owner: Mapped[bool] = mapped_column(default=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped["User"] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship(back_populates="memberships")

    __table_args__ = (UniqueConstraint("user_id", "organisation_id", name="uq_memberships_user_organisation"),)


class OrganisationInvitation(Base):
    """An owner invites someone by e-mail to act for the organisation."""

    __tablename__ = "organisation_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship()
