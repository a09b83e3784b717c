"""Personal API tokens: created with e-mail and password, revoked with themselves."""

from __future__ import annotations

from flask import current_app, g, jsonify

from app.blueprints.api import bp
from app.blueprints.api.core import api_error, json_body, token_required
from app.db_helpers import commit
from app.extensions import db, limiter
from app.formatting import translate as _
from app.blueprints.api.openapi import ERROR, SECURED, json_content, ref
from app.operations import accounts, tokens

@bp.post("/tokens")
@limiter.limit(lambda: current_app.config["LOGIN_IP_RATE_LIMIT"], deduct_when=lambda r: r.status_code == 401)
def create_token():
    data = json_body()
    email, password = data.get("email"), data.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        return api_error(422, _("Les champs « email » et « password » sont obligatoires."))
    scopes = data.get("scopes", ["read"])
    days = data.get("days", current_app.config["API_TOKEN_DAYS"])
    name = data.get("name", "")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        return api_error(422, _("« scopes » doit être une liste de chaînes."))
    if not isinstance(days, int) or isinstance(days, bool):
        return api_error(422, _("« days » doit être un nombre entier de jours."))
    if not isinstance(name, str):
        return api_error(422, _("« name » doit être une chaîne."))
    result = accounts.authenticate(db.session, email, password)
    if result.user is None:
        return api_error(401, result.error or _("Identifiants incorrects."))
    token, secret = tokens.issue_token(db.session, result.user, name=name, scopes=scopes, days=days)
    commit()
    return jsonify({"token": secret, "id": token.id, "scopes": sorted(token.scope_set),
                    "expires_at": token.expires_at.isoformat()}), 201


@bp.delete("/tokens/current")
@token_required("read")
def revoke_current_token():
    tokens.revoke_token(db.session, g.api_token, g.api_user)
    commit()
    return "", 204


OPENAPI = {
    "schemas": {
        "TokenRequest": {
            "type": "object",
            "required": ["email", "password"],
            "properties": {
                "email": {"type": "string"},
                "password": {"type": "string"},
                "name": {"type": "string", "maxLength": 100},
                "scopes": {"type": "array", "items": {"type": "string", "enum": ["read", "write"]}},
                "days": {"type": "integer", "minimum": 1, "maximum": 365},
            },
        },
        "Token": {
            "type": "object",
            "required": ["token", "id", "scopes", "expires_at"],
            "properties": {
                "token": {"type": "string"},
                "id": {"type": "integer"},
                "scopes": {"type": "array", "items": {"type": "string"}},
                "expires_at": {"type": "string", "format": "date-time"},
            },
        },
    },
    "paths": {
        "/tokens": {
            "post": {
                "summary": "Obtenir un jeton personnel avec son e-mail et son mot de passe",
                "requestBody": {"required": True, "content": json_content(ref("TokenRequest"))},
                "responses": {
                    "201": {"description": "Jeton créé (affiché une seule fois)", "content": json_content(ref("Token"))},
                    "401": ERROR,
                    "422": ERROR,
                    "429": ERROR,
                },
            }
        },
        "/tokens/current": {
            "delete": {
                "summary": "Révoquer le jeton utilisé",
                "security": SECURED,
                "responses": {"204": {"description": "Révoqué"}, "401": ERROR},
            }
        },
    },
}
