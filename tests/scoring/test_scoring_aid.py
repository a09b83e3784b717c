"""Aid intensity by instrument and company size (GBER and de minimis), and the grid's ``aid`` key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scoring import AidError, GridError, aid_amount, aid_rate, grid_from_dict, grid_to_dict, load_grid

D = Decimal


@pytest.mark.parametrize(("instrument", "size", "collaboration", "expected"), [
    # fundamental research: 100 %, no bonus, whatever the size
    ("fundamental_research", "large", False, 100),
    ("fundamental_research", "small", True, 100),
    # industrial research: 50 % + 10 medium / + 20 small (micro counts as small) + 15 collaboration, 80 % at most
    ("industrial_research", "large", False, 50),
    ("industrial_research", "medium", False, 60),
    ("industrial_research", "small", False, 70),
    ("industrial_research", "micro", False, 70),
    ("industrial_research", "large", True, 65),
    ("industrial_research", "medium", True, 75),
    ("industrial_research", "small", True, 80),  # 50 + 20 + 15 = 85, capped
    # experimental development: 25 % base
    ("experimental_development", "large", False, 25),
    ("experimental_development", "medium", False, 35),
    ("experimental_development", "small", False, 45),
    ("experimental_development", "small", True, 60),
    ("experimental_development", "large", True, 40),
    # feasibility studies: 50 % + size bonus, no collaboration bonus
    ("feasibility_study", "large", False, 50),
    ("feasibility_study", "medium", False, 60),
    ("feasibility_study", "small", True, 70),
    # consultancy for SMEs: 50 %
    ("sme_consultancy", "micro", False, 50),
    ("sme_consultancy", "medium", False, 50),
    # process innovation: SMEs 50 %, large 15 %
    ("process_innovation", "small", False, 50),
    ("process_innovation", "medium", True, 50),
    ("process_innovation", "large", False, 15),
])
def test_gber_rates(instrument: str, size: str, collaboration: bool, expected: int) -> None:
    assert aid_rate(instrument, size, collaboration=collaboration) == D(expected)


def test_de_minimis_uses_the_calls_rate_for_every_size() -> None:
    for size in ("micro", "small", "medium", "large"):
        assert aid_rate("de_minimis", size, rate_percent="40") == D(40)
    with pytest.raises(ValueError):
        aid_rate("de_minimis", "small")


def test_sme_consultancy_refused_to_a_large_company() -> None:
    with pytest.raises(AidError, match="réservé aux PME"):
        aid_rate("sme_consultancy", "large")


def test_unknown_instrument_or_size() -> None:
    with pytest.raises(ValueError):
        aid_rate("subvention_magique", "small")
    with pytest.raises(ValueError):
        aid_rate("industrial_research", "géante")


def test_aid_amount_rounds_down_to_the_cent_and_applies_the_cap() -> None:
    assert aid_amount(100_001, D(25)) == 25_000  # 25 000,25 cents → 25 000
    assert aid_amount(400_000_00, D(70)) == 280_000_00
    assert aid_amount(400_000_00, D(70), 250_000_00) == 250_000_00
    assert aid_amount(0, D(50), 10) == 0
    with pytest.raises(ValueError):
        aid_amount(-1, D(50))


def test_shipped_grids_name_their_instrument() -> None:
    assert load_grid("ami_numerique").aid.instrument == "industrial_research"
    pack = load_grid("pack_ia").aid
    assert (pack.instrument, pack.rate_percent) == ("de_minimis", D(50))


def test_grid_aid_round_trips(base_grid_dict) -> None:
    base_grid_dict["aid"] = {"instrument": "experimental_development", "collaboration": True}
    grid = grid_from_dict(base_grid_dict)
    assert grid.aid.collaboration is True
    assert grid_from_dict(grid_to_dict(grid)) == grid


@pytest.mark.parametrize(("aid", "fragment"), [
    ({"instrument": "magie"}, "instrument inconnu"),
    ({"instrument": "de_minimis"}, "rate_percent"),
    ({"instrument": "de_minimis", "rate_percent": 120}, "entre 0"),
    ({"instrument": "industrial_research", "rate_percent": 50}, "ne s'emploie qu'avec"),
    ({"instrument": "industrial_research", "collaboration": "oui"}, "true ou false"),
    ({"instrument": "industrial_research", "taux": 3}, "clé inconnue"),
    ("industrial_research", "dictionnaire"),
])
def test_grid_aid_errors(base_grid_dict, aid, fragment: str) -> None:
    base_grid_dict["aid"] = aid
    with pytest.raises(GridError) as exc:
        grid_from_dict(base_grid_dict)
    assert any(fragment in p for p in exc.value.problems), exc.value.problems


@pytest.mark.parametrize(("instrument", "regime", "agrees"), [
    ("de_minimis", "de_minimis", True),
    ("de_minimis", "gber:25", False),
    ("industrial_research", "gber:25", True),
    ("industrial_research", "gber:25(2)(b)", True),
    ("fundamental_research", "gber:25", True),
    ("feasibility_study", "gber:25", True),
    ("industrial_research", "gber:29", False),
    ("industrial_research", "gber:250", False),
    ("industrial_research", "de_minimis", False),
    ("sme_consultancy", "gber:18", True),
    ("sme_consultancy", "gber:28", True),
    ("sme_consultancy", "gber:25", False),
    ("process_innovation", "gber:29", True),
    ("process_innovation", "gber:28", False),
])
def test_the_grids_instrument_must_agree_with_the_calls_regime(instrument: str, regime: str, agrees: bool) -> None:
    from scoring import regime_problem
    from scoring.aid import AidScheme

    scheme = AidScheme(instrument, rate_percent=D(50) if instrument == "de_minimis" else None)
    problem = regime_problem(scheme, regime)
    assert (problem is None) is agrees, problem
    if not agrees:
        assert regime in problem  # the message names the regime refused


def test_the_shipped_grids_agree_with_the_demo_calls_regimes() -> None:
    from scoring import regime_problem

    assert regime_problem(load_grid("ami_numerique").aid, "gber:25") is None
    assert regime_problem(load_grid("pack_ia").aid, "de_minimis") is None
