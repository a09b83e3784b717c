"""Due dates stored on files: time limits per state, working days by
department (Alsace-Moselle's extra holidays), pushed back by correction pauses."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from freezegun import freeze_time

from app.models import Application, Attachment
from app.operations.transitions import transition
from tests.factories import make_application, make_call, make_organisation, make_user
from workflows.deadlines import add_working_days
from workflows.time_limits import load_limits


def submitted_file(session, department: str):
    call = make_call(session, closes_in_days=200)
    org = make_organisation(session, make_user(session), department=department)
    application = make_application(session, call, org, state="submitted")
    instructor = make_user(session, "instructor")
    session.commit()
    return application, instructor


def test_eligibility_due_date_counts_working_days_with_good_friday_in_moselle_not_in_marne(session):
    # Thursday 2 April 2026: Good Friday (3 April) is a holiday in Moselle (57), not in Marne (51);
    # Easter Monday (6 April) is a holiday in both.
    limit = load_limits("pack_ia")["eligibility_check"]
    assert limit.working and limit.days == 15
    results = {}
    for department in ("51", "57"):
        with freeze_time(datetime(2026, 4, 2, 10, 0, tzinfo=timezone.utc)):
            application, instructor = submitted_file(session, department)
            transition(session, application, "start_eligibility", actor=instructor, role="instructor")
            session.commit()
        results[department] = session.get(Application, application.id).due_date
    assert results["51"] == add_working_days(date(2026, 4, 2), 15, "51") == date(2026, 4, 24)
    assert results["57"] == add_working_days(date(2026, 4, 2), 15, "57") == date(2026, 4, 27)


def test_a_request_for_corrections_pauses_the_clock(session):
    with freeze_time(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)):  # Monday
        application, instructor = submitted_file(session, "51")
        transition(session, application, "start_eligibility", actor=instructor, role="instructor")
        session.commit()
    first_due = session.get(Application, application.id).due_date
    assert first_due == add_working_days(date(2026, 3, 2), 15, "51")
    with freeze_time(datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)):  # Wednesday: corrections asked
        transition(session, application, "request_corrections", actor=instructor, role="instructor", reason="Kbis")
        session.commit()
        assert session.get(Application, application.id).due_date is None
    for key in ("kbis", "devis_prestataire", "attestation_de_minimis", "liasse_fiscale"):
        session.add(Attachment(application_id=application.id, field_key=key, original_name=f"{key}.pdf",
                               stored_name=f"{application.id:04d}{key:0>28}"[:32], content_type="application/pdf",
                               size_bytes=10, sha256="0" * 64, scan_status="not_scanned"))
    session.commit()
    with freeze_time(datetime(2026, 3, 11, 9, 0, tzinfo=timezone.utc)):  # a week later: the applicant re-submits
        application = session.get(Application, application.id)
        transition(session, application, "resubmit", actor=None, role="applicant")
        session.commit()
    later_due = session.get(Application, application.id).due_date
    # 4 March to 11 March paused (inclusive): 6 working days (4, 5, 6, 9, 10, 11) do not count.
    assert later_due == add_working_days(first_due, 6, "51")
    assert later_due > first_due


def test_states_without_a_time_limit_clear_the_due_date(session):
    application, instructor = submitted_file(session, "67")
    transition(session, application, "start_eligibility", actor=instructor, role="instructor")
    session.commit()
    assert application.due_date is not None and application.due_state == "eligibility_check"
    transition(session, application, "request_corrections", actor=instructor, role="instructor", reason="x")
    session.commit()
    assert application.due_date is None and application.due_state is None


def test_instructors_are_reminded_once_when_a_due_date_comes_near(session, outbox):
    from app.operations.schedule import tick

    with freeze_time(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)):
        application, instructor = submitted_file(session, "51")
        transition(session, application, "start_eligibility", actor=instructor, role="instructor")
        session.commit()
        due = application.due_date
        reference = application.reference
    with freeze_time(datetime.combine(due - timedelta(days=5), datetime.min.time(), tzinfo=timezone.utc)):
        tick(session)
    assert not [m for m in outbox if reference in m["Subject"]]
    with freeze_time(datetime.combine(due - timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)):
        tick(session)
        tick(session)
    mails = [m for m in outbox if reference in m["Subject"]]
    assert len(mails) == 1 and "Échéance proche" in mails[0]["Subject"]
    assert mails[0]["To"] == instructor.email


def test_withdrawing_during_corrections_closes_the_pause_and_the_request(session):
    from sqlalchemy import select

    from app.models import ClockPause, CorrectionRequest
    from app.operations import submission

    application, instructor = submitted_file(session, "51")
    transition(session, application, "start_eligibility", actor=instructor, role="instructor")
    session.add(CorrectionRequest(application_id=application.id, requested_by_id=instructor.id, keys=["kbis"],
                                  message="Kbis illisible", due_date=date(2099, 1, 1)))
    transition(session, application, "request_corrections", actor=instructor, role="instructor", reason="Kbis illisible")
    session.commit()
    applicant = application.organisation.memberships[0].user
    submission.withdraw(session, application, applicant, "Projet abandonné")
    session.commit()
    assert application.state == "withdrawn"
    pause = session.execute(select(ClockPause).where(ClockPause.application_id == application.id)).scalar_one()
    assert pause.ended_at is not None
    request = session.execute(select(CorrectionRequest).where(CorrectionRequest.application_id == application.id)).scalar_one()
    assert request.resolved_at is not None
