"""Letters: the admins' texts per call (with checked placeholders) and the
finance department's batch export of decision letters (a background job with
a progress page; only the requester downloads the result)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import role_required, staff_call_ids, visible_applications
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.forms.letters import ExportForm, LetterTextForm
from app.forms.organisations import ConfirmForm
from app.formatting import translate as _
from app.letters import DEFAULT_TEXTS, LETTER_LABELS, LetterTextError, placeholders_for
from app.models import FILE_READING_ROLES, Application, Call, ExportJob, LetterTemplate
from app.operations import conflicts
from app.operations import letters as ops

bp = Blueprint("letters", __name__)


# --- admin: letter texts per call --------------------------------------------------------------

def _admin_call(reference: str) -> Call:
    call = db.session.execute(select(Call).where(Call.reference == reference)).scalar_one_or_none()
    if call is None:
        abort(404)
    if not current_user.has_role("admin", call.id):
        abort(403)
    return call


def _texts(call: Call) -> dict[str, LetterTemplate]:
    rows = db.session.execute(select(LetterTemplate).where(LetterTemplate.call_id == call.id)).scalars()
    return {row.kind: row for row in rows}


@bp.get("/admin/appels/<reference>/lettres")
@role_required("admin")
def call_letters(reference: str):
    call = _admin_call(reference)
    return render_template("letters/call_letters.html", call=call, texts=_texts(call), labels=LETTER_LABELS)


def _edit_page(call: Call, kind: str, form: LetterTextForm, status: int = 200):
    return render_template("letters/edit.html", call=call, kind=kind, label=LETTER_LABELS[kind], form=form,
                           placeholders=placeholders_for(kind), custom=kind in _texts(call)), status


@bp.route("/admin/appels/<reference>/lettres/<kind>", methods=["GET", "POST"])
@role_required("admin")
def edit_letter(reference: str, kind: str):
    call = _admin_call(reference)
    if kind not in DEFAULT_TEXTS:
        abort(404)
    form = LetterTextForm(kind=kind)
    if request.method == "GET":
        existing = _texts(call).get(kind)
        form.body.data = existing.body if existing else DEFAULT_TEXTS[kind]
        return _edit_page(call, kind, form)
    if not form.validate_on_submit():
        return _edit_page(call, kind, form, 422)
    try:
        ops.save_letter_text(db.session, call.id, kind, form.body.data, current_user)
    except LetterTextError as exc:
        db.session.rollback()
        form.body.errors = [exc.message]
        return _edit_page(call, kind, form, 422)
    commit()
    flash(_("Texte enregistré : il servira aux prochaines lettres de l'appel."), "success")
    return redirect(url_for("letters.call_letters", reference=call.reference))


# --- finance: batch export of decision letters -------------------------------------------------

def _sessions() -> list[tuple[str, int]]:
    """The selections with the files the user may read (a finance officer of one call sees its files only)."""
    from app.models import FILE_READING_ROLES

    return ops.decided_sessions(db.session, staff_call_ids(current_user, FILE_READING_ROLES))


def _export_form() -> ExportForm:
    form = ExportForm()
    form.session_id.choices = [(s, _("%(s)s (%(n)s dossier(s))", s=ops.session_label(db.session, s), n=n))
                               for s, n in _sessions()]
    return form


def _visible_ids(ids: list[int]) -> list[int]:
    if not ids:
        return []
    visible = visible_applications(current_user).where(Application.id.in_(ids)).with_only_columns(Application.id)
    return sorted(db.session.execute(visible).scalars())


def _my_jobs() -> list[ExportJob]:
    return list(db.session.execute(select(ExportJob).where(ExportJob.requester_id == current_user.id)
                                   .order_by(ExportJob.id.desc()).limit(20)).scalars())


@bp.get("/finances/exports")
@role_required("finance")
def exports():
    return render_template("letters/exports.html", form=_export_form(), jobs=_my_jobs(), confirm=ConfirmForm())


@bp.post("/finances/exports")
@role_required("finance")
def start_export():
    form = _export_form()
    if not form.validate_on_submit():
        return render_template("letters/exports.html", form=form, jobs=_my_jobs(), confirm=ConfirmForm()), 422
    ids = _visible_ids(ops.files_of_session(db.session, form.session_id.data))
    try:
        job = ops.export_letters(db.session, ids, current_user, label=ops.session_label(db.session, form.session_id.data))
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("letters.exports"))
    commit()
    return redirect(url_for("letters.export_detail", job_id=job.id))


def _own_job(job_id: int) -> ExportJob:
    job = db.session.get(ExportJob, job_id)
    if job is None:
        abort(404)
    if job.requester_id != current_user.id:
        abort(403)
    return job


def _status(job: ExportJob) -> dict:
    return {"id": job.id, "status": job.status, "done": job.done, "total": job.total, "error": job.error,
            "download_url": url_for("letters.export_download", job_id=job.id) if job.status == "done" else None}


@bp.get("/finances/exports/<int:job_id>")
@role_required("finance")
def export_detail(job_id: int):
    job = _own_job(job_id)
    return render_template("letters/export.html", job=job, confirm=ConfirmForm())


@bp.get("/finances/exports/<int:job_id>.json")
@role_required("finance")
def export_status(job_id: int):
    return jsonify(_status(_own_job(job_id)))


@bp.post("/finances/exports/<int:job_id>/relancer")
@role_required("finance")
def export_retry(job_id: int):
    job = _own_job(job_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        ops.retry_export(db.session, job, current_user)
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        commit()
    return redirect(url_for("letters.export_detail", job_id=job_id))


@bp.get("/finances/exports/<int:job_id>/zip")
@role_required("finance")
def export_download(job_id: int):
    job = _own_job(job_id)
    path = ops.export_file(job)
    if path is None:
        abort(404)
    name = f"lettres-{job.label.replace(' ', '-')}.zip"
    return send_file(path, mimetype="application/zip", as_attachment=True, download_name=name, max_age=0)


EXPORT_STATUS_LABELS = {
    "queued": "En attente", "running": "En cours", "done": "Terminé", "failed": "Échec", "purged": "Supprimé",
}


# --- a file's letters: applicants of the file and its staff download them ----------------------

LETTER_DOCUMENTS = {
    # document kind → (download name prefix, label)
    "decision_letter": ("lettre-decision", "Lettre de notification de la décision (PDF)"),
    "agreement": ("convention", "Convention (PDF)"),
    "ineligibility_letter": ("lettre-ineligibilite", "Notification d'inéligibilité (PDF)"),
}


def file_letters(application: Application) -> list[tuple[str, str, object]]:
    """(kind, label, latest document) of the file's letters, for its pages."""
    from app.documents import latest_document

    found = []
    for kind, (_prefix, label) in LETTER_DOCUMENTS.items():
        document = latest_document(db.session, application, kind)
        if document is not None:
            found.append((kind, _(label), document))
    return found


