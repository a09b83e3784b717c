"""A file's follow-up page for the applicant: state, timeline, receipt,
messages, corrections, submission and withdrawal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.access import role_required, visible_applications
from app.blueprints.applicant import bp
from app.db_helpers import commit
from app.documents import latest_document, receipt_name, send_document
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import translate as _
from app.models import Application, AuditEntry, Message
from app.operations import submission
from app.operations.transitions import TransitionRefused, available_transitions
from app.workflow_versions import definition_for


def _changed_meanwhile() -> str:
    return _("Ce dossier a été modifié par quelqu'un d'autre entre-temps : rechargez la page et recommencez.")


# Steps of the audit trail an applicant sees on their file (not staff-internal actions). A request for
# corrections is the ``transition:request_corrections`` step, with the instructor's message.
APPLICANT_VISIBLE_ACTIONS = ("create_draft", "transition:", "correct_answers")


def own_application(reference: str) -> Application:
    """The file, if it belongs to one of the user's organisations; 404 otherwise."""
    application = db.session.execute(
        visible_applications(current_user).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation))
    ).scalar_one_or_none()
    if application is None or not any(m.organisation_id == application.organisation_id for m in current_user.memberships):
        abort(404)
    return application


def field_labels(application: Application) -> dict[str, str]:
    """The labels of the file's form fields by key (shown instead of the keys)."""
    if application.form_version is None:
        return {}
    from app import callforms

    return {f.key: f.label for f in callforms.load_definition(application.form_version.definition).fields}


@dataclass
class Step:
    at: datetime
    label: str
    reason: str | None


def timeline(application: Application) -> list[Step]:
    """The steps of the file an applicant may see, labelled from its workflow."""
    definition = definition_for(db.session, application.workflow_version)
    labels = {t.name: t.label or t.name for t in definition.transitions}
    own = {
        "create_draft": _("Brouillon créé"),
        "correct_answers": _("Réponses corrigées"),
    }
    rows = db.session.execute(
        select(AuditEntry).where(AuditEntry.object_type == "application", AuditEntry.object_id == application.reference)
        .order_by(AuditEntry.id)
    ).scalars().all()
    steps = []
    for row in rows:
        if not row.action.startswith(APPLICANT_VISIBLE_ACTIONS):
            continue
        name = row.action.split(":", 1)[1] if row.action.startswith("transition:") else None
        label = labels.get(name, name) if name else own.get(row.action, row.action)
        steps.append(Step(row.at, label, row.reason))
    return steps


@bp.get("/dossiers/<reference>")
@role_required("applicant")
def application_detail(reference: str):
    application = own_application(reference)
    messages = db.session.execute(
        select(Message).where(Message.application_id == application.id)
        .options(joinedload(Message.author), selectinload(Message.attachments)).order_by(Message.id)
    ).unique().scalars().all()
    options = {o.transition.name: o for o in available_transitions(db.session, application, "applicant")}
    correction = submission.open_correction_request(db.session, application)
    return render_template(
        "applicant/followup.html",
        edit_url=url_for("applicant.draft", reference=reference) if application.state == "draft" and application.form_version else None,
        corrections_url=url_for("applicant.corrections", reference=reference) if correction and application.state == "corrections_requested" else None,
        application=application,
        steps=timeline(application),
        messages=messages,
        correction=correction,
        receipt=latest_document(db.session, application, "receipt"),
        can_withdraw="withdraw" in options,
        problems=submission.answer_problems(db.session, application) if application.state == "draft" else [],
        labels=field_labels(application),
    )


@bp.post("/dossiers/<reference>/deposer")
@role_required("applicant")
def submit(reference: str):
    application = own_application(reference)
    try:
        submitted_now = submission.submit(db.session, application, current_user)
        commit()
    except StaleDataError:
        # Another request submitted it first (double click): the same outcome.
        db.session.rollback()
        application = own_application(reference)
        submitted_now = False
    except (submission.SubmissionInvalid, TransitionRefused) as exc:
        db.session.rollback()
        problems = exc.problems if isinstance(exc, submission.SubmissionInvalid) else [
            submission.FieldProblem("", m) for m in exc.messages]
        application = own_application(reference)
        return render_template("applicant/followup.html", application=application, steps=timeline(application),
                               messages=[], correction=None, receipt=None, can_withdraw=False, problems=problems,
                               labels=field_labels(application), submit_failed=True), 422
    if submitted_now:
        flash(_("Votre dossier %(ref)s est déposé. L'accusé de réception vous est envoyé par courriel.",
                ref=application.reference), "success")
    elif application.submitted_at is None:
        abort(409)
    return redirect(url_for("applicant.application_detail", reference=application.reference))


