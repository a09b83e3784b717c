"""Co-financing per funder on each file, and the leverage ratio (DOMAIN.md §4):
what the other funders put in for each euro of the Région, per call, axis or
plan, against the plan's target (6)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Mapping

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import lazy as _l
from app.formatting import translate as _
from app.models import FUNDERS, Application, Axis, Call, CoFinancing, Plan, User

FUNDER_LABELS = {
    "region": _l("Région Grand Est"),
    "feder": _l("FEDER (Union européenne)"),
    "etat": _l("État / France 2030"),
    "industriel": _l("Industriels"),
    "academique": _l("Académiques"),
}
LEVELS = ("call", "axis", "plan")


def cofinancing_of(session: Session, application: Application) -> dict[str, int]:
    """The file's amounts by funder (funders without a line are absent)."""
    return dict(session.execute(
        select(CoFinancing.funder, CoFinancing.amount_cents).where(CoFinancing.application_id == application.id)
    ).all())


def set_cofinancing(session: Session, application: Application, amounts: Mapping[str, int | None], *, actor: User,
                    role: str = "finance") -> dict[str, int]:
    """Replace the file's co-financing lines: an amount per funder, None or
    absent removes the line. Audited with the lines before and after."""
    unknown = set(amounts) - set(FUNDERS)
    if unknown:
        raise UserFacingError(_("Financeur inconnu : %(names)s.", names=", ".join(sorted(unknown))))
    if any(v is not None and (not isinstance(v, int) or v < 0) for v in amounts.values()):
        raise UserFacingError(_("Les montants de cofinancement doivent être positifs."))
    before = cofinancing_of(session, application)
    rows = {row.funder: row for row in session.execute(
        select(CoFinancing).where(CoFinancing.application_id == application.id)).scalars()}
    for funder in FUNDERS:
        amount = amounts.get(funder)
        row = rows.get(funder)
        if amount is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(CoFinancing(application_id=application.id, funder=funder, amount_cents=amount))
        else:
            row.amount_cents = amount
    session.flush()
    after = cofinancing_of(session, application)
    if after != before:
        audit.record(session, actor=actor, role=role, object_type="application", object_id=application.reference,
                     action="set_cofinancing", before=before, after=after)
    return after


@dataclass(frozen=True)
class Leverage:
    level: str
    id: int
    label: str
    region_cents: int
    others_cents: int
    files: int
    target: int

    @property
    def ratio(self) -> Decimal | None:
        """Other funders per euro of the Région (None: no Région money yet)."""
        if self.region_cents <= 0:
            return None
        return (Decimal(self.others_cents) / Decimal(self.region_cents)).quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def meets_target(self) -> bool:
        return self.ratio is not None and self.ratio >= self.target


def _sums(session: Session, where) -> tuple[int, int, int]:
    region = func.coalesce(func.sum(case((CoFinancing.funder == "region", CoFinancing.amount_cents), else_=0)), 0)
    others = func.coalesce(func.sum(case((CoFinancing.funder != "region", CoFinancing.amount_cents), else_=0)), 0)
    row = session.execute(
        select(region, others, func.count(func.distinct(CoFinancing.application_id)))
        .join(Application, Application.id == CoFinancing.application_id)
        .join(Call, Call.id == Application.call_id).join(Axis, Axis.id == Call.axis_id).where(where)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def leverage(session: Session, level: str, id: int) -> Leverage:
    """The leverage ratio of a call, an axis or a plan (``level``: call, axis,
    plan): the other funders' amounts over the Région's, on the files with a
    financing plan. Raises ``LookupError`` for an unknown object."""
    if level == "call":
        call = session.get(Call, id)
        if call is None:
            raise LookupError(f"no call {id}")
        plan, label, where = call.axis.plan, f"{call.reference} — {call.title}", Call.id == id
    elif level == "axis":
        axis = session.get(Axis, id)
        if axis is None:
            raise LookupError(f"no axis {id}")
        plan, label, where = axis.plan, f"Axe {axis.number} — {axis.title}", Axis.id == id
    elif level == "plan":
        plan = session.get(Plan, id)
        if plan is None:
            raise LookupError(f"no plan {id}")
        label, where = plan.name, Axis.plan_id == id
    else:
        raise ValueError(f"unknown level {level!r}: one of {', '.join(LEVELS)}")
    region, others, files = _sums(session, where)
    return Leverage(level, id, label, region, others, files, plan.leverage_target)


def leverage_table(session: Session, plan: Plan) -> list[Leverage]:
    """The plan, then each axis and its calls."""
    rows = [leverage(session, "plan", plan.id)]
    for axis in plan.axes:
        rows.append(leverage(session, "axis", axis.id))
        rows.extend(leverage(session, "call", call.id) for call in sorted(axis.calls, key=lambda c: c.reference))
    return rows
