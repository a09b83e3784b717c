"""The State-aid regime of a call's grants (DOMAIN.md §5): de minimis or a
GBER article, recorded on every ledger entry of its files. A change applies
to reservations made afterwards; what is already reserved keeps its regime."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.ledger import rules
from app.models import Call, User

REGIME_EXAMPLES = ("de_minimis", "gber:25", "gber:28", "gber:29")


def set_aid_regime(session: Session, call: Call, regime: str, *, actor: User) -> Call:
    regime = (regime or "").strip()
    if not rules.valid_regime(regime):
        raise UserFacingError(_("Régime d'aide invalide : indiquez « de_minimis » ou « gber: » suivi de l'article "
                                "du RGEC, par exemple « gber:25 »."))
    before = call.aid_regime
    if regime == before:
        return call
    call.aid_regime = regime
    session.flush()
    audit.record(session, actor=actor, role="admin", object_type="call", object_id=call.reference,
                 action="set_aid_regime", before={"aid_regime": before}, after={"aid_regime": regime})
    return call
