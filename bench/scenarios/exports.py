"""exports: 100,000 ledger movements and the 100,000 files of the bench data
to CSV and to XLSX, streamed through the served app, peak RSS of the worker
serving each under 300 MB:

- the movements: ``/finances/engagements.csv`` and ``.xlsx``
  (app/blueprints/finance.py over app/exports.py), as the demo finance officer;
- the files: the instructors' list exported whole, ``/instruction/espace/dossiers.csv``
  and ``.xlsx`` (app/blueprints/workspace.py, ``export_rows``), as the demo
  instructor, who holds every call: every file of the base but the drafts
  (some synthetic drafts are shown as submitted meanwhile, to reach 100,000,
  then put back), checked against its count.

The movements are inserted in bulk beforehand (not timed) as ``commit``
entries spread over the synthetic files — entries only, no legs: the exports
read entries, and ``check_totals`` reads legs, so the account totals stay
right; the entries are deleted afterwards (through ``audit_purge_allowed``,
as the tests' teardown does) so that ``flask ledger verify`` holds again.
The demo accounts get a fresh password (production refuses the demo ones)
and log in through the real form on the gunicorn server. Each export is
downloaded once (bounded: four requests, ``SECONDS``), read in 64 KiB chunks
and checked (line count for the CSV, a workbook with its sheet for the XLSX),
while ``RssSampler`` samples the RSS of every gunicorn worker every 20 ms and
reads the kernel's peak (``VmHWM``, reset before the request): the worker
that served is the one that used the most CPU meanwhile; its peak is the
value, its RSS before the request is in the note.
"""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date

from bench.harness import Bounds, Budget, Context, Result, RssSampler, at_most, not_measured, require_loopback, \
    staff_password, web_login

FINANCE = "demo-finance@guichet.test"
INSTRUCTOR = "demo-instructor@guichet.test"
ROWS = 100_000
TARGET_MB = 300
SECONDS = 600.0
KEY_PREFIX = "bench-export:"
# (account, path, extension, result, what the rows are)
EXPORTS = (
    (FINANCE, "/finances/engagements", "csv", "exports.csv_peak_memory", "movements"),
    (FINANCE, "/finances/engagements", "xlsx", "exports.xlsx_peak_memory", "movements"),
    (INSTRUCTOR, "/instruction/espace/dossiers", "csv", "exports.files_csv_peak_memory", "files"),
    (INSTRUCTOR, "/instruction/espace/dossiers", "xlsx", "exports.files_xlsx_peak_memory", "files"),
)


def insert_movements(ctx: Context, n: int) -> int:
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.models import Application, LedgerEntry

    with ctx.app.app_context():
        session = db.session
        files = session.execute(select(Application.id).where(Application.state != "draft")
                                .order_by(Application.id).limit(5000)).scalars().all()
        for start in range(0, n, 10_000):
            session.execute(insert(LedgerEntry), [
                {"idempotency_key": f"{KEY_PREFIX}{i}", "operation": "commit", "application_id": files[i % len(files)],
                 "year": 2026, "amount_cents": 100_000 + i, "regime": "gber:25", "effective_on": date(2026, 1, 1),
                 "reason": "Banc d'essai : export"} for i in range(start, min(start + 10_000, n))])
        session.commit()
    return n


def remove_movements(ctx: Context) -> None:
    from sqlalchemy import delete

    from app.extensions import db
    from app.models import AuditPurgeAllowed, LedgerEntry

    with ctx.app.app_context():
        session = db.session
        session.add(AuditPurgeAllowed())
        session.flush()
        session.execute(delete(LedgerEntry).where(LedgerEntry.idempotency_key.like(KEY_PREFIX + "%")))
        session.execute(delete(AuditPurgeAllowed))
        session.commit()


def download(http, url: str) -> tuple[bytes, float, float]:
    """(body, seconds to the first byte, seconds in all)."""
    started = time.perf_counter()
    first = None
    out = io.BytesIO()
    with http.get(require_loopback(url), stream=True, timeout=(10, 300)) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        for chunk in response.iter_content(64 * 1024):
            if first is None:
                first = time.perf_counter() - started
            out.write(chunk)
    return out.getvalue(), first or 0.0, time.perf_counter() - started


