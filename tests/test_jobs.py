"""Jobs dispatched after commit, and the mail backends (memory, log, SMTP, RQ)."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text as sa_text

from app import jobs
from app.extensions import db
from app.mail import deliver, queue_mail
from app.models import User
from tests.factories import make_user

RECORDED: list[dict] = []


def record_job(label: str, user_id: int | None = None, release: threading.Event | None = None) -> None:
    """A job function: notes where it ran and what it could read from the database."""
    from flask import current_app, has_app_context

    if release is not None:
        assert release.wait(5), "the test never released the job"
    entry = {"label": label, "thread": threading.current_thread().name, "app_context": has_app_context()}
    if user_id is not None:
        user = db.session.get(User, user_id)
        entry["email"] = user.email if user else None
        entry["app"] = current_app._get_current_object()
    RECORDED.append(entry)


@pytest.fixture(autouse=True)
def _clear_recorded():
    RECORDED.clear()
    yield
    RECORDED.clear()


@pytest.fixture
def job_runner(app) -> jobs.JobRunner:
    return app.extensions["guichet_jobs"]


@pytest.fixture
def in_process(job_runner, monkeypatch) -> jobs.JobRunner:
    """Jobs run in-process and at once (the tests' default without REDIS_URL), even when CI sets REDIS_URL."""
    monkeypatch.setattr(job_runner, "redis_url", None)
    monkeypatch.setattr(job_runner, "eager", True)
    return job_runner


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:10]}"


