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


# Axis budgets of the demo plan (350 M€ in all), in millions of euros.
DEMO_AXIS_BUDGETS_MEUR = {1: 150, 2: 80, 3: 50, 4: 40, 5: 30}
# Payment credits voted for each year of the plan up to the current one, in millions of euros.
DEMO_YEARLY_CREDITS_MEUR = 45


def seed_envelopes(session: Session, plan: Plan, organisation) -> None:
    """Axis budgets, the payment credits of the years up to this one, and a
    holding linked to ``organisation`` (one single undertaking for de minimis),
    so the envelopes page and the rules they carry show in the demo. Never
    below what the demo already holds. Flushes, never commits."""
    from app.ledger.operations import axis_account, set_credits, set_limit, year_account
    from app.ledger.undertakings import declare_link
    from app.operations.demo import make_siret

    million = 100 * 1_000_000
    for axis in plan.axes:
        account = axis_account(session, axis)
        budget = max(DEMO_AXIS_BUDGETS_MEUR.get(axis.number, 0) * million, account.reserved_cents + account.committed_cents)
        if account.limit_cents != budget:
            set_limit(session, account, budget, actor=None, role="system", reason="Données de démonstration : budget de l'axe")
    for year in range(plan.start_year, min(_today().year, plan.end_year) + 1):
        account = year_account(session, plan, year)
        credits = max(DEMO_YEARLY_CREDITS_MEUR * million, account.paid_cents)
        if account.credit_cents != credits:
            set_credits(session, plan, year, credits, actor=None, role="system",
                        reason="Données de démonstration : crédits de paiement votés")
    holding = make_siret(77_100_200)[:9]
    declare_link(session, organisation.siren, holding, "Société mère (holding familiale, 70 % du capital)",
                 actor=None, role="system", organisation_id=organisation.id)
