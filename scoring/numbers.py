"""Decimal helpers shared by the scoring package.

Rounding rule (used everywhere a score is shown or compared): values are computed
exactly in ``Decimal`` and rounded once, ``ROUND_HALF_UP`` to two decimal places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

#: Final scores are expressed out of 20 (French grading convention).
FINAL_SCALE = Decimal(20)
#: Two decimal places.
CENT = Decimal("0.01")
#: Context for intermediate computations (far more digits than any score needs).
CONTEXT = Context(prec=34, rounding=ROUND_HALF_UP)


def round2(value: Decimal) -> Decimal:
    """Round to two places, half up (the documented rounding rule)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=CONTEXT)


def to_decimal(value: object) -> Decimal:
    """Convert an int, a decimal string or a Decimal to a finite Decimal.

    Floats and booleans are refused: they are not Decimal-safe.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{value!r} n'est ni un entier ni une chaîne décimale")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} n'est pas un nombre décimal") from None
    else:
        raise TypeError(f"{value!r} n'est ni un entier ni une chaîne décimale")
    if not result.is_finite():
        raise ValueError(f"{value!r} n'est pas un nombre fini")
    return result
