"""Registries of aggregation and normalisation functions, keyed by name.

A grid names the function it uses (``aggregation: {name: trimmed_mean, params:
{trim: 1}}``); the code never branches on call names. New functions are added with
the decorators::

    @aggregation("geometric_mean")
    def geometric_mean(values, weights): ...

Aggregation functions take ``(values, weights, **params)``: ``values`` is a non-empty
sequence of Decimals (one per submitted review), ``weights`` the reviewers' weights in
the same order (all 1 unless the caller gives per-reviewer weights). They return an
unrounded Decimal; the caller rounds.

Normalisation functions take ``(totals, *, low, high, **params)``: ``totals`` maps
``(file_id, reviewer_id)`` to a review total, and they return a mapping with the same
keys. ``low``/``high`` are the bounds of the final scale (0 and 20).

Parameters are keyword-only arguments of the function: the grid loader rejects unknown
parameters and missing required ones, then runs the optional ``check`` hook given to
the decorator (it returns a list of French problem descriptions).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .numbers import CONTEXT, round2

ParamCheck = Callable[[Mapping[str, Any]], list[str]]


@dataclass(frozen=True)
class Registered:
    """One registered function and its parameter check."""

    name: str
    func: Callable[..., Any]
    check: ParamCheck | None = None

    def param_problems(self, params: Mapping[str, Any]) -> list[str]:
        """French descriptions of what is wrong with ``params`` (empty if fine)."""
        signature = inspect.signature(self.func)
        keyword_only = {
            name: p for name, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY
        }
        # Normalisations receive the scale bounds from the engine, not from the grid.
        keyword_only.pop("low", None)
        keyword_only.pop("high", None)
        problems = [
            f"paramètre inconnu « {key} » pour « {self.name} »"
            for key in params
            if key not in keyword_only
        ]
        problems += [
            f"paramètre obligatoire « {key} » manquant pour « {self.name} »"
            for key, p in keyword_only.items()
            if p.default is p.empty and key not in params
        ]
        if not problems and self.check is not None:
            problems += self.check(params)
        return problems


class Registry:
    """A name → function table with a registering decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Registered] = {}

    def register(self, name: str, *, check: ParamCheck | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering ``func`` under ``name`` (names are unique)."""

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._items:
                raise ValueError(f"{self.kind} « {name} » déjà enregistrée")
            self._items[name] = Registered(name, func, check)
            return func

        return decorate

    def get(self, name: str) -> Registered:
        """The registered entry, or ``KeyError``."""
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


AGGREGATIONS = Registry("agrégation")
NORMALISATIONS = Registry("normalisation")
aggregation = AGGREGATIONS.register
normalisation = NORMALISATIONS.register


# --------------------------------------------------------------------------- aggregations


def _require(values: Sequence[Decimal]) -> None:
    if not values:
        raise ValueError("aucune valeur à agréger")


@aggregation("mean")
def mean(values: Sequence[Decimal], weights: Sequence[Decimal]) -> Decimal:
    """Arithmetic mean; reviewer weights are ignored."""
    _require(values)
    return CONTEXT.divide(sum(values, Decimal(0)), Decimal(len(values)))


@aggregation("weighted_mean")
def weighted_mean(values: Sequence[Decimal], weights: Sequence[Decimal]) -> Decimal:
    """Mean weighted by each reviewer's weight (plain mean when all weights are 1)."""
    _require(values)
    if len(weights) != len(values):
        raise ValueError("autant de poids que de valeurs sont attendus")
    total_weight = sum(weights, Decimal(0))
    if total_weight <= 0:
        raise ValueError("la somme des poids doit être positive")
    weighted = sum((CONTEXT.multiply(v, w) for v, w in zip(values, weights)), Decimal(0))
    return CONTEXT.divide(weighted, total_weight)


@aggregation("median")
def median(values: Sequence[Decimal], weights: Sequence[Decimal]) -> Decimal:
    """Median (mean of the two middle values for an even count); weights ignored."""
    _require(values)
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return CONTEXT.divide(ordered[middle - 1] + ordered[middle], Decimal(2))


def _check_trim(params: Mapping[str, Any]) -> list[str]:
    trim = params.get("trim", 1)
    if isinstance(trim, bool) or not isinstance(trim, int) or trim < 0:
        return [f"« trim » doit être un entier positif ou nul (reçu : {trim!r})"]
    return []


@aggregation("trimmed_mean", check=_check_trim)
def trimmed_mean(values: Sequence[Decimal], weights: Sequence[Decimal], *, trim: int = 1) -> Decimal:
    """Mean after dropping the ``trim`` highest and ``trim`` lowest values.

    Trimming needs at least ``2 * trim + 1`` values (one must remain); with fewer
    reviews it falls back to the plain mean of all values. Weights are ignored.
    """
    _require(values)
    if trim > 0 and len(values) >= 2 * trim + 1:
        values = sorted(values)[trim:-trim]
    return mean(values, weights)


# ------------------------------------------------------------------------- normalisations

TotalKey = tuple[Hashable, Hashable]


@normalisation("none")
def no_normalisation(totals: Mapping[TotalKey, Decimal], *, low: Decimal, high: Decimal) -> dict[TotalKey, Decimal]:
    """Leave every total unchanged."""
    return dict(totals)


def _mean_std(values: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Mean and population standard deviation."""
    n = Decimal(len(values))
    m = CONTEXT.divide(sum(values, Decimal(0)), n)
    variance = CONTEXT.divide(sum((CONTEXT.power(v - m, 2) for v in values), Decimal(0)), n)
    return m, CONTEXT.sqrt(variance)


def _check_min_reviews(params: Mapping[str, Any]) -> list[str]:
    value = params.get("min_reviews", 2)
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        return [f"« min_reviews » doit être un entier au moins égal à 2 (reçu : {value!r})"]
    return []


@normalisation("zscore", check=_check_min_reviews)
def zscore(
    totals: Mapping[TotalKey, Decimal],
    *,
    low: Decimal,
    high: Decimal,
    min_reviews: int = 2,
) -> dict[TotalKey, Decimal]:
    """Per-reviewer z-score normalisation onto the pool's mean and deviation.

    The pool is every total given (all submitted reviews of the call). For each
    reviewer with at least ``min_reviews`` reviews and a non-zero standard deviation,
    a total ``t`` becomes ``pool_mean + (t - reviewer_mean) / reviewer_std * pool_std``
    (population deviations), clamped to ``[low, high]`` and rounded to 2 places.
    Other reviewers' totals (single review, identical totals) are left unchanged.
    """
    result = dict(totals)
    if len(totals) < 2:
        return result
    pool_mean, pool_std = _mean_std(list(totals.values()))
    by_reviewer: dict[Hashable, list[TotalKey]] = {}
    for key in totals:
        by_reviewer.setdefault(key[1], []).append(key)
    for keys in by_reviewer.values():
        if len(keys) < min_reviews:
            continue
        own_mean, own_std = _mean_std([totals[k] for k in keys])
        if own_std == 0:
            continue
        for key in keys:
            z = CONTEXT.divide(totals[key] - own_mean, own_std)
            value = pool_mean + CONTEXT.multiply(z, pool_std)
            result[key] = round2(min(max(value, low), high))
    return result
