"""The EU size category (app.sme), pure: every threshold boundary, group figures, missing figures."""

from __future__ import annotations

import json

import pytest

from app.sme import THRESHOLDS, size_category

M = 1_000_000 * 100  # one million euros, in cents
CENT = 1


@pytest.mark.parametrize("staff,expected", [(0, "micro"), (9, "micro"), (10, "small"), (49, "small"), (50, "medium"),
                                            (249, "medium"), (250, "large")])
def test_staff_boundaries_with_small_figures(staff, expected):
    category, _basis = size_category(staff, 1 * M, 1 * M)
    assert category == expected


def test_micro_at_exactly_two_million_turnover_and_balance_sheet():
    assert size_category(9, 2 * M, 2 * M)[0] == "micro"


def test_one_cent_over_two_million_on_both_figures_is_small():
    assert size_category(9, 2 * M + CENT, 2 * M + CENT)[0] == "small"


def test_micro_by_balance_sheet_alone_when_turnover_is_above():
    category, basis = size_category(5, 3 * M, 2 * M)
    assert category == "micro"
    assert basis["met_by"] == ["staff", "balance_sheet"]


def test_micro_by_turnover_alone_when_balance_sheet_is_above():
    category, basis = size_category(5, 2 * M, 7 * M)
    assert category == "micro"
    assert basis["met_by"] == ["staff", "turnover"]


def test_small_at_exactly_ten_million():
    assert size_category(49, 10 * M, 10 * M)[0] == "small"
    assert size_category(49, 10 * M + CENT, 10 * M + CENT)[0] == "medium"


def test_medium_by_balance_sheet_43_million_with_turnover_above_50_million():
    category, basis = size_category(200, 60 * M, 43 * M)
    assert category == "medium"
    assert basis["met_by"] == ["staff", "balance_sheet"]


def test_balance_sheet_one_cent_above_43_million_with_turnover_above_50_million_is_large():
    assert size_category(200, 60 * M, 43 * M + CENT)[0] == "large"


def test_medium_by_turnover_50_million_with_balance_sheet_above_43_million():
    assert size_category(200, 50 * M, 80 * M)[0] == "medium"
    assert size_category(200, 50 * M + CENT, 80 * M)[0] == "large"


def test_staff_alone_makes_large_whatever_the_figures():
    assert size_category(250, 0, 0)[0] == "large"


def test_staff_criterion_is_mandatory_even_with_tiny_figures():
    # 12 people: never micro, however small the figures.
    assert size_category(12, 100 * 100, 100 * 100)[0] == "small"


def test_group_figures_push_a_small_company_to_medium():
    alone, _ = size_category(40, 8 * M, 6 * M)
    assert alone == "small"
    category, basis = size_category(40, 8 * M, 6 * M, group_headcount=15, group_turnover_cents=5 * M,
                                    group_balance_sheet_cents=5 * M)
    assert category == "medium"
    assert basis["total"] == {"headcount": 55, "turnover_cents": 13 * M, "balance_sheet_cents": 11 * M}
    assert basis["group"] == {"headcount": 15, "turnover_cents": 5 * M, "balance_sheet_cents": 5 * M}


def test_group_figures_by_money_alone_push_to_the_next_category():
    assert size_category(8, 1 * M, 1 * M, group_turnover_cents=3 * M, group_balance_sheet_cents=3 * M)[0] == "small"


def test_missing_group_figures_count_as_zero():
    assert size_category(8, 1 * M, 1 * M, group_headcount=None, group_turnover_cents=None)[0] == "micro"


@pytest.mark.parametrize("figures,missing", [
    ((None, 1 * M, 1 * M), ["headcount"]),
    ((5, None, 1 * M), ["turnover_cents"]),
    ((5, 1 * M, None), ["balance_sheet_cents"]),
    ((None, None, None), ["headcount", "turnover_cents", "balance_sheet_cents"]),
])
def test_missing_own_figures_give_no_category_and_a_reason(figures, missing):
    category, basis = size_category(*figures)
    assert category is None
    assert basis["reason"] == "missing_figures"
    assert basis["missing"] == missing
    assert basis["total"] is None


def test_basis_holds_the_figures_and_thresholds_and_is_json():
    category, basis = size_category(42, 6_800_000 * 100, 4_100_000 * 100, 3, 100 * 100, None)
    assert category == "small"
    assert basis["own"] == {"headcount": 42, "turnover_cents": 680_000_000, "balance_sheet_cents": 410_000_000}
    assert basis["total"]["headcount"] == 45
    assert basis["category"] == "small"
    assert [t["category"] for t in basis["thresholds"]] == ["micro", "small", "medium"]
    medium = basis["thresholds"][2]
    assert medium == {"category": "medium", "staff_below": 250, "turnover_max_cents": 50 * M,
                      "balance_sheet_max_cents": 43 * M}
    assert "2003/361" in basis["rule"]
    assert json.loads(json.dumps(basis)) == basis


def test_thresholds_match_the_eu_definition():
    assert [(t.category, t.staff_below, t.turnover_max_cents, t.balance_sheet_max_cents) for t in THRESHOLDS] == [
        ("micro", 10, 2 * M, 2 * M), ("small", 50, 10 * M, 10 * M), ("medium", 250, 50 * M, 43 * M)]


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_bad_figures_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        size_category(bad, 1 * M, 1 * M)
