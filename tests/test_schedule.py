"""The periodic tick: closing calls, freezing drafts, reminders."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from app.models import Application, AuditEntry, Call, utcnow
from app.operations.schedule import tick
from tests.factories import make_application, make_call, make_organisation, make_user


def test_closing_a_call_freezes_its_drafts_and_leaves_submitted_files(session, outbox):
    call = make_call(session, closes_in_days=2)
    user = make_user(session, "applicant", email="owner@entreprise.fr")
    org = make_organisation(session, user)
    draft = make_application(session, call, org, state="draft")
    submitted = make_application(session, call, org, state="submitted")
    session.commit()
    draft_id, submitted_id, call_id = draft.id, submitted.id, call.id

    report = tick(session)
    assert report.calls_closed == [] and report.drafts_frozen == []

    with freeze_time(utcnow() + timedelta(days=3)):
        report = tick(session)
    assert report.calls_closed == [call.reference]
    assert report.drafts_frozen == [draft.reference]
    assert session.get(Call, call_id).status == "closed"
    assert session.get(Application, draft_id).state == "closed_without_follow_up"
    assert session.get(Application, submitted_id).state == "submitted"
    actions = session.execute(select(AuditEntry.action).where(AuditEntry.object_id == draft.reference)).scalars().all()
    assert "transition:freeze_draft" in actions
    assert any("owner@entreprise.fr" == m["To"] for m in outbox)


def test_a_draft_is_reminded_once_per_threshold(app, session, outbox):
    call = make_call(session, closes_in_days=10)
    user = make_user(session, "applicant", email="porteur@entreprise.fr")
    org = make_organisation(session, user)
    draft = make_application(session, call, org, state="draft")
    make_application(session, call, org, state="submitted")
    session.commit()

    assert tick(session).reminders == []  # 10 days before: none of 7 or 1
    with freeze_time(utcnow() + timedelta(days=4)):  # 6 days before
        assert tick(session).reminders == [(draft.reference, 7)]
        assert tick(session).reminders == []  # not twice
    with freeze_time(utcnow() + timedelta(days=9, hours=12)):  # 12 hours before
        assert tick(session).reminders == [(draft.reference, 1)]
    reminders = [m for m in outbox if "Rappel" in m["Subject"]]
    assert len(reminders) == 2
    assert reminders[0]["To"] == "porteur@entreprise.fr"
    assert draft.reference in reminders[0].get_content()


def test_tick_command(app, session):
    call = make_call(session, closes_in_days=1)
    org = make_organisation(session, make_user(session, "applicant"))
    make_application(session, call, org, state="draft")
    session.commit()
    with freeze_time(utcnow() + timedelta(days=2)):
        result = app.test_cli_runner().invoke(args=["tick"])
    assert result.exit_code == 0, result.output
    assert "calls closed: 1, drafts frozen: 1" in result.output


def test_the_tick_runs_as_a_self_rescheduling_rq_job(app, session):
    import os

    import pytest

    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is not set")
    from rq.job import Job

    from app.jobs import make_worker, runner
    from app.operations.schedule import TICK_JOB_IDS, ensure_tick_scheduled

    call = make_call(session, closes_in_days=1)
    org = make_organisation(session, make_user(session, "applicant"))
    draft = make_application(session, call, org, state="draft")
    session.commit()
    draft_id = draft.id
    with app.app_context():
        for job_id in TICK_JOB_IDS:
            if runner().redis.exists(f"rq:job:{job_id}"):
                Job.fetch(job_id, connection=runner().redis).delete()
        ensure_tick_scheduled()
        ensure_tick_scheduled()  # idempotent: still one job
        assert runner().queue("default").count == 1
        with freeze_time(utcnow() + timedelta(days=2)):
            make_worker(app, ("default",), simple=True).work(burst=True)
        first = Job.fetch(TICK_JOB_IDS[0], connection=runner().redis)
        assert first.get_status(refresh=True) == "finished"
        following = Job.fetch(TICK_JOB_IDS[1], connection=runner().redis)
        assert following.get_status(refresh=True) == "scheduled"  # the next tick is planned
        first.delete()
        following.delete()
    session.expire_all()
    assert session.get(Application, draft_id).state == "closed_without_follow_up"
