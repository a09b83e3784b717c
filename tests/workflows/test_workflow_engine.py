"""fire(): lifecycle, refusals, guard reports and effects with their phase."""

from __future__ import annotations

from typing import Any

import pytest

import workflows
from workflows import Phase

Definition = workflows.Definition


def effect_names(result: workflows.FireResult) -> list[str]:
    return [e.name for e in result.effects]


def test_fake_and_static_contexts_satisfy_the_protocol(ctx: Any) -> None:
    assert isinstance(ctx, workflows.FileContext)
    assert isinstance(workflows.StaticContext(), workflows.FileContext)
    assert not isinstance(object(), workflows.FileContext)


def test_pack_ia_happy_path_through_whole_lifecycle(
    pack_ia: Definition, make_ctx: Any, pack_ia_documents: set[str]
) -> None:
    ctx = make_ctx(documents=pack_ia_documents)
    state = pack_ia.initial
    visited = [state]

    def step(name: str, roles: set[str]) -> workflows.FireResult:
        nonlocal state
        result = workflows.fire(pack_ia, state, name, roles, ctx)
        assert result.from_state == state
        assert result.transition.name == name
        state = result.to_state
        visited.append(state)
        return result

    submit = step("submit", {"applicant"})
    assert effect_names(submit) == ["pdf", "notify", "notify"]
    step("start_eligibility", {"system"})
    ctx.eligibility = True
    step("start_instruction", {"instructor"})
    ctx.reviews, ctx.amount_cents = 1, 2_500_000
    proposal = step("propose_to_committee", {"instructor"})
    assert not proposal.effects  # the amount is reserved when the committee approves it
    ctx.decision = "approved"
    approval = step("approve", {"committee"})
    assert [(e.name, e.payload) for e in approval.in_transaction_effects] == [("ledger_reserve", {"amount_cents": 2_500_000})]
    step("prepare_agreement", {"finance"})
    ctx.signed = True
    signature = step("sign_agreement", {"finance"})
    assert [e.name for e in signature.in_transaction_effects] == ["ledger_commit"]
    ctx.paid = True
    closing = step("close", {"finance"})

    assert visited == [
        "draft", "submitted", "eligibility_check", "instruction", "committee",
        "approved", "agreement", "payments", "closed",
    ]
    assert [pack_ia.stage_of(s) for s in visited] == [
        "draft", "eligibility", "eligibility", "instruction", "committee",
        "agreement", "agreement", "payments", "closed",
    ]
    assert pack_ia.is_final(state)
    assert effect_names(closing) == ["ledger_release", "notify", "webhook"]
    assert pack_ia.transitions_from(state) == []


def test_corrections_loop_pauses_and_resumes_clock(
    pack_ia: Definition, make_ctx: Any, pack_ia_documents: set[str]
) -> None:
    ctx = make_ctx(reason="Le devis n'est pas signé.", documents=pack_ia_documents - {"devis_prestataire"})
    asked = workflows.fire(pack_ia, "eligibility_check", "request_corrections", {"instructor"}, ctx)
    assert asked.to_state == "corrections_requested"
    assert [(e.name, e.phase) for e in asked.effects] == [
        ("clock_pause", Phase.IN_TRANSACTION), ("notify", Phase.AFTER_COMMIT)
    ]
    assert asked.effects[1].payload["reason"] == "Le devis n'est pas signé."

    with pytest.raises(workflows.GuardFailed) as info:
        workflows.fire(pack_ia, "corrections_requested", "resubmit", {"applicant"}, ctx)
    assert "devis_prestataire" in info.value.messages[0]

    ctx.documents = set(pack_ia_documents)
    back = workflows.fire(pack_ia, "corrections_requested", "resubmit", {"applicant"}, ctx)
    assert back.to_state == "eligibility_check"
    assert back.effects[0].name == "clock_resume"


@pytest.mark.parametrize(
    "state", ["draft", "submitted", "eligibility_check", "corrections_requested", "instruction", "committee"]
)
def test_applicant_can_withdraw_before_decision(pack_ia: Definition, ctx: Any, state: str) -> None:
    result = workflows.fire(pack_ia, state, "withdraw", {"applicant"}, ctx)
    assert result.to_state == "withdrawn"
    assert ("ledger_release" in effect_names(result)) == (state == "committee")


@pytest.mark.parametrize("state", ["approved", "agreement", "payments", "rejected", "closed"])
def test_applicant_cannot_withdraw_after_decision(pack_ia: Definition, ctx: Any, state: str) -> None:
    with pytest.raises(workflows.TransitionNotAllowed) as info:
        workflows.fire(pack_ia, state, "withdraw", {"applicant"}, ctx)
    assert info.value.why == "state"


