"""Letter texts per call, and the batch export of decision letters as one ZIP.

The seam with the committee sessions
------------------------------------
An export takes a *selection*: a list of file ids. ``files_of_session(key)``
turns a selection key into that list: ``seance-<id>`` for a committee session
(its agenda items with a decision, app/models/committee.py), else a
**deliberation prefix** for files decided outside a session recorded in
Guichet (the deliberation number without its last ``-`` part:
``CP-2026-11-0042`` → ``CP-2026-11``).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Callable

from flask import current_app
from sqlalchemy import func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.jobs import enqueue_after_commit
from app.letters import DEFAULT_TEXTS, check_text
from app.formatting import local_date
from app.formatting import translate as _
from app.models import AgendaItem, Application, CommitteeSession, ExportJob, LetterTemplate, User, utcnow

EXPORT_QUEUE = "exports"
DECIDED_STATES = ("approved", "rejected", "agreement", "payments", "closed", "lapsed")


# --- letter texts ------------------------------------------------------------------------------

def save_letter_text(session: Session, call_id: int, kind: str, body: str, actor: User | None) -> LetterTemplate:
    """Check and save a call's text for ``kind`` (audited). Raises
    ``app.letters.LetterTextError`` on an unknown placeholder."""
    from app.letters import LetterTextError

    if kind not in DEFAULT_TEXTS:
        raise LetterTextError("Type de lettre inconnu.")
    body = check_text(body, kind)
    row = session.execute(select(LetterTemplate).where(
        LetterTemplate.call_id == call_id, LetterTemplate.kind == kind)).scalar_one_or_none()
    before = row.body if row else None
    actor_id = actor.id if actor else None
    if row is None:
        row = LetterTemplate(call_id=call_id, kind=kind, body=body, updated_by_id=actor_id)
        session.add(row)
    else:
        row.body = body
        row.updated_by_id = actor_id
    session.flush()
    audit.record(session, actor=actor, role="admin", object_type="letter_template", object_id=row.id,
                 action="save_letter_text", before={"kind": kind, "body": before}, after={"kind": kind, "body": body})
    return row


# --- selections: committee sessions, else deliberation prefixes -----------------------------------------------

def deliberation_prefix(number: str) -> str:
    return number.rsplit("-", 1)[0] if "-" in number else number


SESSION_KEY = "seance-"  # a committee session's selection key: ``seance-<id>``


def _committee_session_id(key: str) -> int | None:
    rest = key[len(SESSION_KEY):] if key.startswith(SESSION_KEY) else ""
    return int(rest) if rest.isdigit() else None


def files_of_session(session: Session, session_id: str) -> list[int]:
    """Ids of the decided files of a selection: a committee session
    (``seance-<id>``: its agenda items with a decision), else the decided files
    whose deliberation number starts with the prefix ``session_id`` (files
    decided outside a session recorded in Guichet)."""
    committee_session = _committee_session_id(session_id)
    if committee_session is not None:
        stmt = (select(Application.id).join(AgendaItem, AgendaItem.application_id == Application.id)
                .where(AgendaItem.session_id == committee_session, AgendaItem.decision.is_not(None),
                       Application.state.in_(DECIDED_STATES)))
    else:
        stmt = select(Application.id).where(Application.deliberation_number.like(f"{session_id}-%"),
                                            Application.state.in_(DECIDED_STATES))
    return list(session.execute(stmt.order_by(Application.reference)).scalars().all())


def decided_sessions(session: Session, call_ids: set[int] | None = None) -> list[tuple[str, int]]:
    """Every selection with its number of decided files, latest first: the
    committee sessions with decisions, then the deliberation prefixes of the
    files decided outside them; with ``call_ids``, only the files of those
    calls count (a selection without one is left out)."""
    in_scope = Application.call_id.in_(call_ids) if call_ids is not None else true()
    on_agenda = select(AgendaItem.application_id).where(AgendaItem.decision.is_not(None))
    sessions = session.execute(
        select(CommitteeSession.id, CommitteeSession.held_at, func.count(Application.id))
        .join(AgendaItem, AgendaItem.session_id == CommitteeSession.id)
        .join(Application, Application.id == AgendaItem.application_id)
        .where(AgendaItem.decision.is_not(None), Application.state.in_(DECIDED_STATES), in_scope)
        .group_by(CommitteeSession.id, CommitteeSession.held_at).order_by(CommitteeSession.held_at.desc())).all()
    selections: list[tuple[str, int]] = [(f"{SESSION_KEY}{sid}", n) for sid, _held, n in sessions]
    rows = session.execute(
        select(Application.deliberation_number).where(
            Application.deliberation_number.is_not(None), Application.state.in_(DECIDED_STATES),
            Application.id.not_in(on_agenda), in_scope)
        .order_by(Application.decided_on.desc(), Application.deliberation_number.desc())).scalars().all()
    counts: dict[str, int] = {}
    for number in rows:
        prefix = deliberation_prefix(number)
        counts[prefix] = counts.get(prefix, 0) + 1
    return selections + list(counts.items())


def latest_session(session: Session) -> str | None:
    """The most recent selection: the last committee session with decisions,
    else the prefix of the last decision taken outside a session."""
    selections = decided_sessions(session)
    return selections[0][0] if selections else None


def session_label(session: Session, session_id: str) -> str:
    committee_session = _committee_session_id(session_id)
    cs = session.get(CommitteeSession, committee_session) if committee_session is not None else None
    if cs is not None:
        return _("Séance du %(date)s — %(committee)s", date=local_date(cs.held_at), committee=cs.committee.name)
    return _("Décisions %(prefix)s", prefix=session_id)


# --- export ------------------------------------------------------------------------------------

def selection_key(application_ids: list[int]) -> str:
    joined = ",".join(str(i) for i in sorted(set(application_ids)))
    return hashlib.sha256(joined.encode()).hexdigest()[:40]


def export_letters(session: Session, application_ids: list[int], requester: User | None,
                   label: str | None = None) -> ExportJob:
    """Queue the export of the decision letters of ``application_ids`` as one ZIP.
    The same selection cannot be exported twice at once (unique running key)."""
    ids = sorted(set(int(i) for i in application_ids))
    if not ids:
        raise UserFacingError(_("Aucun dossier décidé dans cette sélection : rien à exporter."), status=422)
    key = selection_key(ids)
    job = ExportJob(kind="decision_letters", selection_key=key, label=label or f"{len(ids)} dossier(s)",
                    application_ids=ids, requester_id=requester.id if requester else None, status="queued",
                    done=0, total=len(ids), running_key=f"decision_letters:{key}")
    _claim(session, job)
    audit.record(session, actor=requester, role="finance", object_type="export_job", object_id=job.id,
                 action="export_letters", after={"files": len(ids), "label": job.label})
    enqueue_after_commit(run_letters_export, job.id, queue=EXPORT_QUEUE)
    return job


def _claim(session: Session, job: ExportJob) -> None:
    """Insert or update the job with its running key; the unique constraint
    refuses a second running export of the same selection."""
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        raise UserFacingError(_("Cet export est déjà en cours : attendez qu'il se termine."), status=409) from None


def retry_export(session: Session, job: ExportJob, requester: User) -> ExportJob:
    """Queue a failed export again (the same row, progress reset)."""
    if job.status != "failed":
        raise UserFacingError(_("Seul un export en échec peut être relancé."), status=409)
    job.status, job.done, job.error, job.finished_at = "queued", 0, None, None
    job.running_key = f"{job.kind}:{job.selection_key}"
    _claim(session, job)
    audit.record(session, actor=requester, role="finance", object_type="export_job", object_id=job.id,
                 action="retry_export")
    enqueue_after_commit(run_letters_export, job.id, queue=EXPORT_QUEUE)
    return job


def exports_folder() -> Path:
    folder = Path(current_app.config["EXPORTS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def decision_letter_bytes(session: Session, application: Application) -> bytes:
    """The latest stored decision letter of the file, generated (and stored as
    a new version) when it has none yet."""
    from app.documents import RENDERERS, document_path, latest_document, store_document

    document = latest_document(session, application, "decision_letter")
    if document is None:
        kind, renderer = RENDERERS["lettre_decision"]
        document = store_document(session, application, kind, renderer(session, application))
    return document_path(document).read_bytes()


def build_letters_zip(session: Session, application_ids: list[int], out: Path,
                      progress: Callable[[int], None] | None = None) -> int:
    """Write one PDF per file (named by its reference) into the ZIP ``out``;
    ``progress(done)`` is called after each file. Returns the number of files."""
    tmp = Path(tempfile.mkstemp(suffix=".zip", dir=out.parent)[1])
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for done, application_id in enumerate(application_ids, start=1):
                application = session.get(Application, application_id)
                if application is None:
                    raise LookupError(f"dossier {application_id} introuvable")
                archive.writestr(f"{application.reference}.pdf", decision_letter_bytes(session, application))
                if progress is not None:
                    progress(done)
        shutil.move(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(application_ids)


def claim_export(session: Session, job_id: int) -> bool:
    """Take a queued export for this run: one conditional UPDATE queued → running,
    committed. False when another run has already claimed it (or it is no longer
    queued): a duplicated or retried job then does nothing."""
    claimed = session.execute(
        update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == "queued")
        .values(status="running", started_at=utcnow(), done=0)).rowcount
    session.commit()
    return claimed == 1


def run_letters_export(job_id: int) -> str | None:
    """Job: claim the export (``claim_export``: only a queued job runs, once),
    build the ZIP, recording progress as it goes; a failure is stored on the job
    (status ``failed`` and the error) so it can be retried."""
    from app.extensions import db

    session = db.session
    if not claim_export(session, job_id):
        current_app.logger.info("export %s not run: already claimed, finished or missing", job_id)
        return None
    job = session.get(ExportJob, job_id)
    session.refresh(job)
    out = exports_folder() / f"export-{job.id}-{job.selection_key[:12]}.zip"

    def progress(done: int) -> None:
        session.execute(update(ExportJob).where(ExportJob.id == job_id).values(done=done))
        session.commit()

    try:
        build_letters_zip(session, list(job.application_ids), out, progress)
    except Exception as exc:  # noqa: BLE001 - reported on the job, retried by the user
        session.rollback()
        job = session.get(ExportJob, job_id)
        job.status, job.error, job.finished_at, job.running_key = "failed", str(exc) or type(exc).__name__, utcnow(), None
        session.commit()
        current_app.logger.exception("export %s failed", job_id)
        return None
    job = session.get(ExportJob, job_id)
    job.status, job.result_path, job.finished_at, job.running_key = "done", out.name, utcnow(), None
    job.done = job.total
    session.commit()
    return out.name


def export_file(job: ExportJob) -> Path | None:
    if job.status != "done" or not job.result_path:
        return None
    path = exports_folder() / job.result_path
    return path if path.exists() else None


def fail_stalled_exports(session: Session) -> list[int]:
    """Exports queued or running for more than ``EXPORT_STALL_MINUTES`` (their worker died, or
    none is serving the queue): reported failed, with the reason, and their selection freed, so
    the requester can retry them and the same export is not blocked for ever. Run by the tick."""
    minutes = current_app.config["EXPORT_STALL_MINUTES"]
    limit = utcnow() - timedelta(minutes=minutes)
    jobs = session.execute(select(ExportJob).where(
        ExportJob.status.in_(("queued", "running")),
        func.coalesce(ExportJob.started_at, ExportJob.created_at) <= limit)).scalars().all()
    for job in jobs:
        job.status, job.finished_at, job.running_key = "failed", utcnow(), None
        job.error = _("Export interrompu : il n'a pas été terminé en %(minutes)s minutes. Relancez-le.",
                      minutes=minutes)
        audit.record(session, actor=None, role="system", object_type="export_job", object_id=job.id,
                     action="export_stalled", after={"status": "failed"})
    session.flush()
    return [job.id for job in jobs]


def purge_exports(session: Session) -> list[int]:
    """Delete the results older than ``EXPORT_RETENTION_HOURS`` (run by the tick)."""
    limit = utcnow() - timedelta(hours=current_app.config["EXPORT_RETENTION_HOURS"])
    jobs = session.execute(select(ExportJob).where(ExportJob.status == "done", ExportJob.finished_at <= limit)).scalars().all()
    purged = []
    for job in jobs:
        if job.result_path:
            (exports_folder() / job.result_path).unlink(missing_ok=True)
        job.status, job.result_path = "purged", None
        purged.append(job.id)
    session.flush()
    return purged