@bp.get("/dossiers/<reference>/accuse-de-reception.pdf")
@role_required("applicant")
def receipt(reference: str):
    application = own_application(reference)
    document = latest_document(db.session, application, "receipt")
    if document is None:
        abort(404)
    return send_document(document, receipt_name(application))


@bp.post("/dossiers/<reference>/messages")
@role_required("applicant")
def post_message(reference: str):
    application = own_application(reference)
    try:
        submission.post_message(db.session, application, current_user, "applicant", request.form.get("body", ""),
                                request.files.get("file"))
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        commit()
        flash(_("Message envoyé."), "success")
    return redirect(url_for("applicant.application_detail", reference=reference) + "#messages")


@bp.post("/dossiers/<reference>/retrait")
@role_required("applicant")
def withdraw(reference: str):
    application = own_application(reference)
    try:
        submission.withdraw(db.session, application, current_user, request.form.get("reason", ""))
        commit()
    except StaleDataError:  # changed by another request meanwhile
        db.session.rollback()
        flash(_changed_meanwhile(), "error")
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Votre dossier est retiré."), "success")
    return redirect(url_for("applicant.application_detail", reference=reference))


@bp.post("/dossiers/<reference>/redeposer")
@role_required("applicant")
def resubmit(reference: str):
    application = own_application(reference)
    try:
        resubmitted_now = submission.resubmit(db.session, application, current_user)
        commit()
    except StaleDataError:
        # Another request changed the file first: a double click re-submitted it already?
        db.session.rollback()
        if submission.already_resubmitted(db.session, own_application(reference)):
            return redirect(url_for("applicant.application_detail", reference=reference))
        flash(_changed_meanwhile(), "error")
    except submission.SubmissionInvalid as exc:
        db.session.rollback()
        for problem in exc.problems:
            flash(problem.message, "error")
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        if resubmitted_now:
            flash(_("Vos corrections sont transmises : le dossier est à nouveau en instruction."), "success")
    return redirect(url_for("applicant.application_detail", reference=reference))


def _corrections_page(application: Application, values: dict, errors: list, status: int = 200):
    from app import callforms
    from app.operations.attachments import attachments_by_key

    request_ = submission.open_correction_request(db.session, application)
    if application.state != "corrections_requested" or request_ is None or application.form_version is None:
        abort(404)
    definition = callforms.load_definition(application.form_version.definition)
    fields = [definition.field(k) for k in request_.keys if definition.field(k) is not None]
    field_errors: dict[str, list[str]] = {}
    for problem in errors:
        field_errors.setdefault(f"f-{problem.key}", []).append(problem.message)
    return render_template(
        "applicant/corrections.html",
        application=application,
        correction=request_,
        answer_fields=[f for f in fields if f.type != "file"],
        file_fields=[f for f in fields if f.type == "file"],
        values=values,
        field_errors=field_errors,
        errors=errors,
        labels={f.key: f.label for f in definition.fields},
        attachments=attachments_by_key(db.session, application),
    ), status


@bp.get("/dossiers/<reference>/corrections")
@role_required("applicant")
def corrections(reference: str):
    from app import callforms

    application = own_application(reference)
    definition = callforms.load_definition(application.form_version.definition) if application.form_version else None
    values = callforms.input_values(definition, application.answers or {}) if definition else {}
    return _corrections_page(application, values, [])


@bp.post("/dossiers/<reference>/corrections")
@role_required("applicant")
def save_corrections(reference: str):
    from app import callforms

    application = own_application(reference)
    try:
        problems = submission.save_corrections(db.session, application, request.form, current_user, source="form")
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("applicant.application_detail", reference=reference))
    if problems:
        db.session.rollback()
        application = own_application(reference)
        definition = callforms.load_definition(application.form_version.definition)
        values = {**callforms.input_values(definition, application.answers or {}),
                  **callforms.posted_values(definition, request.form, submission.open_correction_request(db.session, application).keys)}
        return _corrections_page(application, values, problems, 422)
    commit()
    flash(_("Corrections enregistrées. Redéposez le dossier quand tout est prêt."), "success")
    return redirect(url_for("applicant.application_detail", reference=reference))


@bp.get("/dossiers/<reference>/messages/pieces/<int:attachment_id>")
@role_required("applicant")
def message_attachment(reference: str, attachment_id: int):
    from app import uploads
    from app.models import Attachment
    from app.operations import attachments as attachment_ops

    application = own_application(reference)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.application_id != application.id or attachment.message_id is None:
        abort(404)
    blocked = attachment_ops.download_blocked_reason(attachment)
    if blocked:
        raise UserFacingError(blocked, status=423)
    return uploads.send_attachment(attachment)
