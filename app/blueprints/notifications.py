"""In-app notifications: the list, marking as read, and the staff's e-mail
preferences (instant, daily digest, none)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from app.db_helpers import commit
from app.extensions import db
from app.forms.letters import NotificationPreferenceForm
from app.forms.organisations import ConfirmForm
from app.formatting import translate as _
from app.models import Notification, NotificationPreference
from app.operations import notifications as ops

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def unread_count() -> int:
    """For the header (one query per page, authenticated users only)."""
    if not current_user.is_authenticated:
        return 0
    return db.session.execute(select(func.count(Notification.id)).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None))).scalar_one()


def _preference_form() -> NotificationPreferenceForm:
    form = NotificationPreferenceForm()
    if not form.is_submitted():
        pref = db.session.get(NotificationPreference, current_user.id)
        form.mode.data = pref.mode if pref else "instant"
    return form


def _page(form: NotificationPreferenceForm | None = None, status: int = 200):
    items = db.session.execute(select(Notification).where(Notification.user_id == current_user.id)
                               .order_by(Notification.id.desc()).limit(100)).scalars().all()
    pref_form = form or (_preference_form() if current_user.is_staff else None)
    return render_template("notifications/index.html", items=items, confirm=ConfirmForm(), pref_form=pref_form), status


@bp.get("/")
@login_required
def index():
    return _page()


@bp.post("/<int:notification_id>/lue")
@login_required
def read(notification_id: int):
    item = db.session.get(Notification, notification_id)
    if item is None or item.user_id != current_user.id:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ops.mark_read(db.session, current_user, item.id)
    commit()
    return redirect(url_for("notifications.index"))


@bp.post("/tout-lu")
@login_required
def mark_all_read():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ops.mark_read(db.session, current_user)
    commit()
    flash(_("Toutes les notifications sont marquées comme lues."), "success")
    return redirect(url_for("notifications.index"))


@bp.post("/preferences")
@login_required
def preferences():
    if not current_user.is_staff:
        abort(403)
    form = _preference_form()
    if not form.validate_on_submit():
        return _page(form, 422)
    ops.set_notification_mode(db.session, current_user, form.mode.data)
    commit()
    flash(_("Préférences enregistrées."), "success")
    return redirect(url_for("notifications.index"))
