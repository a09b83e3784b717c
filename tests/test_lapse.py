"""Lapse (caducité): fired by the tick when the work starts or ends too late
(DOMAIN.md §4), releasing what the ledger still holds for the file."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from app import ledger
from app.models import Application, AuditEntry, LedgerAccount
from app.operations.schedule import tick
from app.operations.transitions import add_months, lapse_due
from tests.factories import make_application, make_call, make_organisation, make_user

DECIDED = date(2026, 3, 17)


def _committed_file(session, *, state="payments", started=None, completed=None):
    call = make_call(session, workflow="ami_numerique", budget_cents=500_000_00, max_aid_cents=200_000_00)
    owner = make_user(session, "applicant")
    application = make_application(session, call, make_organisation(session, owner), state=state,
                                   amount_cents=80_000_00)
    application.proposed_amount_cents = application.awarded_amount_cents = 80_000_00
    application.decided_on, application.work_started_on, application.work_completed_on = DECIDED, started, completed
    ledger.reserve(session, application, 80_000_00, year=2026, regime="gber:25", idempotency_key=f"t:{application.id}:r",
                   actor=None, on=DECIDED)
    if state == "payments":
        ledger.commit(session, application, 80_000_00, year=2026, idempotency_key=f"t:{application.id}:c", actor=None,
                      on=DECIDED)
        ledger.pay(session, application, 24_000_00, kind="advance", idempotency_key=f"t:{application.id}:p",
                   actor=None, on=DECIDED)
    session.commit()
    return application


def _at(day: date):
    return freeze_time(datetime(day.year, day.month, day.day, 10, tzinfo=timezone.utc))


def test_add_months_keeps_the_day_or_takes_the_last_of_the_month():
    assert add_months(date(2026, 3, 17), 24) == date(2028, 3, 17)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2027, 2, 28), 12) == date(2028, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


@pytest.mark.parametrize(("started", "completed", "today", "due"), [
    (None, None, date(2028, 3, 17), False),                 # the last day to start
    (None, None, date(2028, 3, 18), True),                  # not started within 2 years
    (date(2026, 9, 1), None, date(2028, 3, 18), False),     # started in time
    (date(2026, 9, 1), None, date(2030, 3, 17), False),     # the last day to complete
    (date(2026, 9, 1), None, date(2030, 3, 18), True),      # not completed within 4 years
    (date(2026, 9, 1), date(2029, 12, 1), date(2031, 1, 1), False),
])
def test_lapse_is_due_at_the_edges(app, session, started, completed, today, due):
    application = Application(decided_on=DECIDED, work_started_on=started, work_completed_on=completed)
    assert lapse_due(application, today) is due


def test_a_file_never_decided_never_lapses(app):
    assert lapse_due(Application(decided_on=None), date(2040, 1, 1)) is False


def test_the_limits_come_from_the_configuration(app, session):
    app.config["LAPSE_START_MONTHS"] = 6
    try:
        assert lapse_due(Application(decided_on=DECIDED), date(2026, 9, 18)) is True
    finally:
        app.config["LAPSE_START_MONTHS"] = 24


def test_the_tick_lapses_a_file_not_started_in_time_and_decommits_what_is_unpaid(session, outbox):
    late = _committed_file(session)
    on_time = _committed_file(session, started=date(2026, 6, 1))
    late_id, on_time_id = late.id, on_time.id

    with _at(date(2028, 3, 17)):
        assert tick(session).transitions == []
    with _at(date(2028, 3, 18)):
        report = tick(session)
    assert report.transitions == [(late.reference, "lapse")]
    assert session.get(Application, late_id).state == "lapsed"
    assert session.get(Application, on_time_id).state == "payments"

    file_account = session.execute(select(LedgerAccount).where(LedgerAccount.application_id == late_id)).scalar_one()
    assert (file_account.reserved_cents, file_account.committed_cents, file_account.paid_cents) == (0, 24_000_00, 24_000_00)
    audit_row = session.execute(select(AuditEntry).where(AuditEntry.object_id == late.reference,
                                                         AuditEntry.action == "transition:lapse")).scalar_one()
    assert audit_row.actor_role == "system" and audit_row.after["state"] == "lapsed"
    assert ledger.check_totals(session) == [] and ledger.check_entries(session) == []


def test_an_approved_file_lapses_by_releasing_its_reservation(session, outbox):
    application = _committed_file(session, state="approved")
    with _at(date(2028, 4, 1)):
        tick(session)
    session.expire_all()
    assert session.get(Application, application.id).state == "lapsed"
    file_account = session.execute(
        select(LedgerAccount).where(LedgerAccount.application_id == application.id)).scalar_one()
    assert (file_account.reserved_cents, file_account.committed_cents) == (0, 0)
