"""The append-only, hash-chained audit trail.

Each row stores the hash of the previous row (``prev_hash``) and its own hash
over its content and ``prev_hash``. ``prev_hash`` is unique, so two writers
racing to append after the same row cannot both succeed: the chain never forks.
Database triggers (see the migration) refuse UPDATE and DELETE.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.user import User

GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    actor: Mapped["User | None"] = relationship()

    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)


class AuditPurgeAllowed(Base):
    """Empty in normal operation. While a row exists, the triggers let DELETE on
    the audit log through: only the RGPD retention purge and test teardown do it."""

    __tablename__ = "audit_purge_allowed"

    id: Mapped[int] = mapped_column(primary_key=True)
