"""Demo money: the accounts of a plan and a few entries for the demo files."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.ledger import rules
from app.ledger.operations import _today, commit, ensure_accounts, pay, reserve
from app.models import Application, Axis, Call, Plan

RESERVED_STATES = ("committee",)
COMMITTED_STATES = ("approved", "agreement")
PAID_STATES = ("payments", "closed")


def seed_ledger(session: Session, plan: Plan) -> dict[str, int]:
    """Create ``plan``'s accounts, reserve the files at committee, reserve and
    commit the approved ones, and pay a 30 % advance on those in payment.
    De minimis for Pack IA, GBER article 25 (R&D) for the other calls.
    Idempotent (keys ``demo:<reference>:<operation>``); flushes, never commits."""
    ensure_accounts(session, plan)
    year = min(max(_today().year, plan.start_year), plan.end_year)
    counts = {"reserved": 0, "committed": 0, "paid": 0}
    files = session.execute(
        select(Application).join(Call, Call.id == Application.call_id).join(Axis, Axis.id == Call.axis_id)
        .where(Axis.plan_id == plan.id, Application.state.in_(RESERVED_STATES + COMMITTED_STATES + PAID_STATES),
               # Files decided in a committee session got their reservation from the workflow's approve.
               Application.deliberation_number.is_(None))
        .order_by(Application.id)
    ).scalars().all()
    for application in files:
        amount = application.requested_amount_cents
        if amount <= 0:
            continue
        regime = rules.DE_MINIMIS if application.call.workflow_name == "pack_ia" else "gber:25"
        key = f"demo:{application.reference}"
        reserve(session, application, amount, year=year, idempotency_key=f"{key}:reserve", actor=None, regime=regime,
                reason="Données de démonstration")
        counts["reserved"] += 1
        if application.state in COMMITTED_STATES + PAID_STATES:
            commit(session, application, amount, year=year, idempotency_key=f"{key}:commit", actor=None,
                   reason="Données de démonstration")
            counts["committed"] += 1
        if application.state in PAID_STATES:
            pay(session, application, amount * 30 // 100, kind="advance", year=year, idempotency_key=f"{key}:advance",
                actor=None, reason="Données de démonstration")
            counts["paid"] += 1
    return counts
