"""Batch export of decision letters: the background job (in-process, and
through a real RQ worker when REDIS_URL is set), progress, permissions,
failure and retry, the single-run guard, the purge, and the CLI."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import UserFacingError
from app.extensions import db
from app.models import AuditEntry, ExportJob, utcnow
from app.operations import letters as ops
from app.operations.schedule import tick
from tests.conftest import run_queued_jobs
from tests.factories import login, make_call, make_organisation, make_user
from tests.journey import pdf_text
from tests.test_letters import decided


def session_files(session, prefix="CP-2026-11", n=3):
    call = make_call(session, max_aid_cents=None)
    org = make_organisation(session, make_user(session))
    files = [decided(session, number=f"{prefix}-{i:04d}", call=call, org=org, amount=3_000_000 + i * 100)
             for i in range(1, n + 1)]
    # another session's file and an undecided file are left out
    decided(session, number="CP-2026-10-0001", call=call, org=org)
    return files


def drain(app) -> None:
    """Run what the RQ queues hold (REDIS_URL set) after ending the test's own
    transaction (on SQLite it would hold the write lock the worker needs)."""
    db.session.commit()
    run_queued_jobs(app)


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_files_of_session_and_latest_session(session):
    files = session_files(session)
    assert ops.files_of_session(session, "CP-2026-11") == sorted(f.id for f in files)
    assert ops.latest_session(session) in ("CP-2026-11", "CP-2026-10")
    assert dict(ops.decided_sessions(session)) == {"CP-2026-11": 3, "CP-2026-10": 1}


def test_a_committee_session_is_a_selection_of_its_decided_items(session):
    from datetime import datetime, timezone

    from app.models import AgendaItem, Committee, CommitteeSession

    files = session_files(session)
    committee = Committee(name="Commission permanente", code="CPX")
    session.add(committee)
    session.flush()
    held = CommitteeSession(committee_id=committee.id, held_at=datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc),
                            place="Strasbourg", status="closed")
    session.add(held)
    session.flush()
    for position, application in enumerate(files[:2], start=1):
        session.add(AgendaItem(session_id=held.id, application_id=application.id, position=position,
                               proposed_amount_cents=application.requested_amount_cents,
                               amount_cents=application.requested_amount_cents, vote_status="closed",
                               decision="approved", deliberation_number=f"CPX-2026-11-20-{position:03d}"))
    session.add(AgendaItem(session_id=held.id, application_id=files[2].id, position=3,  # not decided yet
                           proposed_amount_cents=1, amount_cents=1))
    session.flush()
    key = f"seance-{held.id}"
    assert ops.files_of_session(session, key) == sorted(f.id for f in files[:2])
    selections = ops.decided_sessions(session)
    assert selections[0] == (key, 2) and ops.latest_session(session) == key
    assert dict(selections[1:]) == {"CP-2026-11": 1, "CP-2026-10": 1}  # decided outside a recorded session
    assert ops.session_label(session, key) == "Séance du 20 novembre 2026 — Commission permanente"
    assert ops.session_label(session, "CP-2026-10") == "Décisions CP-2026-10"


def test_finance_exports_a_session_as_a_zip_and_downloads_it(app, session, client):
    files = session_files(session)
    finance = make_user(session, "finance", email="fin-export@example.test")
    session.commit()
    login(client, finance.email)
    page = client.get("/finances/exports")
    assert page.status_code == 200 and "CP-2026-11 (3 dossier(s))" in page.get_data(as_text=True)
    response = client.post("/finances/exports", data={"session_id": "CP-2026-11"})
    assert response.status_code == 302
    job = db.session.query(ExportJob).one()
    drain(app)  # with REDIS_URL: a real RQ worker serves the "exports" queue
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert (job.status, job.done, job.total, job.requester_id) == ("done", 3, 3, finance.id)
    assert job.running_key is None and job.finished_at is not None
    status = client.get(f"/finances/exports/{job.id}.json").get_json()
    assert status["status"] == "done" and status["done"] == 3 and status["download_url"]
    detail = client.get(f"/finances/exports/{job.id}").get_data(as_text=True)
    assert '<progress id="export-progress" max="3" value="3">' in detail and "Télécharger le ZIP" in detail
    download = client.get(status["download_url"])
    assert download.status_code == 200 and download.mimetype == "application/zip"
    entries = read_zip(download.data)
    assert sorted(entries) == sorted(f"{f.reference}.pdf" for f in files)
    for f in files:
        text = " ".join(pdf_text(entries[f"{f.reference}.pdf"]).split())
        assert f.reference in text and f.deliberation_number in text and "tribunal administratif de Strasbourg" in text


def test_running_page_refreshes_without_javascript_and_loads_the_poller(app, session, client):
    session_files(session)
    finance = make_user(session, "finance", email="fin-poll@example.test")
    job = ExportJob(selection_key="k", label="Décisions CP-2026-11", application_ids=[1], requester_id=finance.id,
                    status="running", done=0, total=1, running_key="decision_letters:k")
    session.add(job)
    session.commit()
    login(client, finance.email)
    html = client.get(f"/finances/exports/{job.id}").get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    assert "js/export-progress.js" in html and "data-status-url=" in html
    assert client.get("/static/js/export-progress.js").status_code == 200


def test_only_the_requester_sees_and_downloads_the_export(app, session, client):
    files = session_files(session, n=1)
    owner = make_user(session, "finance", email="fin-owner@example.test")
    other = make_user(session, "finance", email="fin-other@example.test")
    applicant = make_user(session, email="applicant-export@example.test")
    job = ops.export_letters(session, [f.id for f in files], owner, label="Décisions")
    session.commit()
    drain(app)
    db.session.expire_all()
    assert db.session.get(ExportJob, job.id).status == "done"
    login(client, other.email)
    for url in (f"/finances/exports/{job.id}", f"/finances/exports/{job.id}.json", f"/finances/exports/{job.id}/zip"):
        assert client.get(url).status_code == 403
    assert client.get("/finances/exports/99999").status_code == 404
    applicant_client = app.test_client()
    login(applicant_client, applicant.email)
    assert applicant_client.get(f"/finances/exports/{job.id}/zip").status_code == 403
    assert applicant_client.get("/finances/exports").status_code == 403
    owner_client = app.test_client()
    login(owner_client, owner.email)
    assert owner_client.get(f"/finances/exports/{job.id}/zip").status_code == 200


def test_the_same_export_never_runs_twice_at_once(session):
    files = session_files(session, n=2)
    finance = make_user(session, "finance")
    ids = [f.id for f in files]
    ops.export_letters(session, ids, finance)  # queued, not yet run (no commit)
    with pytest.raises(UserFacingError) as exc:
        ops.export_letters(session, list(reversed(ids)), finance)
    assert exc.value.status == 409 and "déjà en cours" in exc.value.message
    assert session.query(ExportJob).count() == 1
    # the database itself refuses a second running row with the same key
    session.add(ExportJob(selection_key="x", label="x", application_ids=ids, status="running", total=2,
                          running_key=f"decision_letters:{ops.selection_key(ids)}"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_an_empty_selection_is_refused(session):
    with pytest.raises(UserFacingError) as exc:
        ops.export_letters(session, [], None)
    assert "rien à exporter" in exc.value.message


def test_a_failed_export_is_reported_and_can_be_retried(app, session, client, monkeypatch):
    files = session_files(session, n=2)
    finance = make_user(session, "finance", email="fin-retry@example.test")
    session.commit()
    original = ops.decision_letter_bytes

    def broken(sess, application):
        raise RuntimeError("police de caractères introuvable")

    monkeypatch.setattr(ops, "decision_letter_bytes", broken)
    login(client, finance.email)
    client.post("/finances/exports", data={"session_id": "CP-2026-11"})
    drain(app)
    db.session.expire_all()
    job = db.session.query(ExportJob).one()
    assert (job.status, job.error, job.running_key) == ("failed", "police de caractères introuvable", None)
    page = client.get(f"/finances/exports/{job.id}").get_data(as_text=True)
    assert "L'export a échoué" in page and "police de caractères introuvable" in page and "Relancer" in page
    monkeypatch.setattr(ops, "decision_letter_bytes", original)
    assert client.post(f"/finances/exports/{job.id}/relancer").status_code == 302
    drain(app)
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert (job.status, job.done, job.error) == ("done", 2, None)
    assert len(read_zip(client.get(f"/finances/exports/{job.id}/zip").data)) == len(files)
    # a finished export cannot be "retried"
    client.post(f"/finances/exports/{job.id}/relancer")
    assert db.session.get(ExportJob, job.id).status == "done"


def test_the_tick_purges_old_results(app, session):
    files = session_files(session, n=1)
    job = ops.export_letters(session, [f.id for f in files], make_user(session, "finance"))
    session.commit()
    drain(app)
    session.expire_all()
    job = session.get(ExportJob, job.id)
    path = ops.export_file(job)
    assert path is not None and path.exists()
    tick(session)
    assert session.get(ExportJob, job.id).status == "done"  # still within the retention time
    job.finished_at = utcnow() - timedelta(hours=app.config["EXPORT_RETENTION_HOURS"] + 1)
    session.commit()
    report = tick(session)
    assert report.exports_purged == [job.id]
    job = session.get(ExportJob, job.id)
    assert (job.status, job.result_path) == ("purged", None) and not path.exists()


def test_the_tick_reports_a_stalled_export_failed_and_it_can_be_retried(app, session, client):
    """An export whose worker died stays « running »: after EXPORT_STALL_MINUTES the tick says it
    failed, frees its selection (a new export of the same files is accepted) and it can be retried."""
    files = session_files(session, n=1)
    finance = make_user(session, "finance", email="fin-stall@example.test")
    job_id = ops.export_letters(session, [f.id for f in files], finance).id
    session.commit()
    run_queued_jobs(app)
    session.expire_all()
    # Its worker died half-way: still « running », holding its selection.
    job = session.get(ExportJob, job_id)
    job.status, job.done, job.result_path, job.finished_at = "running", 0, None, None
    job.running_key = f"{job.kind}:{job.selection_key}"
    job.started_at = utcnow() - timedelta(minutes=app.config["EXPORT_STALL_MINUTES"] - 1)
    session.commit()
    with pytest.raises(UserFacingError):  # the same export cannot start while it « runs »
        ops.export_letters(session, [f.id for f in files], finance)
    session.rollback()
    assert tick(session).exports_stalled == []  # not stalled yet
    assert session.get(ExportJob, job_id).status == "running"
    job = session.get(ExportJob, job_id)
    job.started_at = utcnow() - timedelta(minutes=app.config["EXPORT_STALL_MINUTES"] + 1)
    session.commit()
    assert tick(session).exports_stalled == [job_id]
    job = session.get(ExportJob, job_id)
    assert (job.status, job.running_key) == ("failed", None) and "Export interrompu" in job.error
    assert session.execute(select(AuditEntry).where(AuditEntry.object_type == "export_job",
                                                    AuditEntry.action == "export_stalled")).scalar_one()
    login(client, finance.email)
    assert client.post(f"/finances/exports/{job_id}/relancer").status_code == 302
    run_queued_jobs(app)
    session.expire_all()
    assert session.get(ExportJob, job_id).status == "done"


def test_cli_exports_the_latest_session_or_the_one_given(app, session, tmp_path):
    files = session_files(session)
    session.commit()
    runner = app.test_cli_runner()
    out = tmp_path / "lettres.zip"
    result = runner.invoke(args=["letters", "export", "--out", str(out), "--session", "CP-2026-11"])
    assert result.exit_code == 0, result.output
    assert "3 letter(s)" in result.output
    assert sorted(read_zip(out.read_bytes())) == sorted(f"{f.reference}.pdf" for f in files)
    default = tmp_path / "derniere.zip"
    result = runner.invoke(args=["letters", "export", "--out", str(default)])
    assert result.exit_code == 0, result.output
    assert default.exists()
    latest = ops.latest_session(session)
    assert len(read_zip(default.read_bytes())) == len(ops.files_of_session(session, latest))
    bad = runner.invoke(args=["letters", "export", "--out", str(tmp_path / "x.zip"), "--session", "CP-1999-01"])
    assert bad.exit_code != 0 and "no decided file" in bad.output


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_with_redis_the_export_goes_to_the_named_queue_and_a_simple_worker_runs_it(app, session):
    from rq import SimpleWorker  # noqa: F401 - make_worker(simple=True) builds one

    from app.jobs import make_worker, runner

    files = session_files(session, n=2)
    job = ops.export_letters(session, [f.id for f in files], make_user(session, "finance"))
    session.commit()
    queue = runner().queue("exports")
    assert queue.count == 1 and queue.jobs[0].func_name.endswith("run_letters_export")
    assert session.get(ExportJob, job.id).status == "queued"
    session.commit()  # end the read transaction: SQLite's write lock is the worker's
    make_worker(app, ("exports",), simple=True).work(burst=True)
    session.expire_all()
    assert session.get(ExportJob, job.id).status == "done" and queue.count == 0


def test_demo_has_a_decided_session_to_export(app, demo, session):
    latest = ops.latest_session(session)
    ids = ops.files_of_session(session, latest)
    assert latest and len(ids) >= 2
    from app.documents import latest_document
    from app.models import Application

    assert all(latest_document(session, session.get(Application, i), "decision_letter") for i in ids)


def test_an_export_is_claimed_once_a_second_run_does_nothing(app, session, monkeypatch):
    """run_letters_export claims the job with one conditional UPDATE queued → running: a
    duplicate run (the same job delivered twice, or a retry while it runs) finds it taken."""
    files = session_files(session, n=2)
    finance = make_user(session, "finance")
    job = ExportJob(kind="decision_letters", selection_key=ops.selection_key([f.id for f in files]), label="Décisions",
                    application_ids=[f.id for f in files], requester_id=finance.id, status="queued", done=0, total=2,
                    running_key="decision_letters:claim-test")
    session.add(job)
    session.commit()
    job_id = job.id
    built: list[int] = []
    original = ops.build_letters_zip

    def build_and_run_again(sess, ids, out, progress=None):
        # while the first run works, a duplicate of the job starts: it must not build anything
        assert ops.run_letters_export(job_id) is None
        built.append(len(ids))
        return original(sess, ids, out, progress)

    monkeypatch.setattr(ops, "build_letters_zip", build_and_run_again)
    name = ops.run_letters_export(job_id)
    assert name is not None and built == [2]
    session.expire_all()
    job = session.get(ExportJob, job_id)
    assert (job.status, job.done, job.running_key, job.result_path) == ("done", 2, None, name)
    # run again after it finished (a retried delivery of the job): nothing changes
    finished_at = job.finished_at
    assert ops.run_letters_export(job_id) is None
    session.expire_all()
    job = session.get(ExportJob, job_id)
    assert (job.status, job.finished_at, built) == ("done", finished_at, [2])


def test_claiming_an_export_is_a_conditional_update(session):
    files = session_files(session, n=1)
    finance = make_user(session, "finance")
    job = ops.export_letters(session, [f.id for f in files], finance)
    job.status = "running"  # another worker claimed it
    job.started_at = utcnow()
    session.flush()
    assert ops.claim_export(session, job.id) is False
    job.status = "queued"
    session.commit()
    assert ops.claim_export(session, job.id) is True
    assert ops.claim_export(session, job.id) is False
    session.expire_all()
    assert session.get(ExportJob, job.id).status == "running"


def test_a_finance_officer_of_one_call_is_offered_the_selections_of_that_call_only(app, session, client):
    files = session_files(session)  # one call: CP-2026-11 (3 files) and CP-2026-10 (1)
    other_call = make_call(session, max_aid_cents=None)
    decided(session, number="CP-2026-09-0001", call=other_call, org=make_organisation(session, make_user(session)))
    assert dict(ops.decided_sessions(session)) == {"CP-2026-11": 3, "CP-2026-10": 1, "CP-2026-09": 1}
    assert dict(ops.decided_sessions(session, {files[0].call_id})) == {"CP-2026-11": 3, "CP-2026-10": 1}
    assert ops.decided_sessions(session, set()) == []
    scoped = make_user(session, ("finance", other_call.id), email="fin-one-call@example.test")
    session.commit()
    login(client, scoped.email)
    page = client.get("/finances/exports").get_data(as_text=True)
    assert "CP-2026-09 (1 dossier(s))" in page and "CP-2026-11" not in page and "CP-2026-10" not in page
