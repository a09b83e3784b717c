"""Reviews of files (experts and instructors) and the instructor's report."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.application import Application
    from app.models.user import User

REVIEW_STATUSES = ("draft", "submitted")
EXPENSE_DECISIONS = ("accepted", "reduced", "refused")


class Review(Base):
    """One reviewer's scores on one file, scored on the call's grid.

    A draft is seen by its author only; once submitted it counts in the
    aggregation and can only be reopened by the file's lead instructor."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The role the reviewer scored in ("expert" or "instructor").
    reviewer_role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    # The grid the review was scored on (its name), and {criterion code: integer score}.
    grid_name: Mapped[str] = mapped_column(String(60))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The reviewer's overall opinion on the file (shown in the instruction report).
    opinion: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)

    application: Mapped["Application"] = relationship()
    reviewer: Mapped["User"] = relationship()

    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id", name="uq_reviews_application_reviewer"),
        CheckConstraint("status IN ('draft', 'submitted')", name="status"),
        CheckConstraint("reviewer_role IN ('expert', 'instructor')", name="reviewer_role"),
        CheckConstraint("(status = 'submitted') = (submitted_at IS NOT NULL)", name="submitted_at_iff_submitted"),
    )


class InstructionReport(Base):
    """The lead instructor's report on a file: the eligible expenses line by
    line, the opinion; the aid is computed from them (``app.operations.reviews``)
    and the proposal is stored on the file (``proposed_amount_cents``)."""

    __tablename__ = "instruction_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), unique=True)
    # {expense row index (str): {"decision": accepted|reduced|refused, "eligible_cents": int, "reason": str}}
    expense_decisions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Effective collaboration (GBER +15 points) as checked by the instructor.
    collaboration: Mapped[bool] = mapped_column(Boolean, default=False)
    opinion: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    application: Mapped["Application"] = relationship()
