"""Letter texts per call, and background export jobs (ZIP of decision letters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.user import User

LETTER_KINDS = ("decision_approval", "decision_refusal", "agreement", "receipt", "ineligibility")
EXPORT_STATUSES = ("queued", "running", "done", "failed", "purged")


class LetterTemplate(Base):
    """The editable text of one kind of letter for one call, with placeholders
    (``{reference}``, ``{montant}``…) checked when saved (``app.letters``)."""

    __tablename__ = "letter_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("call_id", "kind", name="uq_letter_templates_call_kind"),
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in LETTER_KINDS)})", name="kind"),
    )


class ExportJob(Base):
    """A background export (the decision letters of a selection of files as one
    ZIP). ``running_key`` is set while the job is queued or running and cleared
    when it ends: its unique constraint stops the same export running twice."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), default="decision_letters")
    selection_key: Mapped[str] = mapped_column(String(80))
    label: Mapped[str] = mapped_column(String(200))
    application_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    running_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    result_path: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    requester: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'purged')", name="status"),
        CheckConstraint("done >= 0 AND done <= total", name="progress"),
        CheckConstraint("(status IN ('queued', 'running')) = (running_key IS NOT NULL)", name="running_key_while_active"),
        CheckConstraint("status <> 'done' OR result_path IS NOT NULL", name="done_has_result"),
    )
