"""Time-based work, run by ``flask --app wsgi tick`` (cron) or by the
self-rescheduling RQ job when Redis is configured.

* calls past their closing time are closed, and each remaining draft is
  frozen through the workflow's ``freeze_draft`` system transition;
* the owners of drafts are reminded before a call's deadline (once per
  threshold, remembered in the audit log);
* time-based transitions whose guards now pass (``lapse``) are fired.
Each file is handled in its own transaction, so one failure does not stop the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from app import audit
from app.formatting import local_datetime
from app.mail import queue_mail
from app.models import Application, AuditEntry, Call, Membership, User, utcnow
from app.operations.transitions import TransitionRefused, transition

log = logging.getLogger(__name__)
TIME_BASED = ("lapse",)


@dataclass
class TickReport:
    calls_closed: list[str] = field(default_factory=list)
    drafts_frozen: list[str] = field(default_factory=list)
    reminders: list[tuple[str, int]] = field(default_factory=list)
    transitions: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exports_purged: list[int] = field(default_factory=list)
    exports_stalled: list[int] = field(default_factory=list)
    digests: int = 0


def close_due_calls(session: Session, report: TickReport) -> None:
    now = utcnow()
    due = session.execute(select(Call).where(Call.status == "published", Call.closes_at <= now)).scalars().all()
    for call in due:
        call.status = "closed"
        audit.record(session, actor=None, role="system", object_type="call", object_id=call.reference, action="close_call",
                     before={"status": "published"}, after={"status": "closed"})
        session.commit()
        report.calls_closed.append(call.reference)


def freeze_drafts(session: Session, report: TickReport) -> None:
    drafts = session.execute(
        select(Application.id).join(Call).where(Application.state == "draft", Call.status == "closed")
    ).scalars().all()
    for application_id in drafts:
        application = session.get(Application, application_id)
        try:
            transition(session, application, "freeze_draft", actor=None, role="system")
            session.commit()
            report.drafts_frozen.append(application.reference)
        except Exception as exc:  # noqa: BLE001 - reported, the others go on
            session.rollback()
            report.errors.append(f"{application.reference}: {exc}")


def remind_drafts(session: Session, report: TickReport) -> None:
    """Mail the members of each draft's organisation N days before the deadline."""
    now = utcnow()
    for days in sorted(current_app.config["DRAFT_REMINDER_DAYS"], reverse=True):
        window_end = now + timedelta(days=days)
        already = exists().where(
            AuditEntry.object_type == "application", AuditEntry.object_id == Application.reference,
            AuditEntry.action == f"remind_draft:{days}")
        rows = session.execute(
            select(Application).join(Call).where(
                Application.state == "draft", Call.status == "published", Call.closes_at > now,
                Call.closes_at <= window_end, ~already)
        ).scalars().all()
        for application in rows:
            emails = session.execute(
                select(User.email).join(Membership, Membership.user_id == User.id)
                .where(Membership.organisation_id == application.organisation_id, User.active.is_(True))
            ).scalars().all()
            for email in emails:
                queue_mail(
                    email,
                    f"Rappel : le brouillon {application.reference} n'est pas encore déposé",
                    f"Bonjour,\n\nVotre brouillon {application.reference} « {application.title} » sur l'appel "
                    f"« {application.call.title} » n'est pas déposé. La date limite est le "
                    f"{local_datetime(application.call.closes_at, 'fr')} (heure de Paris) ; passé ce délai, "
                    f"le brouillon sera classé sans suite.\n",
                )
            audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                         action=f"remind_draft:{days}", after={"recipients": len(emails)})
            session.commit()
            report.reminders.append((application.reference, days))


def remind_due_files(session: Session, report: TickReport) -> None:
    """Tell the call's instructors about files whose due date is near or past
    (once per file and due date)."""
    from app.formatting import PARIS, local_date
    from app.notifications import recipients

    today = utcnow().astimezone(PARIS).date()
    horizon = today + timedelta(days=current_app.config["DUE_REMINDER_DAYS"])
    rows = session.execute(
        select(Application).where(Application.due_date.is_not(None), Application.due_date <= horizon)
    ).scalars().all()
    for application in rows:
        action = f"remind_due:{application.due_date.isoformat()}"
        done = session.execute(select(AuditEntry.id).where(
            AuditEntry.object_type == "application", AuditEntry.object_id == application.reference,
            AuditEntry.action == action).limit(1)).scalar()
        if done:
            continue
        late = application.due_date < today
        subject = (f"Délai dépassé — dossier {application.reference}" if late
                   else f"Échéance proche — dossier {application.reference}")
        body = (f"Bonjour,\n\nLe dossier {application.reference} « {application.title} » ({application.state}) "
                f"{'devait être traité avant le' if late else 'doit être traité avant le'} "
                f"{local_date(application.due_date, 'fr')}.\n")
        addresses = recipients(application, "instructors")
        for address in addresses:
            queue_mail(address, subject, body)
        audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                     action=action, after={"late": late, "recipients": len(addresses)})
        session.commit()
        report.reminders.append((application.reference, 0))


