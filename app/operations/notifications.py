"""Notification preferences and read marks."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.models import NOTIFICATION_MODES, Notification, NotificationPreference, User, utcnow


def set_notification_mode(session: Session, user: User, mode: str) -> NotificationPreference:
    """A staff member chooses how notifications reach them by e-mail (audited)."""
    if not user.is_staff:
        raise UserFacingError("Seuls les agents de la Région choisissent leur mode de notification.", status=403)
    if mode not in NOTIFICATION_MODES:
        raise UserFacingError("Mode de notification inconnu.", status=422)
    pref = session.get(NotificationPreference, user.id)
    before = pref.mode if pref else "instant"
    if pref is None:
        pref = NotificationPreference(user_id=user.id, mode=mode)
        session.add(pref)
    else:
        pref.mode = mode
    session.flush()
    audit.record(session, actor=user, role=None, object_type="user", object_id=user.id,
                 action="notification_preference", before={"mode": before}, after={"mode": mode})
    return pref


def mark_read(session: Session, user: User, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) as read."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return session.execute(stmt.values(read_at=utcnow())).rowcount or 0
