"""Due dates of files: the time limit of the state a file is in
(``workflows/time_limits``), counted from its first entry into that state,
in calendar or working days (French holidays, Alsace-Moselle's included, by
the organisation's department), pushed back by the clock pauses."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.formatting import PARIS
from app.models import Application, AuditEntry, ClockPause, utcnow
from workflows.time_limits import load_limits


def _local(day) -> date:
    return day.astimezone(PARIS).date()


def state_entered_on(session: Session, application: Application, state: str) -> date:
    """The day the file first entered ``state`` (today when it just did)."""
    rows = session.execute(
        select(AuditEntry.at, AuditEntry.after).where(
            AuditEntry.object_type == "application", AuditEntry.object_id == application.reference,
            AuditEntry.action.like("transition:%")).order_by(AuditEntry.id)
    ).all()
    for at, after in rows:
        if after and after.get("state") == state:
            return _local(at)
    return _local(utcnow())


def pauses_of(session: Session, application: Application, since: date) -> list[tuple[date, date]]:
    today = _local(utcnow())
    rows = session.execute(select(ClockPause).where(ClockPause.application_id == application.id)).scalars().all()
    ranges = []
    for pause in rows:
        first = _local(pause.started_at)
        last = _local(pause.ended_at) if pause.ended_at else today
        if last >= since:
            ranges.append((max(first, since), last))
    return ranges


def update_due_date(session: Session, application: Application) -> None:
    """Set the due date of the file's current state (or clear it). Reads
    without flushing, so the file's pending change is written in one UPDATE."""
    with session.no_autoflush:
        limit = load_limits(application.call.workflow_name).get(application.state)
        if limit is None:
            application.due_date = None
            application.due_state = None
            return
        start = state_entered_on(session, application, application.state)
        pauses = pauses_of(session, application, start)
        department = application.organisation.department
    application.due_date = limit.due(start, pauses, department)
    application.due_state = application.state
