"""Demo money: the accounts of a plan and a few entries for the demo files."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.ledger.operations import _today, commit, ensure_accounts, pay, reserve
from app.models import Application, Axis, Call, Plan

COMMITTED_STATES = ("approved", "agreement")
PAID_STATES = ("payments", "closed")


def seed_ledger(session: Session, plan: Plan) -> dict[str, int]:
    """Create ``plan``'s accounts, reserve and commit the approved files (files at
    committee are not reserved yet: the committee's ``approve`` reserves), and pay a 30 %
    advance on those in payment.
    Each call's aid regime (de minimis for Pack IA, GBER article 25 for the AMI).
    Idempotent (keys ``demo:<reference>:<operation>``); flushes, never commits."""
    ensure_accounts(session, plan)
    year = min(max(_today().year, plan.start_year), plan.end_year)
    counts = {"reserved": 0, "committed": 0, "paid": 0}
    files = session.execute(
        select(Application).join(Call, Call.id == Application.call_id).join(Axis, Axis.id == Call.axis_id)
        .where(Axis.plan_id == plan.id, Application.state.in_(COMMITTED_STATES + PAID_STATES),
               # files with a decision get their money from app/operations/demo_finance.py, and those decided
               # in a committee session (demo_committee) their reservation from the workflow's approve
               Application.decided_on.is_(None), Application.deliberation_number.is_(None))
        .order_by(Application.id)
    ).scalars().all()
    for application in files:
        amount = application.requested_amount_cents
        if amount <= 0:
            continue
        regime = application.call.aid_regime
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
