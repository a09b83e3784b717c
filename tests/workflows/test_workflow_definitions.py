"""The shipped definitions load, validate, and describe the expected lifecycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import workflows

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_STATES = {
    "draft", "submitted", "eligibility_check", "corrections_requested", "ineligible",
    "instruction", "committee", "approved", "rejected", "withdrawn",
    "closed_without_follow_up", "agreement", "payments", "closed", "lapsed",
}
FINAL_STATES = {"ineligible", "rejected", "withdrawn", "closed_without_follow_up", "closed", "lapsed"}


def test_available_definitions_lists_shipped_files() -> None:
    assert workflows.available_definitions() == ["ami_numerique", "pack_ia"]


def test_check_all_reports_no_problem_for_shipped_definitions() -> None:
    assert workflows.check_all() == {"ami_numerique": [], "pack_ia": []}


@pytest.mark.parametrize("name", ["pack_ia", "ami_numerique"])
def test_shipped_definition_is_valid_and_complete(name: str) -> None:
    definition = workflows.load_definition(name)
    assert workflows.validate(definition) == []
    assert definition.name == name
    assert definition.initial == "draft"
    assert set(definition.states) == EXPECTED_STATES
    assert {s for s in definition.states if definition.is_final(s)} == FINAL_STATES
    assert all(definition.states[s].label for s in definition.states), "every state has a French label"
    assert all(t.label for t in definition.transitions), "every transition has a French label"


def test_load_definition_is_cached(pack_ia: workflows.Definition) -> None:
    assert workflows.load_definition("pack_ia") is pack_ia


@pytest.mark.parametrize("name", ["nope", "../pack_ia", "Pack_IA", ""])
def test_load_unknown_definition_raises(name: str) -> None:
    with pytest.raises(workflows.UnknownDefinition):
        workflows.load_definition(name)


def test_stage_and_final_queries(pack_ia: workflows.Definition) -> None:
    assert pack_ia.stage_of("draft") == "draft"
    assert pack_ia.stage_of("corrections_requested") == "eligibility"
    assert pack_ia.stage_of("committee") == "committee"
    assert pack_ia.stage_of("lapsed") == "closed"
    assert pack_ia.is_final("closed") and not pack_ia.is_final("payments")
    assert pack_ia.label_of("lapsed") == "Caduc"
    with pytest.raises(workflows.UnknownState):
        pack_ia.stage_of("limbo")


def test_transitions_from_filters_by_state_and_role(pack_ia: workflows.Definition) -> None:
    names = lambda ts: sorted(t.name for t in ts)  # noqa: E731
    assert names(pack_ia.transitions_from("draft", {"applicant"})) == ["submit", "withdraw"]
    assert names(pack_ia.transitions_from("draft", {"system"})) == ["freeze_draft"]
    assert names(pack_ia.transitions_from("draft", {"instructor"})) == []
    assert names(pack_ia.transitions_from("committee", {"committee"})) == ["adjourn", "approve", "reject"]
    assert names(pack_ia.transitions_from("committee")) == ["adjourn", "approve", "reject", "withdraw"]
    assert pack_ia.transitions_from("closed", {"admin", "finance", "system"}) == []


def test_ami_requires_expert_reviews_pack_ia_one(pack_ia: workflows.Definition, ami: workflows.Definition) -> None:
    def min_reviews(d: workflows.Definition) -> int:
        (t,) = d.transitions_named("propose_to_committee")
        (g,) = [g for g in t.guards if g.name == "reviews_complete"]
        return g.params["min"]

    assert min_reviews(pack_ia) == 1
    assert min_reviews(ami) == 2
    assert pack_ia.hash != ami.hash


def test_import_does_not_load_flask_or_sqlalchemy() -> None:
    code = (
        "import sys, workflows, workflows.deadlines\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'flask', 'sqlalchemy', 'flask_sqlalchemy'})\n"
        "print(','.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
