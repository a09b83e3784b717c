"""ledger_contention: 50 concurrent committee approvals on a call budget that
covers exactly 30; exactly 30 pass. Reservations per second, beside a bare
conditional UPDATE on PostgreSQL (the ceiling).

Each round prepares (not timed) 50 files in ``committee``, each of its own
organisation with an amount proposed, and records the committee's decision on
each as ``app.operations.committee`` does when a vote closes: an agenda item
of a closed session, decided ``approved`` with its deliberation number, and
on the file the deliberation number, the decision date and the awarded
amount. Then each approval runs in its own thread, session and connection,
released together by a barrier, and fires the workflow's real ``approve``
transition as the demo committee member (``transition(session, application,
"approve", role="committee")``): the guard ``committee_approved`` reads the
recorded decision, the effect ``ledger_reserve`` reserves the awarded amount
through ``app.ledger.reserve`` (plan, year, axis, call, undertaking, file
legs, de minimis check, audit row), the state changes with its own audit row,
the decision letter and the notification are queued for after the commit
(RQ), then the thread commits; a ``LedgerRefused`` rolls the whole approval
back (the file stays in ``committee``). Only ``close_vote``'s tally, quorum
and block vote are left out: they happen before the transition and do not
touch the ledger.

The ceiling: the same 50 threads, each running ``UPDATE … SET used = used + a
WHERE id = 1 AND used + a <= limit`` and committing, on a one-row table.
``ROUNDS`` rounds (fresh files, fresh envelope); the median rate is reported.
When RQ workers run (started by ``deadline_rush``), the letters and mails the
approvals queued are drained (bounded wait) before the scenario returns, so
that they do not load the next one; else they stay queued in Redis.
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
COMMITTEE_MEMBER = "demo-committee@guichet.test"


def decision_session(session, round_no: int):
    """A closed committee session of the demo's committee (one is created if there is none)."""
    from sqlalchemy import select

    from app.models import Committee, CommitteeSession, utcnow
    from app.operations.committee import create_committee

    committee = session.execute(select(Committee).order_by(Committee.id).limit(1)).scalar_one_or_none()
    if committee is None:
        committee = create_committee(session, name="Commission du banc d'essai", code="BENCH", actor=None,
                                     role="system")
    cs = CommitteeSession(committee=committee, held_at=utcnow(), place=f"Banc d'essai, tour {round_no}",
                          status="closed")
    session.add(cs)
    session.flush()
    return cs


def prepare_round(ctx: Context, round_no: int, n: int, amount: int) -> list[int]:
    """``n`` files in committee, each of its own organisation, with ``amount``
    proposed and a recorded favourable decision for it; the call's budget set
    to what is held plus ``COVERED × amount``."""
    from sqlalchemy import select

    from app.extensions import db
    from app.ledger import ensure_accounts, set_limit
    from app.models import AgendaItem, Application, Call, LedgerAccount, Organisation, utcnow
    from app.operations.committee import session_date
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
        cs = decision_session(session, round_no)
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
            number = f"{cs.committee.code}-BENCH-{round_no}-{i + 1:03d}"
            session.add(AgendaItem(session=cs, application=application, position=i + 1, proposed_amount_cents=amount,
                                   amount_cents=amount, vote_status="closed", decision="approved",
                                   deliberation_number=number, votes_for=5, votes_against=0, votes_abstain=0,
                                   decided_at=now))
            application.deliberation_number = number
            application.decided_on = session_date(cs)
            application.awarded_amount_cents = amount
            ids.append(application.id)
        account = session.execute(select(LedgerAccount).where(LedgerAccount.key == f"call:{call.id}")).scalar_one()
        held = account.reserved_cents + account.committed_cents
        set_limit(session, account, held + COVERED * amount, actor=None, role="system", reason="bench")
        session.commit()
    return ids


def approve_round(ctx: Context, ids: list[int], round_no: int) -> tuple[int, int, list[str], float]:
    """(passed, refused, unexpected errors, seconds from release to the last commit)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.ledger import LedgerRefused
    from app.models import Application, User
    from app.operations.transitions import transition

    barrier = threading.Barrier(len(ids), timeout=60)
    with ctx.app.app_context():
        member_id = db.session.execute(select(User.id).where(User.email == COMMITTEE_MEMBER)).scalar_one()

    def approve_one(i: int) -> tuple[str, float, float]:
        with ctx.app.app_context():
            session = db.session
            member = session.get(User, member_id)
            application = session.get(Application, ids[i])
            session.connection()  # a pooled connection held before the start, like a busy web worker
            session.commit()
            barrier.wait()
            started = time.perf_counter()
            try:
                application = session.get(Application, ids[i])
                transition(session, application, "approve", actor=member, role="committee",
                           reason=f"Délibération {application.deliberation_number}")
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


def states_of(ctx: Context, ids: list[int]) -> dict[str, int]:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Application

    with ctx.app.app_context():
        return dict(db.session.execute(select(Application.state, func.count()).where(Application.id.in_(ids))
                                       .group_by(Application.state)).all())


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
        passed, refused, errs, span = approve_round(ctx, ids, r)
        outcomes.append((passed, refused))
        states = states_of(ctx, ids)
        if states != {k: v for k, v in (("approved", passed), ("committee", refused)) if v}:
            errors.append(f"round {r}: states {states} for {passed} passed, {refused} refused")
        errors += errs
        rates.append(n / span)
        c_passed, c_span = ceiling_round(ctx, AMOUNT_CENTS, n)
        if c_passed != COVERED:
            errors.append(f"ceiling round passed {c_passed}")
        ceilings.append(n / c_span)
    with ctx.app.app_context():
        mismatches = check_totals(db.session)
    # The decision letters and mails the approvals queued: drained by the RQ workers when a scenario started
    # them (deadline_rush), else left in Redis (no worker is started here to render them).
    drained = ctx.wait_jobs_done(180) if ctx.has_rq_workers else True
    rate, ceiling = statistics.median(rates), statistics.median(ceilings)
    wrong = sum(1 for p, _r in outcomes if p != COVERED)
    return [
        Result("ledger_contention.passed", outcomes[-1][0], "approvals", COVERED,
               ok=wrong == 0 and not errors and not mismatches,
               note=f"{rounds} rounds of {n} concurrent approvals (the workflow's approve transition on recorded "
                    f"committee decisions, reserving through app.ledger.reserve): passed/refused per round {outcomes}; "
                    f"{len(errors)} unexpected errors {errors[:2]}; ledger totals mismatches: {len(mismatches)}"
                    + ("" if drained else "; the queued letters and mails were not drained within 180 s")),
        Result("ledger_contention.rate", round(rate, 1), "approvals/s", None, ceiling=round(ceiling, 1),
               ratio=round(rate / ceiling, 3), ok=wrong == 0 and not errors,
               note="approval attempts (transition, reservation, commit) per second from the barrier's release to the last "
                    "commit, median of the rounds; "
                    "ceiling = bare conditional UPDATE on a one-row table, same threads; no numeric target: "
                    "ok means the rounds were also correct"),
    ]

