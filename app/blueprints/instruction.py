"""Instruction: the instructors' dashboard and the experts' home."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from sqlalchemy.orm.exc import StaleDataError

from app.access import role_required, staff_call_ids
from app.db_helpers import commit
from app.documents import latest_document, receipt_name, send_document
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import PARIS
from app.formatting import translate as _
from app.models import Application, Attachment, AuditEntry, Call, ExpertInvitation, Message, User, utcnow
from app.operations import conflicts, experts, submission
from app.operations import eligibility as eligibility_ops
from app.operations import workspace as workspace_ops
from app.operations.transitions import TransitionRefused, available_transitions, transition

bp = Blueprint("instruction", __name__, url_prefix="/instruction")


@bp.errorhandler(conflicts.DeclarationRequired)
def _declare_first(exc: conflicts.DeclarationRequired):
    """A reviewer opening a file without a declaration is sent to declare first."""
    if request.method == "GET":
        flash(exc.message, "info")
        return redirect(url_for("instruction.declare_conflict", reference=exc.reference))
    return render_template("error.html", code=exc.status, message=exc.message), exc.status


def _calls_for(user) -> list[Call]:
    ids = staff_call_ids(user, ("instructor",))
    stmt = select(Call).where(Call.status != "draft").order_by(Call.closes_at.desc())
    if ids is not None:
        stmt = stmt.where(Call.id.in_(ids))
    return list(db.session.execute(stmt).scalars())


@bp.get("/")
@role_required("instructor")
def index():
    calls = _calls_for(current_user)
    call_ids = [c.id for c in calls]
    counts: dict[int, dict[str, int]] = {}
    for call_id, state, n in db.session.execute(
        select(Application.call_id, Application.state, func.count())
        .where(Application.call_id.in_(call_ids), Application.state != "draft")
        .group_by(Application.call_id, Application.state)
    ):
        counts.setdefault(call_id, {})[state] = n
    page_size = 25
    page = max(request.args.get("page", 1, type=int), 1)
    recent = db.session.execute(
        select(Application)
        .where(Application.call_id.in_(call_ids), Application.state != "draft")
        .options(joinedload(Application.call), joinedload(Application.organisation))
        .order_by(Application.submitted_at.desc(), Application.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).scalars().all()
    return render_template("instruction/index.html", calls=calls, counts=counts, recent=recent, page=page, page_size=page_size)


def staff_application(reference: str, *, check_conflict: bool = True) -> Application:
    """A submitted file of a call the instructor is in charge of (403 otherwise),
    on which they declared no conflict of interest and are not flagged (403)."""
    application = db.session.execute(
        select(Application).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation))
    ).scalar_one_or_none()
    if application is None:
        abort(404)
    if application.state == "draft" or not current_user.has_role("instructor", application.call_id):
        abort(403)
    if check_conflict:
        conflicts.require_no_conflict(db.session, current_user, application, role="instructor")
    return application


@bp.route("/dossiers/<reference>/conflit", methods=["GET", "POST"])
@role_required("instructor")
def declare_conflict(reference: str):
    application = staff_application(reference, check_conflict=False)
    status = conflicts.conflict_status(db.session, current_user, application)
    if request.method == "POST" and not status.conflicted:
        choice = request.form.get("conflict")
        if choice not in ("yes", "no"):
            flash(_("Indiquez si vous avez un conflit d'intérêts."), "error")
        else:
            try:
                conflicts.declare(db.session, current_user, application, role="instructor",
                                  has_conflict=choice == "yes", link=request.form.get("link"))
                commit()
            except UserFacingError as exc:
                db.session.rollback()
                flash(exc.message, "error")
            else:
                if choice == "yes":
                    flash(_("Conflit d'intérêts enregistré : le dossier sera instruit par quelqu'un d'autre."), "success")
                    return redirect(url_for("workspace.index"))
                flash(_("Déclaration enregistrée."), "success")
                return redirect(url_for("instruction.application_detail", reference=reference))
        status = conflicts.conflict_status(db.session, current_user, application)
    return render_template("instruction/declare.html", application=application, status=status)


def _form_fields(application: Application) -> list[tuple[str, str]]:
    if application.form_version is None:
        return []
    from app.callforms import load_definition

    definition = load_definition(application.form_version.definition)
    return [(f.key, f.label) for f in definition.fields]


@bp.get("/dossiers/<reference>")
@role_required("instructor")
def application_detail(reference: str):
    application = staff_application(reference)
    history = db.session.execute(
        select(AuditEntry).where(AuditEntry.object_type == "application", AuditEntry.object_id == application.reference)
        .options(joinedload(AuditEntry.actor)).order_by(AuditEntry.id)
    ).scalars().all()
    messages = db.session.execute(
        select(Message).where(Message.application_id == application.id)
        .options(joinedload(Message.author), selectinload(Message.attachments)).order_by(Message.id)
    ).scalars().all()
    attachments = db.session.execute(
        select(Attachment).where(Attachment.application_id == application.id).order_by(Attachment.field_key, Attachment.id)
    ).scalars().all()
    return render_template(
        "instruction/application.html",
        application=application,
        history=history,
        messages=messages,
        attachments=attachments,
        options=available_transitions(db.session, application, "instructor"),
        fields=_form_fields(application),
        correction=submission.open_correction_request(db.session, application),
        receipt=latest_document(db.session, application, "receipt"),
        default_due=(utcnow() + timedelta(days=15)).astimezone(PARIS).date(),
        eligibility_results=eligibility_ops.results_of(db.session, application),
        eligibility_decision=eligibility_ops.latest_decision(db.session, application),
        annotations=workspace_ops.annotations_of(db.session, application),
        invitations=experts.invitations_of(db.session, application),
        instructors=[u for u in workspace_ops.instructors(db.session, current_user)
                     if u.has_role("instructor", application.call_id)],
        default_expert_due=(utcnow() + timedelta(days=21)).astimezone(PARIS).date(),
    )


def _perform(reference: str, action, success: str, anchor: str = ""):
    """Run one operation on the file and commit; every refusal becomes a
    message on the file's page, and nothing of the request is kept."""
    try:
        action()
        commit()
    except TransitionRefused as exc:
        db.session.rollback()
        for message in exc.messages:
            flash(message, "error")
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    except StaleDataError:
        db.session.rollback()
        flash(_("Ce dossier a été modifié par quelqu'un d'autre entre-temps : rechargez la page et recommencez."), "error")
    else:
        flash(success, "success")
    return redirect(url_for("instruction.application_detail", reference=reference) + anchor)


