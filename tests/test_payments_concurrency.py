"""Payments under concurrency, on SQLite and PostgreSQL alike: two finance
officers paying the same request at once pay it once; two requests filed at
once on one file: one is filed, the other refused (one request at a time)."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import ledger
from app.errors import UserFacingError
from app.models import Application, LedgerEntry, PaymentRequest, User
from app.operations import payments
from tests.test_payments import COMMITTED, signed_file

JOIN_TIMEOUT = 120


def race(app, count, operation):
    """Run ``operation(session)`` in ``count`` threads released together, each
    in its own session; returns (successes, refusals, unexpected errors)."""
    from app.extensions import db

    barrier = threading.Barrier(count)
    done, refused, errors = [], [], []
    lock = threading.Lock()

    def run(i: int) -> None:
        with app.app_context():
            session = Session(db.engine)
            try:
                barrier.wait(timeout=60)
                result = operation(session, i)
                session.commit()
                with lock:
                    done.append(result)
            except UserFacingError as exc:
                session.rollback()
                with lock:
                    refused.append(exc.message)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                session.rollback()
                with lock:
                    errors.append(exc)
            finally:
                session.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a payment transaction hung"
    return done, refused, errors


def test_two_officers_paying_the_same_request_pay_once(app, session):
    application, owner, finance = signed_file(session)
    request = payments.file_request(session, application, kind="advance", user=owner)
    payments.validate_request(session, request, actor=finance)
    request_id, finance_id, application_id = request.id, finance.id, application.id
    session.commit()  # release SQLite's write lock before the threads start

    def pay(s, i):
        return payments.pay_request(s, s.get(PaymentRequest, request_id), actor=s.get(User, finance_id)).status

    done, refused, errors = race(app, 4, pay)
    assert errors == [] and refused == []
    assert done == ["paid"] * 4
    session.expire_all()
    assert session.execute(select(func.count(LedgerEntry.id)).where(LedgerEntry.operation == "pay")).scalar_one() == 1
    assert ledger.file_balance(session, session.get(Application, application_id)).paid_cents == COMMITTED * 30 // 100
    assert ledger.check_totals(session) == []


def test_two_requests_filed_at_once_on_one_file_file_one(app, session):
    application, owner, _ = signed_file(session)
    application_id, owner_id = application.id, owner.id
    session.commit()  # release SQLite's write lock before the threads start

    def file(s, i):
        return payments.file_request(s, s.get(Application, application_id), kind="advance",
                                     user=s.get(User, owner_id), started_on=date.today()).id

    done, refused, errors = race(app, 3, file)
    assert errors == []
    assert len(done) == 1 and len(refused) == 2
    assert all("déjà en cours" in m or "premier versement" in m for m in refused)
    session.expire_all()
    assert session.execute(select(func.count(PaymentRequest.id))).scalar_one() == 1
