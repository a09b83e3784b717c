"""Grid loading and validation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest

from scoring import (
    AGGREGATIONS,
    GridError,
    aggregation,
    available_grids,
    grid_from_dict,
    grid_to_dict,
    load_grid,
)


def test_shipped_grids_are_listed() -> None:
    assert available_grids() == ["ami_numerique", "pack_ia"]


def test_pack_ia_loads(pack_ia) -> None:
    assert pack_ia.name == "pack_ia"
    assert pack_ia.codes == ("innovation", "impact", "faisabilite", "equipe", "strategie", "ethique")
    assert pack_ia.criterion("impact").label == "Impact économique et emploi"
    assert pack_ia.criterion("strategie").weight == Decimal("1.5")
    assert pack_ia.total_weight == Decimal("11")
    ethique = pack_ia.criterion("ethique")
    assert (ethique.eliminatory, ethique.eliminatory_below, ethique.comment_required_below) == (True, 2, 3)
    assert (pack_ia.scale.min, pack_ia.scale.max, pack_ia.scale.step) == (0, 5, 1)
    assert pack_ia.aggregation.name == "mean"
    assert pack_ia.normalisation.name == "zscore"
    assert pack_ia.disagreement_threshold == Decimal(6)
    assert pack_ia.tie_breakers == ("impact", "faisabilite", "innovation")


def test_ami_numerique_loads(ami) -> None:
    assert ami.name == "ami_numerique"
    assert ami.aggregation.name == "trimmed_mean" and ami.aggregation.params == {"trim": 1}
    assert ami.normalisation.name == "none"
    assert [c.code for c in ami.criteria if c.eliminatory] == ["reponse_defi", "ethique"]
    assert ami.criterion("ethique").label == "Éthique et transparence de l'IA"
    assert ami.total_weight == Decimal("15")
    assert ami.disagreement_threshold == Decimal(5)


def test_weights_are_decimals_not_floats(pack_ia, ami) -> None:
    for grid in (pack_ia, ami):
        assert all(type(c.weight) is Decimal for c in grid.criteria)


def test_base_dict_is_valid(base_grid_dict) -> None:
    grid = grid_from_dict(base_grid_dict)
    assert grid.codes == ("a", "b")
    assert grid.title == "test_grid"  # title defaults to the name


def test_round_trip_through_plain_dict(pack_ia, ami) -> None:
    for grid in (pack_ia, ami):
        assert grid_from_dict(grid_to_dict(grid)) == grid


def test_aggregation_shorthand_string(base_grid_dict) -> None:
    base_grid_dict["aggregation"] = "median"
    assert grid_from_dict(base_grid_dict).aggregation.name == "median"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Mutation setting a dotted path (list indexes allowed) in the grid dict."""

    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = d
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = d
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return mutate


