"""Ranking, tie-breaking and the funding line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scoring import FileScore, Review, aggregate, grid_from_dict, rank

D = Decimal


def _grid(tie_breakers: list[str]):
    return grid_from_dict({
        "name": "departage",
        "scale": {"min": 0, "max": 10},
        "criteria": [
            {"code": "a", "label": "A", "weight": 1},
            {"code": "b", "label": "B", "weight": 1},
            {"code": "c", "label": "C", "weight": 1, "eliminatory": True, "eliminatory_below": 2},
        ],
        "aggregation": "mean",
        "tie_breakers": tie_breakers,
    })


# all four total 15/30 → 10.00/20 ; they differ only on the tie-breaking criteria
TIED_REVIEWS = [
    Review("GE-0001", "r", {"a": 5, "b": 5, "c": 5}),
    Review("GE-0002", "r", {"a": 4, "b": 6, "c": 5}),
    Review("GE-0003", "r", {"a": 6, "b": 5, "c": 4}),
    Review("GE-0004", "r", {"a": 5, "b": 5, "c": 5}),
]
AMOUNTS = {f"GE-000{i}": 1_000_00 for i in range(1, 5)}


def test_ties_broken_by_ordered_criteria_then_id() -> None:
    grid = _grid(["b", "a"])
    items = rank(grid, aggregate(grid, TIED_REVIEWS), AMOUNTS, 0)
    assert {i.score for i in items} == {D("10.00")}
    assert [i.file_id for i in items] == ["GE-0002", "GE-0003", "GE-0001", "GE-0004"]
    assert [i.rank for i in items] == [1, 2, 3, 4]
    assert [i.tied for i in items] == [False, False, True, True]


def test_tie_breaker_order_matters() -> None:
    grid = _grid(["a", "b"])
    items = rank(grid, aggregate(grid, TIED_REVIEWS), AMOUNTS, 0)
    assert [i.file_id for i in items] == ["GE-0003", "GE-0001", "GE-0004", "GE-0002"]
    assert [i.tied for i in items] == [False, True, True, False]


def test_without_tie_breakers_all_equal_scores_are_tied() -> None:
    grid = _grid([])
    items = rank(grid, aggregate(grid, TIED_REVIEWS), AMOUNTS, 0)
    assert [i.file_id for i in items] == ["GE-0001", "GE-0002", "GE-0003", "GE-0004"]
    assert all(i.tied for i in items)


def test_score_comes_before_tie_breakers() -> None:
    grid = _grid(["b"])
    reviews = [Review(1, "r", {"a": 10, "b": 0, "c": 10}), Review(2, "r", {"a": 0, "b": 10, "c": 9})]
    items = rank(grid, aggregate(grid, reviews), {1: 1, 2: 1}, 0)
    assert [i.file_id for i in items] == [1, 2]
    assert not any(i.tied for i in items)


def test_integer_ids_sort_numerically() -> None:
    grid = _grid([])
    reviews = [Review(fid, "r", {"a": 5, "b": 5, "c": 5}) for fid in (10, 9, 100)]
    items = rank(grid, aggregate(grid, reviews), dict.fromkeys((9, 10, 100), 1), 0)
    assert [i.file_id for i in items] == [9, 10, 100]


def _fs(file_id: str, score: str, eliminated: bool = False) -> FileScore:
    return FileScore(
        file_id=file_id, score=D(score), criteria={"a": D(0), "b": D(0), "c": D(0)}, n_reviews=2,
        eliminated=eliminated, eliminating_criteria=("c",) if eliminated else (),
        disagreement=False, spread=D(0),
    )


SCORES = {
    "E": _fs("E", "19.50", eliminated=True),  # best score but eliminated
    "A": _fs("A", "17.00"),
    "B": _fs("B", "15.25"),
    "C": _fs("C", "12.00"),
    "D": _fs("D", "9.75"),
}
REQUESTED = {"A": 40_000_00, "B": 60_000_00, "C": 10_000_00, "D": 5_000_00, "E": 1_00}


def _summary(items):
    return [(i.file_id, i.rank, i.funded, i.reserve_position) for i in items]


def test_eliminated_files_are_last_and_never_funded() -> None:
    items = rank(_grid([]), SCORES, REQUESTED, 1_000_000_00)
    assert [i.file_id for i in items] == ["A", "B", "C", "D", "E"]
    last = items[-1]
    assert (last.rank, last.eliminated, last.funded, last.reserve_position) == (5, True, False, None)
    assert last.score == D("19.50")
    assert all(i.funded for i in items[:-1])


def test_funding_line_exact_fit_and_reserve_list() -> None:
    items = rank(_grid([]), SCORES, REQUESTED, 100_000_00)  # A + B = budget exactly
    assert _summary(items) == [
        ("A", 1, True, None), ("B", 2, True, None), ("C", 3, False, 1), ("D", 4, False, 2), ("E", 5, False, None),
    ]
    assert sum(i.proposed_amount_cents for i in items if i.funded) == 100_000_00


def test_one_cent_short_moves_the_line() -> None:
    items = rank(_grid([]), SCORES, REQUESTED, 100_000_00 - 1)
    assert _summary(items)[:2] == [("A", 1, True, None), ("B", 2, False, 1)]


def test_funding_line_is_strict_stop_at_first_that_does_not_fit() -> None:
    # 90 000 €: A (40 000) funded, B (60 000) does not fit; C (10 000) would fit but stays in reserve
    items = rank(_grid([]), SCORES, REQUESTED, 90_000_00)
    assert _summary(items) == [
        ("A", 1, True, None), ("B", 2, False, 1), ("C", 3, False, 2), ("D", 4, False, 3), ("E", 5, False, None),
    ]


def test_proposed_amounts_override_requested() -> None:
    items = rank(_grid([]), SCORES, REQUESTED, 90_000_00, proposed={"B": 50_000_00})
    assert _summary(items)[:3] == [("A", 1, True, None), ("B", 2, True, None), ("C", 3, False, 1)]
    assert [i.proposed_amount_cents for i in items[:3]] == [40_000_00, 50_000_00, 10_000_00]


def test_zero_budget_puts_everyone_in_reserve() -> None:
    items = rank(_grid([]), SCORES, REQUESTED, 0)
    assert [i.reserve_position for i in items] == [1, 2, 3, 4, None]
    assert not any(i.funded for i in items)


def test_amount_errors() -> None:
    grid = _grid([])
    with pytest.raises(ValueError, match="aucun montant"):
        rank(grid, SCORES, {"A": 1, "B": 1, "C": 1}, 10)
    with pytest.raises(ValueError, match="montant invalide"):
        rank(grid, SCORES, {**REQUESTED, "C": -5}, 10)
    with pytest.raises(ValueError, match="négatif"):
        rank(grid, SCORES, REQUESTED, -1)
    # an eliminated file needs no amount
    items = rank(grid, SCORES, {k: v for k, v in REQUESTED.items() if k != "E"}, 10)
    assert items[-1].proposed_amount_cents is None


def test_empty_ranking() -> None:
    assert rank(_grid([]), {}, {}, 100) == []


def test_end_to_end_eliminated_file_ranked_last() -> None:
    grid = _grid(["b"])
    reviews = TIED_REVIEWS + [Review("GE-0005", "r", {"a": 10, "b": 10, "c": 1})]
    scores = aggregate(grid, reviews)
    assert scores["GE-0005"].score == D("14.00") and scores["GE-0005"].eliminated
    items = rank(grid, scores, {**AMOUNTS, "GE-0005": 1}, 10_000_000_00)
    assert items[-1].file_id == "GE-0005"
    assert (items[-1].rank, items[-1].funded, items[-1].tied) == (5, False, False)
    assert all(i.funded for i in items[:-1])
