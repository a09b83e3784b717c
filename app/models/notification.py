"""In-app notifications and the staff's e-mail preferences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow

NOTIFICATION_MODES = ("instant", "digest", "none")
MAIL_STATUSES = ("queued", "sent", "digest_pending", "digested", "skipped")


class Notification(Base):
    """One message for one user, shown in the app; ``mail_status`` says what
    happened to its e-mail (sent at once, waiting for the daily digest…)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mail_status: Mapped[str] = mapped_column(String(15), default="sent")
    # The key of the job that wrote it (one per notification sent): a retried
    # job finds its rows and mails only those still ``queued``.
    job_key: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        CheckConstraint(f"mail_status IN ({', '.join(repr(s) for s in MAIL_STATUSES)})", name="mail_status"),
        UniqueConstraint("user_id", "job_key", name="uq_notifications_user_job_key"),
        Index("ix_notifications_user_read", "user_id", "read_at"),
        Index("ix_notifications_mail_status", "mail_status"),
    )


class NotificationPreference(Base):
    """How a staff member wants notifications by e-mail: at once, in a daily
    digest, or not at all (in-app notifications are always kept). No row means
    ``instant``."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10), default="instant")
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint("mode IN ('instant', 'digest', 'none')", name="mode"),)
