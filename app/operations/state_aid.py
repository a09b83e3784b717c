"""The State-aid regime of a call's grants (DOMAIN.md §5): de minimis or a
GBER article, recorded on every ledger entry of its files. A change applies
to reservations made afterwards; what is already reserved keeps its regime.

The regime is chosen with the call's scoring grid (``Call.grid_name``), whose
``aid`` scheme names the instrument the aid is computed with: both are set
together and must agree (``scoring.regime_problem``), so the call has one aid
regime, the one the ledger records and the aid computation applies."""

from __future__ import annotations

from sqlalchemy import select

from sqlalchemy.orm import Session

import scoring
from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.ledger import rules
from app.models import Application, Call, Review, User

REGIME_EXAMPLES = ("de_minimis", "gber:25", "gber:28", "gber:29")

#: ``set_aid_regime(grid_name=KEEP_GRID)``: leave the call's grid as it is.
KEEP_GRID = object()


def set_aid_regime(session: Session, call: Call, regime: str, *, actor: User, grid_name: object = KEEP_GRID) -> Call:
    """Set the call's aid regime and, with ``grid_name``, its scoring grid (a name from
    ``scoring/grids/``; None or "" for the grid named like the workflow). Refused,
    nothing written: an invalid regime, an unknown or invalid grid, a grid whose aid
    scheme disagrees with the regime, a change of grid once reviews were written
    with another one."""
    regime = (regime or "").strip()
    if not rules.valid_regime(regime):
        raise UserFacingError(_("Régime d'aide invalide : indiquez « de_minimis » ou « gber: » suivi de l'article "
                                "du RGEC, par exemple « gber:25 »."))
    from app.operations.reviews import grid_name_of

    new_grid = call.grid_name if grid_name is KEEP_GRID else ((str(grid_name).strip() or None) if grid_name else None)
    if new_grid == call.workflow_name:
        new_grid = None  # the workflow's grid is the default: no need to name it
    effective = new_grid or call.workflow_name
    try:
        grid = scoring.load_grid(effective)
    except scoring.GridError as exc:
        raise UserFacingError(_("Grille d'évaluation « %(name)s » inconnue ou invalide : %(problems)s",
                                name=effective, problems=" ; ".join(exc.problems))) from None
    if grid.aid is not None and (problem := scoring.regime_problem(grid.aid, regime)) is not None:
        raise UserFacingError(_("Le régime d'aide et la grille de l'appel doivent concorder : %(problem)s.",
                                problem=problem))
    if effective != grid_name_of(call):
        used = session.execute(
            select(Review.grid_name).join(Application, Application.id == Review.application_id)
            .where(Application.call_id == call.id, Review.grid_name != effective).limit(1)
        ).scalar_one_or_none()
        if used is not None:
            raise UserFacingError(_("Des avis ont déjà été rédigés sur cet appel avec la grille « %(name)s » : la "
                                    "grille de l'appel ne peut plus changer.", name=used), status=409)
    before = {"aid_regime": call.aid_regime, "grid_name": grid_name_of(call)}
    after = {"aid_regime": regime, "grid_name": effective}
    if before == after and new_grid == call.grid_name:
        return call
    call.aid_regime = regime
    call.grid_name = new_grid
    session.flush()
    audit.record(session, actor=actor, role="admin", object_type="call", object_id=call.reference,
                 action="set_aid_regime", before=before, after=after)
    return call
