"""ledger_contention: 50 concurrent committee approvals on a call budget that
covers exactly 30; exactly 30 pass. Reservations per second, beside a bare
conditional UPDATE on PostgreSQL (the ceiling).

Each approval runs in its own thread, session and connection, released
together by a barrier, and calls the real reservation path,
``app.ledger.reserve`` (plan, year, axis, call, undertaking, file legs,
de minimis check, audit row) then commits. The workflow's ``approve``
transition reserves through the same function (effect ``ledger_reserve``) but
needs a recorded committee decision (guard ``committee_approved``), which is
not in this branch yet: when it is, ``approve_one`` can call
``transition(session, application, "approve", ...)`` instead.

The ceiling: the same 50 threads, each running ``UPDATE … SET used = used + a
WHERE id = 1 AND used + a <= limit`` and committing, on a one-row table.
``ROUNDS`` rounds (fresh files, fresh envelope); the median rate is reported.
"""

from __future__ import annotations

import statistics
import threading
import time

from bench.harness import Context, Result, not_measured, run_threads

NEEDS_POSTGRES = True
CALL = "PACK-IA-2026"
APPROVALS = 50
COVERED = 30
ROUNDS = 3
AMOUNT_CENTS = 2_000_000  # 20,000 €


def prepare_round(ctx: Context, round_no: int, n: int, amount: int) -> list[int]:
    """``n`` files in committee, each of its own organisation, with ``amount``
    proposed; the call's budget set to what is held plus ``COVERED × amount``."""
    from sqlalchemy import select

    from app.extensions import db
    from app.ledger import ensure_accounts, set_limit
    from app.models import Application, Call, LedgerAccount, Organisation, utcnow
    from app.operations.demo import make_siret
    from app.operations.drafts import current_form
    from app.references import reserve_numbers
    from app.workflow_versions import current_version

    with ctx.app.app_context():
        session = db.session
        call = session.execute(select(Call).where(Call.reference == CALL)).scalar_one()
        plan = call.axis.plan
        ensure_accounts(session, plan)
        now = utcnow()
        numbers = iter(reserve_numbers(session, call.file_prefix, now.year, n))
        form = current_form(session, call)
        ids = []
        for i in range(n):
            siret = make_siret(70_000_000 + round_no * 1_000 + i)
            org = Organisation(siret=siret, siren=siret[:9], name=f"Entreprise en commission {round_no}-{i}",
                               legal_form="SAS", headcount=20, department="57", naf_code="2562B", size_category="small")
            application = Application(
                reference=f"{call.file_prefix}-{now.year}-{next(numbers):04d}", call=call, organisation=org,
                title=f"Projet en commission {round_no}-{i}", state="committee", requested_amount_cents=amount,
                proposed_amount_cents=amount, workflow_version=current_version(session, call.workflow_name),
                form_version_id=form.id if form is not None else None, answers={}, version=1, submitted_at=now)
            session.add_all([org, application])
            session.flush()
            ids.append(application.id)
        account = session.execute(select(LedgerAccount).where(LedgerAccount.key == f"call:{call.id}")).scalar_one()
        held = account.reserved_cents + account.committed_cents
        set_limit(session, account, held + COVERED * amount, actor=None, role="system", reason="bench")
        session.commit()
    return ids


def approve_round(ctx: Context, ids: list[int], amount: int, round_no: int) -> tuple[int, int, list[str], float]:
    """(passed, refused, unexpected errors, seconds from release to the last commit)."""
    from app.extensions import db
    from app.ledger import LedgerRefused, reserve
    from app.models import Application, utcnow

    barrier = threading.Barrier(len(ids), timeout=60)
    year = utcnow().year

    def approve_one(i: int) -> tuple[str, float, float]:
        with ctx.app.app_context():
            session = db.session
            application = session.get(Application, ids[i])
            session.connection()  # a pooled connection held before the start, like a busy web worker
            session.commit()
            barrier.wait()
            started = time.perf_counter()
            try:
                application = session.get(Application, ids[i])
                reserve(session, application, amount, year=year, idempotency_key=f"bench-approve-{round_no}-{ids[i]}",
                        actor=None, role="committee", reason="bench: approval under contention")
                session.commit()
                outcome = "passed"
            except LedgerRefused:
                session.rollback()
                outcome = "refused"
            return outcome, started, time.perf_counter()

    results = run_threads(len(ids), approve_one, join_seconds=120)
    ok = [r for r in results if isinstance(r, tuple)]
    errors = [repr(r) for r in results if not isinstance(r, tuple)]
    passed = sum(1 for r in ok if r[0] == "passed")
    refused = sum(1 for r in ok if r[0] == "refused")
    span = max(r[2] for r in ok) - min(r[1] for r in ok) if ok else float("nan")
    return passed, refused, errors, span


