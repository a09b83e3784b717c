"""Submitting a file, re-submitting after corrections, withdrawing it,
requesting corrections, and the message thread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.mail import queue_mail
from app.models import AnswerRevision, Application, AuditEntry, CorrectionRequest, Message, User, utcnow
from app.operations.eligibility import run_eligibility
from app.operations.transitions import transition


@dataclass
class FieldProblem:
    key: str
    message: str


class SubmissionInvalid(UserFacingError):
    """The answers are not complete or not valid; ``problems`` lists each field."""

    status = 422

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(_("Le dossier ne peut pas être déposé : %(n)s point(s) à corriger.", n=len(problems)))
        self.problems = problems


def answer_problems(session: Session, application: Application) -> list[FieldProblem]:
    """Everything that stops the file from being submitted, field by field."""
    if application.form_version is None:
        return []
    from app.operations.drafts import submission_errors

    return [FieldProblem(e.key, e.message) for e in submission_errors(session, application)]


def submit(session: Session, application: Application, actor: User) -> bool:
    """Submit the draft. Returns False when it was already submitted (a double
    click or a retried request changes nothing), True when submitted now."""
    if application.state != "draft":
        if application.submitted_at is not None:
            return False
        raise UserFacingError(_("Ce dossier ne peut plus être déposé."), status=409)
    problems = answer_problems(session, application)
    if problems:
        raise SubmissionInvalid(problems)
    transition(session, application, "submit", actor=actor, role="applicant")
    run_eligibility(session, application)
    return True


def open_correction_request(session: Session, application: Application) -> CorrectionRequest | None:
    return session.execute(
        select(CorrectionRequest).where(CorrectionRequest.application_id == application.id,
                                        CorrectionRequest.resolved_at.is_(None))
        .order_by(CorrectionRequest.id.desc()).limit(1)
    ).scalar_one_or_none()


def request_corrections(session: Session, application: Application, actor: User, *, keys: list[str], message: str,
                        due_date: date, expected_version: int | None = None) -> CorrectionRequest:
    """The instructor names the fields and documents to correct and a due date."""
    if not keys:
        raise UserFacingError(_("Choisissez au moins un champ ou une pièce à corriger."))
    if not message.strip():
        raise UserFacingError(_("Expliquez ce qui doit être corrigé."))
    if due_date <= utcnow().date():
        raise UserFacingError(_("La date limite doit être postérieure à aujourd'hui."))
    if application.form_version is not None:
        from app.callforms import load_definition

        definition = load_definition(application.form_version.definition)
        unknown = [k for k in keys if definition.field(k) is None]
        if unknown:
            raise UserFacingError(_("Champs inconnus : %(keys)s.", keys=", ".join(unknown)))
    transition(session, application, "request_corrections", actor=actor, role="instructor", reason=message,
               expected_version=expected_version)
    request = CorrectionRequest(application_id=application.id, requested_by_id=actor.id, keys=sorted(set(keys)),
                                message=message.strip(), due_date=due_date)
    session.add(request)
    session.flush()
    audit.record(session, actor=actor, role="instructor", object_type="application", object_id=application.reference,
                 action="request_corrections", after={"keys": request.keys, "due_date": due_date.isoformat()})
    return request


def save_corrections(session: Session, application: Application, raw: dict, author: User, *, source: str) -> list[FieldProblem]:
    """Change only the answers named by the open correction request, keeping
    each previous value (AnswerRevision). Returns the format problems, if any
    (nothing is saved then)."""
    request = open_correction_request(session, application)
    if application.state != "corrections_requested" or request is None:
        raise UserFacingError(_("Aucune correction n'est demandée sur ce dossier."), status=409)
    from app.callforms import clean_answers, load_definition

    definition = load_definition(application.form_version.definition)
    allowed = {k for k in request.keys if (f := definition.field(k)) is not None and f.type != "file"}
    if source == "api":
        refused = sorted(k for k in raw if k not in allowed)
        if refused:
            return [FieldProblem(k, _("Ce champ ne fait pas partie des corrections demandées.")) for k in refused]
        cleaned, errors = clean_answers(definition, raw, source="api")
    else:  # the posted form: only the requested fields are read (rows cells included)
        cleaned, errors = clean_answers(definition, raw, source="form", keys=sorted(allowed))
    if errors:
        return [FieldProblem(e.key, e.message) for e in errors]
    from app.callforms import mapped_title, requested_amount, validate_answers

    previous = dict(application.answers or {})
    answers = dict(previous)
    changed = [key for key in sorted(allowed) if key in cleaned and previous.get(key) != cleaned[key]]
    answers.update({key: cleaned[key] for key in changed})
    # The draft's checks on the new values (the call's aid ceiling among them), before anything is kept.
    errors = [e for e in validate_answers(definition, answers, partial=True, max_aid_cents=application.call.max_aid_cents)
              if e.key in changed]
    if errors:
        return [FieldProblem(e.key, e.message) for e in errors]
    for key in changed:
        session.add(AnswerRevision(application_id=application.id, key=key, old_value=previous.get(key),
                                   new_value=cleaned[key], changed_by_id=author.id, correction_request_id=request.id))
    if changed:
        application.answers = answers
        amount = requested_amount(definition, answers)
        if amount is not None:
            application.requested_amount_cents = amount
        title = mapped_title(definition, answers)  # the file's title follows its ``maps_to: title`` field
        if title:
            application.title = title[:255]
        session.flush()
        audit.record(session, actor=author, role="applicant", object_type="application", object_id=application.reference,
                     action="correct_answers", after={"keys": sorted(changed)})
    return []


def already_resubmitted(session: Session, application: Application) -> bool:
    """Whether the file's last change of state was its re-submission (so a
    repeated request has nothing left to do)."""
    last = session.execute(
        select(AuditEntry.action).where(AuditEntry.object_type == "application",
                                        AuditEntry.object_id == application.reference,
                                        AuditEntry.action.like("transition:%"))
        .order_by(AuditEntry.id.desc()).limit(1)
    ).scalar_one_or_none()
    return last == "transition:resubmit"


def resubmit(session: Session, application: Application, actor: User) -> bool:
    """Re-submit the file after corrections. Returns False when it was already
    re-submitted (a double click or a retried request changes nothing), True
    when re-submitted now."""
    if already_resubmitted(session, application):
        return False
    request = open_correction_request(session, application)
    problems = answer_problems(session, application)
    if problems:
        raise SubmissionInvalid(problems)
    transition(session, application, "resubmit", actor=actor, role="applicant")
    if request is not None:
        request.resolved_at = utcnow()
    run_eligibility(session, application)
    return True


def withdraw(session: Session, application: Application, actor: User, reason: str) -> None:
    if not reason or not reason.strip():
        raise UserFacingError(_("Indiquez le motif du retrait."))
    request = open_correction_request(session, application)
    transition(session, application, "withdraw", actor=actor, role="applicant", reason=reason)
    if request is not None:  # a pending request for corrections ends with the file
        request.resolved_at = utcnow()


# What a message may carry: documents and images, 10 Mo each.
MESSAGE_ATTACHMENT = {
    "accept": ["application/pdf", "image/png", "image/jpeg",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet"],
    "max_bytes": 10 * 1024 * 1024,
}


def post_message(session: Session, application: Application, author: User, role: str, body: str,
                 file_storage=None) -> Message:
    if application.state == "draft":  # instructors do not see drafts
        raise UserFacingError(_("Les messages avec l'instruction s'ouvrent une fois le dossier déposé."), status=409)
    body = (body or "").strip()
    if not body:
        raise UserFacingError(_("Le message est vide."))
    if len(body) > 5000:
        raise UserFacingError(_("Le message dépasse 5 000 caractères."))
    message = Message(application_id=application.id, author_id=author.id, author_role=role, body=body)
    session.add(message)
    session.flush()
    attachment = None
    if file_storage is not None and file_storage.filename:
        attachment = _attach_to_message(session, application, message, author, file_storage)
    audit.record(session, actor=author, role=role, object_type="application", object_id=application.reference,
                 action="post_message", after={"message_id": message.id,
                                               "attachment": attachment.sha256 if attachment else None})
    _notify_message(application, message, role)
    return message


def _notify_message(application: Application, message: Message, role: str) -> None:
    from app.notifications import recipients

    audience = "instructors" if role == "applicant" else "applicant"
    subject = _("Nouveau message — dossier %(ref)s", ref=application.reference)
    body = _("Bonjour,\n\nUn nouveau message a été déposé sur le dossier %(ref)s « %(title)s ». "
             "Lisez-le sur la page du dossier.\n", ref=application.reference, title=application.title)
    for address in recipients(application, audience):
        queue_mail(address, subject, body)


def _attach_to_message(session: Session, application: Application, message: Message, author: User, file_storage):
    """Check and store a message's attachment like a form document: type from
    the bytes, size, random name outside the web root, antivirus when configured."""
    from app import uploads
    from app.models import Attachment
    from app.scanning import get_scanner, scan_attachment
    from app.jobs import enqueue_after_commit

    stored = uploads.check_and_store(file_storage.stream, file_storage.filename,
                                     accept=MESSAGE_ATTACHMENT["accept"], max_bytes=MESSAGE_ATTACHMENT["max_bytes"])
    uploads.discard_on_rollback(session, stored.stored_name)
    scanner = get_scanner()
    attachment = Attachment(application_id=application.id, message_id=message.id, original_name=stored.original_name,
                            stored_name=stored.stored_name, content_type=stored.content_type, size_bytes=stored.size_bytes,
                            sha256=stored.sha256, scan_status="pending" if scanner.configured else "not_scanned",
                            uploaded_by_id=author.id)
    session.add(attachment)
    session.flush()
    if scanner.configured:
        enqueue_after_commit(scan_attachment, attachment.id, queue="default")
    return attachment
