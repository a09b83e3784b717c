"""Every kind of definition fault is detected, and all are reported at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import workflows

Data = dict[str, Any]


def problems_of(data: Any) -> list[workflows.Problem]:
    """Structural and semantic problems of plain data, as load would report them."""
    with pytest.raises(workflows.DefinitionError) as info:
        workflows.from_dict(data)
    return info.value.problems


def codes(problems: list[Any]) -> set[str]:
    return {p.code for p in problems}


def test_minimal_definition_is_valid(minimal: Data) -> None:
    definition = workflows.from_dict(minimal)
    assert workflows.validate(definition) == []
    assert definition.transitions[0].from_states == ("draft",)


def _add_state(data: Data, name: str, **state: Any) -> None:
    data["states"][name] = state


def _add_transition(data: Data, name: str, src: Any, dst: str, roles: Any = ("admin",), **extra: Any) -> None:
    data["transitions"].append({"name": name, "from": src, "to": dst, "roles": list(roles), **extra})


def _guard(data: Data, index: int) -> dict[str, Any]:
    return data["transitions"][index]["guards"][0]


FAULTS: list[tuple[str, Callable[[Data], None], str, str]] = [
    ("initial missing", lambda d: d.pop("initial"), "initial_missing", "initial"),
    ("initial undeclared", lambda d: d.update(initial="nowhere"), "unknown_state", "nowhere"),
    ("unknown source state", lambda d: d["transitions"][0].update({"from": "ghost"}), "unknown_state", "ghost"),
    ("unknown target state", lambda d: d["transitions"][1].update(to="limbo"), "unknown_state", "limbo"),
    ("unknown stage", lambda d: d["states"]["submitted"].update(stage="review"), "unknown_stage", "review"),
    ("missing stage", lambda d: d["states"]["submitted"].pop("stage"), "unknown_stage", "submitted"),
    ("unreachable state", lambda d: _add_state(d, "orphan", stage="closed", final=True), "unreachable", "orphan"),
    (
        "dead end",
        lambda d: (_add_state(d, "stuck", stage="instruction"), _add_transition(d, "park", "draft", "stuck")),
        "dead_end",
        "stuck",
    ),
    (
        "cycle without exit",
        lambda d: (
            _add_state(d, "ping", stage="instruction"),
            _add_state(d, "pong", stage="instruction"),
            _add_transition(d, "go", "submitted", "ping"),
            _add_transition(d, "to_pong", "ping", "pong"),
            _add_transition(d, "to_ping", "pong", "ping"),
        ),
        "trapped",
        "ping",
    ),
    ("no final state", lambda d: d["states"]["closed"].pop("final"), "no_final_state", "final"),
    (
        "exit from a final state",
        lambda d: _add_transition(d, "reopen", "closed", "submitted"),
        "final_with_exits",
        "reopen",
    ),
    (
        "unknown guard",
        lambda d: d["transitions"][1]["guards"].append({"name": "moon_phase"}),
        "unknown_guard",
        "moon_phase",
    ),
    ("unknown effect", lambda d: d["transitions"][0]["effects"].append({"name": "fax"}), "unknown_effect", "fax"),
    ("missing param", lambda d: _guard(d, 0).update(params={}), "missing_param", "kinds"),
    ("params omitted", lambda d: _guard(d, 0).pop("params"), "missing_param", "kinds"),
    (
        "unknown param",
        lambda d: d["transitions"][0]["effects"][0]["params"].update(cc="maire"),
        "unknown_param",
        "cc",
    ),
    ("string instead of list", lambda d: _guard(d, 0).update(params={"kinds": "kbis"}), "bad_param", "kinds"),
    ("empty list", lambda d: _guard(d, 0).update(params={"kinds": []}), "bad_param", "kinds"),
    ("string instead of int", lambda d: _guard(d, 1).update(params={"min": "2"}), "bad_param", "min"),
    ("bool instead of int", lambda d: _guard(d, 1).update(params={"min": True}), "bad_param", "min"),
    ("negative int", lambda d: _guard(d, 1).update(params={"min": -1}), "bad_param", "min"),
    (
        "value outside choices",
        lambda d: d["transitions"][0]["effects"][0]["params"].update(to="everyone"),
        "bad_param",
        "everyone",
    ),
    ("empty roles", lambda d: d["transitions"][0].update(roles=[]), "no_roles", "submit"),
    ("roles omitted", lambda d: d["transitions"][0].pop("roles"), "no_roles", "submit"),
    ("unknown role", lambda d: d["transitions"][0].update(roles=["applicant", "mayor"]), "unknown_role", "mayor"),
    (
        "duplicate transition from same state",
        lambda d: _add_transition(d, "submit", ["draft"], "closed"),
        "duplicate_transition",
        "submit",
    ),
    ("misspelt key", lambda d: d["transitions"][1].update(gaurds=[]), "structure", "gaurds"),
    ("unknown top-level key", lambda d: d.update(owner="x"), "structure", "owner"),
    ("states not a mapping", lambda d: d.update(states=["draft"]), "structure", "states"),
    ("transitions not a list", lambda d: d.update(transitions={"submit": {}}), "structure", "transitions"),
    ("missing name", lambda d: d.pop("name"), "structure", "name"),
    ("missing version", lambda d: d.pop("version"), "structure", "version"),
    ("flag not a bool", lambda d: d["transitions"][1].update(requires_reason="yes"), "structure", "requires_reason"),
    ("final not a bool", lambda d: d["states"]["closed"].update(final="true"), "structure", "final"),
    ("transition without name", lambda d: d["transitions"][1].pop("name"), "structure", "name"),
    ("empty from list", lambda d: d["transitions"][1].update({"from": []}), "structure", "from"),
    ("bad state name", lambda d: _add_state(d, "Bad State", stage="closed", final=True), "structure", "Bad State"),
    ("params not a mapping", lambda d: _guard(d, 1).update(params=[1]), "structure", "params"),
]


@pytest.mark.parametrize(("mutate", "code", "mentions"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_fault_is_detected(minimal: Data, mutate: Callable[[Data], None], code: str, mentions: str) -> None:
    mutate(minimal)
    problems = problems_of(minimal)
    matching = [p for p in problems if p.code == code]
    assert matching, f"expected a {code!r} problem, got {problems}"
    assert any(mentions in p for p in matching), matching


def test_not_a_mapping_is_reported() -> None:
    assert "structure" in codes(problems_of(["not", "a", "definition"]))


def test_all_faults_are_reported_together(minimal: Data) -> None:
    minimal["initial"] = "nowhere"
    minimal["transitions"][0]["roles"] = ["mayor"]
    minimal["transitions"][0]["effects"].append({"name": "fax"})
    _guard(minimal, 1)["params"] = {"min": "two"}
    problems = problems_of(minimal)
    assert {"unknown_state", "unknown_role", "unknown_effect", "bad_param"} <= codes(problems)


def test_definition_error_message_lists_problems(minimal: Data) -> None:
    minimal["transitions"][0]["roles"] = ["mayor"]
    with pytest.raises(workflows.DefinitionError) as info:
        workflows.from_dict(minimal)
    assert "mini" in str(info.value)
    assert "mayor" in str(info.value)


def test_problems_are_plain_strings(minimal: Data) -> None:
    minimal["transitions"][0]["roles"] = ["mayor"]
    (problem,) = problems_of(minimal)
    assert isinstance(problem, str)
    assert problem == str(problem)
    assert problem.code == "unknown_role"


def test_check_false_builds_invalid_definition_for_inspection(minimal: Data) -> None:
    minimal["transitions"][0]["to"] = "limbo"
    definition = workflows.from_dict(minimal, check=False)
    assert "unknown_state" in codes(workflows.validate(definition))


def test_same_name_from_different_states_is_allowed(minimal: Data) -> None:
    _add_transition(minimal, "close", "draft", "closed", roles=["applicant"])
    definition = workflows.from_dict(minimal)
    assert len(definition.transitions_named("close")) == 2


def test_shorthand_step_and_numeric_version(minimal: Data) -> None:
    minimal["version"] = 3
    minimal["transitions"][1]["guards"].append("reason_given")
    definition = workflows.from_dict(minimal)
    assert definition.version == "3"
    assert [g.name for g in definition.transitions[1].guards] == ["reviews_complete", "reason_given"]


def test_load_from_text_yaml_and_bad_yaml(minimal: Data) -> None:
    text = """
