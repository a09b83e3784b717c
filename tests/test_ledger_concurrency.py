"""The ledger under concurrency: many transactions racing for the last euro of
an envelope, each in its own thread and session — or in its own process, as
gunicorn's workers are —, on SQLite and PostgreSQL alike. Exactly as many pass
as the envelope allows; totals stay exact."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit, ledger
from app.models import Application, Axis, LedgerAccount, LedgerEntry, Plan
from app.operations.demo import EURO, MILLION
from tests.factories import make_application, make_call, make_organisation, make_user

AMOUNT = 10_000 * EURO
JOIN_TIMEOUT = 120  # seconds: a hang fails the test instead of blocking the suite


def make_world(session, *, budget_cents: int, files: int, same_company: bool = False, declared: int | None = None):
    plan = Plan(name="Plan concurrence", start_year=2025, years=5, envelope_cents=350 * MILLION,
                yearly_ceiling_cents=70 * MILLION)
    session.add_all([plan, Axis(plan=plan, number=1, title="Compétitivité")])
    session.flush()
    call = make_call(session, budget_cents=budget_cents, max_aid_cents=None)
    shared = make_organisation(session, make_user(session)) if same_company else None
    ids = []
    for _ in range(files):
        org = shared or make_organisation(session, make_user(session))
        application = make_application(session, call, org, state="committee", amount_cents=AMOUNT)
        if declared is not None:
            application.answers = {ledger.DE_MINIMIS_ANSWER_KEY: declared}
        ids.append(application.id)
    session.commit()  # release SQLite's write lock before the threads start
    return call, ids


def race(app, ids, operation):
    """Run ``operation(session, application, i)`` in one thread per file, all
    released together; return (successes, refusals, unexpected errors)."""
    from app.extensions import db

    barrier = threading.Barrier(len(ids))
    done, refused, errors = [], [], []
    lock = threading.Lock()

    def run(i: int, application_id: int) -> None:
        with app.app_context():
            session = Session(db.engine)
            try:
                barrier.wait(timeout=60)
                application = session.get(Application, application_id)
                result = operation(session, application, i)
                session.commit()
                with lock:
                    done.append(result.id)
            except ledger.LedgerRefused as exc:
                session.rollback()
                with lock:
                    refused.append(exc.envelope)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                session.rollback()
                with lock:
                    errors.append(exc)
            finally:
                session.close()

    threads = [threading.Thread(target=run, args=(i, application_id)) for i, application_id in enumerate(ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a ledger transaction hung"
    return done, refused, errors


def test_fifty_reservations_race_for_a_budget_of_thirty(app, session):
    call, ids = make_world(session, budget_cents=30 * AMOUNT, files=50)

    def reserve(s, application, i):
        return ledger.reserve(s, application, AMOUNT, year=2026, idempotency_key=f"race-{i}", actor=None,
                              regime="gber:25")

    done, refused, errors = race(app, ids, reserve)
    assert errors == []
    assert len(done) == 30 and len(set(done)) == 30
    assert refused == ["call"] * 20

    session.expire_all()
    account = session.execute(select(LedgerAccount).where(LedgerAccount.key == f"call:{call.id}")).scalar_one()
    assert (account.reserved_cents, account.committed_cents) == (30 * AMOUNT, 0)
    assert session.execute(select(func.count(LedgerEntry.id))).scalar_one() == 30
    plan_account = session.execute(select(LedgerAccount).where(LedgerAccount.kind == "plan")).scalar_one()
    assert plan_account.reserved_cents == 30 * AMOUNT
    assert ledger.check_totals(session) == [] and ledger.check_entries(session) == []
    assert list(audit.verify_chain(session)) == []


def test_de_minimis_ceiling_holds_when_one_company_races_for_it(app, session):
    # 12 files of 10,000 € for one company that declared 250,000 €: 5 fit under 300,000 €.
    _call, ids = make_world(session, budget_cents=MILLION, files=12, same_company=True, declared=250_000 * EURO)

    def reserve(s, application, i):
        return ledger.reserve(s, application, AMOUNT, year=2026, idempotency_key=f"dm-{i}", actor=None)

    done, refused, errors = race(app, ids, reserve)
    assert errors == []
    assert len(done) == 5 and refused == ["undertaking"] * 7
    session.expire_all()
    undertaking = session.execute(select(LedgerAccount).where(LedgerAccount.kind == "undertaking")).scalar_one()
    assert undertaking.reserved_cents == 5 * AMOUNT
    assert ledger.check_totals(session) == []


def test_a_retried_request_racing_itself_writes_one_entry(app, session):
    _call, ids = make_world(session, budget_cents=MILLION, files=1)

    def reserve(s, application, i):
        return ledger.reserve(s, application, AMOUNT, year=2026, idempotency_key="same-request", actor=None,
                              regime="gber:25")

    done, refused, errors = race(app, ids * 10, reserve)
    assert errors == [] and refused == []
    assert len(done) == 10 and len(set(done)) == 1
    session.expire_all()
    assert session.execute(select(func.count(LedgerEntry.id))).scalar_one() == 1
    account = session.execute(select(LedgerAccount).where(LedgerAccount.kind == "call")).scalar_one()
    assert account.reserved_cents == AMOUNT


# --- processes, not threads: separate interpreters and connections, as gunicorn workers are ------------------------

def _reserve_in_a_process(app, application_id: int, i: int, barrier, results) -> None:
    """One forked process: its own connection (the parent's pool is dropped,
    not closed), released with the others by the barrier."""
    from app.extensions import db

    with app.app_context():
        db.engine.dispose(close=False)
        session = Session(db.engine)
        try:
            barrier.wait(timeout=60)
            application = session.get(Application, application_id)
            entry = ledger.reserve(session, application, AMOUNT, year=2026, idempotency_key=f"process-{i}",
                                   actor=None, regime="gber:25")
            session.commit()
            results.put(("done", entry.id))
        except ledger.LedgerRefused as exc:
            session.rollback()
            results.put(("refused", exc.envelope))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            results.put(("error", repr(exc)))
        finally:
            session.close()


@pytest.mark.parametrize("binding", ["plan", "year", "call"])
def test_fifty_processes_race_for_the_last_euros_of_an_envelope(app, session, binding):
    """50 processes each reserve 10,000 € where the binding envelope (the plan's,
    the year's or the call's) has room for 30 and a half: exactly 30 pass, and
    the half stays unreserved. (A yearly ceiling cannot exceed the envelope: for
    the plan's case both are equal and the plan, locked first, refuses.)"""
    room = 30 * AMOUNT + AMOUNT // 2
    plan = Plan(name="Plan course", start_year=2025, years=5, envelope_cents=room if binding == "plan" else 350 * MILLION,
                yearly_ceiling_cents=room if binding in ("plan", "year") else 70 * MILLION)
    session.add_all([plan, Axis(plan=plan, number=1, title="Compétitivité")])
    session.flush()
    call = make_call(session, budget_cents=room if binding == "call" else 100 * MILLION, max_aid_cents=None)
    ids = [make_application(session, call, make_organisation(session, make_user(session)), state="committee",
                            amount_cents=AMOUNT).id for _ in range(50)]
    session.commit()

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(ids))
    results = context.Queue()
    processes = [context.Process(target=_reserve_in_a_process, args=(app, application_id, i, barrier, results))
                 for i, application_id in enumerate(ids)]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=JOIN_TIMEOUT) for _ in processes]
    for p in processes:
        p.join(timeout=JOIN_TIMEOUT)
    assert not any(p.is_alive() for p in processes), "a ledger process hung"

    assert [o for o in outcomes if o[0] == "error"] == []
    done = [value for kind, value in outcomes if kind == "done"]
    assert len(done) == 30 and len(set(done)) == 30
    assert [value for kind, value in outcomes if kind == "refused"] == [binding] * 20
    session.expire_all()
    key = {"plan": f"plan:{plan.id}", "year": f"year:{plan.id}:2026", "call": f"call:{call.id}"}[binding]
    account = session.execute(select(LedgerAccount).where(LedgerAccount.key == key)).scalar_one()
    assert account.reserved_cents == 30 * AMOUNT and account.available_cents == AMOUNT // 2
    assert session.execute(select(func.count(LedgerEntry.id))).scalar_one() == 30
    assert ledger.check_totals(session) == [] and ledger.check_entries(session) == []
    assert ledger.check_invariants(session) == []
    assert list(audit.verify_chain(session)) == []
