"""Committee sessions and their decisions, for committee members (their
committees' sessions), staff and finance (the sessions and items of the calls
they hold their role on; all of them with a role on every call)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify

from app.blueprints.api import bp
from app.blueprints.api.core import api_error, token_required
from app.blueprints.api.openapi import AUTH_ERRORS, ERROR, SECURED, json_content, list_of, ref
from app.extensions import db
from app.formatting import translate as _
from app.models import AgendaItem, CommitteeSession
from app.operations import committee as ops

READERS = ("committee", "admin", "instructor", "finance")


def _item_json(item: AgendaItem) -> dict[str, Any]:
    count = ops.tally(item)
    return {
        "reference": item.application.reference,
        "position": item.position,
        "block": item.block,
        "proposed_amount_cents": item.proposed_amount_cents,
        "amount_cents": item.amount_cents,
        "vote_status": item.vote_status,
        "decision": item.decision,
        "deliberation_number": item.deliberation_number,
        "votes": {"for": count.votes_for, "against": count.against, "abstain": count.abstain},
        "withdrawn": [w.user.name for w in item.withdrawals],
    }


def _session_json(cs: CommitteeSession, *, items: list[AgendaItem] | None = None) -> dict[str, Any]:
    q = ops.quorum(cs)
    data: dict[str, Any] = {
        "id": cs.id,
        "committee": {"name": cs.committee.name, "code": cs.committee.code},
        "held_at": cs.held_at.isoformat(),
        "place": cs.place,
        "status": cs.status,
        "quorum": {"present_or_represented": q.count, "required": q.required, "in_office": q.in_office},
    }
    if items is not None:
        data["items"] = [_item_json(i) for i in items]
    return data


def _reader_or_error():
    if not g.api_user.has_any_role(*READERS):
        return api_error(403, _("Les séances de commission sont réservées aux membres, aux services et aux finances."))
    return None


@bp.get("/committee/sessions")
@token_required("read")
def list_committee_sessions():
    if (error := _reader_or_error()) is not None:
        return error
    return jsonify({"items": [_session_json(cs) for cs in ops.visible_sessions(db.session, g.api_user)]})


@bp.get("/committee/sessions/<int:session_id>")
@token_required("read")
def get_committee_session(session_id: int):
    if (error := _reader_or_error()) is not None:
        return error
    cs = db.session.get(CommitteeSession, session_id)
    if cs is None:
        return api_error(404, _("Séance introuvable."))
    if not ops.can_view_session(g.api_user, cs):
        return api_error(403, _("Vous ne siégez pas dans cette commission et aucun de ses points ne relève des appels "
                                "sur lesquels vous avez un rôle."))
    return jsonify(_session_json(cs, items=ops.visible_items(g.api_user, cs)))


_SESSION_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "committee": {"type": "object", "required": ["name", "code"],
                  "properties": {"name": {"type": "string"}, "code": {"type": "string"}}},
    "held_at": {"type": "string", "format": "date-time"},
    "place": {"type": "string"},
    "status": {"type": "string", "enum": ["planned", "open", "closed", "minutes_approved"]},
    "quorum": {"type": "object", "properties": {"present_or_represented": {"type": "integer"},
                                                "required": {"type": "integer"}, "in_office": {"type": "integer"}}},
}

OPENAPI = {
    "schemas": {
        "CommitteeSession": {
            "type": "object",
            "required": ["id", "committee", "held_at", "place", "status"],
            "properties": _SESSION_PROPERTIES,
        },
        "AgendaItem": {
            "type": "object",
            "required": ["reference", "decision", "deliberation_number", "amount_cents", "votes", "withdrawn"],
            "properties": {
                "reference": {"type": "string", "examples": ["PIA-2026-0042"]},
                "position": {"type": "integer"},
                "block": {"type": ["string", "null"]},
                "proposed_amount_cents": {"type": "integer"},
                "amount_cents": {"type": "integer", "description": "Montant soumis au vote, ou accordé une fois décidé"},
                "vote_status": {"type": "string", "enum": ["pending", "open", "closed"]},
                "decision": {"type": ["string", "null"], "enum": ["approved", "rejected", None]},
                "deliberation_number": {"type": ["string", "null"], "examples": ["CP-2026-03-17-042"]},
                "votes": {"type": "object", "required": ["for", "against", "abstain"],
                          "properties": {"for": {"type": "integer"}, "against": {"type": "integer"},
                                         "abstain": {"type": "integer"}}},
                "withdrawn": {"type": "array", "items": {"type": "string"},
                              "description": "Membres qui ne prennent pas part au vote (déport)"},
            },
        },
        "CommitteeSessionDetail": {
            "type": "object",
            "required": ["id", "committee", "held_at", "place", "status", "items"],
            "properties": {**_SESSION_PROPERTIES, "items": {"type": "array", "items": ref("AgendaItem")}},
        },
    },
    "paths": {
        "/committee/sessions": {
            "get": {
                "summary": "Les séances de commission visibles par l'utilisateur du jeton",
                "security": SECURED,
                "responses": {"200": {"description": "Liste", "content": list_of("CommitteeSession")}, **AUTH_ERRORS},
            }
        },
        "/committee/sessions/{session_id}": {
            "get": {
                "summary": "Une séance, son ordre du jour, ses votes et ses décisions",
                "security": SECURED,
                "parameters": [{"name": "session_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "La séance", "content": json_content(ref("CommitteeSessionDetail"))},
                    "404": ERROR,
                    **AUTH_ERRORS,
                },
            }
        },
    },
}
