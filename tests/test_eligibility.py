"""Eligibility checks: the pure library and the instructor's decision."""

from __future__ import annotations

from datetime import date

import pytest

from workflows import eligibility as e
from workflows.eligibility import Facts

PACK_IA = e.load_rules("pack_ia")
GOOD_ANSWERS = {
    "jamais_aidee_ia": True, "pas_startup": True, "pas_en_difficulte": True,
    "finances_saines": True, "diagnostic_ia_realise": True, "date_debut": "2026-12-01",
}
GOOD = Facts(department="51", headcount=42, size_category="small", naf_code="25.62B", answers=GOOD_ANSWERS,
             submitted_on=date(2026, 11, 20), requested_cents=3_500_000,
             documents=frozenset({"kbis", "devis_prestataire", "attestation_de_minimis", "liasse_fiscale"}),
             de_minimis_granted_cents=0, de_minimis_declared_cents=0)


def outcomes(facts: Facts) -> dict[str, str]:
    return {r.name: r.outcome for r in e.run_checks(PACK_IA, facts)}


def with_(**changes) -> Facts:
    values = {**GOOD.__dict__, **changes}
    return Facts(**values)


def test_a_company_meeting_every_pack_ia_condition_passes():
    results = e.run_checks(PACK_IA, GOOD)
    assert len(results) == 13
    assert e.overall(results) == "pass", [r for r in results if r.outcome != "pass"]
    assert all(r.reason for r in results)


@pytest.mark.parametrize("changes, check, outcome", [
    ({"department": "75"}, "Établie dans le Grand Est", "fail"),
    ({"department": None}, "Établie dans le Grand Est", "review"),
    ({"headcount": 2000}, "Moins de 2 000 salariés", "fail"),
    ({"headcount": 1999}, "Moins de 2 000 salariés", "pass"),
    ({"naf_code": "70.22Z"}, "Hors secteur du conseil", "fail"),
    ({"naf_code": "7022Z"}, "Hors secteur du conseil", "fail"),
    ({"answers": {**GOOD_ANSWERS, "pas_startup": False}}, "N'est pas une startup", "fail"),
    ({"answers": {**GOOD_ANSWERS, "jamais_aidee_ia": None}}, "Premier projet d'IA, jamais aidé ni primé (déclaration)", "review"),
    ({"answers": {**GOOD_ANSWERS, "diagnostic_ia_realise": False}}, "Diagnostic IA réalisé", "review"),
    ({"aided_workflows": frozenset({"ami_numerique"})}, "Jamais aidée pour l'IA (historique de la Région)", "fail"),
    ({"aided_workflows": frozenset({"artisanat"})}, "Jamais aidée pour l'IA (historique de la Région)", "pass"),
    ({"answers": {**GOOD_ANSWERS, "date_debut": "2026-11-20"}}, "Effet incitatif", "fail"),
    ({"answers": {**GOOD_ANSWERS, "date_debut": "2026-11-21"}}, "Effet incitatif", "pass"),
    ({"requested_cents": 5_000_001}, "Montant de l'aide", "fail"),
    ({"requested_cents": 5_000_000}, "Montant de l'aide", "pass"),
    ({"requested_cents": 499_999}, "Montant de l'aide", "fail"),
    ({"documents": frozenset({"kbis"})}, "Pièces justificatives", "fail"),
])
def test_each_condition(changes, check, outcome):
    assert outcomes(with_(**changes))[check] == outcome


@pytest.mark.parametrize("size, outcome", [("micro", "pass"), ("small", "pass"), ("medium", "pass"),
                                           ("large", "fail"), (None, "review")])
def test_size_categories_allowed_by_a_call(size, outcome):
    """A call open to SMEs only (``size_in``): a large company fails, an unknown size is to review."""
    rules = [{"check": "size_in", "label": "PME au sens de l'UE", "params": {"categories": ["micro", "small", "medium"]}}]
    assert e.validate_rules(rules) == []
    (result,) = e.run_checks(rules, with_(size_category=size))
    assert result.outcome == outcome
    if size == "large":
        assert result.reason == "La catégorie « grande entreprise » n'est pas admise par l'appel."


def test_de_minimis_counts_guichet_grants_declared_aid_and_the_request_to_the_cent():
    at_ceiling = with_(de_minimis_granted_cents=20_000_000, de_minimis_declared_cents=6_500_000, requested_cents=3_500_000)
    assert outcomes(at_ceiling)["Plafond de minimis"] == "pass"
    over = with_(de_minimis_granted_cents=20_000_000, de_minimis_declared_cents=6_500_001, requested_cents=3_500_000)
    result = {r.name: r for r in e.run_checks(PACK_IA, over)}["Plafond de minimis"]
    assert result.outcome == "fail"
    assert "300\u202f000,00 €" in result.reason and "même en partie" in result.reason
    assert outcomes(with_(de_minimis_declared_cents=None))["Plafond de minimis"] == "review"


def test_every_failure_is_reported_at_once():
    bad = with_(department="75", headcount=5000, requested_cents=10_000_000)
    results = e.run_checks(PACK_IA, bad)
    failed = {r.name for r in results if r.outcome == "fail"}
    assert {"Établie dans le Grand Est", "Moins de 2 000 salariés", "Montant de l'aide"} <= failed
    assert e.overall(results) == "fail"


def test_rules_are_validated_against_the_checks_signatures():
    problems = e.validate_rules([
        {"check": "headcount_below"},
        {"check": "no_such_check"},
        {"check": "established_in", "params": {"departments": "57"}},
        {"check": "amount_between", "params": {"min_cents": 1, "max_cents": 2, "currency": "EUR"}},
        {"params": {}},
    ])
    codes = sorted(p.code for p in problems)
    assert codes == ["bad_param", "missing_param", "structure", "unknown_check", "unknown_param"]
    assert e.check_all_rules() == {"eligibility/ami_numerique": [], "eligibility/pack_ia": []}


