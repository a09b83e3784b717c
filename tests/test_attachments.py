"""Attachments of a file's form: checks on upload (size, real type, extension,
polyglots, names), storage outside the web root, who may upload, replace,
delete and download, the API, and the antivirus hook with a fake clamd.

The database is read and written only in short ``with app.app_context()``
blocks (``in_db``), as in test_access.py, so each test-client request runs in
its own context with its own session.
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
import socketserver
import struct
import threading
import zipfile
import zlib
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Application, Attachment, AuditEntry, CorrectionRequest, FormVersion, Organisation, User, utcnow
from app.operations import attachments as ops
from app.operations.tokens import issue_token
from tests.journey import make_pdf, make_png
from tests.conftest import run_queued_jobs
from tests.factories import login, make_application, make_call, make_organisation, make_user

DEFINITION = {
    "title": "Formulaire test",
    "sections": [
        {
            "key": "entreprise",
            "title": "L'entreprise",
            "fields": [
                {"key": "effectif", "type": "number", "label": "Effectif"},
                {"key": "kbis", "type": "file", "label": "Extrait Kbis", "required": True,
                 "accept": ["application/pdf"], "max_bytes": 20_000, "help": "Moins de trois mois."},
            ],
        },
        {
            "key": "annexes",
            "title": "Annexes",
            "fields": [
                {"key": "photo", "type": "file", "label": "Photo du site", "accept": ["image/png", "image/jpeg"],
                 "max_bytes": 2 * 1024 * 1024},
                {"key": "budget", "type": "file", "label": "Budget détaillé",
                 "accept": ["text/csv", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"]},
            ],
        },
    ],
}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


# --------------------------------------------------------------------------- sample files


# make_pdf and make_png are shared with the journey tests (tests/journey.py).



def make_zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, "<x/>" * 20)
    return buffer.getvalue()


def make_docx() -> bytes:
    return make_zip(["[Content_Types].xml", "_rels/.rels", "word/document.xml"])


PDF = make_pdf()


# --------------------------------------------------------------------------- fixtures and helpers


@contextmanager
def in_db(app):
    with app.app_context():
        yield db.session
        db.session.commit()


class World:
    """A draft with a form holding file fields, its organisation's member, and
    a member of another organisation."""

    def __init__(self, app) -> None:
        self.app = app
        with in_db(app) as s:
            call = make_call(s)
            form = FormVersion(call=call, number=1, definition=DEFINITION, hash="f" * 64)
            s.add(form)
            self.member = make_user(s, "applicant", name="Membre")
            self.stranger = make_user(s, "applicant", name="Autre")
            org = make_organisation(s, self.member)
            make_organisation(s, self.stranger)
            application = make_application(s, call, org, state="draft")
            application.form_version = form
            s.flush()
            self.application_id = application.id
            self.reference = application.reference
            self.member_email, self.stranger_email = self.member.email, self.stranger.email
            self.member_id = self.member.id

    def client(self, email: str | None = None):
        client = self.app.test_client()
        response = login(client, email or self.member_email)
        assert response.status_code == 302
        return client

    def upload(self, client, key: str, content: bytes, filename: str):
        return client.post(f"/espace/dossiers/{self.reference}/pieces/{key}",
                           data={"file": (io.BytesIO(content), filename), "next": "/espace/"},
                           content_type="multipart/form-data")

    def attachments(self, key: str | None = None) -> list[dict]:
        with in_db(self.app) as s:
            stmt = select(Attachment).where(Attachment.application_id == self.application_id).order_by(Attachment.id)
            if key:
                stmt = stmt.where(Attachment.field_key == key)
            return [{"id": a.id, "key": a.field_key, "stored_name": a.stored_name, "original_name": a.original_name,
                     "size": a.size_bytes, "sha256": a.sha256, "content_type": a.content_type,
                     "scan_status": a.scan_status} for a in s.execute(stmt).scalars()]

    def set_state(self, state: str) -> None:
        with in_db(self.app) as s:
            application = s.get(Application, self.application_id)
            application.state = state
            application.submitted_at = None if state == "draft" else utcnow()

    def audit_actions(self) -> list[str]:
        with in_db(self.app) as s:
            return list(s.execute(select(AuditEntry.action).where(AuditEntry.object_id == self.reference)
                                  .order_by(AuditEntry.id)).scalars())

    def token(self, scopes=("read", "write"), email: str | None = None) -> str:
        with in_db(self.app) as s:
            user = s.execute(select(User).where(User.email == (email or self.member_email))).scalar_one()
            _token, secret = issue_token(s, user, scopes=list(scopes))
        return secret


@pytest.fixture
def world(app):
    return World(app)


def stored_files(app) -> set[Path]:
    root = Path(app.config["UPLOAD_FOLDER"])
    return {p for p in root.rglob("*") if p.is_file()}


def flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as sess:
        return list(sess.get("_flashes", []))


def api_upload(client, reference: str, key: str, secret: str, content: bytes, filename: str):
    return client.post(f"/api/v1/applications/{reference}/files/{key}", headers={"Authorization": f"Bearer {secret}"},
                       data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def assert_refused(world, before: set[Path], response, status_or_redirect, fragment: str, client) -> None:
    """Refused through the HTML route: back to the form with the message for
    that field, and nothing stored (no row, no file)."""
    assert response.status_code == status_or_redirect
    categories = dict((c, m) for c, m in flashes(client))
    assert any(c.startswith("error upload-") for c in categories), categories
    assert any(fragment in m for m in categories.values()), categories
    assert world.attachments() == []
    assert stored_files(world.app) == before


# --------------------------------------------------------------------------- storing


def test_pdf_is_stored_outside_the_web_root_under_a_random_name(app, world):
    client = world.client()
    response = world.upload(client, "kbis", PDF, "Kbis société.pdf")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/espace/"
    assert urlsplit(response.headers["Location"]).fragment == "champ-kbis"
    (row,) = world.attachments()
    assert row["key"] == "kbis"
    assert row["original_name"] == "Kbis société.pdf"
    assert row["content_type"] == "application/pdf"
    assert row["size"] == len(PDF)
    assert row["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert row["scan_status"] == "not_scanned"
    assert HEX32.match(row["stored_name"])
    path = Path(app.config["UPLOAD_FOLDER"]) / row["stored_name"][:2] / row["stored_name"]
    assert path.read_bytes() == PDF
    static = Path(app.static_folder).resolve()
    assert static not in path.resolve().parents
    assert "Kbis" not in str(path)
    assert "upload_attachment" in world.audit_actions()
    assert not list((Path(app.config["UPLOAD_FOLDER"]) / ".tmp").iterdir())


def test_download_is_an_attachment_with_the_detected_type(app, world):
    client = world.client()
    world.upload(client, "kbis", PDF, "Kbis.pdf")
    (row,) = world.attachments()
    response = client.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}")
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "Kbis.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_png_renamed_pdf_is_refused_and_nothing_is_stored(app, world):
    client = world.client()
    before = stored_files(app)
    response = world.upload(client, "kbis", make_png(), "kbis.pdf")
    assert_refused(world, before, response, 303, "PNG", client)


def test_text_renamed_pdf_is_refused(app, world):
    client = world.client()
    before = stored_files(app)
    response = world.upload(client, "kbis", b"Ceci n'est pas un PDF.\n" * 10, "kbis.pdf")
    assert_refused(world, before, response, 303, "n'est pas accepté", client)


def test_empty_file_is_refused(app, world):
    client = world.client()
    before = stored_files(app)
    response = world.upload(client, "kbis", b"", "vide.pdf")
    assert_refused(world, before, response, 303, "vide", client)


def test_missing_file_is_refused(app, world):
    client = world.client()
    response = client.post(f"/espace/dossiers/{world.reference}/pieces/kbis", data={}, content_type="multipart/form-data")
    assert response.status_code == 303
    assert any("Choisissez un fichier" in m for _c, m in flashes(client))
    assert world.attachments() == []


def test_file_over_the_fields_maximum_is_refused(app, world):
    client = world.client()
    before = stored_files(app)
    big = make_pdf(extra=b" " * 30_000)  # kbis accepts 20 000 bytes
    response = world.upload(client, "kbis", big, "kbis.pdf")
    assert_refused(world, before, response, 303, "taille maximale", client)


def test_body_over_max_content_length_is_a_french_413(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    client = world.client()
    before = stored_files(app)
    response = world.upload(client, "kbis", make_pdf(extra=b" " * 8000), "kbis.pdf")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "trop volumineux" in page and "4 Ko" in page
    assert world.attachments() == []
    assert stored_files(app) == before


def test_body_over_max_content_length_is_a_json_413_on_the_api(app, world, monkeypatch):
    secret = world.token()
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    before = stored_files(app)
    response = api_upload(app.test_client(), world.reference, "kbis", secret, make_pdf(extra=b" " * 8000), "kbis.pdf")
    assert response.status_code == 413
    assert response.get_json()["error"]["status"] == 413
    assert "trop volumineux" in response.get_json()["error"]["message"]
    assert world.attachments() == []
    assert stored_files(app) == before


def test_path_traversal_name_is_stored_under_a_random_name_and_shown_sanitised(app, world):
    client = world.client()
    before = stored_files(app)
    assert world.upload(client, "kbis", PDF, "../../etc/passwd.pdf").status_code == 303
    (row,) = world.attachments()
    assert row["original_name"] == "passwd.pdf"
    assert HEX32.match(row["stored_name"])
    (new,) = stored_files(app) - before
    assert new.parent.parent == Path(app.config["UPLOAD_FOLDER"])
    assert new.name == row["stored_name"]
    response = client.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}")
    assert 'filename=passwd.pdf' in response.headers["Content-Disposition"]
    assert "etc" not in response.headers["Content-Disposition"]


def test_windows_path_and_control_characters_are_dropped_from_the_name(app, world):
    client = world.client()
    assert world.upload(client, "kbis", PDF, "/home/moi/Bilan\x00 2025\u200b.pdf").status_code == 303
    (row,) = world.attachments()
    assert row["original_name"] == "Bilan 2025.pdf"


@pytest.mark.parametrize("filename", ["facture.pdf.exe", "facture\u202efdp.exe", "facture.pdf.html", "facture.png"])
def test_pdf_content_under_a_misleading_extension_is_refused(app, world, filename):
    """A double extension is judged by its last one: ``facture.pdf.exe`` with
    a real PDF inside is refused (it would open as a program), as is the
    right-to-left-override trick (``facture‮fdp.exe`` shows as ``facture exe.pdf``)."""
    client = world.client()
    before = stored_files(app)
    response = world.upload(client, "kbis", PDF, filename)
    assert_refused(world, before, response, 303, "ne correspond pas", client)


def test_unknown_suffix_counts_as_no_extension_and_download_gets_one(app, world):
    client = world.client()
    assert world.upload(client, "kbis", PDF, "Bilan v1.2").status_code == 303
    (row,) = world.attachments()
    assert row["original_name"] == "Bilan v1.2"
    response = client.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}")
    assert "Bilan v1.2.pdf" in response.headers["Content-Disposition"]


@pytest.mark.parametrize(
    "content, reason",
    [
        (make_pdf() + make_zip(["payload.js"]), "archive ZIP"),
        (make_pdf(extra=b"<script>alert(1)</script>"), "HTML"),
        (b"<html><body>" + make_pdf(), "précèdent"),
    ],
    ids=["pdf+zip", "pdf+script", "html+pdf"],
)
def test_polyglot_pdf_is_refused(app, world, content, reason):
    client = world.client()
    before = stored_files(app)
    response = world.upload(client, "kbis", content, "kbis.pdf")
    assert_refused(world, before, response, 303, reason, client)


def test_png_with_html_in_its_first_kilobyte_is_refused(app, world):
    png = make_png()
    text_chunk = b"tEXt" + b"Comment\x00<html><script>alert(1)</script>"
    polyglot = png[:33] + struct.pack(">I", len(text_chunk) - 4) + text_chunk + struct.pack(">I", zlib.crc32(text_chunk)) + png[33:]
    client = world.client()
    before = stored_files(app)
    response = world.upload(client, "photo", polyglot, "site.png")
    assert_refused(world, before, response, 303, "HTML", client)


def test_png_and_jpeg_accepted_for_an_image_field(app, world):
    client = world.client()
    assert world.upload(client, "photo", make_png(), "site.PNG").status_code == 303
    assert [r["content_type"] for r in world.attachments("photo")] == ["image/png"]


def test_docx_is_accepted_and_csv_is_recognised_by_its_extension(app, world):
    client = world.client()
    assert world.upload(client, "budget", make_docx(), "budget.docx").status_code == 303
    assert [r["content_type"] for r in world.attachments("budget")] == [
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"]
    assert world.upload(client, "budget", "poste;montant\nétude;12000\n".encode(), "budget.csv").status_code == 303
    assert [r["content_type"] for r in world.attachments("budget")] == ["text/csv"]


def test_plain_zip_is_refused_for_a_docx_field(app, world):
    client = world.client()
    before = stored_files(app)
    response = world.upload(client, "budget", make_zip(["a.txt"]), "budget.docx")
    assert_refused(world, before, response, 303, "n'est pas accepté", client)


def test_unknown_key_and_non_file_field_are_404(app, world):
    client = world.client()
    assert world.upload(client, "inconnu", PDF, "a.pdf").status_code == 404
    assert world.upload(client, "effectif", PDF, "a.pdf").status_code == 404
    assert world.attachments() == []


def test_a_rolled_back_upload_leaves_no_file(app, world):
    from werkzeug.datastructures import FileStorage

    before = stored_files(app)
    with app.app_context():
        application = db.session.get(Application, world.application_id)
        user = db.session.get(User, world.member_id)
        attachment = ops.store_attachment(db.session, application, "kbis", FileStorage(io.BytesIO(PDF), "a.pdf"), user)
        assert HEX32.match(attachment.stored_name)
        assert len(stored_files(app) - before) == 1
        db.session.rollback()
    assert stored_files(app) == before
    assert world.attachments() == []


# --------------------------------------------------------------------------- who may do it


def test_another_organisations_member_gets_404_everywhere(app, world):
    owner = world.client()
    world.upload(owner, "kbis", PDF, "kbis.pdf")
    (row,) = world.attachments()
    other = world.client(world.stranger_email)
    assert world.upload(other, "kbis", PDF, "intrus.pdf").status_code == 404
    assert other.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}").status_code == 404
    assert other.post(f"/espace/dossiers/{world.reference}/pieces/{row['id']}/supprimer").status_code == 404
    assert [r["id"] for r in world.attachments()] == [row["id"]]


def test_attachment_of_another_file_is_404_through_my_file(app, world):
    owner = world.client()
    world.upload(owner, "kbis", PDF, "kbis.pdf")
    (row,) = world.attachments()
    with in_db(app) as s:
        stranger = s.execute(select(User).where(User.email == world.stranger_email)).scalar_one()
        org = s.execute(select(Organisation).where(Organisation.id == stranger.memberships[0].organisation_id)).scalar_one()
        other_app = make_application(s, s.get(Application, world.application_id).call, org, state="draft")
        other_reference = other_app.reference
    other = world.client(world.stranger_email)
    assert other.get(f"/espace/dossiers/{other_reference}/pieces/{row['id']}").status_code == 404


def test_anonymous_is_sent_to_login(app, world):
    client = app.test_client()
    response = world.upload(client, "kbis", PDF, "kbis.pdf")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    response = client.get(f"/espace/dossiers/{world.reference}/pieces/1")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    assert world.attachments() == []


def test_instructor_cannot_use_the_applicant_routes(app, world):
    with in_db(app) as s:
        email = make_user(s, "instructor").email
    world.set_state("submitted")
    client = world.client(email)
    assert world.upload(client, "kbis", PDF, "kbis.pdf").status_code == 403


def test_can_download_follows_can_view_application(app, world):
    owner = world.client()
    world.upload(owner, "kbis", PDF, "kbis.pdf")
    (row,) = world.attachments()
    with in_db(app) as s:
        instructor = make_user(s, "instructor")
        attachment = s.get(Attachment, row["id"])
        stranger = s.execute(select(User).where(User.email == world.stranger_email)).scalar_one()
        member = s.get(User, world.member_id)
        assert ops.can_download(member, attachment)
        assert not ops.can_download(stranger, attachment)
        assert not ops.can_download(instructor, attachment)  # a draft stays private
        attachment.application.state = "submitted"
        attachment.application.submitted_at = utcnow()
        assert ops.can_download(instructor, attachment)


# --------------------------------------------------------------------------- replace, delete, after submission


def test_replace_in_draft_deletes_the_old_version(app, world):
    client = world.client()
    world.upload(client, "kbis", make_pdf("v1"), "v1.pdf")
    (first,) = world.attachments()
    old_path = Path(app.config["UPLOAD_FOLDER"]) / first["stored_name"][:2] / first["stored_name"]
    assert old_path.exists()
    world.upload(client, "kbis", make_pdf("v2"), "v2.pdf")
    run_queued_jobs(app)
    (second,) = world.attachments()
    assert second["original_name"] == "v2.pdf"
    assert second["id"] != first["id"]
    assert not old_path.exists()
    assert world.audit_actions()[-1] == "replace_attachment"


def test_delete_in_draft(app, world):
    client = world.client()
    world.upload(client, "kbis", PDF, "kbis.pdf")
    (row,) = world.attachments()
    path = Path(app.config["UPLOAD_FOLDER"]) / row["stored_name"][:2] / row["stored_name"]
    response = client.post(f"/espace/dossiers/{world.reference}/pieces/{row['id']}/supprimer", data={"next": "/espace/"})
    assert response.status_code == 303
    run_queued_jobs(app)
    assert world.attachments() == []
    assert not path.exists()
    assert world.audit_actions()[-1] == "delete_attachment"


def test_no_delete_and_no_upload_after_submission(app, world):
    client = world.client()
    world.upload(client, "kbis", PDF, "kbis.pdf")
    (row,) = world.attachments()
    world.set_state("submitted")
    response = client.post(f"/espace/dossiers/{world.reference}/pieces/{row['id']}/supprimer")
    assert response.status_code == 303
    assert any("ne peuvent plus être supprimées" in m for _c, m in flashes(client))
    assert [r["id"] for r in world.attachments()] == [row["id"]]
    before = stored_files(app)
    response = world.upload(client, "kbis", make_pdf("v2"), "v2.pdf")
    assert response.status_code == 303
    assert any("ne peut plus être modifiée" in m for _c, m in flashes(client))
    assert [r["id"] for r in world.attachments()] == [row["id"]]
    assert stored_files(app) == before


def add_correction_request(app, world, keys: list[str], resolved: bool = False) -> None:
    with in_db(app) as s:
        s.add(CorrectionRequest(application_id=world.application_id, keys=keys, message="Kbis périmé",
                                due_date=date(2030, 1, 1), resolved_at=utcnow() if resolved else None))


def test_upload_after_submission_only_for_keys_in_an_open_correction_request(app, world):
    client = world.client()
    world.upload(client, "kbis", make_pdf("v1"), "v1.pdf")
    world.set_state("corrections_requested")
    add_correction_request(app, world, ["photo"])
    add_correction_request(app, world, ["kbis"], resolved=True)
    world.upload(client, "kbis", make_pdf("v2"), "v2.pdf")
    assert [r["original_name"] for r in world.attachments("kbis")] == ["v1.pdf"]

    add_correction_request(app, world, ["kbis"])
    assert world.upload(client, "kbis", make_pdf("v2"), "v2.pdf").status_code == 303
    assert [r["original_name"] for r in world.attachments("kbis")] == ["v1.pdf", "v2.pdf"]  # old version kept
    with in_db(app) as s:
        grouped = ops.attachments_by_key(s, s.get(Application, world.application_id))
        assert [a.original_name for a in grouped["kbis"]] == ["v2.pdf", "v1.pdf"]  # current first
    # still no delete outside drafts
    first = world.attachments("kbis")[0]
    client.post(f"/espace/dossiers/{world.reference}/pieces/{first['id']}/supprimer")
    assert len(world.attachments("kbis")) == 2


def test_correction_request_does_not_open_uploads_in_another_state(app, world):
    client = world.client()
    world.set_state("instruction")
    add_correction_request(app, world, ["kbis"])
    world.upload(client, "kbis", PDF, "kbis.pdf")
    assert world.attachments() == []


def test_present_file_keys_ignores_infected_files(app, world):
    client = world.client()
    world.upload(client, "kbis", PDF, "kbis.pdf")
    world.upload(client, "photo", make_png(), "photo.png")
    with in_db(app) as s:
        application = s.get(Application, world.application_id)
        assert ops.present_file_keys(s, application) == {"kbis", "photo"}
        photo = s.execute(select(Attachment).where(Attachment.field_key == "photo")).scalar_one()
        photo.scan_status = "infected"
        s.flush()
        assert ops.present_file_keys(s, application) == {"kbis"}


# --------------------------------------------------------------------------- API


def test_api_upload_returns_the_attachment(app, world):
    secret = world.token()
    response = api_upload(app.test_client(), world.reference, "kbis", secret, PDF, "kbis.pdf")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    (row,) = world.attachments()
    assert body["id"] == row["id"]
    assert body["name"] == "kbis.pdf"
    assert body["size"] == len(PDF)
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert body["content_type"] == "application/pdf"
    assert body["scan_status"] == "not_scanned"


@pytest.mark.parametrize(
    "key, content, filename, status",
    [
        ("kbis", make_png(), "kbis.pdf", 415),
        ("kbis", b"du texte", "kbis.pdf", 415),
        ("kbis", PDF, "kbis.pdf.exe", 415),
        ("kbis", make_pdf(extra=b" " * 30_000), "kbis.pdf", 413),
        ("kbis", b"", "kbis.pdf", 422),
        ("inconnu", PDF, "kbis.pdf", 404),
    ],
)
def test_api_refusals_are_json_and_store_nothing(app, world, key, content, filename, status):
    secret = world.token()
    before = stored_files(app)
    response = api_upload(app.test_client(), world.reference, key, secret, content, filename)
    assert response.status_code == status
    assert response.get_json()["error"]["status"] == status
    assert world.attachments() == []
    assert stored_files(app) == before


def test_api_without_file_field_is_422(app, world):
    secret = world.token()
    response = app.test_client().post(f"/api/v1/applications/{world.reference}/files/kbis",
                                      headers={"Authorization": f"Bearer {secret}"}, data={"autre": "x"})
    assert response.status_code == 422


def test_api_needs_the_write_scope_and_membership(app, world):
    read_only = world.token(scopes=("read",))
    assert api_upload(app.test_client(), world.reference, "kbis", read_only, PDF, "a.pdf").status_code == 403
    stranger = world.token(email=world.stranger_email)
    assert api_upload(app.test_client(), world.reference, "kbis", stranger, PDF, "a.pdf").status_code == 404
    assert world.attachments() == []


def test_api_upload_after_submission_is_409(app, world):
    world.set_state("submitted")
    secret = world.token()
    assert api_upload(app.test_client(), world.reference, "kbis", secret, PDF, "a.pdf").status_code == 409


def test_openapi_documents_the_multipart_upload(app):
    from openapi_spec_validator import validate

    document = app.test_client().get("/api/v1/openapi.json").get_json()
    validate(document)
    operation = document["paths"]["/applications/{reference}/files/{key}"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"201", "413", "415"} <= set(operation["responses"])


# --------------------------------------------------------------------------- antivirus


class FakeClamd:
    """A clamd speaking INSTREAM (and PING) on TCP or a unix socket: answers
    ``stream: Eicar-Signature FOUND`` when the stream holds the EICAR marker,
    ``stream: OK`` otherwise (or ``reply`` when set)."""

    MARKER = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"

    def __init__(self, unix_path: Path | None = None) -> None:
        fake = self
        self.streams: list[bytes] = []
        self.reply: bytes | None = None

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock = self.request
                command = b""
                while not command.endswith(b"\0"):
                    command += sock.recv(1)
                if command == b"zPING\0":
                    sock.sendall(b"PONG\0")
                    return
                assert command == b"zINSTREAM\0"
                data = b""
                while True:
                    header = b""
                    while len(header) < 4:
                        header += sock.recv(4 - len(header))
                    (length,) = struct.unpack("!L", header)
                    if length == 0:
                        break
                    chunk = b""
                    while len(chunk) < length:
                        chunk += sock.recv(length - len(chunk))
                    data += chunk
                fake.streams.append(data)
                if fake.reply is not None:
                    sock.sendall(fake.reply)
                elif FakeClamd.MARKER in data:
                    sock.sendall(b"stream: Eicar-Signature FOUND\0")
                else:
                    sock.sendall(b"stream: OK\0")

        if unix_path is None:
            self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        else:
            self.server = socketserver.ThreadingUnixStreamServer(str(unix_path), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clamd_tcp(app, monkeypatch):
    fake = FakeClamd()
    monkeypatch.setitem(app.config, "CLAMAV_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "CLAMAV_PORT", fake.server.server_address[1])
    yield fake
    fake.close()


@pytest.fixture
def clamd_unix(app, monkeypatch, tmp_path):
    path = tmp_path / "clamd.sock"
    fake = FakeClamd(path)
    monkeypatch.setitem(app.config, "CLAMAV_SOCKET", str(path))
    yield fake
    fake.close()


def test_clean_file_is_pending_then_downloadable_after_the_scan(app, world, clamd_tcp, monkeypatch):
    # Keep the scan job from running at once, to see the file while pending.
    queued = []
    monkeypatch.setattr("app.operations.attachments.enqueue_after_commit",
                        lambda func, *args, **kw: queued.append((func, args)) if func.__name__ == "scan_attachment"
                        else None)
    client = world.client()
    world.upload(client, "kbis", PDF, "kbis.pdf")
    (row,) = world.attachments()
    assert row["scan_status"] == "pending"
    blocked = client.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}")
    assert blocked.status_code == 423
    assert "analyse antivirus" in blocked.get_data(as_text=True)
    (func, args), = queued
    with app.app_context():
        func(*args)
    assert clamd_tcp.streams == [PDF]
    assert world.attachments()[0]["scan_status"] == "clean"
    response = client.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}")
    assert response.status_code == 200 and response.data == PDF
    assert world.audit_actions()[-1] == "scan_attachment"


def test_scan_job_runs_after_commit_over_a_unix_socket(app, world, clamd_unix):
    client = world.client()
    api = world.token()
    response = api_upload(client, world.reference, "kbis", api, PDF, "kbis.pdf")
    assert response.get_json()["scan_status"] == "pending"
    run_queued_jobs(app)
    (row,) = world.attachments()
    assert row["scan_status"] == "clean"
    assert clamd_unix.streams == [PDF]
    assert client.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}").status_code == 200


def test_infected_file_is_never_served(app, world, clamd_tcp):
    infected = make_pdf(FakeClamd.MARKER.decode())
    client = world.client()
    world.upload(client, "kbis", infected, "kbis.pdf")
    run_queued_jobs(app)
    (row,) = world.attachments()
    assert row["scan_status"] == "infected"
    response = client.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}")
    assert response.status_code == 423
    assert infected not in response.data
    assert "virus" in response.get_data(as_text=True)
    with in_db(app) as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "scan_attachment")).scalar_one()
        assert entry.after["scan_status"] == "infected" and entry.after["detail"] == "Eicar-Signature"
        assert ops.present_file_keys(s, s.get(Application, world.application_id)) == set()


def test_clamd_error_or_unreachable_blocks_the_download(app, world, clamd_tcp, monkeypatch):
    clamd_tcp.reply = b"INSTREAM size limit exceeded. ERROR\0"
    client = world.client()
    world.upload(client, "kbis", PDF, "kbis.pdf")
    run_queued_jobs(app)
    assert world.attachments()[0]["scan_status"] == "error"

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setitem(app.config, "CLAMAV_PORT", closed_port)
    world.upload(client, "photo", make_png(), "photo.png")
    run_queued_jobs(app)
    photo = world.attachments("photo")[0]
    assert photo["scan_status"] == "error"
    assert client.get(f"/espace/dossiers/{world.reference}/pieces/{photo['id']}").status_code == 423


def test_scan_job_twice_changes_nothing_the_second_time(app, world, clamd_tcp):
    from app.scanning import scan_attachment

    client = world.client()
    world.upload(client, "kbis", PDF, "kbis.pdf")
    run_queued_jobs(app)
    (row,) = world.attachments()
    with app.app_context():
        scan_attachment(row["id"])
        scan_attachment(999_999)  # deleted in the meantime
    assert world.audit_actions().count("scan_attachment") == 1
    assert len(clamd_tcp.streams) == 1


def test_clamd_ping(clamd_tcp):
    from app.scanning import ClamdScanner

    assert ClamdScanner(host="127.0.0.1", port=clamd_tcp.server.server_address[1]).ping()


@pytest.mark.parametrize(
    "reply, status, detail",
    [
        ("stream: OK", "clean", None),
        ("stream: Win.Test.EICAR_HDB-1 FOUND", "infected", "Win.Test.EICAR_HDB-1"),
        ("INSTREAM size limit exceeded. ERROR", "error", "INSTREAM size limit exceeded. ERROR"),
        ("", "error", "no reply"),
    ],
)
def test_parse_clamd_reply(reply, status, detail):
    from app.scanning import parse_reply

    result = parse_reply(reply)
    assert (result.status, result.detail) == (status, detail)


def test_without_scanner_files_are_not_scanned_and_downloadable(app, world):
    assert not app.config.get("CLAMAV_HOST") and not app.config.get("CLAMAV_SOCKET")
    client = world.client()
    world.upload(client, "kbis", PDF, "kbis.pdf")
    (row,) = world.attachments()
    assert row["scan_status"] == "not_scanned"
    assert client.get(f"/espace/dossiers/{world.reference}/pieces/{row['id']}").status_code == 200


# --------------------------------------------------------------------------- names and the macro


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\boot.ini.pdf", "boot.ini.pdf"),
        ("  .cache.pdf ", "cache.pdf"),
        ("a<b>c:d.pdf", "a_b_c_d.pdf"),
        ("e\u0301te\u0301.pdf", "été.pdf"),
        ("", "fichier"),
        ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
    ],
)
def test_display_name(app, raw, shown):
    from app.uploads import display_name

    with app.test_request_context():
        assert display_name(raw) == shown


def render_field(app, application, attachments, **kwargs):
    from flask import render_template_string

    template = ('{% from "macros/attachments.html" import file_field %}'
                "{{ file_field(application, field, attachments, **kwargs) }}")
    field = DEFINITION["sections"][0]["fields"][1]
    return render_template_string(template, application=application, field=field, attachments=attachments, kwargs=kwargs)


def test_macro_renders_an_accessible_upload_form(app, world):
    client = world.client()
    world.upload(client, "kbis", make_pdf(extra=b" " * 1500), "Kbis.pdf")
    with app.test_request_context(f"/espace/dossiers/{world.reference}"):
        application = db.session.get(Application, world.application_id)
        attachments = ops.attachments_by_key(db.session, application)["kbis"]
        html = render_field(app, application, attachments)
        assert 'enctype="multipart/form-data"' in html
        assert 'name="csrf_token"' in html
        assert 'accept="application/pdf,.pdf"' in html
        assert 'for="piece-kbis"' in html and 'id="piece-kbis"' in html
        assert "Formats acceptés : PDF. Taille maximale : 19,5 Ko." in html
        assert "Kbis.pdf" in html and re.search(r"\(\d+(,\d)? Ko\)", html)
        assert "Non analysé" in html
        assert f"/espace/dossiers/{world.reference}/pieces/{attachments[0].id}" in html
        assert "/supprimer" in html  # delete offered in a draft
        assert "<script" not in html and "style=" not in html

        application.state = "submitted"
        html = render_field(app, application, attachments)
        assert "/supprimer" not in html and 'type="file"' not in html
        html = render_field(app, application, attachments, editable=True)
        assert 'type="file"' in html and "/supprimer" not in html
        db.session.rollback()


def test_macro_shows_a_refused_uploads_message_next_to_its_field(app, world):
    from flask import flash

    with app.test_request_context("/"):
        application = db.session.get(Application, world.application_id)
        flash("L'extension ne correspond pas", "error upload-kbis")
        flash("Autre pièce", "error upload-photo")
        html = render_field(app, application, [])
        assert "extension ne correspond pas" in html and "Autre pièce" not in html
        assert 'aria-invalid="true"' in html and "piece-kbis-errors" in html
        assert "Aucun fichier déposé." in html


# --------------------------------------------------------------------------- with CSRF on, as in production


def test_upload_with_csrf_on(app, world, monkeypatch):
    from tests.factories import csrf_token_from

    client = world.client()
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    token = csrf_token_from(client.get("/espace/").get_data(as_text=True))
    url = f"/espace/dossiers/{world.reference}/pieces/kbis"
    refused = client.post(url, data={"file": (io.BytesIO(PDF), "kbis.pdf")}, content_type="multipart/form-data")
    assert refused.status_code == 400
    assert world.attachments() == []
    response = client.post(url, data={"file": (io.BytesIO(PDF), "kbis.pdf"), "csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    assert len(world.attachments()) == 1


def test_body_over_max_content_length_with_csrf_on_is_a_french_413(app, world, monkeypatch):
    """CSRF protection reads the form before the view: the 413 comes from there."""
    from tests.factories import csrf_token_from

    client = world.client()
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    token = csrf_token_from(client.get("/espace/").get_data(as_text=True))
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    before = stored_files(app)
    response = client.post(f"/espace/dossiers/{world.reference}/pieces/kbis",
                           data={"file": (io.BytesIO(make_pdf(extra=b" " * 8000)), "kbis.pdf"), "csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert "la taille maximale est de 4 Ko" in response.get_data(as_text=True)
    assert world.attachments() == [] and stored_files(app) == before
