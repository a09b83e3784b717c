"""The regional AI plan, its axes and its calls for projects."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.application import Application
    from app.models.form import FormVersion

CALL_STATUSES = ("draft", "published", "closed")


class Plan(Base):
    """The plan's envelope: total over its years and a ceiling per year (cents)."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    start_year: Mapped[int] = mapped_column(Integer)
    years: Mapped[int] = mapped_column(Integer)
    envelope_cents: Mapped[int] = mapped_column(BigInteger)
    yearly_ceiling_cents: Mapped[int] = mapped_column(BigInteger)
    leverage_target: Mapped[int] = mapped_column(Integer, default=6)

    axes: Mapped[list["Axis"]] = relationship(back_populates="plan", order_by="Axis.number")

    __table_args__ = (
        CheckConstraint("envelope_cents > 0", name="envelope_positive"),
        CheckConstraint("yearly_ceiling_cents > 0 AND yearly_ceiling_cents <= envelope_cents", name="ceiling"),
        CheckConstraint("years > 0", name="years_positive"),
    )

    @property
    def end_year(self) -> int:
        return self.start_year + self.years - 1


class Axis(Base):
    __tablename__ = "axes"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))

    plan: Mapped[Plan] = relationship(back_populates="axes")
    calls: Mapped[list["Call"]] = relationship(back_populates="axis")

    __table_args__ = (UniqueConstraint("plan_id", "number", name="uq_axes_plan_number"),)


class Call(Base):
    """A call for projects (AMI, Pack IA…), open between two instants."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    # Prefix of the files' references, e.g. PIA → PIA-2026-0042.
    file_prefix: Mapped[str] = mapped_column(String(10), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text, default="")
    axis_id: Mapped[int] = mapped_column(ForeignKey("axes.id"))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    budget_cents: Mapped[int] = mapped_column(BigInteger)
    max_aid_cents: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    workflow_name: Mapped[str] = mapped_column(String(60))
    # The State-aid regime of the call's grants (DOMAIN.md §5), recorded on
    # every ledger entry: "de_minimis" or "gber:<article>" (e.g. "gber:25").
    aid_regime: Mapped[str] = mapped_column(String(40), default="de_minimis", server_default="de_minimis")
    # The call's scoring grid, ``scoring/grids/<grid_name>.yaml`` (criteria, aggregation,
    # tie-breakers, aid scheme); None: the grid named like the workflow.
    grid_name: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    axis: Mapped[Axis] = relationship(back_populates="calls")
    applications: Mapped[list["Application"]] = relationship(back_populates="call")
    form_versions: Mapped[list["FormVersion"]] = relationship(back_populates="call", order_by="FormVersion.number")

    @property
    def current_form(self) -> "FormVersion | None":
        return self.form_versions[-1] if self.form_versions else None

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'closed')", name="status"),
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        CheckConstraint("budget_cents > 0", name="budget_positive"),
        CheckConstraint("max_aid_cents IS NULL OR max_aid_cents > 0", name="max_aid_positive"),
        CheckConstraint("aid_regime = 'de_minimis' OR aid_regime LIKE 'gber:_%'", name="aid_regime"),
    )

    def is_open(self, now: datetime) -> bool:
        return self.status == "published" and self.opens_at <= now < self.closes_at

    def __repr__(self) -> str:
        return f"<Call {self.reference}>"
