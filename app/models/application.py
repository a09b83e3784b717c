"""Files (« dossiers ») submitted by organisations to calls."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.call import Call
    from app.models.form import FormVersion
    from app.models.organisation import Organisation
    from app.models.user import User


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(40), default="draft")
    requested_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    workflow_version: Mapped[str] = mapped_column(ForeignKey("workflow_versions.hash"))
    form_version_id: Mapped[int | None] = mapped_column(ForeignKey("form_versions.id"))
    # Answers to the call's form, keyed by field key (money in cents, dates ISO).
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The time limit of the current stage (workflows/time_limits/<workflow>.yaml),
    # pushed back by the days the clock was paused (corrections requested).
    due_date: Mapped[date | None] = mapped_column(Date)
    due_state: Mapped[str | None] = mapped_column(String(40))
    # Instruction (issue 6): the instructor in charge and the amount proposed.
    assigned_instructor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                               index=True)
    proposed_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    # Decision (committee): the amount voted (never above the proposal), the
    # date of the decision and its deliberation number.
    awarded_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    decided_on: Mapped[date | None] = mapped_column(Date)
    deliberation_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    # Execution of the project: the start of the work and its completion (final
    # report) as declared; lapse (caducité) is due when they come too late.
    work_started_on: Mapped[date | None] = mapped_column(Date)
    work_completed_on: Mapped[date | None] = mapped_column(Date)

    call: Mapped["Call"] = relationship(back_populates="applications")
    organisation: Mapped["Organisation"] = relationship()
    created_by: Mapped["User | None"] = relationship(foreign_keys=[created_by_id])
    assigned_instructor: Mapped["User | None"] = relationship(foreign_keys=[assigned_instructor_id])
    form_version: Mapped["FormVersion | None"] = relationship()

    # Optimistic locking: every UPDATE checks and bumps ``version``; a stale
    # write raises StaleDataError instead of silently overwriting.
    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        CheckConstraint("requested_amount_cents >= 0", name="requested_positive"),
        CheckConstraint("state <> 'draft' OR submitted_at IS NULL", name="draft_not_submitted"),
        CheckConstraint("proposed_amount_cents IS NULL OR proposed_amount_cents > 0", name="proposed_positive"),
        CheckConstraint("awarded_amount_cents IS NULL OR awarded_amount_cents > 0", name="awarded_positive"),
        CheckConstraint(
            "awarded_amount_cents IS NULL OR proposed_amount_cents IS NULL "
            "OR awarded_amount_cents <= proposed_amount_cents", name="awarded_within_proposal"),
        Index("ix_applications_call_state", "call_id", "state"),
        Index("ix_applications_state_created", "state", "created_at"),
        # Deadlines (due_date alone) and the workspace's sort by due date (due_date, id): with the id in the
        # index, the first page is read in order, even when most files have no due date yet (bench/FINDINGS.md).
        Index("ix_applications_due_date_id", "due_date", "id"),
        # The instruction workspace (app/blueprints/workspace.py): its common
        # filters followed by its default sort (submitted_at desc, id desc).
        Index("ix_applications_call_state_submitted", "call_id", "state", "submitted_at", "id"),
        Index("ix_applications_state_submitted", "state", "submitted_at", "id"),
        Index("ix_applications_instructor_state_submitted", "assigned_instructor_id", "state", "submitted_at"),
        Index("ix_applications_call_requested", "call_id", "requested_amount_cents"),
    )

    def __repr__(self) -> str:
        return f"<Application {self.reference} {self.state}>"


class ReferenceCounter(Base):
    """Last sequence number given per (prefix, year), advanced atomically."""

    __tablename__ = "reference_counters"

    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)