@bp.app_context_processor
def _file_letters() -> dict[str, object]:
    return {"file_letters": file_letters}


@bp.get("/dossiers/<reference>/lettres/<kind>.pdf")
@role_required("applicant", *FILE_READING_ROLES)
def file_letter(reference: str, kind: str):
    """The latest version of one of the file's letters, for the members of its
    organisation and the staff who read the call's files."""
    from app.access import can_view_application
    from app.documents import latest_document, send_document

    if kind not in LETTER_DOCUMENTS:
        abort(404)
    application = db.session.execute(select(Application).where(Application.reference == reference)).scalar_one_or_none()
    if application is None or not can_view_application(current_user, application):
        abort(404)
    if not (current_user.has_role("applicant")
            and any(m.organisation_id == application.organisation_id for m in current_user.memberships)):
        # staff: not on a file they are conflicted on (its organisation's members read their own letters)
        conflicts.require_no_conflict(db.session, current_user, application)
    document = latest_document(db.session, application, kind)
    if document is None:
        abort(404)
    return send_document(document, f"{LETTER_DOCUMENTS[kind][0]}-{application.reference}.pdf")


@bp.context_processor
def _labels() -> dict[str, object]:
    return {"export_status_labels": {k: _(v) for k, v in EXPORT_STATUS_LABELS.items()}}
