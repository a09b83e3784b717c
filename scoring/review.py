"""One reviewer's scores on one file: validation, weighted total, elimination."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .grid import Criterion, Grid
from .numbers import CONTEXT, FINAL_SCALE, round2

FileId = Hashable
ReviewerId = Hashable

_NBSP = "\u00a0"


def _q(text: str) -> str:
    """French quotation marks with non-breaking spaces."""
    return f"«{_NBSP}{text}{_NBSP}»"


@dataclass(frozen=True, slots=True)
class Review:
    """A reviewer's integer scores on a file; only ``submitted`` reviews are aggregated."""

    file_id: FileId
    reviewer_id: ReviewerId
    scores: Mapping[str, int] = field(default_factory=dict)
    submitted: bool = True


def _score_problem(grid: Grid, criterion: Criterion, value: object) -> str | None:
    """French message for one bad score, or None."""
    scale = grid.scale
    if value is None:
        return f"Note manquante pour {_q(criterion.label)}."
    if isinstance(value, bool) or not isinstance(value, int):
        return f"La note de {_q(criterion.label)} doit être un nombre entier (reçu{_NBSP}: {value!r})."
    if not scale.min <= value <= scale.max:
        return (
            f"La note de {_q(criterion.label)} doit être comprise entre {scale.min} et {scale.max} "
            f"(reçu{_NBSP}: {value})."
        )
    if (value - scale.min) % scale.step:
        return (
            f"La note de {_q(criterion.label)} doit aller de {scale.step} en {scale.step} "
            f"à partir de {scale.min} (reçu{_NBSP}: {value})."
        )
    return None


def _scores_problems(grid: Grid, scores: Mapping[str, object]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for criterion in grid.criteria:
        problem = _score_problem(grid, criterion, scores.get(criterion.code))
        if problem:
            errors[criterion.code] = [problem]
    codes = set(grid.codes)
    for code in scores:
        if code not in codes:
            errors[code] = [f"Critère inconnu {_q(str(code))} pour cette grille."]
    return errors


def validate_review(grid: Grid, scores: Mapping[str, object], comments: Mapping[str, str]) -> dict[str, list[str]]:
    """French error messages keyed by criterion code; empty when the review can be submitted.

    Checks: every criterion scored, integers only, on the scale (and its step), no
    unknown criterion, and a non-blank comment where the score is below the criterion's
    ``comment_required_below``.
    """
    errors = _scores_problems(grid, scores)
    for criterion in grid.criteria:
        threshold = criterion.comment_required_below
        value = scores.get(criterion.code)
        if threshold is None or criterion.code in errors or not isinstance(value, int):
            continue
        if value < threshold and not (comments.get(criterion.code) or "").strip():
            errors.setdefault(criterion.code, []).append(
                f"Un commentaire est obligatoire pour {_q(criterion.label)} "
                f"lorsque la note est inférieure à {threshold}."
            )
    return errors


def _check_scores(grid: Grid, scores: Mapping[str, object]) -> None:
    errors = _scores_problems(grid, scores)
    if errors:
        raise ValueError(" ".join(m for ms in errors.values() for m in ms))


def _raw_total(grid: Grid, scores: Mapping[str, int]) -> Decimal:
    """Exact (unrounded) weighted total on /20; scores assumed valid."""
    lo = grid.scale.min
    weighted = sum((c.weight * (scores[c.code] - lo) for c in grid.criteria), Decimal(0))
    span = grid.total_weight * (grid.scale.max - lo)
    return CONTEXT.divide(weighted * FINAL_SCALE, span)


def review_total(grid: Grid, scores: Mapping[str, int]) -> Decimal:
    """Weighted total out of 20, ``ROUND_HALF_UP`` to 2 places.

    The scale ``[min, max]`` is mapped linearly onto ``[0, 20]``:
    ``20 × Σ wᵢ (sᵢ − min) / (Σ wᵢ × (max − min))``, computed exactly in Decimal and
    rounded once. Raises ``ValueError`` if the scores are not valid.
    """
    _check_scores(grid, scores)
    return round2(_raw_total(grid, scores))


def is_eliminated(grid: Grid, scores: Mapping[str, int]) -> list[str]:
    """Codes of the eliminatory criteria scored below their ``eliminatory_below`` (grid order)."""
    _check_scores(grid, scores)
    return [
        c.code
        for c in grid.criteria
        if c.eliminatory and c.eliminatory_below is not None and scores[c.code] < c.eliminatory_below
    ]
