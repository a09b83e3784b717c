"""Run the benchmark scenarios and write bench/results.json, a summary, and docs/PERFORMANCE.md.

    make bench                                   # PostgreSQL + Redis started by scripts/services.sh
    make bench SCENARIOS=deadline_rush,ledger_contention
    make bench SCENARIOS=letters MERGE=bench/results.json     # the other scenarios kept from the last full run
    .venv/bin/python bench/run.py --small --scenarios ranking,letters   # SQLite, tiny sizes (smoke)

Environment:
    BENCH_DATABASE_URL  the database the bench owns (its schema is dropped and rebuilt); else a SQLite
                        file in a scratch directory. ``make bench`` uses ``guichet_bench`` (created here).
    BENCH_REDIS_URL     the Redis database the bench owns (flushed at start); none = jobs in-process.
    BENCH_SCALE         synthetic files loaded by ``seed-demo --scale`` (default 100,000; --small: 200).
    SCENARIOS           comma-separated names (see bench/scenarios/__init__.py).

Each result: {"name", "value", "unit", "target", "ceiling", "ratio", "ok"} (+ "note", or "reason" when
not measured: ok null; + "run", the UTC time of the run it comes from, with --merge). The exit status is 1
when a measured result missed its target.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Context, Result, at_most, machine, not_measured, scratch_dir  # noqa: E402
from bench.scenarios import SCENARIOS, load  # noqa: E402

SEED_TARGET_S = 300.0
RESULTS = ROOT / "bench" / "results.json"
FINDINGS = ROOT / "bench" / "FINDINGS.md"
PERFORMANCE = ROOT / "docs" / "PERFORMANCE.md"


# --------------------------------------------------------------------------- database


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url[len("postgresql://"):] if url.startswith("postgresql://") else url


def reset_postgres(url: str) -> None:
    """Create the bench database if missing, then drop and recreate its public schema."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if target.host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"the bench only uses a local database, not {target.host}")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first():
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = create_engine(target)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(small: bool, scale: int) -> tuple[Context, Result]:
    """The bench's database, migrated and seeded (timed), and the context of the scenarios."""
    workdir = scratch_dir()
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        url = _sqlalchemy_url(url)
        reset_postgres(url)
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    redis_url = os.environ.get("BENCH_REDIS_URL") or None
    if redis_url:
        from redis import Redis

        Redis.from_url(redis_url).flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "TEST_"))}
    env.update({"DATABASE_URL": url, "GUICHET_INSTANCE": str(workdir / "instance"),
                "UPLOAD_FOLDER": str(workdir / "uploads"), "PYTHONPATH": str(ROOT)})
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    flask(env, "db", "upgrade")
    flask(env, "seed-demo")
    seeded = None
    if scale:
        started = time.perf_counter()
        flask(env, "seed-demo", "--scale", str(scale))
        seeded = time.perf_counter() - started
        if url.startswith("postgresql"):
            # Fresh statistics, as a live database has: right after the bulk load autovacuum has not analysed
            # the tables yet, and the first minute of requests ran on plans for empty tables (bench/FINDINGS.md).
            from sqlalchemy import create_engine, text

            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
            engine.dispose()
    # The web and worker processes run as in production (scrypt, no debug, log mail).
    env.update({"GUICHET_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48)})
    ctx = Context(database_url=url, redis_url=redis_url, env=env, workdir=workdir, small=small)
    seed = (not_measured("seed_scale", "--scale 0: the demo data only", "s", SEED_TARGET_S) if seeded is None
            else at_most("seed_scale", round(seeded, 1), "s", SEED_TARGET_S,
                         note=f"`flask seed-demo --scale {scale}` on the demo data"))
    return ctx, seed


# --------------------------------------------------------------------------- run


def run_scenarios(ctx: Context, names: list[str]) -> list[Result]:
    results: list[Result] = []
    for name in names:
        module = load(name)
        if getattr(module, "NEEDS_POSTGRES", False) and not ctx.is_postgres:
            results.append(not_measured(name, "needs PostgreSQL: run it through `make bench`"))
            continue
        print(f"-- {name}", flush=True)
        started = time.monotonic()
        try:
            results.extend(module.run(ctx))
        except Exception as exc:  # noqa: BLE001 - a broken scenario is a failed result, the others still run
            traceback.print_exc()
            results.append(Result(name, None, "", None, ok=False, note=f"failed: {type(exc).__name__}: {exc}"[:500]))
        print(f"   {time.monotonic() - started:.1f} s", flush=True)
    return results


def status(r: dict) -> str:
    return "not measured" if r["ok"] is None else ("ok" if r["ok"] else "MISSED")


def summary(results: list[dict]) -> str:
    lines = []
    for r in results:
        value = "—" if r["value"] is None else f"{r['value']} {r['unit']}"
        target = "" if r["target"] is None else f"target {r['target']}"
        ceiling = "" if r["ceiling"] is None else f"ceiling {r['ceiling']} (ratio {r['ratio']})"
        lines.append(f"{r['name']:<34} {value:>22}  {target:<16} {ceiling:<30} {status(r)}")
    return "\n".join(lines)


def performance_doc(results: list[dict], info: dict, names: list[str], scale: int, elapsed: float,
                    when: str | None = None) -> str:
    def cell(v) -> str:
        return "—" if v is None else str(v)

    runs = any(r.get("run") for r in results)  # merged from several runs (--merge): say which one each comes from
    rows = ["| Measure | Value | Target | Ceiling | Ratio | Status |" + (" Run |" if runs else ""),
            "|---|---|---|---|---|---|" + ("---|" if runs else "")]
    for r in results:
        rows.append(f"| `{r['name']}` | {cell(r['value'])} {r['unit']} | {cell(r['target'])} | {cell(r['ceiling'])} | "
                    f"{cell(r['ratio'])} | {status(r)} |" + (f" {r.get('run') or '—'} |" if runs else ""))
    notes = [f"- `{r['name']}`: {r.get('note') or r.get('reason')}" for r in results if r.get("note") or r.get("reason")]
    findings = FINDINGS.read_text().strip() if FINDINGS.exists() else "None recorded."
    when = when or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    earlier = sorted({r["run"] for r in results if r.get("run") and r["run"] != when})
    merged = (f" The other scenarios' figures come from earlier runs ({'; '.join(earlier)}), merged by `--merge`: "
              "the Run column says which run each figure comes from." if earlier else "")
    return f"""# Performance

Generated by `bench/run.py` ({when}, {elapsed / 60:.1f} min; scenarios: {", ".join(names)};
{scale:,} synthetic files).{merged} The raw figures are in `bench/results.json`. Targets come from issue 10; a
ceiling is the same work done by the bare stack (Flask + SQLAlchemy, PostgreSQL, ReportLab) measured in
the same run, so a ratio says what Guichet's own code costs on top of it.

## Results

{chr(10).join(rows)}

{chr(10).join(notes)}

## Machine

- CPU: {info['cpu']}, {info['cores']} cores
- Memory: {info['memory_gb']} GB
- {info['system']}, Python {info['python']}
- Load average (1, 5, 15 min) before the run {info['load_before']}, after it {info['load']}: figures taken on a
  machine busy with other work are pessimistic; compare ratios (same run) rather than absolute values
- PostgreSQL and Redis on loopback (`scripts/services.sh`: fsync off, as for tests); gunicorn
  {info['gunicorn_workers']} sync workers (as in README's production section) on 127.0.0.1, one RQ worker;
  the load clients run on the same machine and take CPU from the server.

## How to reproduce

```sh
make bench                                             # everything, about 10 minutes on 2 cores
make bench SCENARIOS=deadline_rush,ledger_contention   # a selection
make bench SCENARIOS=letters MERGE=bench/results.json  # a selection, the other figures kept from the last run
BENCH_SCALE=20000 make bench                           # fewer synthetic files
```

`make bench` starts PostgreSQL and Redis (`scripts/services.sh`), rebuilds the database
`guichet_bench` (its schema is dropped), flushes Redis database 9, runs `flask db upgrade`,
`flask seed-demo --scale $BENCH_SCALE`, then each scenario of `bench/scenarios/` in turn, starting
gunicorn and RQ workers as needed, and writes `bench/results.json` and this page. Every request loop is
bounded in count and time and talks only to 127.0.0.1. A scenario is one module of `bench/scenarios/`
with a `run(ctx)` returning its results, named in `SCENARIOS` there; a feature not built yet answers
"not measured" (`ok: null`) with its reason.

## Findings

{findings}
"""


def scenario_of(name: str) -> str:
    return name.split(".", 1)[0]


def merge(current: list[dict], earlier: list[dict], names: list[str], *, now: str, earlier_run: str) -> list[dict]:
    """This run's results, each stamped with its run (``now``), and the earlier results of the scenarios not
    run now, stamped with their own run (else ``earlier_run``), in the scenarios' order. ``seed_scale`` is
    always this run's."""
    ran = set(names) | {"seed_scale"}
    out = [dict(r, run=r.get("run") or now) for r in current]
    out += [dict(r, run=r.get("run") or earlier_run) for r in earlier if scenario_of(r["name"]) not in ran]
    order = {name: i for i, name in enumerate(("seed_scale", *SCENARIOS))}
    return sorted(out, key=lambda r: order.get(scenario_of(r["name"]), len(order)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=os.environ.get("SCENARIOS") or ",".join(SCENARIOS))
    parser.add_argument("--small", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--scale", type=int, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=None, help="where to write the report (default: docs/PERFORMANCE.md "
                        "for a full-size run, none for --small)")
    parser.add_argument("--merge", type=Path, default=None,
                        help="earlier results (a results.json): the figures of the scenarios not run now are kept "
                             "from it, each with the run it comes from, so that a partial run still writes every scenario")
    parser.add_argument("--merge-run", default=None,
                        help="the label of the merged run when its results do not say it (default: the file's name)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    for name in names:
        load(name)  # unknown names fail before anything starts
    scale = args.scale if args.scale is not None else int(os.environ.get("BENCH_SCALE") or (200 if args.small else 100_000))

    started = time.monotonic()
    load_before = machine()["load"]
    ctx, seed = prepare(args.small, scale)
    try:
        results = [seed, *run_scenarios(ctx, names)]
    finally:
        ctx.close()
    elapsed = time.monotonic() - started
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data = [r.as_json() for r in results]
    if args.merge is not None:
        data = merge(data, json.loads(args.merge.read_text()), names, now=when,
                     earlier_run=args.merge_run or args.merge.name)
    args.output.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(summary(data))
    doc = args.doc or (None if args.small else PERFORMANCE)
    if doc is not None:
        from bench.harness import gunicorn_workers

        info = machine() | {"gunicorn_workers": gunicorn_workers(), "load_before": load_before}
        doc.write_text(performance_doc(data, info, names, scale, elapsed, when))
    print(f"results: {args.output}" + (f", report: {doc}" if doc else "") + f" ({elapsed:.0f} s)")
    return 1 if any(r["ok"] is False for r in data) else 0


if __name__ == "__main__":
    raise SystemExit(main())
