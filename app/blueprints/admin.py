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
from app.forms.drafts import FormDefinitionForm
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


@bp.route("/appels/<reference>/regime-aide", methods=["GET", "POST"])
@role_required("admin")
def call_aid_regime(reference: str):
    import scoring
    from app.forms.payments import AidRegimeForm
    from app.operations.state_aid import set_aid_regime

    call = _admin_call(reference)
    form = AidRegimeForm(data={"aid_regime": call.aid_regime, "grid_name": call.grid_name or ""})
    form.grid_name.choices = [("", _("Grille du circuit (%(name)s)", name=call.workflow_name))] + [
        (name, name) for name in scoring.available_grids() if name != call.workflow_name]
    if form.validate_on_submit():
        try:
            set_aid_regime(db.session, call, form.aid_regime.data, actor=current_user, grid_name=form.grid_name.data)
            commit()
        except UserFacingError as exc:
            db.session.rollback()
            form.aid_regime.errors = [*form.aid_regime.errors, exc.message]
        else:
            flash(_("Le régime d'aide de l'appel est enregistré."), "success")
            return redirect(url_for("admin.index"), 303)
    return render_template("admin/aid_regime.html", call=call, form=form), 422 if form.errors else 200


# --- call forms (issue 3): versions and publication -----------------------------------------------


def _admin_call(reference: str) -> Call:
    call = db.session.execute(select(Call).where(Call.reference == reference)).scalar_one_or_none()
    if call is None:
        abort(404)
    if not current_user.has_role("admin", call.id):
        abort(403)
    return call


def _form_page(call: Call, form: FormDefinitionForm, problems: list[str] | None = None, status: int = 200):
    from sqlalchemy import func

    from app.models import Application, FormVersion

    versions = db.session.execute(
        select(FormVersion).where(FormVersion.call_id == call.id).order_by(FormVersion.number.desc())
    ).scalars().all()
    counts = dict(db.session.execute(
        select(Application.form_version_id, func.count(Application.id)).where(Application.call_id == call.id)
        .group_by(Application.form_version_id)
    ).all())
    authors = {u.id: u for u in db.session.execute(
        select(User).where(User.id.in_([v.created_by_id for v in versions if v.created_by_id]))).scalars()}
    return render_template("admin/call_form.html", call=call, versions=versions, counts=counts, authors=authors,
                           form=form, problems=problems or []), status


@bp.get("/appels/<reference>/formulaire")
@role_required("admin")
def call_form(reference: str):
    from app import callforms
    from app.operations.drafts import current_form

    call = _admin_call(reference)
    form = FormDefinitionForm()
    current = current_form(db.session, call)
    if current is not None:
        form.definition.data = callforms.to_yaml(current.definition)
    else:
        try:
            form.definition.data = callforms.to_yaml(callforms.builtin_definition(call.workflow_name))
        except (OSError, ValueError):
            form.definition.data = ""
    return _form_page(call, form)


@bp.post("/appels/<reference>/formulaire")
@role_required("admin")
def publish_call_form(reference: str):
    from app.callforms import DefinitionError
    from app.operations import drafts

    call = _admin_call(reference)
    form = FormDefinitionForm()
    if not form.validate_on_submit():
        return _form_page(call, form, status=422)
    before = drafts.current_form(db.session, call)
    before_number = before.number if before is not None else None
    try:
        version = drafts.publish_form_yaml(db.session, call, form.definition.data, current_user)
    except DefinitionError as exc:
        db.session.rollback()
        call = _admin_call(reference)
        return _form_page(call, form, problems=exc.problems, status=422)
    number = version.number
    commit()
    if number == before_number:
        flash(_("Aucun changement : la version %(n)s du formulaire reste en vigueur.", n=number), "info")
    else:
        flash(_("Version %(n)s du formulaire publiée. Les dossiers déjà créés gardent la version à laquelle ils répondent.",
                n=number), "success")
    return redirect(url_for("admin.call_form", reference=reference), 303)


@bp.get("/appels/<reference>/formulaire/<int:number>")
@role_required("admin")
def call_form_version(reference: str, number: int):
    from app import callforms
    from app.operations.drafts import definition_of, form_version

    call = _admin_call(reference)
    version = form_version(db.session, call, number)
    if version is None:
        abort(404)
    return render_template("admin/form_version.html", call=call, version=version, defn=definition_of(version),
                           yaml_text=callforms.to_yaml(version.definition),
                           author=db.session.get(User, version.created_by_id) if version.created_by_id else None)
