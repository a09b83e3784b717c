"""Instruction (issue 6): saved views of the workspace, expert invitations,
conflict-of-interest declarations and the staff's private annotations."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.application import Application
    from app.models.user import User

REVIEWER_ROLES = ("instructor", "expert")


class SavedView(Base):
    """A named set of workspace filters kept for one user."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    # The query-string parameters of the workspace (filters, sort), as strings.
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
    )


class ExpertInvitation(Base):
    """An expert asked to review one file before a due date; revocable."""

    __tablename__ = "expert_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_reminded_on: Mapped[date | None] = mapped_column(Date)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)

    application: Mapped["Application"] = relationship()
    expert: Mapped["User"] = relationship(foreign_keys=[expert_id])
    invited_by: Mapped["User | None"] = relationship(foreign_keys=[invited_by_id])

    __table_args__ = (
        Index("ix_expert_invitations_expert_revoked", "expert_id", "revoked_at"),
        CheckConstraint("reminders_sent >= 0", name="reminders_positive"),
    )

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ConflictDeclaration(Base):
    """A reviewer's declaration on one file: no conflict, or a conflict and
    the link. Append-only: the latest row per (user, file) counts."""

    __tablename__ = "conflict_declarations"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    has_conflict: Mapped[bool] = mapped_column(Boolean)
    link: Mapped[str | None] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_conflict_declarations_user_application", "user_id", "application_id", "id"),
        CheckConstraint("role IN ('instructor', 'expert')", name="role"),
        CheckConstraint("NOT has_conflict OR link IS NOT NULL", name="conflict_has_link"),
    )


class Annotation(Base):
    """A private note of the staff on a file: never shown to applicants or experts."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped["User | None"] = relationship()

    __table_args__ = (CheckConstraint("length(body) > 0", name="body_not_empty"),)