def fire_time_based(session: Session, report: TickReport) -> None:
    """Fire ``lapse`` where its guard passes. Only a file decided long enough
    ago can lapse (``lapse_due``): the candidates are chosen in SQL — a month
    has at least 28 days, so this keeps every file the guard would accept —
    instead of trying the transition on every approved file (minutes at
    100,000 files, past the job's timeout: see docs/PERFORMANCE.md)."""
    from app.formatting import PARIS

    months = min(current_app.config["LAPSE_START_MONTHS"], current_app.config["LAPSE_COMPLETION_MONTHS"])
    decided_before = utcnow().astimezone(PARIS).date() - timedelta(days=28 * months)
    candidates = session.execute(
        select(Application.id).where(Application.state.in_(("approved", "agreement", "payments")),
                                     Application.decided_on.is_not(None), Application.decided_on < decided_before)
        .order_by(Application.id)
    ).scalars().all()
    for application_id in candidates:
        application = session.get(Application, application_id)
        for name in TIME_BASED:
            try:
                transition(session, application, name, actor=None, role="system")
                session.commit()
                report.transitions.append((application.reference, name))
                break
            except TransitionRefused:
                session.rollback()
            except Exception as exc:  # noqa: BLE001
                session.rollback()
                if "n'est pas possible" not in str(exc):
                    report.errors.append(f"{application.reference}: {exc}")


def remind_experts(session: Session, report: TickReport) -> None:
    from app.operations.experts import remind_experts as remind

    remind(session, report)


def tick(session: Session) -> TickReport:
    report = TickReport()
    close_due_calls(session, report)
    freeze_drafts(session, report)
    remind_drafts(session, report)
    remind_due_files(session, report)
    remind_experts(session, report)
    fire_time_based(session, report)
    housekeeping(session, report)
    return report


def housekeeping(session: Session, report: TickReport) -> None:
    """Purge old export results, send the daily digests (issue 8)."""
    from app.notifications import send_digests
    from app.operations.letters import fail_stalled_exports, purge_exports

    report.exports_stalled = fail_stalled_exports(session)
    report.exports_purged = purge_exports(session)
    report.digests = send_digests(session)
    session.commit()


# Two stable ids taken in turn: a job cannot re-schedule its own id (the worker
# marks that id finished when the running job ends).
TICK_JOB_IDS = ("guichet-tick-a", "guichet-tick-b")


def tick_job() -> dict:
    """RQ job: run the tick, then schedule the next one under the other id."""
    from rq import get_current_job

    from app.extensions import db
    from app.jobs import runner

    report = tick(db.session)
    interval = current_app.config["TICK_INTERVAL_SECONDS"]
    current = get_current_job()
    if current_app.config.get("REDIS_URL") and current is not None:
        next_id = TICK_JOB_IDS[1] if current.id == TICK_JOB_IDS[0] else TICK_JOB_IDS[0]
        runner().queue("default").enqueue_in(timedelta(seconds=interval), tick_job, job_id=next_id)
    return {"closed": report.calls_closed, "frozen": len(report.drafts_frozen), "reminders": len(report.reminders),
            "errors": report.errors}


def ensure_tick_scheduled() -> None:
    """Schedule the periodic tick once (called when an RQ worker starts)."""
    from rq.job import Job
    from rq.exceptions import NoSuchJobError

    from app.jobs import runner

    job_runner = runner()
    for job_id in TICK_JOB_IDS:
        try:
            job = Job.fetch(job_id, connection=job_runner.redis)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=True) in ("scheduled", "queued", "started"):
            return
    job_runner.queue("default").enqueue(tick_job, job_id=TICK_JOB_IDS[0])
