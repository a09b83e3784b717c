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


def test_a_partial_run_merged_with_earlier_results_keeps_every_scenario_and_says_which_run(tmp_path, monkeypatch):
    for name in ("BENCH_DATABASE_URL", "BENCH_REDIS_URL", "SCENARIOS", "BENCH_SCALE"):
        monkeypatch.delenv(name, raising=False)
    earlier = [
        {"name": "seed_scale", "value": 23.8, "unit": "s", "target": 300.0, "ceiling": None, "ratio": None, "ok": True},
        {"name": "ranking", "value": 0.521, "unit": "s", "target": 2.0, "ceiling": None, "ratio": None, "ok": True},
        {"name": "instructor_list.p95", "value": 102.4, "unit": "ms", "target": 150, "ceiling": None, "ratio": None,
         "ok": True},
        {"name": "exports.csv_peak_memory", "value": 143.3, "unit": "MB", "target": 300, "ceiling": None,
         "ratio": None, "ok": True, "run": "2026-12-02 00:49 UTC"},
    ]
    previous, output, doc = tmp_path / "idle.json", tmp_path / "results.json", tmp_path / "PERFORMANCE.md"
    previous.write_text(json.dumps(earlier))
    run.main(["--small", "--scale", "0", "--scenarios", "instructor_list", "--output", str(output), "--doc", str(doc),
              "--merge", str(previous), "--merge-run", "idle run"])
    results = json.loads(output.read_text())
    by_name = {r["name"]: r for r in results}
    # this run's: the seed and the scenario run now (not measured on SQLite), replacing the earlier figures
    assert by_name["seed_scale"]["value"] is None and by_name["instructor_list.p95"]["value"] is None
    now = by_name["instructor_list.p95"]["run"]
    assert by_name["seed_scale"]["run"] == now != "idle run"
    # the others kept, each with its run
    assert (by_name["ranking"]["value"], by_name["ranking"]["run"]) == (0.521, "idle run")
    assert by_name["exports.csv_peak_memory"]["run"] == "2026-12-02 00:49 UTC"
    assert [r["name"].split(".")[0] for r in results] == ["seed_scale", "ranking", "instructor_list",
                                                           "instructor_list", "exports"]
    text = doc.read_text()
    assert "| Run |" in text and "idle run" in text and "merged by `--merge`" in text