# --- in the database: checks run at submission, the instructor decides ---------

from sqlalchemy import select  # noqa: E402

from app.errors import UserFacingError  # noqa: E402
from app.models import AuditEntry, EligibilityResult  # noqa: E402
from app.operations import eligibility as ops  # noqa: E402
from app.operations.transitions import TransitionRefused, transition  # noqa: E402
from tests.factories import make_application, make_call, make_organisation, make_user  # noqa: E402


def _file_in_check(session, **org):
    call = make_call(session, workflow="pack_ia", max_aid_cents=5_000_000)
    organisation = make_organisation(session, make_user(session), department=org.get("department", "51"))
    organisation.headcount = org.get("headcount", 40)
    organisation.naf_code = "25.62B"
    application = make_application(session, call, organisation, state="submitted", amount_cents=3_000_000)
    application.answers = dict(GOOD_ANSWERS, date_debut="2099-01-01")
    instructor = make_user(session, "instructor")
    session.commit()
    transition(session, application, "start_eligibility", actor=instructor, role="instructor")
    session.commit()
    return application, instructor


def test_a_failing_check_blocks_instruction_until_the_instructor_decides(session):
    application, instructor = _file_in_check(session, department="75")
    results = ops.run_eligibility(session, application)
    session.commit()
    by_name = {r.check_name: r.outcome for r in results}
    assert by_name["Établie dans le Grand Est"] == "fail"
    assert by_name["Pièces justificatives"] == "fail"
    with pytest.raises(TransitionRefused):  # no decision yet
        transition(session, application, "start_instruction", actor=instructor, role="instructor")
    session.rollback()
    with pytest.raises(UserFacingError, match="justification"):
        ops.decide(session, application, instructor, eligible=True)
    session.rollback()
    ops.decide(session, application, instructor, eligible=False)
    session.commit()
    transition(session, application, "declare_ineligible", actor=instructor, role="instructor", reason="Hors Grand Est")
    session.commit()
    assert application.state == "ineligible"
    # The notification letter, generated after the commit, gives the reasons and the means of appeal.
    import io

    from flask import current_app
    from pypdf import PdfReader

    from app.documents import document_path, latest_document
    from tests.conftest import run_queued_jobs

    run_queued_jobs(current_app._get_current_object())  # with Redis, the PDF job waits in its queue
    letter = latest_document(session, application, "ineligibility_letter")
    assert letter is not None
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(document_path(letter).read_bytes())).pages)
    text = " ".join(text.split())
    assert application.reference in text and "Hors Grand Est" in text
    assert "tribunal administratif de Strasbourg" in text and "deux mois" in text


def test_an_override_needs_a_justification_and_is_audited(session):
    application, instructor = _file_in_check(session)
    ops.run_eligibility(session, application)
    session.commit()
    assert ops.automatic_outcome(ops.results_of(session, application)) == "fail"  # no documents attached
    decision = ops.decide(session, application, instructor, eligible=True,
                          justification="Pièces reçues par courrier, vérifiées le 20/11.")
    session.commit()
    assert decision.overridden and decision.automatic_outcome == "fail"
    row = session.execute(select(AuditEntry).where(AuditEntry.action == "override_eligibility")).scalar_one()
    assert row.reason.startswith("Pièces reçues") and row.after == {"eligible": True}
    transition(session, application, "start_instruction", actor=instructor, role="instructor")
    session.commit()
    assert application.state == "instruction"


def test_a_new_run_after_corrections_needs_a_new_decision(session):
    application, instructor = _file_in_check(session)
    ops.run_eligibility(session, application)
    ops.decide(session, application, instructor, eligible=True, justification="vu")
    session.commit()
    ops.run_eligibility(session, application)  # e.g. after re-submission
    session.commit()
    assert len(session.execute(select(EligibilityResult.run).distinct()).scalars().all()) == 2
    with pytest.raises(TransitionRefused):
        transition(session, application, "start_instruction", actor=instructor, role="instructor")


@pytest.mark.parametrize("earlier_state, aided", [("approved", True), ("payments", True), ("lapsed", True),
                                                  ("closed", True), ("rejected", False), ("withdrawn", False),
                                                  ("instruction", False)])
def test_guichets_history_of_the_same_company_counts_as_aided(session, earlier_state, aided):
    """« Never aided for AI » from Guichet's own files: an earlier file of the same company
    (same SIREN, any establishment) whose aid was granted, even if it later lapsed, fails the check;
    a refused, withdrawn or pending one does not."""
    application, _instructor = _file_in_check(session)
    from stdnum.fr import siret as stdnum_siret

    siren = application.organisation.siren
    other_site = make_organisation(session, make_user(session), department="57")
    other_site.siret = next(c for c in (f"{siren}{nic:05d}" for nic in range(2, 100_000))
                            if stdnum_siret.is_valid(c) and c != application.organisation.siret)
    other_site.siren = siren
    ami = make_call(session, workflow="ami_numerique")
    make_application(session, ami, other_site, state=earlier_state)
    session.flush()
    facts = ops.facts_for(session, application)
    assert facts.aided_workflows == (frozenset({"ami_numerique"}) if aided else frozenset())
    results = {r.check_name: r.outcome for r in ops.run_eligibility(session, application)}
    assert results["Jamais aidée pour l'IA (historique de la Région)"] == ("fail" if aided else "pass")