def _add_criterion(criterion: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["criteria"].append(criterion)


FAULTS = [
    ("unknown aggregation", _set("aggregation", {"name": "moyenne_magique"}), "fonction inconnue 'moyenne_magique'"),
    ("unknown normalisation", _set("normalisation", "minmax"), "normalisation : fonction inconnue"),
    ("unknown aggregation param", _set("aggregation.params", {"trim": 1, "cut": 2}), "paramètre inconnu « cut »"),
    ("negative trim", _set("aggregation.params.trim", -1), "« trim » doit être un entier positif"),
    ("bad min_reviews", _set("normalisation", {"name": "zscore", "params": {"min_reviews": 1}}), "min_reviews"),
    ("zero weight", _set("criteria.0.weight", 0), "strictement positif (reçu : 0)"),
    ("negative weight", _set("criteria.0.weight", "-1.5"), "strictement positif (reçu : -1.5)"),
    ("float weight", _set("criteria.0.weight", 1.5), "chaîne décimale"),
    ("text weight", _set("criteria.0.weight", "lourd"), "chaîne décimale"),
    ("missing weight", _delete("criteria.0.weight"), "« weight » doit être"),
    ("tie-breaker not a criterion", _set("tie_breakers", ["b", "z"]), "« z » n'est pas un critère"),
    ("duplicate tie-breaker", _set("tie_breakers", ["a", "a"]), "« a » apparaît plusieurs fois"),
    ("eliminatory threshold above scale", _set("criteria.1.eliminatory_below", 6), "« eliminatory_below » (6) hors de l'échelle"),
    ("eliminatory threshold at scale min", _set("criteria.1.eliminatory_below", 0), "« eliminatory_below » (0) hors de l'échelle"),
    ("comment threshold above scale", _set("criteria.1.comment_required_below", 9), "« comment_required_below » (9) hors de l'échelle"),
    ("non-integer threshold", _set("criteria.1.eliminatory_below", "2"), "« eliminatory_below » doit être un entier"),
    ("eliminatory without threshold", _delete("criteria.1.eliminatory_below"), "éliminatoire sans seuil"),
    ("threshold without eliminatory", _delete("criteria.1.eliminatory"), "donné sans « eliminatory: true »"),
    ("eliminatory not a boolean", _set("criteria.1.eliminatory", "oui"), "« eliminatory » doit valoir true ou false"),
    ("duplicate criterion code", _add_criterion({"code": "a", "label": "Doublon", "weight": 1}), "code de critère en double « a »"),
    ("bad criterion code", _set("criteria.0.code", "Critère A"), "« code » doit être un identifiant"),
    ("missing label", _delete("criteria.0.label"), "« label » (libellé) manquant"),
    ("typo in criterion key", _set("criteria.1.eliminatory_bellow", 2), "clé inconnue « eliminatory_bellow »"),
    ("unknown top-level key", _set("agregation", "mean"), "clé inconnue « agregation »"),
    ("missing criteria", _delete("criteria"), "clé obligatoire « criteria » manquante"),
    ("empty criteria", _set("criteria", []), "« criteria » doit être une liste non vide"),
    ("missing aggregation", _delete("aggregation"), "clé obligatoire « aggregation » manquante"),
    ("scale min not below max", _set("scale", {"min": 5, "max": 5}), "doit être inférieur à « max »"),
    ("scale not integer", _set("scale", {"min": 0, "max": "5"}), "« max » doit être un entier"),
    ("scale step not dividing", _set("scale", {"min": 0, "max": 5, "step": 2}), "n'est pas un multiple du pas"),
    ("scale step zero", _set("scale", {"min": 0, "max": 5, "step": 0}), "« step » doit être au moins 1"),
    ("scale not a mapping", _set("scale", [0, 5]), "« scale » doit être un dictionnaire"),
    ("threshold zero", _set("disagreement_threshold", 0), "« disagreement_threshold » (0)"),
    ("threshold above 20", _set("disagreement_threshold", "25"), "« disagreement_threshold » (25)"),
    ("threshold float", _set("disagreement_threshold", 4.5), "« disagreement_threshold » doit être un entier ou une chaîne"),
    ("bad name", _set("name", "Pack IA"), "« name » doit être un identifiant"),
]


@pytest.mark.parametrize("mutate, expected", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_fault_is_detected(base_grid_dict, mutate, expected: str) -> None:
    mutate(base_grid_dict)
    with pytest.raises(GridError) as info:
        grid_from_dict(base_grid_dict)
    assert any(expected in p for p in info.value.problems), info.value.problems
    assert expected in str(info.value)


def test_all_problems_reported_at_once(base_grid_dict) -> None:
    base_grid_dict["aggregation"] = {"name": "inconnue"}
    base_grid_dict["criteria"][0]["weight"] = 0
    base_grid_dict["criteria"][1]["eliminatory_below"] = 7
    base_grid_dict["tie_breakers"] = ["zz"]
    base_grid_dict["disagreement_threshold"] = 30
    with pytest.raises(GridError) as info:
        grid_from_dict(base_grid_dict)
    problems = info.value.problems
    assert len(problems) == 5, problems
    for fragment in ("inconnue", "strictement positif", "(7) hors de l'échelle", "« zz »", "(30)"):
        assert sum(fragment in p for p in problems) == 1, (fragment, problems)
    assert str(info.value).startswith("Grille « test_grid » invalide :\n- ")


def test_not_a_mapping() -> None:
    with pytest.raises(GridError):
        grid_from_dict(["pas", "une", "grille"])  # type: ignore[arg-type]


def test_load_unknown_grid_lists_available() -> None:
    with pytest.raises(GridError) as info:
        load_grid("appel_inexistant")
    assert "ami_numerique, pack_ia" in str(info.value)


def test_load_refuses_path_traversal() -> None:
    with pytest.raises(GridError):
        load_grid("../scoring/grids/pack_ia")


def test_load_from_directory_and_name_must_match_file(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "scoring" / "grids" / "pack_ia.yaml").read_text(encoding="utf-8")
    (tmp_path / "copie.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "pack_ia.yaml").write_text(text, encoding="utf-8")
    assert available_grids(tmp_path) == ["copie", "pack_ia"]
    assert load_grid("pack_ia", tmp_path).name == "pack_ia"
    with pytest.raises(GridError, match="nom du fichier"):
        load_grid("copie", tmp_path)


def test_load_reports_broken_yaml(tmp_path: Path) -> None:
    (tmp_path / "casse.yaml").write_text("name: casse\ncriteria: [\n", encoding="utf-8")
    with pytest.raises(GridError, match="YAML illisible"):
        load_grid("casse", tmp_path)


def test_registry_decorator_makes_a_function_usable(base_grid_dict) -> None:
    name = "test_only_maximum"
    if name not in AGGREGATIONS:

        @aggregation(name)
        def maximum(values, weights):  # noqa: ANN001, ANN202
            return max(values)

    assert name in AGGREGATIONS.names()
    base_grid_dict["aggregation"] = name
    assert grid_from_dict(base_grid_dict).aggregation.name == name
    with pytest.raises(ValueError, match="déjà enregistrée"):
        aggregation(name)(lambda values, weights: values[0])
