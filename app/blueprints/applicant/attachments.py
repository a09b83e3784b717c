"""The documents of a file's form: upload, delete (drafts), download.

Only the members of the file's organisation reach these routes; staff
download through their own route with ``operations.attachments.can_download``.
A refused upload comes back to the form with the message flashed under the
category ``error upload-<key>``: ``base.html`` shows it at the top of the page
and the ``file_field`` macro next to its field.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from app import uploads
from app.access import role_required, visible_applications
from app.blueprints.applicant import bp
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import translate as _
from app.models import Application, Attachment
from app.operations import attachments as ops
from app.urls import local_path


def _member_application(reference: str) -> Application:
    """The file, if ``current_user`` belongs to its organisation; else 404."""
    application = db.session.execute(
        visible_applications(current_user).where(Application.reference == reference)
    ).scalar_one_or_none()
    if application is None or not ops.is_member(current_user, application):
        abort(404)
    return application


def _back(reference: str, key: str | None) -> str:
    target = local_path(request.form.get("next")) or url_for("applicant.application_detail", reference=reference)
    if key and "#" not in target:
        target += f"#champ-{key}"
    return target


@bp.post("/dossiers/<reference>/pieces/<key>")
@role_required("applicant")
def upload_attachment(reference: str, key: str):
    application = _member_application(reference)
    try:
        attachment = ops.store_attachment(db.session, application, key, request.files.get("file"), current_user)
        name = attachment.original_name
        commit()
    except UserFacingError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.message, f"error upload-{key}")
        return redirect(_back(reference, key), 303)
    flash(_("Le fichier « %(name)s » est enregistré.", name=name), "success")
    return redirect(_back(reference, key), 303)


@bp.post("/dossiers/<reference>/pieces/<int:attachment_id>/supprimer")
@role_required("applicant")
def delete_attachment(reference: str, attachment_id: int):
    application = _member_application(reference)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.application_id != application.id or attachment.field_key is None:
        abort(404)
    key, name = attachment.field_key, attachment.original_name
    try:
        ops.delete_attachment(db.session, attachment, current_user)
        commit()
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, f"error upload-{key}")
        return redirect(_back(reference, key), 303)
    flash(_("Le fichier « %(name)s » est supprimé.", name=name), "success")
    return redirect(_back(reference, key), 303)


@bp.get("/dossiers/<reference>/pieces/<int:attachment_id>")
@role_required("applicant")
def download_attachment(reference: str, attachment_id: int):
    application = _member_application(reference)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.application_id != application.id or not ops.can_download(current_user, attachment):
        abort(404)
    blocked = ops.download_blocked_reason(attachment)
    if blocked:
        raise UserFacingError(blocked, status=423)
    return uploads.send_attachment(attachment)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge):
    limit = uploads.human_size(current_app.config["MAX_CONTENT_LENGTH"])
    message = _("Le fichier envoyé est trop volumineux : la taille maximale est de %(max)s.", max=limit)
    return render_template("error.html", code=413, message=message), 413


# Helpers for templates/macros/attachments.html (globals and filters, so the
# macro works imported with or without the template's context).
bp.add_app_template_filter(uploads.human_size, "filesize")
bp.add_app_template_global(uploads.accept_attribute, "attachment_accept_attribute")
bp.add_app_template_global(uploads.accept_label, "attachment_accept_label")
bp.add_app_template_global(uploads.max_bytes_for, "attachment_max_bytes")
bp.add_app_template_global(uploads.scan_status_label, "scan_status_label")