@bp.post("/dossiers/<reference>/eligibilite")
@role_required("instructor")
def decide_eligibility(reference: str):
    application = staff_application(reference)
    choice = request.form.get("eligible")
    if choice not in ("yes", "no"):
        flash(_("Indiquez si le dossier est éligible."), "error")
        return redirect(url_for("instruction.application_detail", reference=reference))
    return _perform(reference, lambda: eligibility_ops.decide(
        db.session, application, current_user, eligible=choice == "yes", justification=request.form.get("justification")),
        _("Décision d'éligibilité enregistrée."))


@bp.post("/dossiers/<reference>/eligibilite/relancer")
@role_required("instructor")
def rerun_eligibility(reference: str):
    application = staff_application(reference)
    eligibility_ops.run_eligibility(db.session, application)
    commit()
    flash(_("Contrôles d'éligibilité relancés."), "success")
    return redirect(url_for("instruction.application_detail", reference=reference))


@bp.post("/dossiers/<reference>/transitions/<name>")
@role_required("instructor")
def fire_transition(reference: str, name: str):
    application = staff_application(reference)
    return _perform(reference, lambda: transition(
        db.session, application, name, actor=current_user, role="instructor", reason=request.form.get("reason"),
        expected_version=request.form.get("version", type=int)), _("Action enregistrée."))