def ceiling_round(ctx: Context, amount: int, n: int) -> tuple[int, float]:
    from sqlalchemy import create_engine, text

    engine = create_engine(ctx.app.config["SQLALCHEMY_DATABASE_URI"], pool_size=n + 5, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_ceiling_envelope "
                          "(id integer PRIMARY KEY, used bigint NOT NULL, lim bigint NOT NULL)"))
        conn.execute(text("DELETE FROM bench_ceiling_envelope"))
        conn.execute(text("INSERT INTO bench_ceiling_envelope VALUES (1, 0, :lim)"), {"lim": COVERED * amount})
    barrier = threading.Barrier(n, timeout=60)

    def one(_i: int) -> tuple[bool, float, float]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.commit()
            barrier.wait()
            started = time.perf_counter()
            with conn.begin():
                done = conn.execute(text("UPDATE bench_ceiling_envelope SET used = used + :a "
                                         "WHERE id = 1 AND used + :a <= lim"), {"a": amount}).rowcount == 1
            return done, started, time.perf_counter()

    results = run_threads(n, one, join_seconds=60)
    engine.dispose()
    ok = [r for r in results if isinstance(r, tuple)]
    if len(ok) != n:
        raise RuntimeError(f"ceiling round failed: {[r for r in results if not isinstance(r, tuple)][:3]}")
    return sum(1 for r in ok if r[0]), max(r[2] for r in ok) - min(r[1] for r in ok)


def run(ctx: Context) -> list[Result]:
    if not ctx.is_postgres:
        return [not_measured("ledger_contention.passed", "needs PostgreSQL (run through make bench)", "approvals", COVERED)]
    from app.extensions import db
    from app.ledger import check_totals

    n = APPROVALS
    rounds = 1 if ctx.small else ROUNDS
    outcomes, rates, ceilings, errors = [], [], [], []
    for r in range(rounds):
        ids = prepare_round(ctx, r, n, AMOUNT_CENTS)
        passed, refused, errs, span = approve_round(ctx, ids, AMOUNT_CENTS, r)
        outcomes.append((passed, refused))
        errors += errs
        rates.append(n / span)
        c_passed, c_span = ceiling_round(ctx, AMOUNT_CENTS, n)
        if c_passed != COVERED:
            errors.append(f"ceiling round passed {c_passed}")
        ceilings.append(n / c_span)
    with ctx.app.app_context():
        mismatches = check_totals(db.session)
    rate, ceiling = statistics.median(rates), statistics.median(ceilings)
    wrong = sum(1 for p, _r in outcomes if p != COVERED)
    return [
        Result("ledger_contention.passed", outcomes[-1][0], "approvals", COVERED,
               ok=wrong == 0 and not errors and not mismatches,
               note=f"{rounds} rounds of {n} concurrent reservations (app.ledger.reserve; the approve transition needs "
                    f"committee decisions, not in this branch): passed/refused per round {outcomes}; "
                    f"{len(errors)} unexpected errors {errors[:2]}; ledger totals mismatches: {len(mismatches)}"),
        Result("ledger_contention.rate", round(rate, 1), "reservations/s", None, ceiling=round(ceiling, 1),
               ratio=round(rate / ceiling, 3), ok=wrong == 0 and not errors,
               note="attempts per second from the barrier's release to the last commit, median of the rounds; "
                    "ceiling = bare conditional UPDATE on a one-row table, same threads; no numeric target: "
                    "ok means the rounds were also correct"),
    ]

