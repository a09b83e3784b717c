"""Demo execution of grants: files at the agreement stage, in payment (an
advance paid, an interim request waiting for « service fait ») and closed
(balance paid, the rest decommitted), and a financing plan on every file from
the committee on, so the « Versements » and leverage pages are never empty.
Called once from ``seed_demo`` after the ledger is seeded; flushes only."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, ledger
from app.formatting import PARIS
from app.models import (Agreement, Application, Axis, Call, CoFinancing, Membership, PaymentRequest, Plan, User,
                        utcnow)
from app.operations import payments
from app.references import next_reference
from app.workflow_versions import current_version

EURO = 100
# (call prefix, state, stage): stage says how far the payments went.
DEMO_EXECUTION = [
    ("PIA", "agreement", None),
    ("PIA", "payments", "advance"),
    ("AMI", "payments", "interim_filed"),
    ("AMI", "closed", "balance"),
]
# Titles the demo's answer builders know (their descriptions are keyed by title).
TITLES = {
    "PIA": ["Tri automatique des pièces par vision", "Assistant de devis par IA"],
    "AMI": ["Jumeau numérique d'un procédé de fermentation", "Optimisation énergétique d'une fonderie"],
}
REASON = "Données de démonstration"
# Files added to the demo data set: DEMO_EXECUTION for each of the two organisations.
DEMO_EXECUTION_FILES = 2 * len(DEMO_EXECUTION)


def _finance_user(session: Session) -> User | None:
    return session.execute(select(User).where(User.email == "demo-finance@guichet.test")).scalar_one_or_none()


def seed_payments(session: Session, plan: Plan) -> dict[str, int]:
    from flask import current_app

    finance = _finance_user(session)
    today = utcnow().astimezone(PARIS).date()
    year = min(max(today.year, plan.start_year), plan.end_year)
    calls = {c.file_prefix: c for c in session.execute(
        select(Call).join(Axis, Axis.id == Call.axis_id).where(Axis.plan_id == plan.id)).scalars()}
    memberships = session.execute(select(Membership).where(Membership.is_owner.is_(True)).order_by(Membership.id)).scalars().all()
    counts = {"files": 0, "requests": 0}
    for n, membership in enumerate(memberships[:2]):
        org, owner = membership.organisation, membership.user
        for prefix, state, stage in DEMO_EXECUTION:
            call = calls.get(prefix)
            if call is None:
                continue
            amount = (40_000 if prefix == "PIA" else 200_000 + 50_000 * n) * EURO
            decided = today - timedelta(days=120)
            deliberation = f"CP-DEMO-{prefix}-{n}-{stage or 'conv'}"
            if session.execute(select(Application.id).where(Application.deliberation_number == deliberation)).first():
                continue
            from app.operations.demo import DEMO_CONTACTS, ami_answers, pack_ia_answers

            title = TITLES[prefix][DEMO_EXECUTION.index((prefix, state, stage)) % 2]
            build = pack_ia_answers if prefix == "PIA" else ami_answers
            answers = build(org, owner, DEMO_CONTACTS.get(org.department, DEMO_CONTACTS["51"]), title, amount, 0, utcnow(),
                            complete=True)
            application = Application(
                reference=next_reference(session, call.file_prefix, today.year), call=call, organisation=org,
                created_by=owner, title=title, state=state,
                requested_amount_cents=amount, proposed_amount_cents=amount, awarded_amount_cents=amount,
                decided_on=decided, deliberation_number=deliberation,
                workflow_version=current_version(session, call.workflow_name), answers=answers,
                submitted_at=utcnow() - timedelta(days=200), form_version_id=call.current_form.id if call.current_form else None,
            )
            session.add(application)
            session.flush()
            audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                         action="seed", after={"state": state, "call": call.reference})
            counts["files"] += 1
            key = f"demo-payments:{application.reference}"
            ledger.reserve(session, application, amount, year=year, regime=call.aid_regime, idempotency_key=f"{key}:reserve",
                           actor=None, reason=REASON, on=decided)
            if state == "agreement":
                continue
            ledger.commit(session, application, amount, year=year, idempotency_key=f"{key}:commit", actor=None,
                          reason=REASON, on=decided)
            config = current_app.config
            session.add(Agreement(application_id=application.id, signed_on=decided + timedelta(days=20), aid_rate_bp=5000,
                                  eligible_costs_cents=2 * amount, committed_cents=amount, bank_guarantee=False,
                                  advance_share_bp=config["PAYMENT_ADVANCE_PERCENT"] * 100,
                                  interim_cap_bp=config["PAYMENT_INTERIM_CAP_PERCENT"] * 100,
                                  long_interim_cap_bp=config["PAYMENT_INTERIM_CAP_LONG_PERCENT"] * 100,
                                  long_after_months=config["PAYMENT_LONG_PROJECT_MONTHS"],
                                  recorded_by_id=finance.id if finance else None))
            application.work_started_on = decided + timedelta(days=30)
            advance = amount * config["PAYMENT_ADVANCE_PERCENT"] // 100
            entry = ledger.pay(session, application, advance, kind="advance", idempotency_key=f"{key}:advance",
                               actor=None, reason=REASON, on=decided + timedelta(days=35))
            session.add(PaymentRequest(
                application_id=application.id, kind="advance", status="paid", requested_cents=advance, expenses=[],
                declared_costs_cents=0, accepted_costs_cents=0, accepted_cents=advance, filed_by_id=owner.id,
                validated_by_id=finance.id if finance else None, validated_at=utcnow(), paid_at=utcnow(),
                pay_entry_id=entry.id))
            counts["requests"] += 1
            costs = [{"label": "Prestation de développement", "amount_cents": amount * 6 // 10},
                     {"label": "Recrutement data scientist (6 mois)", "amount_cents": amount * 5 // 10}]
            if stage == "interim_filed":
                declared = sum(c["amount_cents"] for c in costs)
                session.add(PaymentRequest(application_id=application.id, kind="interim", status="filed",
                                           requested_cents=min(declared // 2, amount * 8 // 10) - advance,
                                           expenses=costs, declared_costs_cents=declared, filed_by_id=owner.id))
                counts["requests"] += 1
            elif stage == "balance" and finance is not None:
                costs.append({"label": "Matériel de calcul", "amount_cents": amount * 6 // 10})
                declared = sum(c["amount_cents"] for c in costs)  # 170 % of the aid: 85 % of it is due
                application.work_completed_on = today - timedelta(days=10)
                session.flush()
                request = PaymentRequest(application_id=application.id, kind="balance", status="filed",
                                         requested_cents=0, expenses=costs, declared_costs_cents=declared,
                                         filed_by_id=owner.id)
                session.add(request)
                session.flush()
                payments.validate_request(session, request, actor=finance)
                payments.pay_request(session, request, actor=finance)
                counts["requests"] += 1
    seed_cofinancing(session, plan)
    return counts


def seed_cofinancing(session: Session, plan: Plan) -> int:
    """A financing plan on every file from the committee on: the Région's
    aid, and other funders in proportions that vary around the target of 6."""
    files = session.execute(
        select(Application).join(Call, Call.id == Application.call_id).join(Axis, Axis.id == Call.axis_id)
        .where(Axis.plan_id == plan.id,
               Application.state.in_(("committee", "approved", "agreement", "payments", "closed")))
        .order_by(Application.id)
    ).scalars().all()
    done = 0
    for i, application in enumerate(files):
        if session.execute(select(CoFinancing.id).where(CoFinancing.application_id == application.id)).first():
            continue
        region = application.awarded_amount_cents or application.requested_amount_cents
        shares = {"feder": 2 + i % 2, "etat": 1 + i % 3, "industriel": 2, "academique": i % 2}
        session.add(CoFinancing(application_id=application.id, funder="region", amount_cents=region))
        for funder, times in shares.items():
            if times:
                session.add(CoFinancing(application_id=application.id, funder=funder, amount_cents=region * times))
        done += 1
    session.flush()
    return done
