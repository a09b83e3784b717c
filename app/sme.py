"""Size category of an enterprise by the EU definition (Recommendation
2003/361/EC, annex I; GBER annex I): micro, small, medium or large.

Pure: plain values in, plain values out, no Flask and no database.

* micro: fewer than 10 staff and turnover or balance sheet total ≤ 2 M€;
* small: fewer than 50 staff and turnover or balance sheet total ≤ 10 M€;
* medium: fewer than 250 staff and turnover ≤ 50 M€ or balance sheet total ≤ 43 M€;
* large: everything else.

The staff criterion is mandatory; of the two financial criteria, meeting one
is enough. The figures of linked enterprises (100 %) and partner enterprises
(pro rata) are added to the enterprise's own; they are entered already
aggregated (``Organisation.group_*``), and a missing group figure counts as 0
(no linked or partner enterprise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EURO = 100
MILLION_EUROS = 1_000_000 * EURO

RULE = "Recommandation 2003/361/CE, annexe I (définition européenne des PME)"


@dataclass(frozen=True)
class Threshold:
    category: str
    staff_below: int  # strictly fewer than
    turnover_max_cents: int  # at most
    balance_sheet_max_cents: int  # at most


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("micro", 10, 2 * MILLION_EUROS, 2 * MILLION_EUROS),
    Threshold("small", 50, 10 * MILLION_EUROS, 10 * MILLION_EUROS),
    Threshold("medium", 250, 50 * MILLION_EUROS, 43 * MILLION_EUROS),
)

OWN_FIGURES = ("headcount", "turnover_cents", "balance_sheet_cents")


def _check(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def size_category(
    headcount: int | None,
    turnover_cents: int | None,
    balance_sheet_cents: int | None,
    group_headcount: int | None = None,
    group_turnover_cents: int | None = None,
    group_balance_sheet_cents: int | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """Return ``(category, basis)``.

    ``category`` is ``"micro"``, ``"small"``, ``"medium"``, ``"large"``, or None
    when one of the enterprise's own figures is missing. ``basis`` is a
    JSON-serialisable dict kept with the category: the figures used (own,
    group, totals), the thresholds applied, which test was met and, when the
    category is None, the reason and the missing figures."""
    own = {
        "headcount": _check("headcount", headcount),
        "turnover_cents": _check("turnover_cents", turnover_cents),
        "balance_sheet_cents": _check("balance_sheet_cents", balance_sheet_cents),
    }
    group = {
        "headcount": _check("group_headcount", group_headcount),
        "turnover_cents": _check("group_turnover_cents", group_turnover_cents),
        "balance_sheet_cents": _check("group_balance_sheet_cents", group_balance_sheet_cents),
    }
    basis: dict[str, Any] = {
        "rule": RULE,
        "own": own,
        "group": group,
        "thresholds": [
            {
                "category": t.category,
                "staff_below": t.staff_below,
                "turnover_max_cents": t.turnover_max_cents,
                "balance_sheet_max_cents": t.balance_sheet_max_cents,
            }
            for t in THRESHOLDS
        ],
    }
    missing = [name for name in OWN_FIGURES if own[name] is None]
    if missing:
        basis["total"] = None
        basis["missing"] = missing
        basis["reason"] = "missing_figures"
        return None, basis

    total = {name: own[name] + (group[name] or 0) for name in OWN_FIGURES}  # type: ignore[operator]
    basis["total"] = total
    for t in THRESHOLDS:
        if total["headcount"] >= t.staff_below:
            continue
        by_turnover = total["turnover_cents"] <= t.turnover_max_cents
        by_balance_sheet = total["balance_sheet_cents"] <= t.balance_sheet_max_cents
        if by_turnover or by_balance_sheet:
            basis["category"] = t.category
            basis["met_by"] = ["staff"] + (["turnover"] if by_turnover else []) + (["balance_sheet"] if by_balance_sheet else [])
            return t.category, basis
    basis["category"] = "large"
    basis["met_by"] = []
    return "large", basis


__all__ = ["MILLION_EUROS", "RULE", "THRESHOLDS", "Threshold", "size_category"]
