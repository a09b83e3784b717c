"""Definition hash (version identity) and migration compatibility."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

import workflows

Data = dict[str, Any]


def reorder(value: Any) -> Any:
    """Same content, every mapping's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


@pytest.fixture
def pack_ia_data() -> Data:
    return yaml.safe_load((workflows.DEFINITIONS_DIR / "pack_ia.yaml").read_text(encoding="utf-8"))


def test_hash_is_sha256_hex(pack_ia: workflows.Definition) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", pack_ia.hash)


def test_hash_ignores_key_order(pack_ia: workflows.Definition, pack_ia_data: Data) -> None:
    reordered = reorder(pack_ia_data)
    assert list(reordered) != list(pack_ia_data)
    assert workflows.from_dict(reordered).hash == pack_ia.hash
    assert workflows.from_dict(reordered) == pack_ia


def test_hash_ignores_equivalent_spellings(minimal: Data) -> None:
    base = workflows.from_dict(minimal).hash
    minimal["transitions"][0]["from"] = ["draft"]
    minimal["transitions"][1]["roles"] = ["instructor", "instructor"]
    assert workflows.from_dict(minimal).hash == base


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["states"]["draft"].update(label="Brouillon en cours"),
        lambda d: d["transitions"][1]["guards"][0]["params"].update(min=2),
        lambda d: d["transitions"][0]["roles"].append("admin"),
        lambda d: d["transitions"][1].update(requires_reason=False),
        lambda d: d.update(version="2"),
        lambda d: d["transitions"].reverse(),
    ],
    ids=["label", "param", "role", "flag", "version", "transition order"],
)
def test_hash_changes_with_content(minimal: Data, change: Any) -> None:
    before = workflows.from_dict(copy.deepcopy(minimal)).hash
    change(minimal)
    assert workflows.from_dict(minimal).hash != before


def test_canonical_json_round_trips(pack_ia: workflows.Definition) -> None:
    again = workflows.from_dict(pack_ia.to_dict())
    assert again.hash == pack_ia.hash
    assert again.canonical_json() == pack_ia.canonical_json()


# -- migration ---------------------------------------------------------------


def codes(problems: list[Any]) -> set[str]:
    return {p.code for p in problems}


def test_same_definition_migrates(pack_ia: workflows.Definition) -> None:
    assert workflows.check_migration(pack_ia, pack_ia, set(pack_ia.states)) == []


def test_added_state_is_compatible(pack_ia: workflows.Definition, pack_ia_data: Data) -> None:
    pack_ia_data["version"] = "2025.2"
    pack_ia_data["states"]["expertise"] = {"stage": "instruction", "label": "Expertise"}
    pack_ia_data["transitions"] += [
        {"name": "ask_expert", "from": "instruction", "to": "expertise", "roles": ["instructor"]},
        {"name": "expertise_done", "from": "expertise", "to": "instruction", "roles": ["instructor", "expert"]},
    ]
    new = workflows.from_dict(pack_ia_data)
    assert new.hash != pack_ia.hash
    assert workflows.check_migration(pack_ia, new, {"draft", "instruction", "committee"}) == []


def test_removed_state_blocks_only_when_in_use(pack_ia: workflows.Definition, pack_ia_data: Data) -> None:
    del pack_ia_data["states"]["corrections_requested"]
    pack_ia_data["transitions"] = [
        t for t in pack_ia_data["transitions"]
        if t["to"] != "corrections_requested" and t["from"] != "corrections_requested"
    ]
    for t in pack_ia_data["transitions"]:
        if isinstance(t["from"], list) and "corrections_requested" in t["from"]:
            t["from"].remove("corrections_requested")
    new = workflows.from_dict(pack_ia_data)
    assert workflows.check_migration(pack_ia, new, {"draft", "instruction"}) == []
    problems = workflows.check_migration(pack_ia, new, {"draft", "corrections_requested"})
    assert codes(problems) == {"state_removed"}
    assert "corrections_requested" in problems[0]


def test_state_becoming_final_or_changing_stage_blocks(pack_ia: workflows.Definition, pack_ia_data: Data) -> None:
    pack_ia_data["states"]["approved"]["stage"] = "committee"
    new = workflows.from_dict(pack_ia_data)
    assert codes(workflows.check_migration(pack_ia, new, {"approved"})) == {"stage_changed"}
    assert workflows.check_migration(pack_ia, new, {"payments"}) == []

    pack_ia_data["states"]["approved"]["stage"] = "agreement"
    pack_ia_data["states"]["payments"]["final"] = True
    pack_ia_data["transitions"] = [t for t in pack_ia_data["transitions"] if "payments" not in (
        t["from"] if isinstance(t["from"], list) else [t["from"]])]
    new = workflows.from_dict(pack_ia_data, check=False)
    assert "became_final" in codes(workflows.check_migration(pack_ia, new, {"payments"}))


def test_invalid_new_version_or_other_workflow_blocks(
    pack_ia: workflows.Definition, ami: workflows.Definition, minimal: Data
) -> None:
    assert "other_workflow" in codes(workflows.check_migration(pack_ia, ami, {"draft"}))
    minimal["name"] = "pack_ia"
    minimal["transitions"][0]["roles"] = ["mayor"]
    broken = workflows.from_dict(minimal, check=False)
    problems = workflows.check_migration(pack_ia, broken, {"draft"})
    assert "unknown_role" in codes(problems)
    assert any(p.startswith("nouvelle version invalide") for p in problems)
