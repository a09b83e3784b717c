"""Files (dossiers) visible to the token's user."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy.orm import joinedload

from app.access import visible_applications
from app.blueprints.api import bp
from app.blueprints.api.core import api_error, json_body, token_required
from app.db_helpers import commit
from app.operations import conflicts
from app.extensions import db
from app.formatting import translate as _
from app.blueprints.api.openapi import AUTH_ERRORS, ERROR, SECURED, json_content, list_of, ref
from app.models import Application

def _application_json(a: Application) -> dict[str, Any]:
    return {
        "reference": a.reference,
        "call": a.call.reference,
        "organisation": {"siret": a.organisation.siret, "name": a.organisation.name},
        "title": a.title,
        "state": a.state,
        "requested_amount_cents": a.requested_amount_cents,
        "workflow_version": a.workflow_version,
        "version": a.version,
        "created_at": a.created_at.isoformat(),
        "submitted_at": a.submitted_at.isoformat() if a.submitted_at else None,
    }


# The largest offset a database takes as an integer everywhere (SQLite and PostgreSQL's INTEGER).
MAX_OFFSET = 2**31 - 1


@bp.get("/applications")
@token_required("read")
def list_applications():
    try:
        limit = int(request.args.get("limit", 100))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        return api_error(422, _("« limit » et « offset » doivent être des nombres entiers."))
    if not 1 <= limit <= 1000 or not 0 <= offset <= MAX_OFFSET:
        return api_error(422, _("« limit » doit être entre 1 et 1000 et « offset » positif."))
    stmt = visible_applications(g.api_user)
    state = request.args.get("state")
    if state:
        stmt = stmt.where(Application.state == state)
    stmt = (
        stmt.options(joinedload(Application.call), joinedload(Application.organisation))
        .order_by(Application.id)
        .limit(limit)
        .offset(offset)
    )
    return jsonify({"items": [_application_json(a) for a in db.session.execute(stmt).scalars()]})


@bp.get("/applications/<reference>")
@token_required("read")
def get_application(reference: str):
    application = db.session.execute(
        visible_applications(g.api_user).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation))
    ).scalar_one_or_none()
    if application is None:
        return api_error(404, _("Dossier introuvable."))
    check_staff_access(application)
    return jsonify(_application_json(application))


def check_staff_access(application: Application) -> None:
    """A file read by staff (not one of the user's own organisation's files):
    no conflict of interest, and a reviewer's declaration first (403 otherwise)."""
    user = g.api_user
    if any(m.organisation_id == application.organisation_id for m in user.memberships):
        return  # their own organisation's file, read as its applicant
    conflicts.require_no_conflict(db.session, user, application, role=conflicts.reviewer_role(user, application))


@bp.post("/applications/<reference>/conflict-declaration")
@token_required("write")
def declare_conflict(reference: str):
    """A reviewer declares no conflict (``{"conflict": false}``) or a conflict and its link."""
    user = g.api_user
    application = db.session.execute(
        visible_applications(user).where(Application.reference == reference)).scalar_one_or_none()
    role = conflicts.reviewer_role(user, application) if application is not None else None
    if application is None or role != "instructor":
        return api_error(404, _("Dossier introuvable."))
    body = json_body()
    if not isinstance(body.get("conflict"), bool):
        return api_error(422, _("« conflict » vaut true ou false."))
    status = conflicts.conflict_status(db.session, user, application)
    if status.conflicted:
        return api_error(403, " ".join(status.reasons))
    declaration = conflicts.declare(db.session, user, application, role=role, has_conflict=body["conflict"],
                                    link=body.get("link") if isinstance(body.get("link"), str) else None)
    result = {"reference": application.reference, "conflict": declaration.has_conflict, "link": declaration.link,
              "declared_at": declaration.declared_at.isoformat()}
    commit()
    return jsonify(result), 201


OPENAPI = {
    "schemas": {
        "Application": {
            "type": "object",
            "required": ["reference", "call", "organisation", "title", "state", "requested_amount_cents", "version"],
            "properties": {
                "reference": {"type": "string", "examples": ["PIA-2026-0042"]},
                "call": {"type": "string"},
                "organisation": {"type": "object", "properties": {"siret": {"type": "string"}, "name": {"type": "string"}}},
                "title": {"type": "string"},
                "state": {"type": "string"},
                "requested_amount_cents": {"type": "integer"},
                "workflow_version": {"type": "string"},
                "version": {"type": "integer"},
                "created_at": {"type": "string", "format": "date-time"},
                "submitted_at": {"type": ["string", "null"], "format": "date-time"},
            },
        }
    },
    "paths": {
        "/applications": {
            "get": {
                "summary": "Les dossiers visibles par l'utilisateur du jeton",
                "security": SECURED,
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
                ],
                "responses": {"200": {"description": "Liste", "content": list_of("Application")}, **AUTH_ERRORS},
            }
        },
        "/applications/{reference}/conflict-declaration": {
            "post": {
                "summary": "Déclarer l'absence ou l'existence d'un conflit d'intérêts (instructeurs), avant de lire le dossier",
                "security": SECURED,
                "parameters": [{"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": json_content({
                    "type": "object", "required": ["conflict"],
                    "properties": {"conflict": {"type": "boolean"}, "link": {"type": "string"}}})},
                "responses": {
                    "201": {"description": "Déclaration enregistrée", "content": json_content({
                        "type": "object", "required": ["reference", "conflict", "declared_at"],
                        "properties": {"reference": {"type": "string"}, "conflict": {"type": "boolean"},
                                       "link": {"type": ["string", "null"]},
                                       "declared_at": {"type": "string", "format": "date-time"}}})},
                    "400": ERROR, "404": ERROR, **AUTH_ERRORS,
                },
            }
        },
        "/applications/{reference}": {
            "get": {
                "summary": "Un dossier",
                "security": SECURED,
                "parameters": [{"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "Le dossier", "content": json_content(ref("Application"))},
                    "404": ERROR,
                    **AUTH_ERRORS,
                },
            }
        },
    },
}
