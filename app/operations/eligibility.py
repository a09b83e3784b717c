"""Eligibility: gather a file's facts, run its call's checks, record the
results; the instructor confirms or overrides with a justification."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import PARIS
from app.formatting import translate as _
from app.models import (Application, Call, EligibilityDecision, EligibilityResult, Organisation, User,
                        utcnow)
from workflows import eligibility

# Files whose aid was granted, even if it later lapsed: the company has been aided (DOMAIN.md §2).
APPROVED_STATES = ("approved", "agreement", "payments", "closed", "lapsed")
DE_MINIMIS_KEY = "aides_de_minimis_3_ans"


def facts_for(session: Session, application: Application) -> eligibility.Facts:
    from app.operations.attachments import present_file_keys

    org = application.organisation
    answers = dict(application.answers or {})
    same_company = select(Organisation.id).where(Organisation.siren == org.siren)
    aided = session.execute(
        select(Call.workflow_name).join(Application, Application.call_id == Call.id)
        .where(Application.organisation_id.in_(same_company), Application.state.in_(APPROVED_STATES),
               Application.id != application.id).distinct()
    ).scalars().all()
    from app.ledger import de_minimis_counted

    # De minimis aid reserved or granted through Guichet to the same undertaking, rolling three years.
    granted = de_minimis_counted(session, org.siren)
    declared = answers.get(DE_MINIMIS_KEY)
    return eligibility.Facts(
        department=org.department,
        headcount=org.headcount,
        size_category=org.size_category,
        naf_code=org.naf_code,
        answers=answers,
        submitted_on=application.submitted_at.astimezone(PARIS).date() if application.submitted_at else None,
        requested_cents=application.requested_amount_cents,
        documents=frozenset(present_file_keys(session, application)),
        aided_workflows=frozenset(aided),
        de_minimis_granted_cents=int(granted),
        de_minimis_declared_cents=int(declared) if isinstance(declared, int) else None,
    )


def latest_run(session: Session, application: Application) -> int:
    return session.execute(
        select(func.coalesce(func.max(EligibilityResult.run), 0)).where(EligibilityResult.application_id == application.id)
    ).scalar_one()


def run_eligibility(session: Session, application: Application) -> list[EligibilityResult]:
    """Run the call's checks now and store the results as a new run."""
    rules = eligibility.load_rules(application.call.workflow_name)
    results = eligibility.run_checks(rules, facts_for(session, application))
    run = latest_run(session, application) + 1
    rows = [EligibilityResult(application_id=application.id, run=run, check_name=r.name, outcome=r.outcome, reason=r.reason)
            for r in results]
    session.add_all(rows)
    session.flush()
    audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                 action="run_eligibility", after={"run": run, "outcome": eligibility.overall(results),
                                                  "failed": [r.name for r in results if r.outcome == "fail"]})
    return rows


def results_of(session: Session, application: Application) -> list[EligibilityResult]:
    run = latest_run(session, application)
    return list(session.execute(
        select(EligibilityResult).where(EligibilityResult.application_id == application.id, EligibilityResult.run == run)
        .order_by(EligibilityResult.id)
    ).scalars())


def automatic_outcome(results: list[EligibilityResult]) -> str:
    outcomes = {r.outcome for r in results}
    return "fail" if "fail" in outcomes else ("review" if "review" in outcomes else "pass")


def latest_decision(session: Session, application: Application) -> EligibilityDecision | None:
    return session.execute(
        select(EligibilityDecision).where(EligibilityDecision.application_id == application.id)
        .order_by(EligibilityDecision.id.desc()).limit(1)
    ).scalar_one_or_none()


def decide(session: Session, application: Application, actor: User, *, eligible: bool,
           justification: str | None = None) -> EligibilityDecision:
    """Confirm the automatic outcome, or go against it with a written justification.
    A "review" outcome always needs a justification: a person looked."""
    if application.state != "eligibility_check":
        raise UserFacingError(_("L'éligibilité se décide pendant la vérification d'éligibilité."), status=409)
    results = results_of(session, application)
    if not results:
        results = run_eligibility(session, application)
    automatic = automatic_outcome(results)
    overridden = automatic == "review" or (automatic == "pass") != eligible
    justification = (justification or "").strip() or None
    if overridden and not justification:
        if automatic == "review":
            raise UserFacingError(_("Certains contrôles sont à examiner : expliquez votre décision."))
        raise UserFacingError(_("Vous allez contre le résultat des contrôles : une justification écrite est obligatoire."))
    decision = EligibilityDecision(application_id=application.id, run=results[0].run, automatic_outcome=automatic,
                                   eligible=eligible, overridden=overridden, justification=justification,
                                   decided_by_id=actor.id)
    session.add(decision)
    session.flush()
    audit.record(session, actor=actor, role="instructor", object_type="application", object_id=application.reference,
                 action="override_eligibility" if overridden else "confirm_eligibility",
                 before={"automatic_outcome": automatic}, after={"eligible": eligible}, reason=justification)
    return decision
