"""Run the benchmark scenarios available so far and write bench/results.json.

Each result: {"name", "value", "unit", "target", "ceiling", "ratio", "ok"}.
Scenarios here: ``ranking`` (aggregate and rank 10,000 files × 3 reviews, target 2 s) and
``seed_scale`` (load 100,000 synthetic files into the configured database, target "minutes").
The HTTP, ledger, letters and export scenarios of issue 10 are not written yet.
Run through ``make bench`` (PostgreSQL and Redis) or directly with DATABASE_URL set.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_ranking() -> dict:
    from bench.bench_scoring import make_data
    from scoring import aggregate, load_grid, rank

    grid = load_grid("pack_ia")
    reviews, requested = make_data(random.Random(42))
    started = time.perf_counter()
    scores = aggregate(grid, reviews)
    rank(grid, scores, requested, budget_available_cents=7_000_000_000)
    value = time.perf_counter() - started
    return {"name": "ranking", "value": round(value, 3), "unit": "s", "target": 2.0, "ceiling": None,
            "ratio": None, "ok": value < 2.0}


def bench_seed_scale(n: int = 100_000) -> dict:
    """Time `seed-demo --scale N` on a fresh database (a new PostgreSQL schema or SQLite file)."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        env["GUICHET_INSTANCE"] = tmp
        url = env.get("DATABASE_URL")
        if url and url.startswith("postgresql"):
            from sqlalchemy import create_engine, text

            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        else:
            env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
        flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
        subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run(flask + ["seed-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run(flask + ["seed-demo", "--scale", str(n)], cwd=ROOT, env=env, check=True, capture_output=True)
        value = time.perf_counter() - started
    return {"name": "seed_scale", "value": round(value, 1), "unit": "s", "target": 300.0, "ceiling": None,
            "ratio": None, "ok": value < 300.0}


def main() -> int:
    results = [bench_ranking(), bench_seed_scale()]
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    for r in results:
        print(f"{r['name']:<12} {r['value']:>8} {r['unit']:<3} target {r['target']} {r['unit']}  {'ok' if r['ok'] else 'MISSED'}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
