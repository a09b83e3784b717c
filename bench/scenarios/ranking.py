"""ranking: aggregate and rank 10,000 files × 3 reviews (scoring package), under 2 s."""

from __future__ import annotations

import random
import time

from bench.harness import Context, Result, at_most

TARGET_S = 2.0


def run(ctx: Context) -> list[Result]:
    from bench.bench_scoring import N_FILES, make_data
    from scoring import aggregate, load_grid, rank

    grid = load_grid("pack_ia")
    reviews, requested = make_data(random.Random(42))
    timings = []
    for _ in range(3):  # best of three: the first run pays for imports and caches
        started = time.perf_counter()
        scores = aggregate(grid, reviews)
        rank(grid, scores, requested, budget_available_cents=7_000_000_000)
        timings.append(time.perf_counter() - started)
    return [at_most("ranking", round(min(timings), 3), "s", TARGET_S,
                    note=f"{N_FILES} files × 3 reviews, best of 3 (worst {max(timings):.3f} s)")]
