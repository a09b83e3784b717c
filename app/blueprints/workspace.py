"""The instructors' workspace: every file of their calls, filtered, sorted,
searched and paged; saved views; bulk actions (assign, corrections, a
transition) re-checked file by file. Rules live in app/operations/workspace.py."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.access import role_required
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import translate as _
from app.models import GRAND_EST_DEPARTMENTS, User
from app.models.organisation import SIZE_CATEGORIES
from app.operations import workspace as ops

bp = Blueprint("workspace", __name__, url_prefix="/instruction/espace")


@bp.get("/")
@role_required(*ops.WORKSPACE_ROLES)
def index():
    filters = ops.Filters.from_args(request.args)
    page = ops.search(db.session, current_user, filters)
    for error in filters.errors:
        flash(error, "error")
    stages = ops.stage_states(db.session)
    return render_template(
        "workspace/index.html", page=page, filters=filters, calls=ops.calls_in_scope(db.session, current_user),
        instructors=ops.instructors(db.session, current_user), views=ops.saved_views(db.session, current_user),
        stages=sorted(stages), states=sorted(set().union(*stages.values())) if stages else [],
        departments=GRAND_EST_DEPARTMENTS, sizes=[(s, str(ops.SIZE_LABELS[s])) for s in SIZE_CATEGORIES],
        sorts=ops.SORTS, page_sizes=ops.PAGE_SIZES, transitions=ops.transition_choices(db.session),
    )


@bp.get("/dossiers.<any(csv, xlsx):extension>")
@role_required(*ops.WORKSPACE_ROLES)
def export(extension: str):
    """The whole list the filters give (every page, in its order) as a spreadsheet, streamed."""
    from app import exports

    filters = ops.Filters.from_args(request.args)
    stmt = ops.export_statement(db.session, current_user, filters)
    if filters.errors:  # nothing half-filtered: back to the list, which says what was refused
        for error in filters.errors:
            flash(error, "error")
        return redirect(url_for("workspace.index", **{k: v for k, v in request.args.items() if k in ops.FILTER_KEYS}))
    chunks = exports.table_chunks(extension, _("Dossiers"), ops.export_headers(),
                                  ops.export_rows(db.session, current_user, stmt), ops.EXPORT_FORMATS)
    return exports.download(chunks, extension, ops.export_filename(filters, extension))


def _ids() -> list[int]:
    return [int(v) for v in request.form.getlist("ids") if v.isdigit()]


@bp.post("/actions")
@role_required(*ops.WORKSPACE_ROLES)
def bulk():
    action = request.form.get("action")
    back = request.form.get("back") or url_for("workspace.index")
    if not back.startswith("/instruction/espace"):
        back = url_for("workspace.index")
    try:
        if action == "assign":
            choice = request.form.get("instructor_id", "")
            instructor = None
            if choice != "none":
                instructor = db.session.get(User, int(choice)) if choice.isdigit() else None
                if instructor is None:
                    raise UserFacingError(_("Choisissez un instructeur."))
            results = ops.bulk_assign(db.session, current_user, _ids(), instructor)
        elif action == "corrections":
            try:
                due = date.fromisoformat(request.form.get("due_date", ""))
            except ValueError:
                raise UserFacingError(_("Date limite invalide : utilisez le format AAAA-MM-JJ.")) from None
            keys = [k.strip() for k in request.form.get("keys", "").replace(";", ",").split(",") if k.strip()]
            results = ops.bulk_corrections(db.session, current_user, _ids(), keys=keys,
                                           message=request.form.get("message", ""), due_date=due)
        elif action == "transition":
            name = (request.form.get("transition") or "").strip()
            if not name:
                raise UserFacingError(_("Indiquez l'action à appliquer."))
            results = ops.bulk_transition(db.session, current_user, _ids(), name, request.form.get("message"))
        else:
            raise UserFacingError(_("Action groupée inconnue."))
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    done = sum(1 for r in results if r.ok)
    return render_template("workspace/results.html", results=results, done=done, refused=len(results) - done, back=back)


@bp.post("/vues")
@role_required(*ops.WORKSPACE_ROLES)
def save_view():
    filters = ops.Filters.from_args(request.form)
    try:
        view = ops.save_view(db.session, current_user, request.form.get("name", ""), filters)
        commit()
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("workspace.index", **filters.query_args()))
    flash(_("Vue « %(name)s » enregistrée.", name=view.name), "success")
    return redirect(url_for("workspace.index", **view.filters))


@bp.post("/vues/<int:view_id>/supprimer")
@role_required(*ops.WORKSPACE_ROLES)
def delete_view(view_id: int):
    ops.delete_view(db.session, current_user, view_id)
    commit()
    flash(_("Vue supprimée."), "success")
    return redirect(url_for("workspace.index"))
