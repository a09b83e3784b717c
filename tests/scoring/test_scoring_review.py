"""Review validation (French messages), weighted totals and elimination."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from scoring import grid_from_dict, is_eliminated, review_total, validate_review

GOOD = {"innovation": 4, "impact": 3, "faisabilite": 5, "equipe": 2, "strategie": 3, "ethique": 4}


def test_valid_review_has_no_errors(pack_ia) -> None:
    assert validate_review(pack_ia, GOOD, {}) == {}


def test_missing_criterion(pack_ia) -> None:
    scores = {k: v for k, v in GOOD.items() if k != "impact"}
    errors = validate_review(pack_ia, scores, {})
    assert list(errors) == ["impact"]
    assert errors["impact"] == ["Note manquante pour «\u00a0Impact économique et emploi\u00a0»."]


@pytest.mark.parametrize("value", [6, -1, 50])
def test_out_of_scale(pack_ia, value: int) -> None:
    errors = validate_review(pack_ia, {**GOOD, "equipe": value}, {})
    assert list(errors) == ["equipe"]
    assert "doit être comprise entre 0 et 5" in errors["equipe"][0]
    assert f"reçu\u00a0: {value}" in errors["equipe"][0]


@pytest.mark.parametrize("value", [3.5, 3.0, "3", True, Decimal("3")])
def test_not_an_integer(pack_ia, value: object) -> None:
    errors = validate_review(pack_ia, {**GOOD, "innovation": value}, {})
    assert list(errors) == ["innovation"]
    assert "doit être un nombre entier" in errors["innovation"][0]


def test_step_is_enforced() -> None:
    grid = grid_from_dict({
        "name": "pas_de_deux", "scale": {"min": 0, "max": 10, "step": 2},
        "criteria": [{"code": "a", "label": "A", "weight": 1}], "aggregation": "mean",
    })
    assert validate_review(grid, {"a": 4}, {}) == {}
    assert "de 2 en 2" in validate_review(grid, {"a": 3}, {})["a"][0]


def test_unknown_criterion(pack_ia) -> None:
    errors = validate_review(pack_ia, {**GOOD, "beaute": 3}, {})
    assert errors == {"beaute": ["Critère inconnu «\u00a0beaute\u00a0» pour cette grille."]}


def test_comment_required_below_threshold(pack_ia) -> None:
    scores = {**GOOD, "impact": 1}
    expected = (
        "Un commentaire est obligatoire pour «\u00a0Impact économique et emploi\u00a0» "
        "lorsque la note est inférieure à 2."
    )
    assert validate_review(pack_ia, scores, {}) == {"impact": [expected]}
    assert validate_review(pack_ia, scores, {"impact": "   "}) == {"impact": [expected]}
    assert validate_review(pack_ia, scores, {"impact": "Aucun emploi prévu."}) == {}
    # at the threshold itself no comment is needed (the threshold is strict)
    assert validate_review(pack_ia, {**GOOD, "impact": 2}, {}) == {}


def test_all_errors_at_once(pack_ia) -> None:
    scores = {"innovation": 9, "impact": 0, "faisabilite": 2.5, "strategie": 3, "ethique": 2}
    errors = validate_review(pack_ia, scores, {"ethique": ""})
    assert sorted(errors) == ["equipe", "ethique", "faisabilite", "impact", "innovation"]


def test_total_maximum_and_minimum(pack_ia) -> None:
    assert review_total(pack_ia, dict.fromkeys(GOOD, 5)) == Decimal("20.00")
    assert review_total(pack_ia, dict.fromkeys(GOOD, 0)) == Decimal("0.00")


def test_total_is_weighted_and_exact(pack_ia) -> None:
    # weights 2, 3, 2, 1, 1.5, 1.5 (sum 11), scale 0..5:
    # 8 + 9 + 10 + 2 + 4.5 + 6 = 39.5 ; 39.5 × 20 / 55 = 14.3636… → 14.36
    total = review_total(pack_ia, GOOD)
    assert isinstance(total, Decimal)
    assert total == Decimal("14.36")
    assert total.as_tuple().exponent == -2


def test_total_rounds_half_up() -> None:
    grid = grid_from_dict({
        "name": "arrondi", "scale": {"min": 0, "max": 8},
        "criteria": [{"code": "a", "label": "A", "weight": 1}, {"code": "b", "label": "B", "weight": 3}],
        "aggregation": "mean",
    })
    # 1 × 20 / (4 × 8) = 0.625 exactly: half up gives 0.63 (banker's rounding would give 0.62)
    assert Decimal("0.625").quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) == Decimal("0.62")
    assert review_total(grid, {"a": 1, "b": 0}) == Decimal("0.63")


def test_total_maps_scale_minimum_to_zero() -> None:
    grid = grid_from_dict({
        "name": "un_a_cinq", "scale": {"min": 1, "max": 5},
        "criteria": [{"code": "a", "label": "A", "weight": "0.1"}, {"code": "b", "label": "B", "weight": "0.2"}],
        "aggregation": "mean",
    })
    assert review_total(grid, {"a": 1, "b": 1}) == Decimal("0.00")
    assert review_total(grid, {"a": 3, "b": 3}) == Decimal("10.00")
    # (0.1 × 4 + 0) × 20 / (0.3 × 4) = 6.666… → 6.67
    assert review_total(grid, {"a": 5, "b": 1}) == Decimal("6.67")


def test_total_refuses_invalid_scores(pack_ia) -> None:
    with pytest.raises(ValueError, match="Note manquante"):
        review_total(pack_ia, {"innovation": 3})
    with pytest.raises(ValueError, match="comprise entre"):
        review_total(pack_ia, {**GOOD, "impact": 8})


def test_is_eliminated(pack_ia, ami) -> None:
    assert is_eliminated(pack_ia, GOOD) == []
    assert is_eliminated(pack_ia, {**GOOD, "ethique": 1}) == ["ethique"]
    assert is_eliminated(pack_ia, {**GOOD, "ethique": 2}) == []  # threshold is strict
    scores = {"reponse_defi": 3, "innovation": 8, "faisabilite": 7, "equipe": 7,
              "impact": 6, "strategie": 5, "ethique": 2}
    assert is_eliminated(ami, scores) == ["reponse_defi", "ethique"]
    assert is_eliminated(ami, {**scores, "reponse_defi": 4, "ethique": 3}) == []