name: mini_text
version: "1"
initial: a
states:
  a: {stage: draft}
  b: {stage: closed, final: true}
transitions:
  - {name: go, from: a, to: b, roles: [applicant]}
"""
    definition = workflows.load_from_text(text)
    assert definition.transitions_from("a", {"applicant"})[0].to_state == "b"
    with pytest.raises(workflows.DefinitionError) as info:
        workflows.load_from_text("name: [unclosed")
    assert codes(info.value.problems) == {"yaml"}


def test_yaml_tags_are_not_executed() -> None:
    with pytest.raises(workflows.DefinitionError):
        workflows.load_from_text("name: !!python/object/apply:os.system ['true']\n")


def test_check_all_on_a_folder(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(
        "name: good\nversion: '1'\ninitial: a\nstates:\n  a: {stage: draft}\n  b: {stage: closed, final: true}\n"
        "transitions:\n  - {name: go, from: a, to: b, roles: [admin]}\n",
        encoding="utf-8",
    )
    (tmp_path / "renamed.yaml").write_text(
        (tmp_path / "good.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "broken.yaml").write_text("name: [oops\n", encoding="utf-8")
    (tmp_path / "faulty.yaml").write_text(
        "name: faulty\nversion: '1'\ninitial: a\nstates:\n  a: {stage: draft}\ntransitions: []\n",
        encoding="utf-8",
    )
    report = workflows.check_all(tmp_path)
    assert sorted(report) == ["broken", "faulty", "good", "renamed"]
    assert report["good"] == []
    assert codes(report["renamed"]) == {"name_mismatch"}
    assert codes(report["broken"]) == {"yaml"}
    assert {"dead_end", "no_final_state"} <= codes(report["faulty"])
