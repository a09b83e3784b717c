"""The transition service: the workflow engine applied to files in the database."""

from __future__ import annotations

import copy
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

import workflows
from app import audit
from app.extensions import db
from app.errors import Conflict, UserFacingError
from app.models import Application, AuditEntry, ClockPause, WorkflowVersion
from app.operations.transitions import transition
from app.workflow_versions import current_version, definition_for
from tests.factories import declare_no_conflict, login, make_application, make_call, make_organisation, make_user


@pytest.fixture
def submitted(session):
    call = make_call(session)
    applicant = make_user(session, "applicant")
    org = make_organisation(session, applicant)
    application = make_application(session, call, org, state="submitted")
    instructor = make_user(session, "instructor")
    session.commit()
    return application, instructor, applicant


def test_a_transition_changes_state_and_writes_one_chained_audit_row(session, submitted):
    application, instructor, _ = submitted
    before_rows = session.execute(select(AuditEntry)).scalars().all()
    done = transition(session, application, "start_eligibility", actor=instructor, role="instructor")
    session.commit()
    assert (done.from_state, done.to_state) == ("submitted", "eligibility_check")
    assert application.state == "eligibility_check"
    assert application.version == 2
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert len(rows) == len(before_rows) + 1
    row = rows[-1]
    assert row.action == "transition:start_eligibility"
    assert row.actor_id == instructor.id and row.actor_role == "instructor"
    assert row.before == {"state": "submitted"}
    assert row.after["state"] == "eligibility_check"
    assert row.after["workflow_version"] == application.workflow_version
    assert row.prev_hash == rows[-2].hash if len(rows) > 1 else True
    assert list(audit.verify_chain(session)) == []


def test_a_role_not_allowed_is_refused_and_nothing_changes(session, submitted):
    application, _, applicant = submitted
    count = session.execute(select(AuditEntry)).scalars().all()
    with pytest.raises(UserFacingError) as info:
        transition(session, application, "start_eligibility", actor=applicant, role="applicant")
    assert info.value.status == 403
    session.rollback()
    assert session.get(Application, application.id).state == "submitted"
    assert len(session.execute(select(AuditEntry)).scalars().all()) == len(count)


@pytest.mark.parametrize("role", ["applicant", "expert", "committee", "finance", "admin"])
def test_every_other_role_is_refused_eligibility_start(session, submitted, role):
    application, instructor, _ = submitted
    with pytest.raises(UserFacingError):
        transition(session, application, "start_eligibility", actor=instructor, role=role)


def test_a_transition_from_the_wrong_state_is_refused(session, submitted):
    application, instructor, _ = submitted
    with pytest.raises(UserFacingError) as info:
        transition(session, application, "start_instruction", actor=instructor, role="instructor")
    assert info.value.status == 403


def test_guards_refuse_with_every_reason(session, submitted):
    from app.operations.transitions import TransitionRefused

    application, instructor, _ = submitted
    transition(session, application, "start_eligibility", actor=instructor, role="instructor")
    session.commit()
    with pytest.raises(TransitionRefused) as info:  # no eligibility result recorded yet
        transition(session, application, "start_instruction", actor=instructor, role="instructor")
    assert info.value.messages and all(isinstance(m, str) and m for m in info.value.messages)


def test_stale_expected_version_is_a_conflict(session, submitted):
    application, instructor, _ = submitted
    with pytest.raises(Conflict):
        transition(session, application, "start_eligibility", actor=instructor, role="instructor", expected_version=7)
    assert application.state == "submitted"


def test_two_staff_members_acting_at_once_one_wins(app, submitted):
    """Two sessions load the same file, both fire; the second write is refused
    by the version check and leaves nothing behind."""
    from app.extensions import db

    application, instructor, _ = submitted
    colleague = make_user(db.session, ("instructor", application.call_id), email="collegue@region-grandest.fr")
    application_id, reference = application.id, application.reference
    instructor_id, colleague_id = instructor.id, colleague.id
    db.session.commit()  # end the fixture's read transaction (SQLite: it holds the write lock)
    with app.app_context():
        engine = db.engine
        first = Session(engine, expire_on_commit=False)
        second = Session(engine, expire_on_commit=False)
        try:
            a1 = first.get(Application, application_id)
            first.commit()
            a2 = second.get(Application, application_id)
            second.commit()
            transition(first, a1, "start_eligibility", actor=instructor_id, role="instructor")
            first.commit()
            with pytest.raises(StaleDataError):  # the colleague's page still showed the file as submitted
                transition(second, a2, "start_eligibility", actor=colleague_id, role="instructor")
            second.rollback()
        finally:
            first.close()
            second.close()
        final = db.session.get(Application, application_id)
        assert final.state == "eligibility_check"
        actions = db.session.execute(
            select(AuditEntry.action).where(AuditEntry.object_id == reference)).scalars().all()
        assert actions.count("transition:start_eligibility") == 1
        actors = db.session.execute(select(AuditEntry.actor_id).where(
            AuditEntry.object_id == reference, AuditEntry.action == "transition:start_eligibility")).scalars().all()
        assert actors == [instructor_id]


