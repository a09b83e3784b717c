"""Administration: users and roles, calls."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from markupsafe import Markup
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
from app.operations.workflow_migration import migrate_call_files, plan_migration
from app.workflow_drawing import render_svg
from app.workflow_versions import definition_for

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


@bp.get("/appels/<reference>/circuit")
@role_required("admin")
def call_workflow(reference: str):
    call = _call_or_404(reference)
    plan = plan_migration(db.session, call)
    db.session.commit()  # publishing the current definition, if it was new, is kept
    definition = definition_for(db.session, plan.target_hash)
    return render_template("admin/workflow.html", call=call, plan=plan, definition=definition,
                           svg=Markup(render_svg(definition)))


@bp.post("/appels/<reference>/circuit/migrer")
@role_required("admin")
def migrate_workflow(reference: str):
    call = _call_or_404(reference)
    try:
        moved = migrate_call_files(db.session, call, current_user)
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        commit()
        flash(_("%(n)s dossier(s) passent à la version actuelle du circuit.", n=moved), "success")
    return redirect(url_for("admin.call_workflow", reference=reference))


def _call_or_404(reference: str) -> Call:
    call = db.session.execute(select(Call).where(Call.reference == reference)).scalar_one_or_none()
    if call is None:
        abort(404)
    return call
