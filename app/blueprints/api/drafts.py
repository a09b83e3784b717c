"""Call forms and drafts: a call's form, creating a draft, saving its answers."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import callforms
from app.access import visible_applications
from app.blueprints.api import bp
from app.blueprints.api.core import api_error, json_body, token_required
from app.blueprints.api.openapi import AUTH_ERRORS, ERROR, SECURED, json_content, ref
from app.db_helpers import commit
from app.extensions import db
from app.formatting import translate as _
from app.models import Application, Call
from app.operations import drafts
from app.operations.organisations import organisations_of


def _budget_json(budget: dict[str, Any]) -> dict[str, Any]:
    share = budget["aid_share_percent"]
    return {**budget, "aid_share_percent": str(share) if share is not None else None}


def draft_json(application: Application) -> dict[str, Any]:
    """A file with its answers, completeness per section and budget totals."""
    defn = drafts.application_definition(application)
    answers = application.answers or {}
    data: dict[str, Any] = {
        "reference": application.reference,
        "call": application.call.reference,
        "organisation": {"siret": application.organisation.siret, "name": application.organisation.name},
        "title": application.title,
        "state": application.state,
        "requested_amount_cents": application.requested_amount_cents,
        "form_version": application.form_version.number if application.form_version is not None else None,
        "answers": answers,
        "completeness": None,
        "budget": None,
        "version": application.version,
        "created_at": application.created_at.isoformat(),
        "updated_at": application.updated_at.isoformat() if application.updated_at else None,
        "submitted_at": application.submitted_at.isoformat() if application.submitted_at else None,
    }
    if defn is not None:
        present = drafts.present_file_keys(db.session, application)
        data["completeness"] = [p.to_json() for p in callforms.completeness(defn, answers, present)]
        data["budget"] = _budget_json(callforms.budget_summary(defn, answers))
    return data


def _field_errors(status: int, message: str, errors: list[callforms.FieldError], unknown: list[str] | None = None):
    """The API's error body, with each field's problem (``fields``) and the unknown keys."""
    error: dict[str, Any] = {"status": status, "message": message, "fields": [e.to_json() for e in errors]}
    if unknown:
        error["unknown"] = unknown
    return jsonify({"error": error}), status


def _visible_call(reference: str) -> Call | None:
    call = db.session.execute(select(Call).where(Call.reference == reference)).scalar_one_or_none()
    if call is None or (call.status == "draft" and not g.api_user.is_staff):
        return None
    return call


# The largest number a database takes as an integer everywhere (SQLite and PostgreSQL's INTEGER).
MAX_VERSION = 2**31 - 1


@bp.get("/calls/<reference>/form")
@token_required("read")
def call_form(reference: str):
    call = _visible_call(reference)
    if call is None:
        return api_error(404, _("Appel introuvable."))
    number = request.args.get("version")
    if number is not None:
        if not (number.isascii() and number.isdigit()):
            return api_error(422, _("« version » doit être un nombre entier."))
        # beyond a database integer no version exists (and the query would fail)
        version = drafts.form_version(db.session, call, int(number)) if int(number) <= MAX_VERSION else None
    else:
        version = drafts.current_form(db.session, call)
    if version is None:
        return api_error(404, _("Cet appel n'a pas (encore) de formulaire publié sous cette version."))
    defn = drafts.definition_of(version)
    return jsonify({
        "call": call.reference,
        "version": version.number,
        "hash": version.hash,
        "title": defn.title,
        "published_at": version.created_at.isoformat(),
        "sections": [{"key": s.key, "title": s.title, "help": s.help, "fields": [f.key for f in s.fields]}
                     for s in defn.sections],
        "fields": [f.to_api() for f in defn.fields],
    })


@bp.post("/applications")
@token_required("write")
def create_application():
    user = g.api_user
    if not user.has_role("applicant"):
        return api_error(403, _("Seul un porteur de projet peut créer un dossier."))
    data = json_body()
    call_ref, siret, title = data.get("call"), data.get("organisation"), data.get("title", "")
    if not isinstance(call_ref, str) or not call_ref:
        return api_error(422, _("« call » (la référence de l'appel) est obligatoire."))
    if siret is not None and not isinstance(siret, str):
        return api_error(422, _("« organisation » doit être un SIRET (texte)."))
    if not isinstance(title, str):
        return api_error(422, _("« title » doit être un texte."))
    call = _visible_call(call_ref)
    if call is None:
        return api_error(404, _("Appel introuvable."))
    organisations = organisations_of(db.session, user)
    if siret is not None:
        wanted = "".join(siret.split())
        organisation = next((o for o in organisations if o.siret == wanted), None)
        if organisation is None:
            return api_error(403, _("Vous n'agissez pas pour l'organisation de SIRET %(siret)s.", siret=wanted))
    elif len(organisations) == 1:
        organisation = organisations[0]
    elif not organisations:
        return api_error(422, _("Rattachez d'abord votre compte à une organisation."))
    else:
        return api_error(422, _("Vous agissez pour plusieurs organisations : précisez « organisation » (son SIRET)."))
    application = drafts.create_draft(db.session, call=call, organisation=organisation, author=user, title=title)
    reference = application.reference
    commit()
    application = _load(reference)
    response = jsonify(draft_json(application))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_application", reference=reference)
    return response


def _load(reference: str) -> Application | None:
    return db.session.execute(
        visible_applications(g.api_user).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation), joinedload(Application.form_version))
    ).scalar_one_or_none()


def _is_member(application: Application) -> bool:
    return any(m.organisation_id == application.organisation_id for m in g.api_user.memberships)


@bp.get("/applications/<reference>/answers")
@token_required("read")
def application_answers(reference: str):
    application = _load(reference)
    if application is None:
        return api_error(404, _("Dossier introuvable."))
    from app.blueprints.api.applications import check_staff_access

    check_staff_access(application)
    return jsonify(draft_json(application))


@bp.patch("/applications/<reference>")
@token_required("write")
def patch_application(reference: str):
    application = _load(reference)
    if application is None:
        return api_error(404, _("Dossier introuvable."))
    if not _is_member(application) or not g.api_user.has_role("applicant"):
        return api_error(403, _("Seuls les membres de l'organisation peuvent modifier ce dossier."))
    data = json_body()
    extra = sorted(set(data) - {"answers"})
    if extra:
        return api_error(422, _("Clés non prises en charge : %(keys)s (seule « answers » est modifiable).", keys=", ".join(extra)))
    answers = data.get("answers")
    if not isinstance(answers, dict):
        return api_error(422, _("« answers » doit être un objet {clé: valeur}."))
    try:
        drafts.save_answers(db.session, application, answers, g.api_user, "api")
    except drafts.AnswersInvalid as exc:
        db.session.rollback()
        return _field_errors(422, exc.message, exc.errors, exc.unknown)
    commit()
    return jsonify(draft_json(_load(reference)))


_FIELD = {
    "type": "object",
    "required": ["key", "label", "type", "required"],
    "properties": {
        "key": {"type": "string"},
        "label": {"type": "string"},
        "type": {"type": "string", "enum": list(callforms.FIELD_TYPES)},
        "required": {"type": "boolean"},
        "help": {"type": ["string", "null"]},
        "section": {"type": "string"},
        "options": {"type": ["array", "null"], "items": {
            "type": "object", "properties": {"value": {"type": "string"}, "label": {"type": "string"}}}},
        "accept": {"type": ["array", "null"], "items": {"type": "string"}},
        "max_bytes": {"type": ["integer", "null"]},
        "columns": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/FormField"}},
        "max_length": {"type": "integer"},
        "min": {}, "max": {},
        "show_if": {"type": "object", "properties": {"field": {"type": "string"}, "in": {"type": "array"}}},
        "maps_to": {"type": "string"},
    },
}
_REF_PARAM = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}

OPENAPI = {
    "schemas": {
        "FormField": _FIELD,
        "CallForm": {
            "type": "object",
            "required": ["call", "version", "fields"],
            "properties": {
                "call": {"type": "string"},
                "version": {"type": "integer"},
                "hash": {"type": "string"},
                "title": {"type": "string"},
                "published_at": {"type": "string", "format": "date-time"},
                "sections": {"type": "array", "items": {"type": "object"}},
                "fields": {"type": "array", "items": ref("FormField")},
            },
        },
        "Draft": {
            "type": "object",
            "required": ["reference", "call", "state", "answers"],
            "properties": {
                "reference": {"type": "string", "examples": ["PIA-2026-0042"]},
                "call": {"type": "string"},
                "organisation": {"type": "object", "properties": {"siret": {"type": "string"}, "name": {"type": "string"}}},
                "title": {"type": "string"},
                "state": {"type": "string"},
                "requested_amount_cents": {"type": "integer"},
                "form_version": {"type": ["integer", "null"]},
                "answers": {"type": "object", "description": "Clé du champ → valeur : montants en centimes, dates AAAA-MM-JJ, "
                                                             "choix par valeur, tableaux en listes d'objets."},
                "completeness": {"type": ["array", "null"], "items": {"type": "object"}},
                "budget": {"type": ["object", "null"]},
                "version": {"type": "integer"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": ["string", "null"], "format": "date-time"},
                "submitted_at": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        "NewDraft": {
            "type": "object",
            "required": ["call"],
            "properties": {
                "call": {"type": "string", "description": "Référence de l'appel"},
                "organisation": {"type": "string", "description": "SIRET ; facultatif si l'utilisateur n'a qu'une organisation"},
                "title": {"type": "string"},
            },
        },
        "AnswersPatch": {
            "type": "object",
            "required": ["answers"],
            "properties": {"answers": {"type": "object"}},
        },
    },
    "paths": {
        "/calls/{reference}/form": {
            "get": {
                "summary": "Le formulaire d'un appel (version en vigueur, ou ?version=n)",
                "security": SECURED,
                "parameters": [_REF_PARAM, {"name": "version", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "Le formulaire", "content": json_content(ref("CallForm"))},
                              "404": ERROR, **AUTH_ERRORS},
            }
        },
        "/applications": {
            "post": {
                "summary": "Créer un brouillon de dossier sur un appel ouvert (portée write)",
                "security": SECURED,
                "requestBody": {"required": True, "content": json_content(ref("NewDraft"))},
                "responses": {"201": {"description": "Le brouillon", "content": json_content(ref("Draft"))},
                              "404": ERROR, **AUTH_ERRORS},
            }
        },
        "/applications/{reference}": {
            "patch": {
                "summary": "Enregistrer des réponses du brouillon (portée write) ; refusé une fois le dossier déposé",
                "security": SECURED,
                "parameters": [_REF_PARAM],
                "requestBody": {"required": True, "content": json_content(ref("AnswersPatch"))},
                "responses": {"200": {"description": "Le brouillon", "content": json_content(ref("Draft"))},
                              "404": ERROR, "409": ERROR, **AUTH_ERRORS},
            }
        },
        "/applications/{reference}/answers": {
            "get": {
                "summary": "Les réponses d'un dossier, leur complétude et les totaux du budget",
                "security": SECURED,
                "parameters": [_REF_PARAM],
                "responses": {"200": {"description": "Le dossier", "content": json_content(ref("Draft"))},
                              "404": ERROR, **AUTH_ERRORS},
            }
        },
    },
}