def test_corrections_pause_and_resubmission_resumes_the_clock(session, submitted):
    application, instructor, applicant = submitted
    transition(session, application, "start_eligibility", actor=instructor, role="instructor")
    transition(session, application, "request_corrections", actor=instructor, role="instructor", reason="Kbis illisible")
    session.commit()
    pauses = session.execute(select(ClockPause).where(ClockPause.application_id == application.id)).scalars().all()
    assert len(pauses) == 1 and pauses[0].ended_at is None


def test_a_file_keeps_its_workflow_version_when_the_definition_changes(session, submitted):
    """A file runs on the stored definition it recorded, not on the file on disk."""
    application, instructor, _ = submitted
    disk = workflows.load_definition("pack_ia")
    variant = copy.deepcopy(disk.to_dict())
    for t in variant["transitions"]:
        if t["name"] == "start_eligibility":
            t["name"] = "open_eligibility"
    pinned = workflows.from_dict(variant)
    assert pinned.hash != disk.hash
    session.add(WorkflowVersion(name="pack_ia", hash=pinned.hash, label="ancienne", definition=pinned.to_dict()))
    session.flush()
    application.workflow_version = pinned.hash
    session.commit()
    assert definition_for(session, application.workflow_version).hash == pinned.hash
    with pytest.raises(UserFacingError):  # the disk's transition name does not exist in the pinned version
        transition(session, application, "start_eligibility", actor=instructor, role="instructor")
    session.rollback()
    application = session.get(Application, application.id)
    transition(session, application, "open_eligibility", actor=instructor, role="instructor")
    session.commit()
    assert application.state == "eligibility_check"
    assert current_version(session, "pack_ia") == disk.hash  # new files still get the disk version


def test_instructor_fires_a_transition_from_the_file_page(app, session, submitted, client):
    application, instructor, _ = submitted
    page_version, application_id, reference = application.version, application.id, application.reference
    assert login(client, instructor.email).status_code == 302
    declare_no_conflict(client, reference)
    page = client.get(f"/instruction/dossiers/{reference}")
    assert page.status_code == 200
    assert "Commencer la vérification" in page.get_data(as_text=True)
    response = client.post(f"/instruction/dossiers/{reference}/transitions/start_eligibility",
                           data={"version": page_version}, follow_redirects=True)
    assert response.status_code == 200
    session.expire_all()
    assert session.get(Application, application_id).state == "eligibility_check"
    # The same form posted again with the old version: refused, told, nothing changes.
    again = client.post(f"/instruction/dossiers/{reference}/transitions/request_corrections",
                        data={"version": page_version, "reason": "x"}, follow_redirects=True)
    assert "modifié par quelqu" in again.get_data(as_text=True)
    session.expire_all()
    assert session.get(Application, application_id).state == "eligibility_check"
    # The staff's full history: every audit row of the file, in order, with who, the states and the reason.
    page = client.get(f"/instruction/dossiers/{reference}").get_data(as_text=True)
    section = page[page.index('id="historique"'):]
    rows = re.findall(r"<tr><td>(.*?)</tr>", section, re.S)
    actions = [re.search(r"<code>([^<]+)</code>", row).group(1) for row in rows]
    expected = [e.action for e in session.execute(select(AuditEntry).where(
        AuditEntry.object_type == "application", AuditEntry.object_id == reference).order_by(AuditEntry.id)).scalars()]
    assert actions == expected and "transition:start_eligibility" in actions
    started = rows[actions.index("transition:start_eligibility")]
    assert instructor.name in started and "→" in started