@pytest.mark.parametrize(
    ("state", "transition", "roles"),
    [
        ("draft", "submit", {"instructor", "admin"}),
        ("committee", "approve", {"applicant"}),
        ("committee", "approve", {"instructor"}),
        ("draft", "freeze_draft", {"admin"}),
        ("agreement", "sign_agreement", {"applicant"}),
        ("draft", "withdraw", set()),
    ],
)
def test_role_refusal(pack_ia: Definition, ctx: Any, state: str, transition: str, roles: set[str]) -> None:
    with pytest.raises(workflows.TransitionNotAllowed) as info:
        workflows.fire(pack_ia, state, transition, roles, ctx)
    assert info.value.why == "role"
    assert transition in str(info.value)


def test_any_of_several_roles_is_enough(pack_ia: Definition, make_ctx: Any) -> None:
    ctx = make_ctx(decision="approved")
    result = workflows.fire(pack_ia, "committee", "approve", {"applicant", "committee"}, ctx)
    assert result.to_state == "approved"


def test_wrong_state_unknown_transition_unknown_state(pack_ia: Definition, ctx: Any) -> None:
    with pytest.raises(workflows.TransitionNotAllowed) as info:
        workflows.fire(pack_ia, "draft", "approve", {"committee"}, ctx)
    assert info.value.why == "state"
    with pytest.raises(workflows.UnknownTransition):
        workflows.fire(pack_ia, "draft", "teleport", {"admin"}, ctx)
    with pytest.raises(workflows.UnknownState):
        workflows.fire(pack_ia, "limbo", "submit", {"applicant"}, ctx)
    with pytest.raises(TypeError):
        workflows.fire(pack_ia, "draft", "submit", "applicant", ctx)


def test_guard_failure_reports_every_message(pack_ia: Definition, make_ctx: Any) -> None:
    ctx = make_ctx(call_open=False, documents={"kbis"})
    with pytest.raises(workflows.GuardFailed) as info:
        workflows.fire(pack_ia, "draft", "submit", {"applicant"}, ctx)
    failed = info.value
    assert [f.guard for f in failed.failures] == ["call_open", "required_documents"]
    assert failed.messages[0] == "L'appel à projets est clos : le dépôt n'est plus possible."
    assert failed.messages[1] == "Pièce(s) manquante(s) : devis_prestataire, attestation_de_minimis, liasse_fiscale."
    assert all(m in str(failed) for m in failed.messages)


def test_committee_proposal_needs_reviews_and_amount(pack_ia: Definition, ami: Definition, make_ctx: Any) -> None:
    ctx = make_ctx(reviews=0, amount_cents=None)
    with pytest.raises(workflows.GuardFailed) as info:
        workflows.fire(pack_ia, "instruction", "propose_to_committee", {"instructor"}, ctx)
    assert info.value.messages == [
        "Évaluations insuffisantes : 0 remise(s) sur 1 requise(s).",
        "Aucun montant d'aide positif n'est proposé.",
    ]
    ctx.reviews, ctx.amount_cents = 1, 100_000_00
    assert workflows.fire(pack_ia, "instruction", "propose_to_committee", {"instructor"}, ctx).to_state == "committee"
    with pytest.raises(workflows.GuardFailed) as info:
        workflows.fire(ami, "instruction", "propose_to_committee", {"instructor"}, ctx)
    assert info.value.messages == ["Évaluations insuffisantes : 1 remise(s) sur 2 requise(s)."]
    ctx.reviews = 2
    assert workflows.fire(ami, "instruction", "propose_to_committee", {"instructor"}, ctx).to_state == "committee"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_requires_reason_is_enforced(pack_ia: Definition, make_ctx: Any, reason: str | None) -> None:
    with pytest.raises(workflows.GuardFailed) as info:
        workflows.fire(pack_ia, "committee", "adjourn", {"committee"}, make_ctx(reason=reason))
    assert [f.guard for f in info.value.failures] == ["reason_given"]
    assert info.value.messages == ["Un motif est obligatoire pour cette action."]


def test_ineligibility_needs_reason_and_failed_checks(pack_ia: Definition, make_ctx: Any) -> None:
    with pytest.raises(workflows.GuardFailed) as info:
        workflows.fire(
            pack_ia, "eligibility_check", "declare_ineligible", {"instructor"}, make_ctx(eligibility=True)
        )
    assert [f.guard for f in info.value.failures] == ["reason_given", "eligibility_failed"]
    ctx = make_ctx(eligibility=False, reason="Plus de 2 000 salariés.")
    result = workflows.fire(pack_ia, "eligibility_check", "declare_ineligible", {"instructor"}, ctx)
    assert result.to_state == "ineligible"
    with pytest.raises(workflows.GuardFailed):
        workflows.fire(pack_ia, "eligibility_check", "start_instruction", {"instructor"}, ctx)


