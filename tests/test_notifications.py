"""Notifications: in-app messages with an unread count, e-mail after commit
in the user's language, staff preferences (instant, daily digest, none), the
digest sent by the tick, and delivery to a real local SMTP server."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time

from app.extensions import db
from app.jobs import enqueue_after_commit
from app.models import Notification, NotificationPreference
from app.notifications import send_digests, send_notification
from app.operations.notifications import set_notification_mode
from app.operations.schedule import tick
from tests.conftest import run_queued_jobs
from tests.factories import login, make_application, make_call, make_organisation, make_user
from tests.test_jobs import poll, smtp_server  # noqa: F401 - the real SMTP server fixture


def setup_file(session):
    call = make_call(session)
    owner = make_user(session, email="owner-notif@example.test")
    colleague = make_user(session, email="colleague-notif@example.test", locale="en")
    org = make_organisation(session, owner, colleague)
    application = make_application(session, call, org, state="submitted")
    instant = make_user(session, "instructor", email="instant@example.test")
    digest = make_user(session, "instructor", email="digest@example.test")
    silent = make_user(session, ("instructor", call.id), email="silent@example.test")
    set_notification_mode(session, digest, "digest")
    set_notification_mode(session, silent, "none")
    return application, owner, colleague, instant, digest, silent


def notify(session, application, template, audience):
    from flask import current_app

    enqueue_after_commit(send_notification, application.id, template, audience, None, queue="mail")
    session.commit()
    run_queued_jobs(current_app._get_current_object())  # REDIS_URL set: a real RQ worker sends it


def test_applicants_get_mail_and_in_app_notifications_in_their_language(app, session, outbox):
    application, owner, colleague, *_ = setup_file(session)
    notify(session, application, "accuse_reception", "applicant")
    assert sorted(str(m["To"]) for m in outbox) == [colleague.email, owner.email]
    session.expire_all()
    rows = session.query(Notification).order_by(Notification.user_id).all()
    assert {r.user_id for r in rows} == {owner.id, colleague.id}
    assert all(r.mail_status == "sent" and r.read_at is None for r in rows)
    assert all(application.reference in r.subject for r in rows)
    assert all(r.url.endswith(application.reference) for r in rows)


def test_nothing_is_sent_or_stored_when_the_transaction_rolls_back(app, session, outbox):
    application, *_ = setup_file(session)
    session.commit()
    enqueue_after_commit(send_notification, application.id, "accuse_reception", "applicant", None, queue="mail")
    session.rollback()
    session.commit()
    assert len(outbox) == 0
    assert session.query(Notification).count() == 0


def test_staff_preferences_instant_digest_none(app, session, outbox):
    application, _o, _c, instant, digest, silent = setup_file(session)
    notify(session, application, "nouveau_depot", "instructors")
    assert [str(m["To"]) for m in outbox] == [instant.email]
    session.expire_all()
    status = {n.user_id: n.mail_status for n in session.query(Notification)}
    assert status == {instant.id: "sent", digest.id: "digest_pending", silent.id: "skipped"}


def test_the_tick_sends_one_daily_digest(app, session, outbox):
    application, _o, _c, instant, digest, _s = setup_file(session)
    notify(session, application, "nouveau_depot", "instructors")
    notify(session, application, "complements_recus", "instructors")
    before = len(outbox)
    with freeze_time(datetime(2026, 11, 23, 5, 30, tzinfo=timezone.utc)):  # 6:30 in Paris, before 7:00
        assert send_digests(session) == 0
        session.commit()
    with freeze_time(datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc)):
        report = tick(session)
        assert report.digests == 1
        # once a day
        assert tick(session).digests == 0
    mails = list(outbox)[before:]
    assert [str(m["To"]) for m in mails] == [digest.email]
    body = mails[0].get_content()
    assert "(2)" in str(mails[0]["Subject"]) and application.reference in body
    session.expire_all()
    assert {n.mail_status for n in session.query(Notification).filter_by(user_id=digest.id)} == {"digested"}


def test_unread_count_in_the_header_list_and_mark_as_read(app, session, client, outbox):
    application, owner, *_ = setup_file(session)
    notify(session, application, "accuse_reception", "applicant")
    notify(session, application, "dossier_recevable", "applicant")
    login(client, owner.email)
    home = client.get("/notifications/").get_data(as_text=True)
    assert '<span class="badge">2<span class="visually-hidden"> non lue(s)</span></span>' in home
    assert f"Accusé de réception — dossier {application.reference}" in home
    first = db.session.query(Notification).filter_by(user_id=owner.id).order_by(Notification.id).first()
    assert client.post(f"/notifications/{first.id}/lue").status_code == 302
    assert '<span class="badge">1<span' in client.get("/notifications/").get_data(as_text=True)
    assert client.post("/notifications/tout-lu").status_code == 302
    assert 'class="badge"' not in client.get("/notifications/").get_data(as_text=True)
    # someone else's notification is not found
    other = db.session.query(Notification).filter(Notification.user_id != owner.id).first()
    assert client.post(f"/notifications/{other.id}/lue").status_code == 404
    db.session.expire_all()
    assert db.session.get(Notification, other.id).read_at is None


def test_staff_choose_their_mode_applicants_cannot(app, session, client):
    staff = make_user(session, "instructor", email="prefs-staff@example.test")
    applicant = make_user(session, email="prefs-applicant@example.test")
    session.commit()
    login(client, staff.email)
    page = client.get("/notifications/").get_data(as_text=True)
    assert "Un récapitulatif quotidien" in page
    assert client.post("/notifications/preferences", data={"mode": "digest"}).status_code == 302
    assert db.session.get(NotificationPreference, staff.id).mode == "digest"
    assert client.post("/notifications/preferences", data={"mode": "jamais"}).status_code == 422
    applicant_client = app.test_client()
    login(applicant_client, applicant.email)
    assert "récapitulatif" not in applicant_client.get("/notifications/").get_data(as_text=True)
    assert applicant_client.post("/notifications/preferences", data={"mode": "none"}).status_code == 403
    assert app.test_client().get("/notifications/").status_code == 302  # login first


def test_notification_mail_reaches_a_real_smtp_server(app, session, smtp_server, monkeypatch):  # noqa: F811
    controller, handler = smtp_server
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", controller.hostname)
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    monkeypatch.setitem(app.config, "MAIL_USERNAME", None)
    application, owner, colleague, *_ = setup_file(session)
    notify(session, application, "decision_favorable", "applicant")
    run_queued_jobs(app)
    assert poll(lambda: len(handler.envelopes) >= 2, timeout=5)
    assert sorted(r for e in handler.envelopes for r in e.rcpt_tos) == [colleague.email, owner.email]
    message = email.message_from_bytes(handler.envelopes[0].original_content or handler.envelopes[0].content,
                                       policy=email.policy.default)
    assert application.reference in str(message["Subject"])
    assert application.title in message.get_content()


def test_mail_and_in_app_text_are_in_each_users_language(app, session, outbox, monkeypatch):
    from app import notifications

    # A template whose French msgids the English catalogue already translates.
    monkeypatch.setitem(notifications.TEMPLATES, "essai_langue", notifications.Template("Accueil", "Se déconnecter"))
    application, owner, colleague, *_ = setup_file(session)
    notify(session, application, "essai_langue", "applicant")
    by_address = {str(m["To"]): (str(m["Subject"]), m.get_content().strip()) for m in outbox}
    assert by_address == {owner.email: ("Accueil", "Se déconnecter"), colleague.email: ("Home", "Sign out")}
    session.expire_all()
    assert {n.user_id: n.subject for n in session.query(Notification)} == {owner.id: "Accueil", colleague.id: "Home"}


# --- a retried notification job mails once -------------------------------------------------------

def test_a_notification_job_run_twice_mails_once_and_writes_its_rows_once(app, session, outbox):
    application, owner, colleague, *_ = setup_file(session)
    session.commit()
    assert send_notification(application.id, "accuse_reception", "applicant", None, "job-retry-1") == 2
    # the job is retried after its success (a worker lost its acknowledgement): nothing new
    assert send_notification(application.id, "accuse_reception", "applicant", None, "job-retry-1") == 0
    assert sorted(str(m["To"]) for m in outbox) == [colleague.email, owner.email]
    session.expire_all()
    rows = session.query(Notification).all()
    assert len(rows) == 2 and {r.mail_status for r in rows} == {"sent"} and {r.job_key for r in rows} == {"job-retry-1"}
    # another notification (another key) is another message
    assert send_notification(application.id, "accuse_reception", "applicant", None, "job-retry-2") == 2
    assert len(outbox) == 4


def test_a_failed_delivery_is_retried_for_the_mail_not_sent_only(app, session, outbox, monkeypatch):
    from app import notifications

    application, owner, colleague, *_ = setup_file(session)
    session.commit()
    real = notifications.deliver

    def down_for_the_colleague(to, subject, body):
        if to == colleague.email:
            raise ConnectionRefusedError("serveur SMTP injoignable")
        real(to, subject, body)

    monkeypatch.setattr(notifications, "deliver", down_for_the_colleague)
    with pytest.raises(ConnectionRefusedError):
        send_notification(application.id, "decision_favorable", "applicant", None, "job-fail")
    session.expire_all()
    status = {n.user_id: n.mail_status for n in session.query(Notification)}
    assert status == {owner.id: "sent", colleague.id: "queued"}  # given back, to be retried
    monkeypatch.setattr(notifications, "deliver", real)
    assert send_notification(application.id, "decision_favorable", "applicant", None, "job-fail") == 1
    assert sorted(str(m["To"]) for m in outbox) == [colleague.email, owner.email]  # each once
    session.expire_all()
    assert {n.mail_status for n in session.query(Notification)} == {"sent"}
    assert session.query(Notification).count() == 2


def test_a_retried_job_delivers_one_mail_to_a_real_smtp_server(app, session, smtp_server, monkeypatch):  # noqa: F811
    controller, handler = smtp_server
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", controller.hostname)
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    monkeypatch.setitem(app.config, "MAIL_USERNAME", None)
    call = make_call(session)
    owner = make_user(session, email="smtp-once@example.test")
    application = make_application(session, call, make_organisation(session, owner), state="submitted")
    session.commit()
    for _run in range(2):
        send_notification(application.id, "decision_favorable", "applicant", None, "job-smtp")
    assert poll(lambda: len(handler.envelopes) >= 1, timeout=5)
    import time

    time.sleep(0.3)  # a second message would have arrived by now
    assert [e.rcpt_tos for e in handler.envelopes] == [[owner.email]]


def test_the_transition_queues_its_notification_under_a_key(app, session, outbox):
    """The workflow's notify effect goes through queue_notification: the job carries a
    key of its own, so running it again (a retry) sends nothing more."""
    from app.operations.transitions import transition

    application, owner, colleague, *_ = setup_file(session)
    application.state = "eligibility_check"
    instructor = make_user(session, "instructor", email="keyed-instructor@example.test")
    session.commit()
    transition(session, application, "request_corrections", actor=instructor, role="instructor",
               reason="Le devis n'est pas signé.")
    session.commit()
    run_queued_jobs(app)
    assert sorted(str(m["To"]) for m in outbox) == [colleague.email, owner.email]
    session.expire_all()
    keys = {n.job_key for n in session.query(Notification)}
    assert len(keys) == 1 and None not in keys
    (key,) = keys
    assert send_notification(application.id, "demande_complements", "applicant", "Le devis n'est pas signé.", key) == 0
    assert len(outbox) == 2 and session.query(Notification).count() == 2
