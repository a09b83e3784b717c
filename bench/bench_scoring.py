"""Benchmark: aggregate and rank 10,000 files × 3 reviews in pure Python.

Run: ``.venv/bin/python bench/bench_scoring.py``. Data is generated deterministically
(``random.Random(42)``) on the Pack IA grid with z-score normalisation. Target: well
under 2 s. Prints the timings; asserts nothing.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring import Review, aggregate, load_grid, rank  # noqa: E402

N_FILES = 10_000
REVIEWS_PER_FILE = 3
N_REVIEWERS = 300


def make_data(rng: random.Random) -> tuple[list[Review], dict[int, int]]:
    """Reviews (with a few unsubmitted ones) and requested amounts in cents."""
    grid = load_grid("pack_ia")
    severity = {r: rng.randint(-1, 1) for r in range(N_REVIEWERS)}
    reviews: list[Review] = []
    requested: dict[int, int] = {}
    for file_id in range(1, N_FILES + 1):
        quality = rng.randint(1, 5)
        for reviewer in rng.sample(range(N_REVIEWERS), REVIEWS_PER_FILE):
            scores = {
                c.code: min(grid.scale.max, max(grid.scale.min, quality + severity[reviewer] + rng.randint(-1, 1)))
                for c in grid.criteria
            }
            reviews.append(Review(file_id, reviewer, scores, submitted=rng.random() > 0.01))
        requested[file_id] = rng.randint(5_000, 200_000) * 100
    return reviews, requested


def main() -> None:
    grid = load_grid("pack_ia")
    reviews, requested = make_data(random.Random(42))
    t0 = time.perf_counter()
    scores = aggregate(grid, reviews)
    t1 = time.perf_counter()
    ranking = rank(grid, scores, requested, budget_available_cents=70_000_000_00)
    t2 = time.perf_counter()
    funded = sum(1 for item in ranking if item.funded)
    print(f"{len(reviews)} reviews, {len(scores)} files scored, {funded} funded")
    print(f"aggregate: {t1 - t0:.3f} s  rank: {t2 - t1:.3f} s  total: {t2 - t0:.3f} s")


if __name__ == "__main__":
    main()