def poll(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def subjects(outbox) -> list[str]:
    return [str(m["Subject"]) for m in outbox]


# --- after commit / rollback ---------------------------------------------------------------------


def test_mail_queued_in_a_rolled_back_transaction_is_never_sent(in_process, session, outbox):
    user = make_user(session, email="ghost@example.test")
    subject = unique("Bienvenue")
    queue_mail(user.email, subject, "Votre compte est créé.")
    assert outbox == []  # nothing before the end of the transaction
    session.rollback()
    assert outbox == []
    session.commit()  # a later commit does not resurrect it
    make_user(session, email="later@example.test")
    session.commit()
    assert outbox == []
    assert session.query(User).filter_by(email="ghost@example.test").one_or_none() is None


def test_mail_queued_then_committed_is_sent_exactly_once(app, in_process, session, outbox):
    user = make_user(session, email="real@example.test")
    subject = unique("Dossier déposé")
    queue_mail(user.email, subject, "Votre dossier PIA-2026-0001 est déposé.\nMerci.")
    assert outbox == []
    session.commit()
    assert len(outbox) == 1
    message = outbox[0]
    assert message["To"] == "real@example.test"
    assert message["Subject"] == subject
    assert message["From"] == app.config["MAIL_SENDER"]
    assert "Votre dossier PIA-2026-0001 est déposé." in message.get_content()
    make_user(session)
    session.commit()
    session.commit()
    assert len(outbox) == 1


def test_several_jobs_run_in_order_after_one_commit(in_process, session, outbox):
    first, second = unique("premier"), unique("second")
    queue_mail("a@example.test", first, "1")
    queue_mail("b@example.test", second, "2")
    make_user(session)
    session.commit()
    assert subjects(outbox) == [first, second]


def test_job_runs_after_the_data_is_committed(app, in_process, session):
    user = make_user(session, email="visible@example.test")
    jobs.enqueue_after_commit(record_job, "after-commit", user_id=user.id)
    assert RECORDED == []
    session.commit()
    assert len(RECORDED) == 1
    # the job ran in its own application context and read the committed row
    assert RECORDED[0]["app_context"] is True
    assert RECORDED[0]["app"] is app
    assert RECORDED[0]["email"] == "visible@example.test"


def test_rolling_back_a_savepoint_keeps_jobs_queued_before_it(in_process, session, outbox):
    subject = unique("avant le savepoint")
    make_user(session)
    queue_mail("keep@example.test", subject, "corps")
    try:
        with session.begin_nested():
            make_user(session)
            raise RuntimeError("abandon the savepoint")
    except RuntimeError:
        pass
    session.commit()
    assert subjects(outbox) == [subject]


def test_mail_queued_before_any_sql_is_dropped_by_rollback(in_process, session, outbox):
    session.commit()  # start from a session with no transaction in progress
    queue_mail("early@example.test", unique("avant tout SQL"), "corps")
    session.rollback()
    make_user(session)
    session.commit()
    assert outbox == []


def test_job_queued_inside_a_rolled_back_savepoint_is_not_sent(in_process, session, outbox):
    kept, dropped = unique("gardé"), unique("abandonné")
    make_user(session)
    queue_mail("keep@example.test", kept, "corps")
    try:
        with session.begin_nested():
            make_user(session, email="savepoint@example.test")
            queue_mail("savepoint@example.test", dropped, "corps")
            raise RuntimeError("abandon the savepoint")
    except RuntimeError:
        pass
    session.commit()
    assert session.query(User).filter_by(email="savepoint@example.test").one_or_none() is None
    assert subjects(outbox) == [kept]


def test_unknown_queue_is_refused(session):
    pending_before = list(session.info.get(jobs._PENDING, []))
    with pytest.raises(ValueError, match="nope"):
        jobs.enqueue_after_commit(record_job, "x", queue="nope")
    assert session.info.get(jobs._PENDING, []) == pending_before
    session.commit()
    assert RECORDED == []


@pytest.mark.parametrize("queue", jobs.QUEUES)
def test_known_queues_are_accepted(in_process, session, queue):
    jobs.enqueue_after_commit(record_job, queue, queue=queue)
    session.commit()
    assert [r["label"] for r in RECORDED] == [queue]


# --- mail backends -------------------------------------------------------------------------------


def test_log_backend_appends_to_instance_mail_log(app, in_process, session, outbox, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "log")
    path = Path(app.config["INSTANCE_DIR"]) / "mail.log"
    subject = unique("Réinitialisation")
    queue_mail("log@example.test", subject, "Ouvrez ce lien : https://guichet.test/x")
    session.commit()
    text = path.read_text(encoding="utf-8")
    assert text.count(subject) == 1
    block = text[text.index("To: log@example.test\nSubject: " + subject):]
    assert "Ouvrez ce lien : https://guichet.test/x" in block.split("-" * 60)[0]
    assert outbox == []
    queue_mail("log@example.test", subject, "encore")
    session.commit()
    assert path.read_text(encoding="utf-8").count(subject) == 2  # appended, not overwritten


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CollectingHandler:
    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_smtp_backend_delivers_to_a_real_smtp_server(app, in_process, session, outbox, smtp_server, monkeypatch):
    controller, handler = smtp_server
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", controller.hostname)
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    monkeypatch.setitem(app.config, "MAIL_USERNAME", None)
    subject = unique("Décision du comité")
    body = "Bonjour,\n\nVotre dossier AMI-2026-0003 est retenu.\n"
    queue_mail("smtp@example.test", subject, body)
    assert handler.envelopes == []
    session.commit()
    assert poll(lambda: len(handler.envelopes) >= 1, timeout=5)
    assert len(handler.envelopes) == 1
    envelope = handler.envelopes[0]
    assert envelope.rcpt_tos == ["smtp@example.test"]
    assert envelope.mail_from == "noreply@guichet.test"
    message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
    assert message["Subject"] == subject
    assert message["To"] == "smtp@example.test"
    assert "Votre dossier AMI-2026-0003 est retenu." in message.get_content()
    assert outbox == []


def test_smtp_backend_rolled_back_sends_nothing(app, in_process, session, smtp_server, monkeypatch):
    controller, handler = smtp_server
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", controller.hostname)
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    make_user(session)
    queue_mail("smtp@example.test", unique("jamais"), "corps")
    session.rollback()
    session.commit()
    time.sleep(0.2)
    assert handler.envelopes == []


# --- background thread (no Redis, JOBS_EAGER off) ------------------------------------------------


@pytest.fixture
def threaded(job_runner, monkeypatch):
    monkeypatch.setattr(job_runner, "redis_url", None)
    monkeypatch.setattr(job_runner, "eager", False)
    monkeypatch.setattr(job_runner, "_executor", None)
    yield job_runner
    if job_runner._executor is not None:
        job_runner._executor.shutdown(wait=True)


def test_without_redis_and_not_eager_jobs_run_in_a_background_thread(app, threaded, session, outbox):
    release = threading.Event()
    user = make_user(session, email="thread@example.test")
    jobs.enqueue_after_commit(record_job, "threaded", user_id=user.id, release=release)
    session.commit()
    # commit returned while the job is still waiting: it does not run in the request's thread
    time.sleep(0.1)
    assert RECORDED == []
    release.set()
    assert poll(lambda: len(RECORDED) == 1, timeout=5), "the background job never ran"
    entry = RECORDED[0]
    assert entry["thread"].startswith("guichet-job")
    assert entry["thread"] != threading.current_thread().name
    assert entry["app_context"] is True
    assert entry["email"] == "thread@example.test"


def test_mail_is_delivered_from_the_background_thread(threaded, session, outbox):
    subject = unique("en arrière-plan")
    queue_mail("bg@example.test", subject, "corps")
    make_user(session)
    session.commit()
    assert poll(lambda: subject in subjects(outbox), timeout=5)
    assert subjects(outbox) == [subject]


def test_rolled_back_jobs_never_reach_the_thread_pool(threaded, session, outbox):
    make_user(session)
    queue_mail("bg@example.test", unique("annulé"), "corps")
    jobs.enqueue_after_commit(record_job, "annulé")
    session.rollback()
    session.commit()
    time.sleep(0.3)
    assert outbox == [] and RECORDED == []
    assert threaded._executor is None  # nothing was ever submitted


# --- Redis + RQ ----------------------------------------------------------------------------------

@pytest.fixture
def rq_runner(app, job_runner):
    if not app.config.get("REDIS_URL") or not job_runner.redis_url:
        pytest.skip("the app was not built with REDIS_URL")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    created: list = []
    yield job_runner, created
    for job in created:
        job.delete()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def find_mail_jobs(job_runner, subject: str) -> list:
    return [j for j in job_runner.queue("mail").get_jobs() if len(j.args) >= 2 and j.args[1] == subject]


def app_simple_worker(app, job_runner):
    """An RQ SimpleWorker running each job in an application context, like ``flask worker``."""
    from rq import SimpleWorker

    class AppSimpleWorker(SimpleWorker):
        def perform_job(self, job, queue, *args, **kwargs):
            with app.app_context():
                try:
                    return super().perform_job(job, queue, *args, **kwargs)
                finally:
                    db.session.remove()

    return AppSimpleWorker([job_runner.queue("mail")], connection=job_runner.redis)


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_with_redis_mail_goes_to_the_rq_mail_queue_and_a_worker_sends_it(app, rq_runner, session, outbox):
    from rq.job import Job, JobStatus

    job_runner, created = rq_runner
    subject = unique("via RQ")
    queue_mail("rq@example.test", subject, "Corps envoyé par le worker.")
    make_user(session)
    assert find_mail_jobs(job_runner, subject) == []
    session.commit()
    (job,) = find_mail_jobs(job_runner, subject)
    created.append(job)
    assert job.func_name == "app.mail.deliver"
    assert job.origin == "mail"
    assert job.args == ("rq@example.test", subject, "Corps envoyé par le worker.")
    assert outbox == []  # not run in-process

    worker = app_simple_worker(app, job_runner)
    assert worker.work(burst=True)
    job = Job.fetch(job.id, connection=job_runner.redis)
    assert job.get_status() == JobStatus.FINISHED
    sent = [m for m in outbox if m["Subject"] == subject]
    assert len(sent) == 1
    assert sent[0]["To"] == "rq@example.test"
    assert "Corps envoyé par le worker." in sent[0].get_content()
    assert find_mail_jobs(job_runner, subject) == []


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_with_redis_a_rolled_back_mail_is_never_enqueued(rq_runner, session, outbox):
    job_runner, _created = rq_runner
    subject = unique("jamais en file")
    make_user(session)
    queue_mail("rq@example.test", subject, "corps")
    session.rollback()
    session.commit()
    leaked = find_mail_jobs(job_runner, subject)
    _created.extend(leaked)  # deleted by the fixture if the assertion fails
    assert leaked == []
    assert outbox == []


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_flask_worker_command_delivers_queued_mail(app, rq_runner, session, monkeypatch):
    from rq.job import Job, JobStatus

    job_runner, created = rq_runner
    # the real worker forks a work horse: its memory outbox is invisible here, the log file is not
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "log")
    path = Path(app.config["INSTANCE_DIR"]) / "mail.log"
    subject = unique("worker CLI")
    queue_mail("cli@example.test", subject, "Envoyé par flask worker.")
    make_user(session)
    session.commit()
    (job,) = find_mail_jobs(job_runner, subject)
    created.append(job)
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--queue", "mail"])
    assert result.exit_code == 0, result.output
    assert Job.fetch(job.id, connection=job_runner.redis).get_status() == JobStatus.FINISHED
    assert path.exists() and path.read_text(encoding="utf-8").count(subject) == 1


def test_worker_command_refuses_to_start_without_redis(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0
    assert "REDIS_URL" in result.output


def test_deliver_can_be_called_directly_as_a_job(app, outbox):
    with app.app_context():
        deliver("direct@example.test", "Sujet direct", "Corps direct")
    assert len(outbox) == 1 and outbox[0]["To"] == "direct@example.test"


def test_a_released_savepoint_does_not_dispatch_before_the_real_commit(app, outbox):
    from app.extensions import db as _db
    from app.mail import queue_mail

    if app.config.get("REDIS_URL"):
        pytest.skip("checks the in-process dispatch")
    with app.app_context():
        _db.session.execute(sa_text("SELECT 1"))
        with _db.session.begin_nested():
            queue_mail("savepoint@example.fr", "Sujet", "Corps")
        assert len(outbox) == 0  # released savepoint: still waiting for the commit
        _db.session.rollback()
        assert len(outbox) == 0
        _db.session.execute(sa_text("SELECT 1"))
        with _db.session.begin_nested():
            queue_mail("savepoint@example.fr", "Sujet", "Corps")
        _db.session.commit()
        assert [m["To"] for m in outbox] == ["savepoint@example.fr"]
