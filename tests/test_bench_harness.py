"""The benchmark harness (bench/): its results format, its bounds, and a tiny
run on SQLite of the scenarios that need no server. The benchmarks
themselves run through ``make bench``, never in the test suite."""

from __future__ import annotations

import json

import pytest

from bench import harness, run
from bench.scenarios import SCENARIOS, load

KEYS = {"name", "value", "unit", "target", "ceiling", "ratio", "ok"}


def test_every_scenario_module_has_a_run_function():
    assert {"deadline_rush", "ledger_contention", "ranking", "letters", "instructor_list", "exports"} <= set(SCENARIOS)
    for name in SCENARIOS:
        assert callable(load(name).run)
    with pytest.raises(KeyError, match="unknown scenario"):
        load("nope")


def test_budget_refuses_past_its_count_and_the_bench_only_talks_to_loopback():
    budget = harness.Budget(harness.Bounds(count=2, seconds=60))
    budget.take()
    budget.take()
    with pytest.raises(harness.BoundExceeded):
        budget.take()
    expired = harness.Budget(harness.Bounds(count=10, seconds=0))
    with pytest.raises(harness.BoundExceeded):
        expired.take()
    assert harness.require_loopback("http://127.0.0.1:8000/x") == "http://127.0.0.1:8000/x"
    with pytest.raises(ValueError):
        harness.require_loopback("http://example.org/")


def test_percentile():
    assert harness.percentile(range(1, 101), 50) == pytest.approx(50.5)
    assert harness.percentile([0.2], 99) == 0.2
    assert 99 <= harness.percentile(range(1, 101), 99) <= 100


def test_server_times_reads_the_tagged_requests_of_the_gunicorn_access_log(tmp_path):
    log = tmp_path / "gunicorn-guichet.log"
    harness.access_log(log).write_text(
        "GET /instruction/espace/?stage=instruction&bench=0-3 200 81250\n"
        "GET /api/v1/openapi.json? 200 900\n"
        "GET /instruction/espace/?bench=0-4&sort=amount 200 1500000\n"
        "garbage line\n")
    assert harness.server_times(log, "bench") == {"0-3": 0.08125, "0-4": 1.5}
    assert harness.server_times(tmp_path / "none.log", "bench") == {}


def test_rss_sampler_finds_the_children_of_a_process_and_their_memory():
    import os
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in harness.worker_pids(os.getpid())
        with harness.RssSampler(os.getpid(), interval=0.01) as sampler:
            pass
        assert sampler.peak[child.pid] >= sampler.baseline[child.pid] > 0
        assert sampler.serving() in sampler.pids
    finally:
        child.kill()
        child.wait()


def test_small_run_writes_results_and_reports_postgres_only_scenarios_as_not_measured(tmp_path, monkeypatch):
    """On SQLite (the smoke run) the scenarios whose targets are PostgreSQL's answer
    "not measured" with their reason, under their results' names."""
    for name in ("BENCH_DATABASE_URL", "BENCH_REDIS_URL", "SCENARIOS", "BENCH_SCALE"):
        monkeypatch.delenv(name, raising=False)
    output, doc = tmp_path / "results.json", tmp_path / "PERFORMANCE.md"
    code = run.main(["--small", "--scale", "0", "--scenarios", "instructor_list,exports,ledger_contention",
                     "--output", str(output), "--doc", str(doc)])
    results = json.loads(output.read_text())
    assert all(KEYS <= set(r) for r in results)
    by_name = {r["name"]: r for r in results}
    assert by_name["seed_scale"]["unit"] == "s"
    unmeasured = list(results)
    assert {r["name"] for r in unmeasured} >= {"seed_scale", "instructor_list.p95", "exports.csv_peak_memory",
                                               "ledger_contention"}
    assert all(r["ok"] is None and r["value"] is None and r["reason"] for r in unmeasured)
    assert code == 0  # nothing measured missed its target; "not measured" is not a pass either
    text = doc.read_text()
    assert "not measured" in text and "## Machine" in text and "make bench" in text
