"""Submitting, withdrawing and the receipt of a file, through the API."""

from __future__ import annotations

from flask import abort, g, jsonify
from sqlalchemy.orm.exc import StaleDataError

from app.access import visible_applications
from app.blueprints.api import bp
from app.blueprints.api.core import api_error, json_body, token_required
from app.blueprints.api.openapi import AUTH_ERRORS, ERROR, SECURED, json_content
from app.db_helpers import commit
from app.documents import latest_document, receipt_name, send_document
from app.extensions import db
from app.formatting import translate as _
from app.models import Application
from app.operations import submission
from app.operations.transitions import TransitionRefused


def member_application(reference: str) -> Application:
    """A file of one of the token user's organisations; 404 otherwise."""
    application = db.session.execute(
        visible_applications(g.api_user).where(Application.reference == reference)
    ).scalar_one_or_none()
    if application is None or not any(m.organisation_id == application.organisation_id for m in g.api_user.memberships):
        abort(404)
    return application


def _changed_meanwhile() -> str:
    return _("Ce dossier a été modifié par quelqu'un d'autre entre-temps : rechargez la page et recommencez.")


def _errors(problems: list[submission.FieldProblem], message: str | None = None):
    response = jsonify({
        "error": {"status": 422, "message": message or _("Le dossier ne peut pas être déposé.")},
        "errors": [{"key": p.key, "message": p.message} for p in problems],
    })
    response.status_code = 422
    return response


@bp.post("/applications/<reference>/submit")
@token_required("write")
def submit_application(reference: str):
    application = member_application(reference)
    try:
        submission.submit(db.session, application, g.api_user)
        commit()
    except StaleDataError:  # submitted concurrently by another request: the same outcome
        db.session.rollback()
        application = member_application(reference)
    except submission.SubmissionInvalid as exc:
        db.session.rollback()
        return _errors(exc.problems)
    except TransitionRefused as exc:
        db.session.rollback()
        return _errors([submission.FieldProblem("", m) for m in exc.messages])
    return jsonify({"reference": application.reference, "state": application.state,
                    "submitted_at": application.submitted_at.isoformat() if application.submitted_at else None})


@bp.post("/applications/<reference>/withdraw")
@token_required("write")
def withdraw_application(reference: str):
    application = member_application(reference)
    data = json_body()
    reason = data.get("reason")
    if not isinstance(reason, str):
        return api_error(422, _("« reason » est obligatoire."))
    try:
        submission.withdraw(db.session, application, g.api_user, reason)
        commit()
    except StaleDataError:  # changed by another request meanwhile
        db.session.rollback()
        return api_error(409, _changed_meanwhile())
    return jsonify({"reference": application.reference, "state": application.state})


@bp.patch("/applications/<reference>/corrections")
@token_required("write")
def correct_application(reference: str):
    application = member_application(reference)
    data = json_body()
    answers = data.get("answers")
    if not isinstance(answers, dict):
        return api_error(422, _("« answers » doit être un objet {clé: valeur}."))
    problems = submission.save_corrections(db.session, application, answers, g.api_user, source="api")
    if problems:
        db.session.rollback()
        return _errors(problems, _("Corrections refusées."))
    commit()
    return jsonify({"reference": application.reference, "state": application.state})


@bp.post("/applications/<reference>/resubmit")
@token_required("write")
def resubmit_application(reference: str):
    application = member_application(reference)
    try:
        submission.resubmit(db.session, application, g.api_user)
        commit()
    except StaleDataError:
        # Another request changed the file first: re-submitted by a retried request, or a conflict.
        db.session.rollback()
        application = member_application(reference)
        if not submission.already_resubmitted(db.session, application):
            return api_error(409, _changed_meanwhile())
    except submission.SubmissionInvalid as exc:
        db.session.rollback()
        return _errors(exc.problems)
    except TransitionRefused as exc:
        db.session.rollback()
        return _errors([submission.FieldProblem("", m) for m in exc.messages])
    return jsonify({"reference": application.reference, "state": application.state})


@bp.get("/applications/<reference>/receipt")
@token_required("read")
def application_receipt(reference: str):
    application = member_application(reference)
    document = latest_document(db.session, application, "receipt")
    if document is None:
        return api_error(404, _("Aucun accusé de réception : le dossier n'est pas déposé, ou l'accusé est en préparation."))
    return send_document(document, receipt_name(application))


_REF = [{"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}]
OPENAPI = {
    "schemas": {
        "SubmissionErrors": {
            "type": "object",
            "required": ["errors"],
            "properties": {
                "error": {"type": "object"},
                "errors": {"type": "array", "items": {"type": "object", "required": ["key", "message"],
                                                      "properties": {"key": {"type": "string"}, "message": {"type": "string"}}}},
            },
        },
        "SubmissionResult": {
            "type": "object",
            "required": ["reference", "state"],
            "properties": {"reference": {"type": "string"}, "state": {"type": "string"},
                           "submitted_at": {"type": ["string", "null"], "format": "date-time"}},
        },
    },
    "paths": {
        "/applications/{reference}/submit": {
            "post": {
                "summary": "Déposer le dossier (idempotent : un second dépôt ne change rien)",
                "security": SECURED,
                "parameters": _REF,
                "responses": {
                    "200": {"description": "Déposé", "content": json_content({"$ref": "#/components/schemas/SubmissionResult"})},
                    "404": ERROR,
                    "401": ERROR,
                    "403": ERROR,
                    "422": {"description": "Champs à corriger", "content": json_content({"$ref": "#/components/schemas/SubmissionErrors"})},
                },
            }
        },
        "/applications/{reference}/withdraw": {
            "post": {
                "summary": "Retirer le dossier avant la décision, avec un motif",
                "security": SECURED,
                "parameters": _REF,
                "requestBody": {"required": True, "content": json_content(
                    {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}})},
                "responses": {"200": {"description": "Retiré", "content": json_content({"$ref": "#/components/schemas/SubmissionResult"})},
                              "404": ERROR, **AUTH_ERRORS},
            }
        },
        "/applications/{reference}/corrections": {
            "patch": {
                "summary": "Corriger les réponses demandées par l'instruction (les valeurs précédentes sont conservées)",
                "security": SECURED,
                "parameters": _REF,
                "requestBody": {"required": True, "content": json_content(
                    {"type": "object", "required": ["answers"], "properties": {"answers": {"type": "object"}}})},
                "responses": {"200": {"description": "Corrigé", "content": json_content({"$ref": "#/components/schemas/SubmissionResult"})},
                              "404": ERROR, "409": ERROR, "401": ERROR, "403": ERROR,
                              "422": {"description": "Champs refusés", "content": json_content({"$ref": "#/components/schemas/SubmissionErrors"})}},
            }
        },
        "/applications/{reference}/resubmit": {
            "post": {
                "summary": "Redéposer le dossier après corrections",
                "security": SECURED,
                "parameters": _REF,
                "responses": {"200": {"description": "Redéposé", "content": json_content({"$ref": "#/components/schemas/SubmissionResult"})},
                              "404": ERROR, "401": ERROR, "403": ERROR,
                              "422": {"description": "Points à corriger", "content": json_content({"$ref": "#/components/schemas/SubmissionErrors"})}},
            }
        },
        "/applications/{reference}/receipt": {
            "get": {
                "summary": "L'accusé de réception (PDF)",
                "security": SECURED,
                "parameters": _REF,
                "responses": {"200": {"description": "PDF", "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                              "404": ERROR, **AUTH_ERRORS},
            }
        },
    },
}
