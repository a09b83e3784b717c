"""Export benchmark: 100,000 commitment movements to CSV and XLSX, with how
much the process's peak resident memory grew during each export (getrusage),
to show that the exports stream (flat memory) instead of loading the rows.

    .venv/bin/python -m bench.bench_exports [N]        # a temporary SQLite database
    DATABASE_URL=postgresql+psycopg://… .venv/bin/python -m bench.bench_exports

The movements are inserted in bulk as ``commit`` entries on the demo's files
(entries only: the exports read entries, not legs), so ``ledger verify``
would rightly fail on the benchmark's database: never point it at real data.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(n: int = 100_000) -> list[dict]:
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from app import create_app, exports
    from app.extensions import db
    from app.models import Application, LedgerEntry
    from app.operations.demo import seed_demo

    with tempfile.TemporaryDirectory() as tmp:
        env = {"GUICHET_ENV": "development", "GUICHET_INSTANCE": tmp,
               "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"}
        if env["DATABASE_URL"].startswith("postgresql"):
            from sqlalchemy import create_engine, text

            engine = create_engine(env["DATABASE_URL"])
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        app = create_app(env=env)
        with app.app_context():
            upgrade()
            seed_demo(db.session)
            files = list(db.session.execute(select(Application.id)).scalars())
            for start in range(0, n, 10_000):
                db.session.execute(insert(LedgerEntry), [
                    {"idempotency_key": f"bench:{i}", "operation": "commit", "application_id": files[i % len(files)],
                     "year": 2026, "amount_cents": 100_000 + i, "regime": "gber:25", "effective_on": date(2026, 1, 1),
                     "reason": "Banc d'essai"} for i in range(start, min(start + 10_000, n))])
            db.session.commit()
            results = []
            for name, write, mode in (("export_csv", exports.write_csv, "w"), ("export_xlsx", exports.write_xlsx, "wb")):
                out = Path(tmp) / f"out.{name[-4:].strip('_')}"
                before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                started = time.perf_counter()
                with out.open(mode, **({"newline": "", "encoding": "utf-8"} if mode == "w" else {})) as f:
                    write(db.session, f, "commitments")
                seconds = time.perf_counter() - started
                grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB on Linux
                db.session.rollback()
                results.append({"name": name, "rows": n, "seconds": round(seconds, 2),
                                "peak_rss_growth_mib": round(grown / 1024, 1), "bytes": out.stat().st_size})
            return results


if __name__ == "__main__":
    for result in run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000):
        print(result)