@bp.post("/dossiers/<reference>/corrections")
@role_required("instructor")
def request_corrections(reference: str):
    application = staff_application(reference)
    try:
        due = date.fromisoformat(request.form.get("due_date", ""))
    except ValueError:
        flash(_("Date limite invalide : utilisez le format AAAA-MM-JJ."), "error")
        return redirect(url_for("instruction.application_detail", reference=reference))
    return _perform(reference, lambda: submission.request_corrections(
        db.session, application, current_user, keys=request.form.getlist("keys"), message=request.form.get("message", ""),
        due_date=due, expected_version=request.form.get("version", type=int)),
        _("La demande de compléments est envoyée au demandeur."))


@bp.post("/dossiers/<reference>/messages")
@role_required("instructor")
def post_message(reference: str):
    application = staff_application(reference)
    return _perform(reference, lambda: submission.post_message(
        db.session, application, current_user, "instructor", request.form.get("body", ""), request.files.get("file")),
        _("Message envoyé."), "#messages")


@bp.get("/dossiers/<reference>/accuse-de-reception.pdf")
@role_required("instructor")
def receipt(reference: str):
    application = staff_application(reference)
    document = latest_document(db.session, application, "receipt")
    if document is None:
        abort(404)
    return send_document(document, receipt_name(application))


@bp.get("/dossiers/<reference>/pieces/<int:attachment_id>")
@role_required("instructor")
def download_attachment(reference: str, attachment_id: int):
    from app import uploads
    from app.operations import attachments as attachment_ops

    application = staff_application(reference)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.application_id != application.id or not attachment_ops.can_download(current_user, attachment):
        abort(404)
    blocked = attachment_ops.download_blocked_reason(attachment)
    if blocked:
        raise UserFacingError(blocked, status=423)
    return uploads.send_attachment(attachment)


@bp.post("/dossiers/<reference>/notes")
@role_required("instructor")
def annotate(reference: str):
    application = staff_application(reference)
    return _perform(reference, lambda: workspace_ops.annotate(
        db.session, application, request.form.get("body", ""), actor=current_user, role="instructor"),
        _("Note enregistrée."), "#notes")


@bp.post("/dossiers/<reference>/attribution")
@role_required("instructor")
def assign(reference: str):
    application = staff_application(reference)
    choice = request.form.get("instructor_id", "")
    instructor = db.session.get(User, int(choice)) if choice.isdigit() else None
    if choice != "none" and instructor is None:
        flash(_("Choisissez un instructeur."), "error")
        return redirect(url_for("instruction.application_detail", reference=reference) + "#attribution")
    return _perform(reference, lambda: workspace_ops.assign(db.session, application, instructor, actor=current_user),
                    _("Attribution enregistrée."), "#attribution")


@bp.post("/dossiers/<reference>/experts")
@role_required("instructor")
def invite_expert(reference: str):
    application = staff_application(reference)
    try:
        due = date.fromisoformat(request.form.get("due_on", ""))
    except ValueError:
        flash(_("Date limite invalide : utilisez le format AAAA-MM-JJ."), "error")
        return redirect(url_for("instruction.application_detail", reference=reference) + "#experts")
    return _perform(reference, lambda: experts.invite(
        db.session, application, request.form.get("email", ""), due, actor=current_user),
        _("Invitation envoyée."), "#experts")


@bp.post("/dossiers/<reference>/experts/<int:invitation_id>/revoquer")
@role_required("instructor")
def revoke_expert(reference: str, invitation_id: int):
    application = staff_application(reference)
    invitation = db.session.get(ExpertInvitation, invitation_id)
    if invitation is None or invitation.application_id != application.id:
        abort(404)
    return _perform(reference, lambda: experts.revoke(db.session, invitation, actor=current_user),
                    _("Invitation révoquée."), "#experts")
