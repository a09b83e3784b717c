"""Property-based tests (hypothesis) of the aggregations, the z-score and the ranking."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import AGGREGATIONS, Review, aggregate, grid_from_dict, rank

NAMES = ["mean", "weighted_mean", "median", "trimmed_mean"]
SETTINGS = settings(max_examples=150, deadline=None)

# Review totals as the engine produces them: Decimals with two places on 0–20.
totals = st.integers(min_value=0, max_value=2000).map(lambda n: Decimal(n) / 100)
value_lists = st.lists(totals, min_size=1, max_size=9)
weights = st.integers(min_value=1, max_value=5).map(Decimal)


def run(name: str, values: list[Decimal], ws: list[Decimal] | None = None, **params) -> Decimal:
    return AGGREGATIONS.get(name).func(values, ws or [Decimal(1)] * len(values), **params)


@SETTINGS
@given(values=value_lists, name=st.sampled_from(NAMES), trim=st.integers(min_value=0, max_value=3))
def test_aggregate_lies_between_min_and_max(values, name, trim) -> None:
    params = {"trim": trim} if name == "trimmed_mean" else {}
    result = run(name, values, **params)
    assert min(values) <= result <= max(values)


@SETTINGS
@given(values=value_lists, name=st.sampled_from(NAMES), data=st.data())
def test_aggregate_ignores_the_order_of_reviews(values, name, data) -> None:
    ws = data.draw(st.lists(weights, min_size=len(values), max_size=len(values)))
    order = data.draw(st.permutations(range(len(values))))
    assert run(name, values, ws) == run(name, [values[i] for i in order], [ws[i] for i in order])


@SETTINGS
@given(value=totals, n=st.integers(min_value=1, max_value=9), name=st.sampled_from(NAMES))
def test_unanimous_reviews_give_that_score(value, n, name) -> None:
    assert run(name, [value] * n) == value


@SETTINGS
@given(values=value_lists, shift=st.integers(min_value=-5, max_value=5), name=st.sampled_from(NAMES))
def test_aggregate_moves_with_a_constant_shift(values, shift, name) -> None:
    shifted = [v + shift for v in values]
    # Equal up to the 34-digit working precision (a third of a cent is not exact).
    assert abs(run(name, shifted) - (run(name, values) + shift)) < Decimal("1e-25")


@SETTINGS
@given(values=value_lists, weight=weights)
def test_weighted_mean_with_equal_weights_is_the_mean(values, weight) -> None:
    assert run("weighted_mean", values, [weight] * len(values)) == run("mean", values)


@SETTINGS
@given(values=st.lists(totals, min_size=3, max_size=9))
def test_trimmed_mean_ignores_one_outlier(values) -> None:
    ordered = sorted(values)
    # Moving the highest value further up (or the lowest further down) changes nothing with trim 1.
    assert run("trimmed_mean", ordered[:-1] + [Decimal(20)], trim=1) == run("trimmed_mean", ordered, trim=1)
    assert run("trimmed_mean", [Decimal(0)] + ordered[1:], trim=1) == run("trimmed_mean", ordered, trim=1)


def _grid(aggregation: str, normalisation: str, threshold: int):
    return grid_from_dict({
        "name": "note",
        "scale": {"min": 0, "max": 20},
        "criteria": [{"code": "note", "label": "Note", "weight": 1}],
        "aggregation": aggregation,
        "normalisation": normalisation,
        "disagreement_threshold": threshold,
    })


review_sets = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 3), st.integers(0, 20)), min_size=1, max_size=30,
    unique_by=lambda t: (t[0], t[1]),
)


@SETTINGS
@given(reviews=review_sets, name=st.sampled_from(NAMES), normalisation=st.sampled_from(["none", "zscore"]),
       threshold=st.integers(1, 20))
def test_file_scores_stay_on_the_final_scale_and_flag_disagreement(reviews, name, normalisation, threshold) -> None:
    grid = _grid(name, normalisation, threshold)
    scores = aggregate(grid, [Review(f, r, {"note": n}) for f, r, n in reviews])
    assert set(scores) == {f for f, _r, _n in reviews}
    for fs in scores.values():
        assert Decimal(0) <= fs.score <= Decimal(20)
        assert all(Decimal(0) <= t <= Decimal(20) for t in fs.adjusted_totals.values())
        assert fs.spread == max(fs.adjusted_totals.values()) - min(fs.adjusted_totals.values())
        assert fs.disagreement == (fs.spread > threshold)
        assert fs.n_reviews == len(fs.totals)


@SETTINGS
@given(reviews=review_sets, budget=st.integers(0, 5_000_000),
       amounts=st.lists(st.integers(1, 2_000_000), min_size=8, max_size=8))
def test_ranking_is_a_strict_funding_line_within_budget(reviews, budget, amounts) -> None:
    grid = _grid("mean", "none", 20)
    scores = aggregate(grid, [Review(f, r, {"note": n}) for f, r, n in reviews])
    requested = {f: amounts[f] for f in scores}
    items = rank(grid, scores, requested, budget)
    assert [i.rank for i in items] == list(range(1, len(items) + 1))
    assert sum(i.proposed_amount_cents for i in items if i.funded) <= budget
    funded_flags = [i.funded for i in items]
    # Funded files are a prefix of the ranking: nobody below the line is funded.
    assert funded_flags == sorted(funded_flags, reverse=True)
    assert [i.reserve_position for i in items if not i.funded] == list(range(1, funded_flags.count(False) + 1))
    assert all(a.score >= b.score for a, b in zip(items, items[1:]))
