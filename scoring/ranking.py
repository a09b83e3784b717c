"""Ranking of the scored files and the funding line drawn against the budget left.

Rules (decided for Guichet, documented in ``scoring/README.md``):

- Order: non-eliminated files first, by score descending, then by each of the grid's
  ``tie_breakers`` (aggregated criterion score, descending), then by a deterministic key
  (the file id: integers in numeric order before strings in lexical order).
- Ranks are distinct, 1..n. Files still equal after every tie-breaker keep distinct
  ranks (ordered by the deterministic key) and are marked ``tied=True``.
- Eliminated files come after all others (ordered among themselves the same way) and
  are never funded nor put on the reserve list.
- Funding line: walk the ranking and fund each file whose amount (the proposed amount
  when one is given for it, else the requested amount) fits in the budget left. The
  line is *strict*: the first file that does not fit and every file below it go on the
  reserve list (``reserve_position`` 1..k), even if a smaller file further down would
  still fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .aggregate import FileScore
from .grid import Grid
from .review import FileId


@dataclass(frozen=True, slots=True)
class RankedItem:
    """One line of the ranking."""

    file_id: FileId
    rank: int
    score: Decimal
    funded: bool
    reserve_position: int | None
    proposed_amount_cents: int | None
    tied: bool
    eliminated: bool


def _id_key(file_id: FileId) -> tuple[int, Any]:
    if isinstance(file_id, int) and not isinstance(file_id, bool):
        return (0, file_id)
    return (1, str(file_id))


def _amount(file_id: FileId, requested: Mapping[FileId, int], proposed: Mapping[FileId, int] | None) -> int | None:
    if proposed is not None and file_id in proposed:
        return proposed[file_id]
    return requested.get(file_id)


def rank(
    grid: Grid,
    file_scores: Mapping[FileId, FileScore],
    requested: Mapping[FileId, int],
    budget_available_cents: int,
    proposed: Mapping[FileId, int] | None = None,
) -> list[RankedItem]:
    """Rank the files and draw the funding line; see the module docstring for the rules.

    Amounts are integer euro cents. Every non-eliminated file needs a positive amount
    (proposed or requested); ``ValueError`` otherwise, or if the budget is negative.
    """
    if isinstance(budget_available_cents, bool) or not isinstance(budget_available_cents, int):
        raise ValueError("le budget disponible doit être un entier de centimes")
    if budget_available_cents < 0:
        raise ValueError("le budget disponible ne peut pas être négatif")
    amounts: dict[FileId, int | None] = {}
    problems: list[str] = []
    for file_id, fs in file_scores.items():
        amount = _amount(file_id, requested, proposed)
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0):
            problems.append(f"montant invalide pour le dossier {file_id!r} : {amount!r}")
        elif amount is None and not fs.eliminated:
            problems.append(f"aucun montant demandé ni proposé pour le dossier {file_id!r}")
        amounts[file_id] = amount
    if problems:
        raise ValueError(" ; ".join(problems))

    def merit(fs: FileScore) -> tuple[Any, ...]:
        return (fs.eliminated, -fs.score, *(-fs.criteria[c] for c in grid.tie_breakers))

    merits = {fid: merit(fs) for fid, fs in file_scores.items()}
    order = sorted(file_scores, key=lambda fid: (merits[fid], _id_key(fid)))

    items: list[RankedItem] = []
    remaining = budget_available_cents
    line_drawn = False
    reserve = 0
    for position, file_id in enumerate(order):
        fs = file_scores[file_id]
        tied = (position > 0 and merits[order[position - 1]] == merits[file_id]) or (
            position + 1 < len(order) and merits[order[position + 1]] == merits[file_id]
        )
        amount = amounts[file_id]
        funded = False
        reserve_position = None
        if not fs.eliminated:
            assert amount is not None
            if not line_drawn and amount <= remaining:
                funded = True
                remaining -= amount
            else:
                line_drawn = True
                reserve += 1
                reserve_position = reserve
        items.append(
            RankedItem(
                file_id=file_id,
                rank=position + 1,
                score=fs.score,
                funded=funded,
                reserve_position=reserve_position,
                proposed_amount_cents=amount,
                tied=tied,
                eliminated=fs.eliminated,
            )
        )
    return items
