"""Guard/effect registry: parameter specs read from signatures, phases declared."""

from __future__ import annotations

from typing import Any, Literal

import pytest

import workflows
from workflows import REGISTRY, Phase


def test_builtin_guards_are_registered_with_specs() -> None:
    expected = {
        "required_documents", "eligibility_passed", "eligibility_failed", "reviews_complete",
        "committee_approved", "committee_rejected", "reason_given", "amount_proposed",
        "call_open", "call_closed", "agreement_signed", "balance_paid", "lapse_due",
    }
    assert set(REGISTRY.guards) == expected
    kinds = REGISTRY.guards["required_documents"].params["kinds"]
    assert (kinds.type, kinds.required) == ("list[str]", True)
    minimum = REGISTRY.guards["reviews_complete"].params["min"]
    assert (minimum.type, minimum.required) == ("int", True)
    assert REGISTRY.guards["eligibility_passed"].params == {}


def test_builtin_effects_declare_their_phase() -> None:
    phases = {name: spec.phase for name, spec in REGISTRY.effects.items()}
    assert phases == {
        "ledger_reserve": Phase.IN_TRANSACTION,
        "ledger_commit": Phase.IN_TRANSACTION,
        "ledger_release": Phase.IN_TRANSACTION,
        "clock_pause": Phase.IN_TRANSACTION,
        "clock_resume": Phase.IN_TRANSACTION,
        "notify": Phase.AFTER_COMMIT,
        "pdf": Phase.AFTER_COMMIT,
        "webhook": Phase.AFTER_COMMIT,
    }
    to = REGISTRY.effects["notify"].params["to"]
    assert to.type == "str" and to.choices is not None and "applicant" in to.choices and "instructors" in to.choices


def test_describe_is_plain_data() -> None:
    described = REGISTRY.describe()
    assert described["effects"]["notify"]["phase"] == "after_commit"
    assert [p["name"] for p in described["guards"]["required_documents"]["params"]] == ["kinds"]


def test_optional_params_and_choices_from_signature() -> None:
    registry = workflows.Registry()

    @registry.effect("stamp", phase=Phase.AFTER_COMMIT)
    def stamp(ctx: Any, *, colour: Literal["red", "blue"], copies: int = 1, urgent: bool = False) -> dict[str, Any]:
        return {"colour": colour, "copies": copies}

    params = registry.effects["stamp"].params
    assert params["colour"].choices == ("red", "blue") and params["colour"].required
    assert (params["copies"].required, params["copies"].default) == (False, 1)
    assert params["urgent"].type == "bool"
    assert "stamp" not in REGISTRY.effects


def test_duplicate_names_are_refused() -> None:
    registry = workflows.Registry()

    @registry.guard("twice")
    def first(ctx: Any) -> workflows.GuardResult:
        return workflows.GuardResult.ok()

    with pytest.raises(ValueError, match="twice"):
        registry.guard("twice")(first)


def test_bad_signatures_are_refused_at_registration() -> None:
    registry = workflows.Registry()
    with pytest.raises(TypeError, match="keyword-only"):
        @registry.guard("positional")
        def positional(ctx: Any, kinds: list[str]) -> workflows.GuardResult:
            return workflows.GuardResult.ok()

    with pytest.raises(TypeError, match="unsupported"):
        @registry.guard("floaty")
        def floaty(ctx: Any, *, ratio: float) -> workflows.GuardResult:
            return workflows.GuardResult.ok()

    with pytest.raises(TypeError):
        registry.effect("no_phase", phase="after_commit")  # type: ignore[arg-type]


def test_custom_registry_validates_and_fires(make_ctx: Any) -> None:
    registry = workflows.Registry()

    @registry.guard("big_enough")
    def big_enough(ctx: Any, *, cents: int) -> workflows.GuardResult:
        if (ctx.amount_cents or 0) < cents:
            return workflows.GuardResult.fail("Montant trop faible.")
        return workflows.GuardResult.ok()

    data = {
        "name": "custom", "version": "1", "initial": "a",
        "states": {"a": {"stage": "draft"}, "b": {"stage": "closed", "final": True}},
        "transitions": [{"name": "go", "from": "a", "to": "b", "roles": ["admin"],
                         "guards": [{"name": "big_enough", "params": {"cents": 100}}]}],
    }
    with pytest.raises(workflows.DefinitionError):
        workflows.from_dict(data)  # unknown to the default registry
    definition = workflows.from_dict(data, registry=registry)
    with pytest.raises(workflows.GuardFailed) as info:
        workflows.fire(definition, "a", "go", {"admin"}, make_ctx(amount_cents=99), registry=registry)
    assert info.value.messages == ["Montant trop faible."]
    result = workflows.fire(definition, "a", "go", {"admin"}, make_ctx(amount_cents=100), registry=registry)
    assert result.to_state == "b"
