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
