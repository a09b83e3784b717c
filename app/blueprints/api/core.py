"""Shared pieces of the JSON API: errors, bearer-token authentication, JSON bodies."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any, Callable

from flask import g, jsonify, request

from app.blueprints.api import bp
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import translate as _
from app.models import utcnow
from app.operations import tokens


def api_error(status: int, message: str):
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="guichet"'
    return response


@bp.errorhandler(UserFacingError)
def _user_error(exc: UserFacingError):
    return api_error(exc.status, exc.message)


def token_required(scope: str = "read") -> Callable:
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            header = request.headers.get("Authorization", "")
            kind, _sep, secret = header.partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                return api_error(401, _("Jeton d'accès manquant : envoyez l'en-tête Authorization: Bearer <jeton>."))
            token = tokens.find_valid_token(db.session, secret.strip())
            if token is None:
                return api_error(401, _("Jeton d'accès invalide, expiré ou révoqué."))
            if scope not in token.scope_set:
                return api_error(403, _("Ce jeton n'a pas la portée « %(scope)s ».", scope=scope))
            now = utcnow()
            if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
                # Bookkeeping shown to the token's owner; committed on its own,
                # at most once a minute, before the view's unit of work.
                token.last_used_at = now
                db.session.commit()
            g.api_token = token
            g.api_user = token.user
            return view(*args, **kwargs)

        return wrapped

    return decorator


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise UserFacingError(_("Le corps de la requête doit être un objet JSON."), status=422)
    return data
