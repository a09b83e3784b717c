"""Organisations: registration by SIRET and the token user's organisations.

Amounts in integer cents. Refused fields answer 422 with
``{"errors": [{"key", "message"}], "error": {...}}``."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, url_for

from app.blueprints.api import bp
from app.blueprints.api.core import api_error, json_body, token_required
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import translate as _
from app.blueprints.api.openapi import AUTH_ERRORS, ERROR, SECURED, json_content, list_of, ref
from app.models import Membership, Organisation
from app.operations import organisations as ops


def _organisation_json(organisation: Organisation, membership: Membership | None) -> dict[str, Any]:
    return {
        "siret": organisation.siret,
        "siren": organisation.siren,
        **{name: getattr(organisation, name) for name in ops.LEGAL_FIELDS},
        "size_category": organisation.size_category,
        "size_basis": organisation.size_basis,
        "size_computed_at": organisation.size_computed_at.isoformat() if organisation.size_computed_at else None,
        "is_owner": bool(membership and membership.is_owner),
        "created_at": organisation.created_at.isoformat(),
    }


def _validation_error(errors: dict[str, str]):
    response = api_error(422, _("Les données envoyées ne sont pas valides."))
    body = response.get_json()
    body["errors"] = [{"key": key, "message": message} for key, message in errors.items()]
    response.set_data(jsonify(body).get_data())
    return response


@bp.post("/organisations")
@token_required("write")
def create_organisation():
    try:
        data = json_body()
    except UserFacingError as exc:
        return _validation_error({"body": exc.message})
    siret = data.pop("siret", None)
    try:
        organisation = ops.register_organisation(db.session, g.api_user, siret, data)
    except ops.OrganisationErrors as exc:
        db.session.rollback()
        return _validation_error(exc.errors)
    membership = ops.membership_of(db.session, g.api_user, organisation)
    body = _organisation_json(organisation, membership)
    commit()
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_organisation", siret=organisation.siret)
    return response


@bp.get("/organisations/<siret>")
@token_required("read")
def get_organisation(siret: str):
    organisation = ops.find_by_siret(db.session, siret)
    membership = ops.membership_of(db.session, g.api_user, organisation) if organisation is not None else None
    if organisation is None or membership is None:
        return api_error(404, _("Organisation introuvable."))
    return jsonify(_organisation_json(organisation, membership))


@bp.get("/organisations")
@token_required("read")
def list_organisations():
    memberships = {m.organisation_id: m for m in g.api_user.memberships}
    items = [_organisation_json(o, memberships.get(o.id)) for o in ops.organisations_of(db.session, g.api_user)]
    return jsonify({"items": items})


_NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_COUNT = {"type": ["integer", "null"], "minimum": 0}
_NULLABLE_CENTS = {"type": ["integer", "null"], "minimum": 0, "description": "centimes d'euro"}
_LEGAL_PROPERTIES = {
    "name": {"type": "string", "maxLength": 255},
    "legal_form": _NULLABLE_STRING,
    "headcount": _NULLABLE_COUNT,
    "turnover_cents": _NULLABLE_CENTS,
    "balance_sheet_cents": _NULLABLE_CENTS,
    "group_headcount": {**_NULLABLE_COUNT, "description": "entreprises liées (100 %) et partenaires (prorata), cumulées"},
    "group_turnover_cents": _NULLABLE_CENTS,
    "group_balance_sheet_cents": _NULLABLE_CENTS,
    "department": {"type": ["string", "null"], "description": "code du département, ou « other » (déduit du code postal)"},
    "naf_code": {"type": ["string", "null"], "examples": ["62.01Z"]},
    "address": _NULLABLE_STRING,
    "postal_code": {"type": ["string", "null"], "pattern": "^[0-9]{5}$"},
    "city": _NULLABLE_STRING,
}

OPENAPI = {
    "schemas": {
        "OrganisationRequest": {
            "type": "object",
            "required": ["siret"],
            "additionalProperties": False,
            "description": "Les champs absents sont préremplis depuis le répertoire des entreprises quand il connaît le SIRET.",
            "properties": {"siret": {"type": "string", "examples": ["35600000049837"]}, **_LEGAL_PROPERTIES},
        },
        "Organisation": {
            "type": "object",
            "required": ["siret", "siren", "name", "size_category", "is_owner"],
            "properties": {
                "siret": {"type": "string"},
                "siren": {"type": "string"},
                **_LEGAL_PROPERTIES,
                "size_category": {"type": ["string", "null"], "enum": ["micro", "small", "medium", "large", None]},
                "size_basis": {"type": ["object", "null"], "description": "chiffres et seuils ayant produit la catégorie"},
                "size_computed_at": {"type": ["string", "null"], "format": "date-time"},
                "is_owner": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "ValidationErrors": {
            "type": "object",
            "required": ["errors", "error"],
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["key", "message"],
                        "properties": {"key": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                "error": {"$ref": "#/components/schemas/Error/properties/error"},
            },
        },
    },
    "paths": {
        "/organisations": {
            "get": {
                "summary": "Les organisations de l'utilisateur du jeton",
                "security": SECURED,
                "responses": {"200": {"description": "Liste", "content": list_of("Organisation")}, **AUTH_ERRORS},
            },
            "post": {
                "summary": "Inscrire une organisation par son SIRET (l'utilisateur du jeton en devient responsable)",
                "security": SECURED,
                "requestBody": {"required": True, "content": json_content(ref("OrganisationRequest"))},
                "responses": {
                    "201": {"description": "Organisation inscrite", "content": json_content(ref("Organisation"))},
                    "401": ERROR,
                    "403": ERROR,
                    "422": {"description": "Données refusées (SIRET invalide ou déjà inscrit, champ invalide…)",
                            "content": json_content(ref("ValidationErrors"))},
                },
            },
        },
        "/organisations/{siret}": {
            "get": {
                "summary": "Une organisation dont l'utilisateur du jeton est membre",
                "security": SECURED,
                "parameters": [{"name": "siret", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "L'organisation", "content": json_content(ref("Organisation"))},
                    "404": ERROR,
                    **AUTH_ERRORS,
                },
            }
        },
    },
}