def check(extension: str, body: bytes, expected_rows: int) -> str:
    if extension == "csv":
        lines = body.decode("utf-8-sig").count("\r\n")
        if lines < expected_rows + 1:
            raise RuntimeError(f"the CSV has {lines} lines, expected at least {expected_rows + 1}")
        return f"{lines - 1} rows"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        if not sheets:
            raise RuntimeError("the XLSX has no worksheet")
        size = archive.getinfo(sheets[0]).file_size
    return f"sheet XML {size / 1e6:.0f} MB unzipped"


def submitted_files(ctx: Context, wanted: int) -> tuple[int, list[int]]:
    """The number of files the instructors' list holds (every file but the drafts), at least
    ``wanted``: synthetic drafts are shown as submitted for the export when too few are (about a
    tenth of the seeded files are drafts); their ids, for ``restore_drafts``."""
    from sqlalchemy import func, select, update

    from app.extensions import db
    from app.models import Application

    with ctx.app.app_context():
        session = db.session
        listed = session.execute(select(func.count()).where(Application.state != "draft")).scalar_one()
        promoted = list(session.execute(select(Application.id).where(Application.state == "draft")
                                        .order_by(Application.id).limit(max(wanted - listed, 0))).scalars())
        if promoted:
            session.execute(update(Application).where(Application.id.in_(promoted)).values(state="submitted"))
            session.commit()
        return listed + len(promoted), promoted


def restore_drafts(ctx: Context, ids: list[int]) -> None:
    from sqlalchemy import update

    from app.extensions import db
    from app.models import Application

    if ids:
        with ctx.app.app_context():
            db.session.execute(update(Application).where(Application.id.in_(ids)).values(state="draft"))
            db.session.commit()


def run(ctx: Context) -> list[Result]:
    if not ctx.is_postgres:
        reason = "needs PostgreSQL (server-side cursors, as in production): run it through `make bench`"
        return [not_measured(name, reason, unit="MB", target=TARGET_MB) for *_rest, name, _what in EXPORTS]
    n = 5_000 if ctx.small else ROWS
    insert_movements(ctx, n)
    files, promoted = submitted_files(ctx, n)
    try:
        base = ctx.guichet_url()
        expected = {"movements": n, "files": files}
        sessions = {account: web_login(base, account, staff_password(ctx.app, account))
                    for account in dict.fromkeys(e[0] for e in EXPORTS)}
        budget = Budget(Bounds(count=len(EXPORTS), seconds=SECONDS))
        results = []
        for account, path, extension, name, what in EXPORTS:
            budget.take()
            with RssSampler(ctx.server_pid()) as sampler:
                try:
                    body, first, total = download(sessions[account], f"{base}{path}.{extension}")
                    error = None
                except Exception as exc:  # noqa: BLE001 - reported as a missed result
                    body, first, total, error = b"", 0.0, 0.0, f"{type(exc).__name__}: {exc}"
            pid = sampler.serving()
            peak_mb = sampler.peak[pid] / 1024
            before_mb = sampler.baseline[pid] / 1024
            if error is None:
                try:
                    checked = check(extension, body, expected[what])
                except Exception as exc:  # noqa: BLE001
                    error = f"{type(exc).__name__}: {exc}"
            if error is not None:
                results.append(Result(name, round(peak_mb, 1), "MB", TARGET_MB, ok=False,
                                      note=f"failed: {error}"[:500]))
                continue
            source = (f"{n:,} movements inserted" if what == "movements"
                      else f"the instructors' list of {files:,} files, whole ({len(promoted):,} drafts shown as "
                           "submitted for it)")
            results.append(at_most(
                name, round(peak_mb, 1), "MB", TARGET_MB,
                note=f"{source} ({checked}), {len(body) / 1e6:.1f} MB sent in {total:.1f} s "
                     f"(first byte after {first:.1f} s); peak RSS of the serving worker (pid {pid}), "
                     f"{before_mb:.0f} MB before the request (+{peak_mb - before_mb:.0f} MB); "
                     f"kernel peak {'read' if sampler.hwm_reset[pid] else 'not resettable, sampled only'}"))
        return results
    finally:
        remove_movements(ctx)
        restore_drafts(ctx, promoted)
