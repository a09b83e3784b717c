"""Calls for projects."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.blueprints.api import bp
from app.blueprints.api.core import token_required
from app.extensions import db
from app.blueprints.api.openapi import AUTH_ERRORS, SECURED, list_of
from app.models import Call

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


OPENAPI = {
    "schemas": {
        "Call": {
            "type": "object",
            "required": ["reference", "title", "status", "axis", "opens_at", "closes_at", "budget_cents"],
            "properties": {
                "reference": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "string", "enum": ["draft", "published", "closed"]},
                "axis": {"type": "integer"},
                "opens_at": {"type": "string", "format": "date-time"},
                "closes_at": {"type": "string", "format": "date-time"},
                "budget_cents": {"type": "integer"},
                "max_aid_cents": {"type": ["integer", "null"]},
            },
        }
    },
    "paths": {
        "/calls": {
            "get": {
                "summary": "Les appels à projets",
                "security": SECURED,
                "responses": {"200": {"description": "Liste", "content": list_of("Call")}, **AUTH_ERRORS},
            }
        }
    },
}
