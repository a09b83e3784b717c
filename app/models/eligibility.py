"""Eligibility: the automatic check results of each run, and the instructor's decision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow

OUTCOMES = ("pass", "fail", "review")


class EligibilityResult(Base):
    """One check's outcome in one run (runs are numbered per file)."""

    __tablename__ = "eligibility_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    run: Mapped[int] = mapped_column(Integer)
    check_name: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(String(6))
    reason: Mapped[str] = mapped_column(Text)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (CheckConstraint("outcome IN ('pass', 'fail', 'review')", name="outcome"),)


class EligibilityDecision(Base):
    """The instructor confirms the automatic outcome, or overrides it with a
    written justification. The latest decision counts."""

    __tablename__ = "eligibility_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    run: Mapped[int] = mapped_column(Integer)
    automatic_outcome: Mapped[str] = mapped_column(String(6))
    eligible: Mapped[bool] = mapped_column(Boolean)
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    justification: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        CheckConstraint("automatic_outcome IN ('pass', 'fail', 'review')", name="automatic_outcome"),
        CheckConstraint("NOT overridden OR justification IS NOT NULL", name="override_justified"),
    )
