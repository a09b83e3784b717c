"""The ranking of a call and its funding line (staff only)."""

from __future__ import annotations

from flask import g, jsonify
from sqlalchemy import select

from app.blueprints.api import bp
from app.blueprints.api.core import api_error, token_required
from app.blueprints.api.openapi import AUTH_ERRORS, ERROR, SECURED, json_content, ref
from app.extensions import db
from app.formatting import translate as _
from app.models import FILE_READING_ROLES, Call
from app.operations import reviews as ops


@bp.get("/calls/<reference>/ranking")
@token_required("read")
def call_ranking(reference: str):
    call = db.session.execute(select(Call).where(Call.reference == reference)).scalar_one_or_none()
    if call is None:
        return api_error(404, _("Appel inconnu : %(reference)s.", reference=reference))
    if not any(g.api_user.has_role(r, call.id) for r in FILE_READING_ROLES):
        return api_error(403, _("Le classement est réservé aux instructeurs, aux financiers et aux administrateurs de l'appel."))
    ranking = ops.call_ranking(db.session, call, viewer=g.api_user)
    return jsonify({
        "call": call.reference,
        "budget_available_cents": ranking.budget_available_cents,
        "items": [_item(line) for line in ranking.lines],
    })


def _item(line: ops.RankingLine) -> dict:
    """One line; a line masked for the viewer (conflict of interest, own review not
    submitted) keeps its rank and reference and says why, with no score nor detail."""
    if line.masked is not None:
        return {"reference": line.application.reference, "rank": line.item.rank, "masked": line.masked,
                "score": None, "funded": None, "reserve_position": None, "eliminated": None, "tied": None,
                "disagreement": None, "n_reviews": None, "proposed_amount_cents": None}
    return {
        "reference": line.application.reference,
        "rank": line.item.rank,
        "masked": None,
        "score": str(line.item.score),
        "funded": line.item.funded,
        "reserve_position": line.item.reserve_position,
        "eliminated": line.item.eliminated,
        "tied": line.item.tied,
        "disagreement": line.score.disagreement,
        "n_reviews": line.score.n_reviews,
        "proposed_amount_cents": line.item.proposed_amount_cents,
    }


OPENAPI = {
    "schemas": {
        "RankingItem": {
            "type": "object",
            "required": ["reference", "rank", "score", "funded", "proposed_amount_cents"],
            "properties": {
                "reference": {"type": "string"},
                "rank": {"type": "integer", "minimum": 1},
                "masked": {"type": ["string", "null"], "enum": [ops.MASK_CONFLICT, ops.MASK_PENDING, None],
                           "description": "Pourquoi la note et les détails de ce dossier sont masqués pour vous : "
                                          "conflit d'intérêts, ou votre propre avis sur le dossier n'est pas encore "
                                          "transmis. Les autres champs valent alors null ; le rang reste celui de "
                                          "l'appel."},
                "score": {"type": ["string", "null"],
                          "description": "Note agrégée sur 20, décimale à deux chiffres (« 14.25 »)."},
                "funded": {"type": ["boolean", "null"], "description": "Au-dessus de la ligne de financement."},
                "reserve_position": {"type": ["integer", "null"], "description": "Rang sur la liste d'attente."},
                "eliminated": {"type": ["boolean", "null"]},
                "tied": {"type": ["boolean", "null"], "description": "Égalité parfaite après tous les critères de départage."},
                "disagreement": {"type": ["boolean", "null"]},
                "n_reviews": {"type": ["integer", "null"]},
                "proposed_amount_cents": {"type": ["integer", "null"],
                                          "description": "Montant proposé, sinon montant demandé (centimes)."},
            },
        },
        "Ranking": {
            "type": "object",
            "required": ["budget_available_cents", "items"],
            "properties": {
                "call": {"type": "string"},
                "budget_available_cents": {"type": "integer"},
                "items": {"type": "array", "items": ref("RankingItem")},
            },
        },
    },
    "paths": {
        "/calls/{reference}/ranking": {
            "get": {
                "summary": "Classement d'un appel et ligne de financement (instructeurs, financiers, administrateurs)",
                "security": SECURED,
                "parameters": [{"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Classement par rang", "content": json_content(ref("Ranking"))},
                              "404": ERROR, **AUTH_ERRORS},
            }
        }
    },
}
