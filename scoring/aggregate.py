"""Aggregate the submitted reviews of a call into one score per file."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .grid import Grid
from .numbers import FINAL_SCALE, round2, to_decimal
from .registry import AGGREGATIONS, NORMALISATIONS
from .review import FileId, Review, ReviewerId, _raw_total, _scores_problems

_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class FileScore:
    """The aggregated result for one file.

    ``score`` aggregates the (possibly normalised) review totals on /20; ``criteria``
    aggregates the raw criterion scores with the same function (used for tie-breaking
    and elimination). Every Decimal is rounded half up to 2 places.
    """

    file_id: FileId
    score: Decimal
    criteria: dict[str, Decimal]
    n_reviews: int
    eliminated: bool
    eliminating_criteria: tuple[str, ...]
    disagreement: bool
    spread: Decimal
    totals: dict[ReviewerId, Decimal] = field(default_factory=dict)
    adjusted_totals: dict[ReviewerId, Decimal] = field(default_factory=dict)


def aggregate(
    grid: Grid,
    reviews: Iterable[Review],
    reviewer_weights: Mapping[ReviewerId, object] | None = None,
) -> dict[FileId, FileScore]:
    """Score every file that has at least one submitted review.

    - Unsubmitted reviews are ignored; files with none submitted are absent from the result.
    - Each review total (``review_total``, 2 places) goes through the grid's normalisation
      (over all submitted reviews given, i.e. the whole call), then the grid's aggregation.
    - A file is eliminated when the *aggregated* score of an eliminatory criterion is
      below its threshold (one dissenting reviewer alone cannot eliminate a file).
    - ``spread`` is max − min of the totals that were aggregated (after normalisation);
      ``disagreement`` is ``spread > grid.disagreement_threshold``.
    - ``reviewer_weights`` (positive, default 1) feed weight-aware functions such as
      ``weighted_mean``.

    Raises ``ValueError`` on invalid scores, duplicate reviews or bad weights.
    """
    weights = _reviewer_weights(reviewer_weights)
    submitted: dict[tuple[Hashable, Hashable], Review] = {}
    for review in reviews:
        if not review.submitted:
            continue
        key = (review.file_id, review.reviewer_id)
        if key in submitted:
            raise ValueError(f"avis en double : dossier {review.file_id!r}, expert {review.reviewer_id!r}")
        errors = _scores_problems(grid, review.scores)
        if errors:
            messages = " ".join(m for ms in errors.values() for m in ms)
            raise ValueError(f"avis invalide (dossier {review.file_id!r}, expert {review.reviewer_id!r}) : {messages}")
        submitted[key] = review

    totals = {key: round2(_raw_total(grid, r.scores)) for key, r in submitted.items()}
    norm = NORMALISATIONS.get(grid.normalisation.name).func
    adjusted = norm(totals, low=Decimal(0), high=FINAL_SCALE, **grid.normalisation.params)

    by_file: dict[FileId, list[tuple[Hashable, Hashable]]] = {}
    for key in submitted:
        by_file.setdefault(key[0], []).append(key)

    agg = AGGREGATIONS.get(grid.aggregation.name).func
    params = grid.aggregation.params
    decimals = {v: Decimal(v) for v in range(grid.scale.min, grid.scale.max + 1)}
    results: dict[FileId, FileScore] = {}
    for file_id, keys in by_file.items():
        w = [weights.get(k[1], _ONE) for k in keys]
        used = [adjusted[k] for k in keys]
        score = round2(agg(used, w, **params))
        criteria = {
            c.code: round2(agg([decimals[submitted[k].scores[c.code]] for k in keys], w, **params))
            for c in grid.criteria
        }
        eliminating = tuple(
            c.code
            for c in grid.criteria
            if c.eliminatory and c.eliminatory_below is not None and criteria[c.code] < c.eliminatory_below
        )
        spread = max(used) - min(used)
        results[file_id] = FileScore(
            file_id=file_id,
            score=score,
            criteria=criteria,
            n_reviews=len(keys),
            eliminated=bool(eliminating),
            eliminating_criteria=eliminating,
            disagreement=spread > grid.disagreement_threshold,
            spread=spread,
            totals={k[1]: totals[k] for k in keys},
            adjusted_totals={k[1]: adjusted[k] for k in keys},
        )
    return results


def _reviewer_weights(raw: Mapping[ReviewerId, object] | None) -> dict[ReviewerId, Decimal]:
    weights: dict[ReviewerId, Decimal] = {}
    for reviewer, value in (raw or {}).items():
        weight = to_decimal(value)
        if weight <= 0:
            raise ValueError(f"le poids de l'expert {reviewer!r} doit être strictement positif")
        weights[reviewer] = weight
    return weights
