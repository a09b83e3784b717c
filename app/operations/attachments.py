"""The documents attached to a file's form (``type: file`` fields).

* While the file is a draft: upload, replace (the old version is deleted, row
  and stored file) and delete.
* After submission: only the keys listed in an open request for corrections
  (state ``corrections_requested``) may receive a new version; old versions
  are kept, the latest per key is the current one; nothing is deleted.

Every change writes an audit row on the file (object ``application``). The
stored file is written before the row; if the transaction does not commit, it
is removed (``uploads.discard_on_rollback``); a replaced file is removed only
after the commit (a job).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from app import audit, uploads
from app.access import can_view_application
from app.errors import UserFacingError
from app.formatting import translate as _
from app.jobs import enqueue_after_commit
from app.models import Application, Attachment, CorrectionRequest, User

CORRECTIONS_STATE = "corrections_requested"


# --------------------------------------------------------------------------- reading the form definition


def file_fields(application: Application) -> dict[str, dict[str, Any]]:
    """The ``type: file`` fields of the file's form version, by key (read from
    the raw definition: ``sections[*].fields[*]``)."""
    definition = application.form_version.definition if application.form_version is not None else None
    fields: dict[str, dict[str, Any]] = {}
    for section in (definition or {}).get("sections") or []:
        for field in (section or {}).get("fields") or []:
            if isinstance(field, dict) and field.get("type") == "file" and field.get("key"):
                fields[str(field["key"])] = field
    return fields


def file_field(application: Application, key: str) -> dict[str, Any]:
    field = file_fields(application).get(key)
    if field is None:
        raise UserFacingError(_("Ce dossier ne demande pas de pièce « %(key)s ».", key=key), status=404)
    return field


# --------------------------------------------------------------------------- who may do what


def open_correction_keys(session: Session, application: Application) -> set[str]:
    """The keys listed in the file's open requests for corrections."""
    keys: set[str] = set()
    for request_keys in session.execute(
        select(CorrectionRequest.keys).where(CorrectionRequest.application_id == application.id, CorrectionRequest.resolved_at.is_(None))
    ).scalars():
        keys.update(str(k) for k in request_keys or [])
    return keys


def upload_allowed(session: Session, application: Application, key: str) -> bool:
    if application.state == "draft":
        return True
    return application.state == CORRECTIONS_STATE and key in open_correction_keys(session, application)


def _check_upload_allowed(session: Session, application: Application, key: str) -> None:
    if not upload_allowed(session, application, key):
        raise UserFacingError(
            _("Ce dossier a été déposé : cette pièce ne peut plus être modifiée, sauf si l'instructeur vous la demande à nouveau."),
            status=409,
        )


def is_member(user: User, application: Application) -> bool:
    return any(m.organisation_id == application.organisation_id for m in user.memberships)


def can_download(user: User, attachment: Attachment) -> bool:
    """Whether ``user`` may download ``attachment``: whoever may see its file
    (the organisation's members, and staff on submitted files). The antivirus
    verdict is checked apart: ``download_blocked_reason``."""
    return bool(user.is_authenticated) and can_view_application(user, attachment.application)


def download_blocked_reason(attachment: Attachment) -> str | None:
    """A French message when the antivirus does not allow the file out yet."""
    status = attachment.scan_status
    if status in ("clean", "not_scanned"):
        return None
    if status == "pending":
        return _("Ce fichier est en cours d'analyse antivirus : il pourra être téléchargé dans quelques minutes.")
    if status == "infected":
        return _("Un virus a été détecté dans ce fichier : il ne peut pas être téléchargé.")
    return _("L'analyse antivirus de ce fichier a échoué : il ne peut pas être téléchargé pour l'instant.")


# --------------------------------------------------------------------------- queries


def _field_attachments(session: Session, application: Application, key: str | None = None):
    stmt = select(Attachment).where(Attachment.application_id == application.id, Attachment.field_key.is_not(None))
    if key is not None:
        stmt = stmt.where(Attachment.field_key == key)
    return session.execute(stmt.order_by(Attachment.uploaded_at.desc(), Attachment.id.desc())).scalars().all()


