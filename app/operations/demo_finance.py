"""Demo money beyond the committee: decided files at every later stage, with
the ledger moved as the real chain would have moved it, so the finance pages
(consumption, commitments, payments, each file's ledger) and the open-data
file are never empty.

Called by one line from ``seed_demo``. The files are created directly in their
stage, as ``seed_demo`` creates its own (a « seed » audit row each), because
the guards of the committee's approval, the agreement's signature and the
closing need records that other parts of Guichet own (votes, signed
agreements, payment requests). Their money goes through the ledger's
operations with idempotency keys ``demo-finance:<reference>:<step>``; the one
stage a workflow transition can reach without such records — a lapse declared
by finance — goes through ``transition()`` (its ``ledger_release`` effect
decommits what was not paid).

Each file gets its proposed and awarded amounts, decision date and
deliberation number; several are above 23,000 € (all the AMI ones), so they
appear in the SCDL open-data file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from app import audit, ledger
from app.formatting import PARIS
from app.models import Application, Call, Organisation, Plan, User, utcnow
from app.operations.drafts import current_form
from app.operations.transitions import transition
from app.references import next_reference
from app.workflow_versions import current_version

EURO = 100
REASON = "Données de démonstration"


@dataclass(frozen=True)
class DemoGrant:
    """One demo file: its call's workflow, its organisation (0 or 1), its stage
    and money (euros), the days since its decision, and the payments made
    (kind, share of the award in percent, days after the decision)."""

    workflow: str
    organisation: int
    stage: str
    title: str
    requested: int
    awarded: int
    decided_days_ago: int
    committed: bool = False
    payments: tuple[tuple[str, int, int], ...] = ()
    lapse: bool = False


DEMO_FINANCE_FILES: tuple[DemoGrant, ...] = (
    DemoGrant("ami_numerique", 0, "approved", "Contrôle qualité des soudures par apprentissage profond",
              260_000, 240_000, 20),
    DemoGrant("pack_ia", 1, "agreement", "Chatbot de prise de commande pour la fromagerie", 30_000, 28_000, 45),
    DemoGrant("ami_numerique", 1, "payments", "Suivi par drone de la maturité des houblons", 320_000, 300_000, 200,
              committed=True, payments=(("advance", 30, 40),)),
    DemoGrant("ami_numerique", 0, "payments", "Planification intelligente des tournées de collecte", 410_000, 380_000,
              420, committed=True, payments=(("advance", 30, 20), ("interim", 40, 250))),
    DemoGrant("pack_ia", 0, "payments", "Lecture automatique des bons de livraison", 45_000, 40_000, 150,
              committed=True, payments=(("advance", 30, 20),)),
    DemoGrant("pack_ia", 1, "closed", "Prévision des ventes de la boutique en ligne", 24_000, 24_000, 560,
              committed=True, payments=(("advance", 30, 20), ("balance", 55, 400))),
    DemoGrant("ami_numerique", 1, "closed", "Détection d'anomalies sur les lignes d'embouteillage", 200_000, 180_000,
              600, committed=True, payments=(("advance", 30, 20), ("interim", 50, 200), ("balance", 20, 450))),
    DemoGrant("ami_numerique", 0, "payments", "Jumeau numérique d'une presse à injecter", 150_000, 120_000, 500,
              committed=True, payments=(("advance", 30, 20),), lapse=True),
)


def _deliberation(decided: date, n: int) -> str:
    """A Commission permanente deliberation number, as the Region writes them (« 25CP-1834 »)."""
    return f"{decided.year % 100:02d}CP-{1830 + n}"


OWNERS = ("demo-applicant@guichet.test", "demo-applicant2@guichet.test")  # of the two demo organisations
FINANCE = "demo-finance@guichet.test"


def seed_finance(session: Session, plan: Plan, calls: list[Call], organisations: list[Organisation],
                 users: dict[str, User]) -> dict[str, int]:
    """Create the demo's decided files and move their money (``users``: the
    demo accounts by e-mail). Flushes, never commits."""
    owners, finance = [users[email] for email in OWNERS], users[FINANCE]
    from app.operations.demo import ami_answers, pack_ia_answers

    now = utcnow()
    today = now.astimezone(PARIS).date()
    by_workflow = {call.workflow_name: call for call in calls}
    counts = {"files": 0, "entries": 0}
    for n, grant in enumerate(DEMO_FINANCE_FILES):
        call = by_workflow[grant.workflow]
        org, owner = organisations[grant.organisation], owners[grant.organisation]
        decided = today - timedelta(days=grant.decided_days_ago)
        decision_year = min(max(decided.year, plan.start_year), plan.end_year)
        build = pack_ia_answers if grant.workflow == "pack_ia" else ami_answers
        answers = _answers(build, org, owner, grant, n, now)
        submitted = now - timedelta(days=grant.decided_days_ago + 90)
        stage = "payments" if grant.lapse else grant.stage
        application = Application(
            reference=next_reference(session, call.file_prefix, now.year), call=call, organisation=org,
            created_by=owner, title=grant.title, state=stage, requested_amount_cents=grant.requested * EURO,
            workflow_version=current_version(session, call.workflow_name), created_at=submitted - timedelta(days=5),
            updated_at=now, submitted_at=submitted, answers=answers, form_version_id=current_form(session, call).id,
            proposed_amount_cents=grant.requested * EURO, awarded_amount_cents=grant.awarded * EURO,
            decided_on=decided, deliberation_number=_deliberation(decided, n),
            work_started_on=decided + timedelta(days=30) if grant.committed else None,
            work_completed_on=decided + timedelta(days=grant.payments[-1][2] - 20)
            if grant.stage == "closed" else None,
        )
        session.add(application)
        session.flush()
        audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                     action="seed", after={"state": stage, "call": call.reference})
        counts["files"] += 1
        counts["entries"] += _move_money(session, application, grant, decided, decision_year, finance)
        if grant.lapse:
            transition(session, application, "declare_lapse", actor=finance, role="finance",
                       reason="Projet abandonné par le bénéficiaire (données de démonstration)")
    return counts


def _answers(build, org: Organisation, owner: User, grant: DemoGrant, n: int, now) -> dict[str, object]:
    from app.operations.demo import AMI_DEFIS, DEMO_CONTACTS, PACK_DESCRIPTIONS

    # the answer builders pick their texts by title: borrow one of theirs, then set ours
    sample = next(iter(PACK_DESCRIPTIONS if grant.workflow == "pack_ia" else AMI_DEFIS))
    answers = build(org, owner, DEMO_CONTACTS[org.department], sample, grant.requested * EURO, n % 3, now,
                    complete=True)
    answers["titre_projet"] = grant.title
    if grant.workflow == "pack_ia":
        answers["aides_de_minimis_3_ans"] = 0
    return answers


def _move_money(session: Session, application: Application, grant: DemoGrant, decided: date, decision_year: int,
                finance: User) -> int:
    """Reserve at the decision, commit at the agreement's signature, pay each
    instalment, and for a closed file decommit what the balance left unpaid."""
    key = f"demo-finance:{application.reference}"
    amount = grant.awarded * EURO
    common = {"actor": finance, "role": "finance", "reason": REASON}
    regime = application.call.aid_regime
    ledger.reserve(session, application, amount, year=decision_year, idempotency_key=f"{key}:reserve", regime=regime,
                   on=decided, **common)
    entries = 1
    if not grant.committed:
        return entries
    signed = decided + timedelta(days=15)
    ledger.commit(session, application, amount, year=decision_year, idempotency_key=f"{key}:commit", on=signed,
                  **common)
    entries += 1
    paid = 0
    for i, (kind, share, days) in enumerate(grant.payments):
        value = amount * share // 100
        on = decided + timedelta(days=days)
        ledger.pay(session, application, value, kind=kind, year=on.year, on=on,
                   idempotency_key=f"{key}:pay:{i}", **common)
        paid += value
        entries += 1
    if grant.stage == "closed" and paid < amount:  # the balance paid the accepted costs: the rest is decommitted
        ledger.decommit(session, application, amount - paid, year=decision_year,
                        on=decided + timedelta(days=grant.payments[-1][2]), idempotency_key=f"{key}:decommit",
                        **common)
        entries += 1
    return entries
