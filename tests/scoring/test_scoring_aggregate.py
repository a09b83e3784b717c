"""Aggregation functions, z-score normalisation, disagreement and elimination."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scoring import AGGREGATIONS, Review, aggregate, rank, round2

D = Decimal


def _agg(name: str, values: list[str], weights: list[str] | None = None, **params) -> Decimal:
    vals = [D(v) for v in values]
    ws = [D(w) for w in weights] if weights else [D(1)] * len(vals)
    return AGGREGATIONS.get(name).func(vals, ws, **params)


def test_registered_names() -> None:
    assert {"mean", "weighted_mean", "median", "trimmed_mean"} <= set(AGGREGATIONS.names())


def test_mean() -> None:
    assert _agg("mean", ["10", "12", "17"]) == D(13)
    assert _agg("mean", ["10", "20"], ["1", "3"]) == D(15)  # weights ignored


def test_weighted_mean() -> None:
    assert _agg("weighted_mean", ["10", "20"], ["1", "3"]) == D("17.5")
    assert _agg("weighted_mean", ["10", "20"]) == D(15)


def test_median() -> None:
    assert _agg("median", ["3", "1", "2"]) == D(2)
    assert _agg("median", ["1", "2", "3", "10"]) == D("2.5")
    assert _agg("median", ["7"]) == D(7)


def test_trimmed_mean_drops_extremes() -> None:
    assert _agg("trimmed_mean", ["1", "5", "6", "7", "20"], trim=1) == D(6)
    assert _agg("trimmed_mean", ["1", "5", "6", "7", "20"], trim=2) == D(6)
    assert _agg("trimmed_mean", ["0", "4", "8", "20"], trim=1) == D(6)


def test_trimmed_mean_falls_back_to_mean_with_too_few_reviews() -> None:
    # trimming k needs at least 2k + 1 values; otherwise plain mean of all values
    assert _agg("trimmed_mean", ["1", "20"], trim=1) == D("10.5")
    assert _agg("trimmed_mean", ["0", "4", "8", "20"], trim=2) == D(8)
    assert round2(_agg("trimmed_mean", ["1", "5", "20"], trim=0)) == D("8.67")  # trim 0: plain mean


def test_empty_values_refused() -> None:
    for name in ("mean", "weighted_mean", "median", "trimmed_mean"):
        with pytest.raises(ValueError):
            _agg(name, [])


def test_aggregate_uses_the_grid_function(note_grid) -> None:
    reviews = [Review("F1", r, {"note": n}) for r, n in (("r1", 2), ("r2", 10), ("r3", 12), ("r4", 20))]
    assert aggregate(note_grid("mean"), reviews)["F1"].score == D("11.00")
    assert aggregate(note_grid("median"), reviews)["F1"].score == D("11.00")
    reviews.append(Review("F1", "r5", {"note": 0}))
    assert aggregate(note_grid("mean"), reviews)["F1"].score == D("8.80")
    assert aggregate(note_grid("median"), reviews)["F1"].score == D("10.00")
    trimmed = {"name": "trimmed_mean", "params": {"trim": 1}}
    assert aggregate(note_grid(trimmed), reviews)["F1"].score == D("8.00")  # mean of 2, 10, 12


def test_file_score_fields(ami) -> None:
    base = {"reponse_defi": 8, "innovation": 7, "faisabilite": 6, "equipe": 6, "impact": 5, "strategie": 5, "ethique": 6}
    reviews = [
        Review(42, "e1", base),
        Review(42, "e2", {**base, "innovation": 9}),
        Review(42, "e3", {**base, "innovation": 4}),
    ]
    fs = aggregate(ami, reviews)[42]
    assert fs.file_id == 42 and fs.n_reviews == 3
    assert fs.criteria["innovation"] == D("7.00")  # trimmed mean of 4, 7, 9
    assert fs.criteria["reponse_defi"] == D("8.00")
    # weights 3,3,2,2,2.5,1,1.5 (Σ 15) on 0..10, total = 20 × Σ wᵢsᵢ / 150:
    # e1: 24+21+12+12+12.5+5+9 = 95.5 → 12.7333… ; e2: +6 → 13.5333… ; e3: −9 → 11.5333…
    assert fs.totals == {"e1": D("12.73"), "e2": D("13.53"), "e3": D("11.53")}
    assert fs.adjusted_totals == fs.totals  # no normalisation on this grid
    assert fs.score == D("12.73")  # trimmed mean of three: the middle one
    assert fs.spread == D("2.00")
    assert not fs.eliminated and fs.eliminating_criteria == ()


def test_unsubmitted_reviews_are_ignored(note_grid) -> None:
    reviews = [
        Review("A", "r1", {"note": 10}),
        Review("A", "r2", {"note": 12}),
        Review("A", "r3", {"note": 0}, submitted=False),
        Review("B", "r1", {"note": 20}, submitted=False),
        Review("C", "r3", {"note": 99}, submitted=False),  # a draft may be invalid
    ]
    result = aggregate(note_grid(), reviews)
    assert list(result) == ["A"]
    assert result["A"].n_reviews == 2
    assert result["A"].score == D("11.00")
    assert set(result["A"].totals) == {"r1", "r2"}


def test_invalid_or_duplicate_submitted_review_refused(note_grid) -> None:
    with pytest.raises(ValueError, match="avis invalide"):
        aggregate(note_grid(), [Review("A", "r1", {"note": 21})])
    with pytest.raises(ValueError, match="avis en double"):
        aggregate(note_grid(), [Review("A", "r1", {"note": 1}), Review("A", "r1", {"note": 2})])


def test_reviewer_weights(note_grid) -> None:
    reviews = [Review("A", "senior", {"note": 10}), Review("A", "junior", {"note": 20})]
    weights = {"senior": 3}
    assert aggregate(note_grid("weighted_mean"), reviews, weights)["A"].score == D("12.50")
    assert aggregate(note_grid("weighted_mean"), reviews)["A"].score == D("15.00")
    assert aggregate(note_grid("mean"), reviews, weights)["A"].score == D("15.00")
    with pytest.raises(ValueError, match="strictement positif"):
        aggregate(note_grid("weighted_mean"), reviews, {"senior": 0})


def test_disagreement_flag_is_strictly_above_threshold(note_grid) -> None:
    grid = note_grid(threshold="5")
    reviews = [
        Review("split", "r1", {"note": 10}), Review("split", "r2", {"note": 16}),
        Review("edge", "r1", {"note": 10}), Review("edge", "r2", {"note": 15}),
        Review("alone", "r1", {"note": 3}),
    ]
    result = aggregate(grid, reviews)
    assert (result["split"].disagreement, result["split"].spread) == (True, D("6.00"))
    assert (result["edge"].disagreement, result["edge"].spread) == (False, D("5.00"))
    assert (result["alone"].disagreement, result["alone"].spread) == (False, D("0.00"))


def test_elimination_uses_the_aggregated_criterion(ami) -> None:
    ok = {"reponse_defi": 8, "innovation": 7, "faisabilite": 6, "equipe": 6, "impact": 5, "strategie": 5, "ethique": 6}
    one_dissent = [Review("F", "e1", {**ok, "ethique": 2}), Review("F", "e2", ok), Review("F", "e3", {**ok, "ethique": 5})]
    fs = aggregate(ami, one_dissent)["F"]
    assert fs.criteria["ethique"] == D("5.00") and not fs.eliminated
    majority = [Review("G", "e1", {**ok, "ethique": 2}), Review("G", "e2", {**ok, "ethique": 1}), Review("G", "e3", ok)]
    fs = aggregate(ami, majority)["G"]
    assert fs.criteria["ethique"] == D("2.00")
    assert fs.eliminated and fs.eliminating_criteria == ("ethique",)


# ------------------------------------------------------------------------ z-score

HARSH_AND_LENIENT = [
    # harsh reviewer H: mean 6 ; lenient reviewer L: mean 18 ; one review per file
    Review("A", "H", {"note": 8}), Review("C", "H", {"note": 4}), Review("D", "H", {"note": 6}),
    Review("B", "L", {"note": 16}), Review("E", "L", {"note": 18}), Review("F", "L", {"note": 20}),
]


def test_zscore_values(note_grid) -> None:
    result = aggregate(note_grid(normalisation="zscore"), HARSH_AND_LENIENT)
    # pool: mean 12, variance 232/6 ; each reviewer: std √(8/3) ; z = ±√1.5
    # adjusted = 12 ± √1.5 × √(232/6) = 12 ± √58 = 12 ± 7.6158
    assert result["A"].score == D("19.62") and result["F"].score == D("19.62")
    assert result["D"].score == D("12.00") and result["E"].score == D("12.00")
    assert result["C"].score == D("4.38") and result["B"].score == D("4.38")
    assert result["A"].totals == {"H": D("8.00")}
    assert result["A"].adjusted_totals == {"H": D("19.62")}


def test_zscore_keeps_a_harsh_reviewers_best_file_from_sinking(note_grid) -> None:
    requested = dict.fromkeys("ABCDEF", 100)
    raw = [i.file_id for i in rank(note_grid(), aggregate(note_grid(), HARSH_AND_LENIENT), requested, 0)]
    grid = note_grid(normalisation="zscore")
    normalised = [i.file_id for i in rank(grid, aggregate(grid, HARSH_AND_LENIENT), requested, 0)]
    assert raw == ["F", "E", "B", "A", "D", "C"]
    assert normalised == ["A", "F", "D", "E", "B", "C"]
    assert raw.index("A") > raw.index("B") and normalised.index("A") < normalised.index("B")


def test_zscore_leaves_single_review_and_zero_std_reviewers_unchanged(note_grid) -> None:
    reviews = HARSH_AND_LENIENT + [
        Review("S", "single", {"note": 7}),
        Review("Z1", "flat", {"note": 9}), Review("Z2", "flat", {"note": 9}),
    ]
    result = aggregate(note_grid(normalisation="zscore"), reviews)
    assert result["S"].score == D("7.00")
    assert result["Z1"].score == D("9.00") and result["Z2"].score == D("9.00")
    assert result["A"].score != D("8.00")  # the others are still normalised


def test_zscore_min_reviews_param(note_grid) -> None:
    grid = note_grid(normalisation={"name": "zscore", "params": {"min_reviews": 4}})
    result = aggregate(grid, HARSH_AND_LENIENT)  # 3 reviews each: below min_reviews
    assert result["A"].score == D("8.00")


def test_zscore_is_clamped_to_the_final_scale(note_grid) -> None:
    reviews = [Review("R0", "R", {"note": 0}), Review("R1", "R", {"note": 1})]
    reviews += [Review(f"P{i}", "P", {"note": 20}) for i in range(8)]
    result = aggregate(note_grid(normalisation="zscore"), reviews)
    # pool mean 16.1, std √60.89 ≈ 7.80: R's 1 (z = +1) would be 23.90 → clamped to 20
    assert result["R1"].score == D("20.00")
    assert result["R0"].score == D("8.30")


def test_zscore_spread_uses_adjusted_totals(note_grid) -> None:
    reviews = HARSH_AND_LENIENT + [Review("A", "L", {"note": 16})]
    grid = note_grid(normalisation="zscore", threshold="6")
    fs = aggregate(grid, reviews)["A"]
    assert fs.totals == {"H": D("8.00"), "L": D("16.00")}
    assert fs.spread == max(fs.adjusted_totals.values()) - min(fs.adjusted_totals.values())
    assert fs.spread != D("8.00")
    assert fs.disagreement is (fs.spread > 6)
