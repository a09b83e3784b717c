"""Administration: users and roles, calls."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.access import role_required
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.forms.auth import StaffUserForm
from app.formatting import translate as _
from app.models import Call, User
from app.operations import accounts

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _user_form() -> StaffUserForm:
    form = StaffUserForm()
    calls = db.session.execute(select(Call).order_by(Call.reference)).scalars().all()
    form.call_id.choices = [(0, _("Tous les appels"))] + [(c.id, f"{c.reference} — {c.title}") for c in calls]
    return form


@bp.get("/")
@role_required("admin")
def index():
    users = db.session.execute(select(User).options(selectinload(User.roles)).order_by(User.email)).scalars().all()
    calls = db.session.execute(select(Call).order_by(Call.opens_at.desc())).scalars().all()
    return render_template("admin/index.html", users=users, calls=calls, form=_user_form())


@bp.post("/utilisateurs")
@role_required("admin")
def create_user():
    form = _user_form()
    if form.validate_on_submit():
        call_id = form.call_id.data or None
        try:
            user = accounts.create_user(
                db.session, email=form.email.data, name=form.name.data, password=form.password.data,
                roles=[(form.role.data, None if form.role.data == "applicant" else call_id)],
                actor=current_user, actor_role="admin",
            )
        except UserFacingError as exc:
            db.session.rollback()
            form.email.errors = [*form.email.errors, exc.message]
        else:
            commit()
            flash(_("Compte créé pour %(email)s.", email=user.email), "success")
            return redirect(url_for("admin.index"))
    users = db.session.execute(select(User).options(selectinload(User.roles)).order_by(User.email)).scalars().all()
    calls = db.session.execute(select(Call).order_by(Call.opens_at.desc())).scalars().all()
    return render_template("admin/index.html", users=users, calls=calls, form=form), 422