def attachments_by_key(session: Session, application: Application) -> dict[str, list[Attachment]]:
    """The file's form attachments by field key, the current (latest) first."""
    grouped: dict[str, list[Attachment]] = defaultdict(list)
    for attachment in _field_attachments(session, application):
        grouped[attachment.field_key].append(attachment)  # type: ignore[index]
    return dict(grouped)


def present_file_keys(session: Session, application: Application) -> set[str]:
    """Keys with at least one attachment that is not infected (for the
    ``required_documents`` guard)."""
    return set(
        session.execute(
            select(Attachment.field_key).where(
                Attachment.application_id == application.id,
                Attachment.field_key.is_not(None),
                Attachment.scan_status != "infected",
            )
        ).scalars()
    )


def _describe(attachment: Attachment) -> dict[str, Any]:
    return {
        "attachment_id": attachment.id,
        "field_key": attachment.field_key,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "sha256": attachment.sha256,
        "scan_status": attachment.scan_status,
    }


def _lock(session: Session, application: Application) -> None:
    """Re-read the file under a row lock (PostgreSQL; SQLite already holds the
    write lock), so its state cannot change between the check and the write."""
    session.refresh(application, with_for_update=True)


# --------------------------------------------------------------------------- operations


def store_attachment(session: Session, application: Application, field_key: str, file_storage: FileStorage | None,
                     user: User) -> Attachment:
    """Check and store an uploaded file for the form field ``field_key``.

    Raises ``UserFacingError`` (404 unknown key, 409 not modifiable, 413 too
    large, 415 refused content, 422 no file) with nothing stored."""
    from app.scanning import get_scanner, scan_attachment

    field = file_field(application, field_key)
    _check_upload_allowed(session, application, field_key)
    if file_storage is None or not file_storage.filename:
        raise uploads.UploadRefused(_("Choisissez un fichier à envoyer."), status=422)
    stored = uploads.check_and_store(
        file_storage.stream, file_storage.filename, accept=uploads.accepted_types(field), max_bytes=uploads.max_bytes_for(field)
    )
    uploads.discard_on_rollback(session, stored.stored_name)

    _lock(session, application)
    _check_upload_allowed(session, application, field_key)
    replaced = []
    if application.state == "draft":
        for old in _field_attachments(session, application, field_key):
            replaced.append(_describe(old))
            enqueue_after_commit(uploads.remove_stored_file, old.stored_name, queue="default")
            session.delete(old)

    scanner = get_scanner()
    attachment = Attachment(
        application_id=application.id,
        field_key=field_key,
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        scan_status="pending" if scanner.configured else "not_scanned",
        uploaded_by_id=user.id,
    )
    session.add(attachment)
    session.flush()
    audit.record(session, actor=user, role="applicant", object_type="application", object_id=application.reference,
                 action="replace_attachment" if replaced else "upload_attachment",
                 before={"replaced": replaced} if replaced else None, after=_describe(attachment))
    if scanner.configured:
        enqueue_after_commit(scan_attachment, attachment.id, queue="default")
    current_app.logger.info("attachment %s stored for %s/%s", attachment.id, application.reference, field_key)
    return attachment


def delete_attachment(session: Session, attachment: Attachment, user: User) -> None:
    """Delete a form attachment of a draft (row now, stored file after the commit)."""
    application = attachment.application
    _lock(session, application)
    if application.state != "draft" or attachment.field_key is None:
        raise UserFacingError(_("Ce dossier a été déposé : ses pièces ne peuvent plus être supprimées."), status=409)
    before = _describe(attachment)
    enqueue_after_commit(uploads.remove_stored_file, attachment.stored_name, queue="default")
    session.delete(attachment)
    audit.record(session, actor=user, role="applicant", object_type="application", object_id=application.reference,
                 action="delete_attachment", before=before)
