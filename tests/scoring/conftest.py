"""Fixtures for the pure scoring tests (no Flask, no database)."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scoring import Grid, grid_from_dict, load_grid  # noqa: E402


@pytest.fixture(scope="session")
def pack_ia() -> Grid:
    return load_grid("pack_ia")


@pytest.fixture(scope="session")
def ami() -> Grid:
    return load_grid("ami_numerique")


BASE_GRID: dict[str, Any] = {
    "name": "test_grid",
    "scale": {"min": 0, "max": 5, "step": 1},
    "criteria": [
        {"code": "a", "label": "Critère A", "weight": 2},
        {"code": "b", "label": "Critère B", "weight": "1.5",
         "eliminatory": True, "eliminatory_below": 2, "comment_required_below": 3},
    ],
    "aggregation": {"name": "trimmed_mean", "params": {"trim": 1}},
    "normalisation": "none",
    "disagreement_threshold": "4.5",
    "tie_breakers": ["b", "a"],
}


@pytest.fixture
def base_grid_dict() -> dict[str, Any]:
    """A valid grid declaration each test may mutate."""
    return copy.deepcopy(BASE_GRID)


@pytest.fixture
def note_grid() -> Callable[..., Grid]:
    """Factory: one criterion scored 0..20 with weight 1, so a review total equals its score."""

    def make(aggregation: Any = "mean", normalisation: Any = "none", threshold: Any = 20) -> Grid:
        return grid_from_dict({
            "name": "note",
            "scale": {"min": 0, "max": 20},
            "criteria": [{"code": "note", "label": "Note", "weight": 1}],
            "aggregation": aggregation,
            "normalisation": normalisation,
            "disagreement_threshold": threshold,
        })

    return make
