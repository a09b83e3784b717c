"""Uploading the documents of a file's form through the API."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import uploads
from app.access import visible_applications
from app.blueprints.api import bp
from app.blueprints.api.core import api_error, token_required
from app.blueprints.api.openapi import AUTH_ERRORS, ERROR, SECURED, json_content, ref
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import translate as _
from app.models import Application, Attachment
from app.operations import attachments as ops


def attachment_json(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "key": a.field_key,
        "name": a.original_name,
        "size": a.size_bytes,
        "sha256": a.sha256,
        "content_type": a.content_type,
        "scan_status": a.scan_status,
        "uploaded_at": a.uploaded_at.isoformat(),
    }


@bp.post("/applications/<reference>/files/<key>")
@token_required("write")
def upload_attachment(reference: str, key: str):
    user = g.api_user
    application = db.session.execute(
        visible_applications(user).where(Application.reference == reference)
    ).scalar_one_or_none()
    if application is None or not ops.is_member(user, application):
        return api_error(404, _("Dossier introuvable."))
    try:
        file_storage = request.files.get("file")
    except RequestEntityTooLarge:
        limit = uploads.human_size(current_app.config["MAX_CONTENT_LENGTH"])
        return api_error(413, _("Le fichier envoyé est trop volumineux : la taille maximale est de %(max)s.", max=limit))
    if file_storage is None:
        return api_error(422, _("Envoyez le fichier dans le champ « file » d'un formulaire multipart/form-data."))
    try:
        attachment = ops.store_attachment(db.session, application, key, file_storage, user)
        body = attachment_json(attachment)
        commit()
    except UserFacingError:
        db.session.rollback()  # also removes the stored file
        raise
    return jsonify(body), 201


OPENAPI = {
    "schemas": {
        "Attachment": {
            "type": "object",
            "required": ["id", "key", "name", "size", "sha256", "content_type", "scan_status"],
            "properties": {
                "id": {"type": "integer"},
                "key": {"type": "string", "description": "La clé du champ « file » du formulaire"},
                "name": {"type": "string", "description": "Le nom d'origine, nettoyé (affichage seulement)"},
                "size": {"type": "integer", "description": "Taille en octets"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "content_type": {"type": "string", "description": "Le type détecté d'après le contenu"},
                "scan_status": {"type": "string", "enum": ["pending", "clean", "infected", "error", "not_scanned"]},
                "uploaded_at": {"type": "string", "format": "date-time"},
            },
        }
    },
    "paths": {
        "/applications/{reference}/files/{key}": {
            "post": {
                "summary": "Déposer une pièce (champ « file » du formulaire du dossier)",
                "description": (
                    "Le dossier doit être un brouillon (le fichier remplace alors la version précédente), "
                    "ou la pièce doit figurer dans une demande de compléments ouverte (une nouvelle version "
                    "s'ajoute). Le type est détecté d'après le contenu ; l'extension doit lui correspondre."
                ),
                "security": SECURED,
                "parameters": [
                    {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}},
                            }
                        }
                    },
                },
                "responses": {
                    "201": {"description": "La pièce enregistrée", "content": json_content(ref("Attachment"))},
                    "404": ERROR,
                    "409": ERROR,
                    "413": ERROR,
                    "415": ERROR,
                    **AUTH_ERRORS,
                },
            }
        }
    },
}