def test_committee_decision_guards(pack_ia: Definition, make_ctx: Any) -> None:
    undecided = make_ctx()
    for name in ("approve", "reject"):
        with pytest.raises(workflows.GuardFailed) as info:
            workflows.fire(pack_ia, "committee", name, {"committee"}, undecided)
        assert info.value.messages == ["Le comité n'a pas encore statué sur ce dossier."]
    rejected = make_ctx(decision="rejected")
    with pytest.raises(workflows.GuardFailed):
        workflows.fire(pack_ia, "committee", "approve", {"committee"}, rejected)
    result = workflows.fire(pack_ia, "committee", "reject", {"committee"}, rejected)
    assert result.to_state == "rejected"
    assert effect_names(result) == ["ledger_release", "pdf", "notify"]


def test_closing_the_call_freezes_drafts(pack_ia: Definition, make_ctx: Any) -> None:
    with pytest.raises(workflows.GuardFailed):
        workflows.fire(pack_ia, "draft", "freeze_draft", {"system"}, make_ctx(call_open=True))
    result = workflows.fire(pack_ia, "draft", "freeze_draft", {"system"}, make_ctx(call_open=False))
    assert result.to_state == "closed_without_follow_up"
    assert pack_ia.is_final(result.to_state)


def test_lapse_by_job_or_by_finance(pack_ia: Definition, make_ctx: Any) -> None:
    with pytest.raises(workflows.GuardFailed):
        workflows.fire(pack_ia, "payments", "lapse", {"system"}, make_ctx(lapse=False))
    assert workflows.fire(pack_ia, "payments", "lapse", {"system"}, make_ctx(lapse=True)).to_state == "lapsed"
    liquidation = make_ctx(reason="Liquidation judiciaire.")
    manual = workflows.fire(pack_ia, "agreement", "declare_lapse", {"finance"}, liquidation)
    assert manual.to_state == "lapsed"
    assert manual.in_transaction_effects[0].name == "ledger_release"


def test_effects_carry_phase_params_and_payload(pack_ia: Definition, make_ctx: Any) -> None:
    ctx = make_ctx(decision="approved", amount_cents=5)
    result = workflows.fire(pack_ia, "committee", "approve", {"committee"}, ctx)
    assert [e.to_dict() for e in result.effects] == [
        {"name": "ledger_reserve", "params": {}, "phase": "in_transaction", "payload": {"amount_cents": 5}},
        {"name": "pdf", "params": {"template": "lettre_decision"}, "phase": "after_commit",
         "payload": {"template": "lettre_decision"}},
        {"name": "notify", "params": {"template": "decision_favorable", "to": "applicant"}, "phase": "after_commit",
         "payload": {"template": "decision_favorable", "to": "applicant", "reason": None}},
    ]
    assert [e.name for e in result.in_transaction_effects] == ["ledger_reserve"]
    assert all(not e.in_transaction for e in result.after_commit_effects)


def test_in_transaction_and_after_commit_are_split(pack_ia: Definition, make_ctx: Any) -> None:
    result = workflows.fire(pack_ia, "committee", "withdraw", {"applicant"}, make_ctx())
    assert [e.name for e in result.in_transaction_effects] == ["ledger_release"]
    assert [e.params["to"] for e in result.after_commit_effects] == ["applicant", "instructors"]


def test_audit_fields_name_the_workflow_version(pack_ia: Definition, make_ctx: Any) -> None:
    result = workflows.fire(pack_ia, "submitted", "start_eligibility", {"instructor"}, make_ctx())
    assert result.audit_fields() == {
        "workflow": "pack_ia",
        "workflow_version": pack_ia.version,
        "workflow_hash": pack_ia.hash,
        "transition": "start_eligibility",
        "from_state": "submitted",
        "to_state": "eligibility_check",
    }


def test_available_lists_options_with_blocking_reasons(pack_ia: Definition, make_ctx: Any) -> None:
    options = workflows.available(pack_ia, "eligibility_check", {"instructor"}, make_ctx(eligibility=True))
    by_name = {o.transition.name: o for o in options}
    assert sorted(by_name) == ["declare_ineligible", "request_corrections", "start_instruction"]
    assert by_name["start_instruction"].enabled
    assert not by_name["request_corrections"].enabled  # no reason typed yet
    assert [f.guard for f in by_name["declare_ineligible"].failures] == ["reason_given", "eligibility_failed"]


def test_guard_must_return_a_guard_result(make_ctx: Any) -> None:
    registry = workflows.Registry()

    @registry.guard("sloppy")
    def sloppy(ctx: Any) -> Any:
        return True

    definition = workflows.from_dict(
        {
            "name": "t", "version": "1", "initial": "a",
            "states": {"a": {"stage": "draft"}, "b": {"stage": "closed", "final": True}},
            "transitions": [{"name": "go", "from": "a", "to": "b", "roles": ["admin"], "guards": ["sloppy"]}],
        },
        registry=registry,
    )
    with pytest.raises(TypeError, match="sloppy"):
        workflows.fire(definition, "a", "go", {"admin"}, make_ctx(), registry=registry)
