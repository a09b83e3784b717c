"""JSON API under /api/v1, authenticated by personal bearer tokens."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.access import visible_applications
from app.api_schema import openapi_document
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db, limiter
from app.formatting import translate as _
from app.models import Application, Call, utcnow
from app.operations import accounts, tokens

bp = Blueprint("api", __name__, url_prefix="/api/v1")


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


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise UserFacingError(_("Le corps de la requête doit être un objet JSON."), status=422)
    return data


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.post("/tokens")
@limiter.limit(lambda: current_app.config["LOGIN_IP_RATE_LIMIT"], deduct_when=lambda r: r.status_code == 401)
def create_token():
    data = _json_body()
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


def _call_json(call: Call) -> dict[str, Any]:
    return {
        "reference": call.reference,
        "title": call.title,
        "status": call.status,
        "axis": call.axis.number,
        "opens_at": call.opens_at.isoformat(),
        "closes_at": call.closes_at.isoformat(),
        "budget_cents": call.budget_cents,
        "max_aid_cents": call.max_aid_cents,
    }


@bp.get("/calls")
@token_required("read")
def list_calls():
    stmt = select(Call).options(joinedload(Call.axis)).order_by(Call.opens_at.desc())
    if not g.api_user.is_staff:
        stmt = stmt.where(Call.status != "draft")
    return jsonify({"items": [_call_json(c) for c in db.session.execute(stmt).scalars()]})


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


@bp.get("/applications")
@token_required("read")
def list_applications():
    try:
        limit = int(request.args.get("limit", 100))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        return api_error(422, _("« limit » et « offset » doivent être des nombres entiers."))
    if not 1 <= limit <= 1000 or offset < 0:
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
    return jsonify(_application_json(application))
