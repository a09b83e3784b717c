"""Pure scoring for Guichet: grids, review checks, aggregation, ranking, funding line.

No Flask, no database: plain values in, plain values out.
"""

from .aggregate import FileScore, aggregate
from .aid import INSTRUMENTS, AidError, AidScheme, aid_amount, aid_rate, regime_problem, scheme_rate
from .grid import (
    GRIDS_DIR,
    Criterion,
    FunctionSpec,
    Grid,
    GridError,
    Scale,
    available_grids,
    grid_from_dict,
    grid_to_dict,
    load_grid,
)
from .numbers import FINAL_SCALE, round2
from .ranking import RankedItem, rank
from .registry import AGGREGATIONS, NORMALISATIONS, aggregation, normalisation
from .review import Review, is_eliminated, review_total, validate_review

__all__ = [
    "INSTRUMENTS",
    "AidError",
    "AidScheme",
    "aid_amount",
    "aid_rate",
    "regime_problem",
    "scheme_rate",
    "AGGREGATIONS",
    "FINAL_SCALE",
    "GRIDS_DIR",
    "NORMALISATIONS",
    "Criterion",
    "FileScore",
    "FunctionSpec",
    "Grid",
    "GridError",
    "RankedItem",
    "Review",
    "Scale",
    "aggregate",
    "aggregation",
    "available_grids",
    "grid_from_dict",
    "grid_to_dict",
    "is_eliminated",
    "load_grid",
    "normalisation",
    "rank",
    "review_total",
    "round2",
    "validate_review",
]
