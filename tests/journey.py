"""Helpers of the applicant-journey tests (tests/test_journey_pages.py and
tests/test_journey_api.py): valid answers for each demo call, as the API takes
them and as a person types them in the pages; real small PDF and PNG files;
reading a receipt back; logging in; and a snapshot of everything a refused
request must leave unchanged (state, answers, attachment rows, stored files,
audit rows…)."""

from __future__ import annotations

import hashlib
import html
import io
import re
import struct
import zlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.models import (AnswerRevision, Application, Attachment, AuditEntry, Call, ClockPause, CorrectionRequest,
                        Document, EligibilityDecision, EligibilityResult, Message, Organisation, User, utcnow)
from app.operations.demo import make_siret
from tests.conftest import run_queued_jobs
from tests.factories import csrf_token_from, login

APPLICANT = "demo-applicant@guichet.test"      # Atelier Numérique de Champagne (51)
APPLICANT2 = "demo-applicant2@guichet.test"    # BioVosges (88)
INSTRUCTOR = "demo-instructor@guichet.test"
DEMO_PASSWORD = "demo"
PACK, AMI = "PACK-IA-2026", "AMI-ECONUM-2026"
CALLS = (PACK, AMI)
BAD_SIRET = "12345678901234"
NBSP, NNBSP = "\u00a0", "\u202f"
FRENCH_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
                 "novembre", "décembre")

# The answer field and the document each journey asks to correct.
CORRECTED = {PACK: ("description_projet", "devis_prestataire"), AMI: ("resume", "annexe_technique")}
# Another answer field, not requested: the applicant may not change it.
NOT_REQUESTED = {PACK: "titre_projet", AMI: "titre_projet"}
# A PDF-only document field (for the "PNG renamed .pdf" refusal).
PDF_ONLY = {PACK: "devis_prestataire", AMI: "dossier_candidature"}


# --------------------------------------------------------------------------- files


def make_pdf(text: str = "Bonjour", padding: int = 0, extra: bytes = b"") -> bytes:
    """A small valid one-page PDF with a correct xref table; ``padding`` bytes
    of spaces inside the content stream make it as large as wanted, ``extra``
    bytes are added to the stream as they are (polyglot tests)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode() + b" " * padding + extra
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x20\x60\xa0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def document_for(key: str, version: int = 1) -> tuple[bytes, str]:
    """The bytes and the name of the file sent for a document field: a PNG for
    the Kbis (an image is accepted there), a distinct PDF for every other."""
    if key == "kbis" and version == 1:
        return make_png(), "Kbis société.png"
    return make_pdf(f"{key} version {version}"), f"{key} v{version}.pdf"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pdf_text(data: bytes) -> str:
    """The text of a PDF, read back with pypdf (no-break spaces made plain)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return text.replace(NBSP, " ").replace(NNBSP, " ")


def squeezed(text: str) -> str:
    """Without any whitespace (a SHA-256 may wrap inside a table cell)."""
    return re.sub(r"\s+", "", text)


# --------------------------------------------------------------------------- answers


def start_date(days: int = 60) -> date:
    return (utcnow() + timedelta(days=days)).date()


def pack_answers(org: dict[str, Any]) -> dict[str, Any]:
    """Valid answers to the Pack IA form (API types), with a conditional field
    shown (the AI diagnosis) and two rows of expenses."""
    return {
        "siret_etablissement": org["siret"], "departement_etablissement": org["department"], "effectif": 42,
        "chiffre_affaires": 680_000_000, "code_naf": "2562B", "date_creation": "2009-04-01",
        "jamais_aidee_ia": True, "pas_startup": True, "pas_en_difficulte": True, "finances_saines": True,
        "aides_de_minimis_3_ans": 4_500_000,
        "diagnostic_ia_realise": True, "diagnostic_ia_organisme": "Grand E-nov+ (diagnostic IA)",
        "diagnostic_ia_date": "2025-10-14",
        "titre_projet": "Contrôle qualité par vision industrielle",
        "description_projet": "Une caméra et un modèle de vision trient les pièces non conformes en sortie de ligne.",
        "nature_projet": "prestation", "prestataire_nom": "Datavosges Conseil", "prestataire_grand_est": True,
        "prestataire_siret": make_siret(44556677), "date_debut": start_date().isoformat(), "duree_mois": 12,
        "depenses": [
            {"categorie": "prestation_externe", "description": "Développement du modèle de vision", "montant_ht": 6_000_000},
            {"categorie": "autre", "description": "Caméras et éclairage", "montant_ht": 1_000_050},
        ],
        "cofinancements": [{"financeur": "feder", "montant": 500_000, "statut": "sollicite"}],
        "aide_demandee": 3_500_000,
        "contact_nom": "Camille Martin", "contact_fonction": "Directrice des opérations",
        "contact_email": "camille.martin@example.test", "contact_telephone": "03 26 47 21 90",
        "iban": "FR1710278010010002345678912",
    }


def ami_answers(org: dict[str, Any]) -> dict[str, Any]:
    """Valid answers to the AMI « Économie Numérique » form (API types): a chain
    of conditional fields (health data → HDS host), a consortium in rows."""
    return {
        "siret_porteur": org["siret"], "type_structure": "entreprise", "departement_porteur": org["department"],
        "effectif": 42,
        "defi": "sante", "donnees_sante": True, "hebergeur_hds": True,
        "etablissement_partenaire": "CHU de Reims — service de dermatologie", "secteurs_applicatifs": ["vision", "prevision"],
        "titre_projet": "Aide au diagnostic en imagerie dermatologique",
        "resume": "Une solution d'IA qui aide les dermatologues à repérer les lésions suspectes.",
        "description_technique": "État de l'art, verrou, solution, données et plan de travail en quatre lots.",
        "trl_initial": 3, "trl_vise": 6, "date_debut": start_date(90).isoformat(), "duree_mois": 24,
        "part_grand_est": "85",
        "en_consortium": True,
        "partenaires": [
            {"nom": "Laboratoire lorrain de recherche en informatique", "siret": None, "type": "laboratoire",
             "role": "Conception des modèles"},
            {"nom": "CHU de Reims", "siret": make_siret(77889900), "type": "etablissement_sante",
             "role": "Données annotées et site pilote"},
        ],
        "depenses": [
            {"categorie": "personnel", "description": "Ingénieurs en apprentissage automatique", "montant_ht": 30_000_000},
            {"categorie": "equipement", "description": "Serveur de calcul", "montant_ht": 20_000_000},
        ],
        "cofinancements": [{"financeur": "etat_france_2030", "montant": 10_000_000, "statut": "sollicite"}],
        "aide_demandee": 20_000_000,
        "contact_nom": "Camille Martin", "contact_email": "camille.martin@example.test",
        "contact_telephone": "03 26 47 21 90", "iban": "FR1710278010010002345678912",
    }


def answers_for(call: str, org: dict[str, Any]) -> dict[str, Any]:
    return pack_answers(org) if call == PACK else ami_answers(org)


def _fr_date(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


def page_posts(call: str, org: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The same answers as a person types them in the pages, section by
    section (French formats: "60 000", "oui", "14/10/2025", spaced IBAN…).
    Each section posts its ``_fields`` markers, as the page does; the Pack IA
    page also posts a hidden conditional field, which must be dropped."""
    a = answers_for(call, org)
    siret = org["siret"]
    spaced_siret = f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}"
    coordonnees = {"contact_nom": a["contact_nom"], "contact_email": a["contact_email"],
                   "contact_telephone": "03.26.47.21.90", "iban": "FR17 1027 8010 0100 0234 5678 912"}
    if call == PACK:
        coordonnees["contact_fonction"] = a["contact_fonction"]
        return {
            "entreprise": {"siret_etablissement": spaced_siret, "departement_etablissement": org["department"],
                           "effectif": "42", "chiffre_affaires": "6 800 000", "code_naf": "2562B",
                           "date_creation": "01/04/2009"},
            "eligibilite": {"jamais_aidee_ia": "oui", "pas_startup": "oui", "pas_en_difficulte": "oui",
                            "finances_saines": "oui", "aides_de_minimis_3_ans": "45 000", "diagnostic_ia_realise": "oui",
                            "diagnostic_ia_organisme": a["diagnostic_ia_organisme"], "diagnostic_ia_date": "14/10/2025"},
            "projet": {"titre_projet": a["titre_projet"], "description_projet": a["description_projet"],
                       "nature_projet": "prestation", "prestataire_nom": a["prestataire_nom"],
                       "prestataire_grand_est": "oui", "prestataire_siret": a["prestataire_siret"],
                       "poste_recrute": "Ingénieur IA (caché : la dépense est une prestation)",
                       "date_debut": _fr_date(a["date_debut"]), "duree_mois": "12"},
            "budget": {"depenses-0-categorie": "prestation_externe", "depenses-0-description": a["depenses"][0]["description"],
                       "depenses-0-montant_ht": "60 000", "depenses-1-categorie": "autre",
                       "depenses-1-description": a["depenses"][1]["description"], "depenses-1-montant_ht": "10 000,50",
                       "cofinancements-0-financeur": "feder", "cofinancements-0-montant": "5 000",
                       "cofinancements-0-statut": "sollicite", "aide_demandee": "35 000"},
            "coordonnees": coordonnees,
        }
    return {
        "porteur": {"siret_porteur": spaced_siret, "type_structure": "entreprise",
                    "departement_porteur": org["department"], "effectif": "42"},
        "defi": {"defi": "sante", "donnees_sante": "oui", "hebergeur_hds": "oui",
                 "etablissement_partenaire": a["etablissement_partenaire"], "secteurs_applicatifs": ["vision", "prevision"]},
        "projet": {"titre_projet": a["titre_projet"], "resume": a["resume"],
                   "description_technique": a["description_technique"], "trl_initial": "3", "trl_vise": "6",
                   "date_debut": _fr_date(a["date_debut"]), "duree_mois": "24", "part_grand_est": "85"},
        "consortium": {"en_consortium": "oui",
                       "partenaires-0-nom": a["partenaires"][0]["nom"], "partenaires-0-siret": "",
                       "partenaires-0-type": "laboratoire", "partenaires-0-role": a["partenaires"][0]["role"],
                       "partenaires-1-nom": a["partenaires"][1]["nom"], "partenaires-1-siret": a["partenaires"][1]["siret"],
                       "partenaires-1-type": "etablissement_sante", "partenaires-1-role": a["partenaires"][1]["role"]},
        "budget": {"depenses-0-categorie": "personnel", "depenses-0-description": a["depenses"][0]["description"],
                   "depenses-0-montant_ht": "300 000", "depenses-1-categorie": "equipement",
                   "depenses-1-description": a["depenses"][1]["description"], "depenses-1-montant_ht": "200 000",
                   "cofinancements-0-financeur": "etat_france_2030", "cofinancements-0-montant": "100 000",
                   "cofinancements-0-statut": "sollicite", "aide_demandee": "200 000"},
        "coordonnees": coordonnees,
    }


# --------------------------------------------------------------------------- clients


def text_of(response) -> str:
    """The page's text, entities decoded and no-break spaces made plain."""
    return html.unescape(response.get_data(as_text=True)).replace(NBSP, " ").replace(NNBSP, " ")


def plain_text(response) -> str:
    """The page without its tags (what a person reads)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text_of(response)))


def logged_in(app, email: str = APPLICANT, password: str = DEMO_PASSWORD):
    client = app.test_client()
    response = login(client, email, password)
    assert response.status_code == 302, f"login of {email} failed"
    return client


def logged_in_with_csrf(app, email: str = APPLICANT, password: str = DEMO_PASSWORD):
    """Log in through the real form, CSRF token included (the ``csrf`` fixture on)."""
    client = app.test_client()
    token_value = csrf_token_from(client.get("/connexion").get_data(as_text=True))
    response = client.post("/connexion", data={"email": email, "password": password, "csrf_token": token_value})
    assert response.status_code == 302, f"login of {email} failed"
    return client


def api_headers(client, email: str = APPLICANT, password: str = DEMO_PASSWORD, scopes=("read", "write")) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": password, "scopes": list(scopes)})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as sess:
        return list(sess.get("_flashes", []))


def upload(client, reference: str, key: str, content: bytes, filename: str, next_url: str | None = None, **extra):
    data = {"file": (io.BytesIO(content), filename), **extra}
    if next_url:
        data["next"] = next_url
    return client.post(f"/espace/dossiers/{reference}/pieces/{key}", data=data, content_type="multipart/form-data")


def api_upload(client, headers, reference: str, key: str, content: bytes, filename: str):
    return client.post(f"/api/v1/applications/{reference}/files/{key}", headers=headers,
                       data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def drain(app) -> None:
    """Run the jobs RQ holds (Redis configured); in-process jobs already ran."""
    run_queued_jobs(app)


# --------------------------------------------------------------------------- database


def fetch(session, reference: str) -> Application:
    session.expire_all()
    return session.execute(select(Application).where(Application.reference == reference)).scalar_one()


def org_of(session, email: str) -> dict[str, Any]:
    user = session.execute(select(User).where(User.email == email)).scalar_one()
    org = user.memberships[0].organisation
    data = {"id": org.id, "siret": org.siret, "department": org.department, "name": org.name}
    session.rollback()
    return data


def demo_file(session, email: str, call: str, state: str) -> str:
    """The reference of a demo file of ``email``'s organisation on ``call`` in ``state``."""
    user = session.execute(select(User).where(User.email == email)).scalar_one()
    org_id = user.memberships[0].organisation_id
    reference = session.execute(
        select(Application.reference).join(Application.call)
        .where(Application.organisation_id == org_id, Call.reference == call, Application.state == state)
        .order_by(Application.id).limit(1)
    ).scalar_one()
    session.rollback()
    return reference


def audit_rows(session, reference: str, action: str | None = None) -> list[AuditEntry]:
    session.expire_all()
    stmt = select(AuditEntry).where(AuditEntry.object_type == "application", AuditEntry.object_id == reference)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    rows = list(session.execute(stmt.order_by(AuditEntry.id)).scalars())
    return rows


def stored_files(app) -> set[Path]:
    """Every file under the upload and the documents folders."""
    files: set[Path] = set()
    for key in ("UPLOAD_FOLDER", "DOCUMENTS_FOLDER"):
        root = Path(app.config[key])
        if root.exists():
            files |= {p for p in root.rglob("*") if p.is_file()}
    return files


def snapshot(app, session, reference: str | None = None) -> dict[str, Any]:
    """Everything a refused request must leave as it was: the file (state,
    version, answers, title, amount, dates), its attachment rows, requests for
    corrections, revisions, messages, pauses, eligibility rows and documents,
    the number of audit rows and of organisations, and the stored files."""
    session.expire_all()

    def count(model, *where) -> int:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

    data: dict[str, Any] = {
        "audit": count(AuditEntry),
        "organisations": count(Organisation),
        "applications": count(Application),
        "files": stored_files(app),
    }
    if reference is not None:
        a = session.execute(select(Application).where(Application.reference == reference)).scalar_one()
        data.update({
            "state": a.state, "version": a.version, "answers": a.answers, "title": a.title,
            "requested": a.requested_amount_cents, "submitted_at": a.submitted_at, "due_date": a.due_date,
            "attachments": sorted(
                (x.id, x.field_key, x.sha256, x.stored_name) for x in
                session.execute(select(Attachment).where(Attachment.application_id == a.id)).scalars()),
            "corrections": sorted((c.id, tuple(c.keys), c.resolved_at) for c in session.execute(
                select(CorrectionRequest).where(CorrectionRequest.application_id == a.id)).scalars()),
            "revisions": count(AnswerRevision, AnswerRevision.application_id == a.id),
            "messages": count(Message, Message.application_id == a.id),
            "pauses": sorted((p.id, p.ended_at) for p in session.execute(
                select(ClockPause).where(ClockPause.application_id == a.id)).scalars()),
            "eligibility": count(EligibilityResult, EligibilityResult.application_id == a.id),
            "decisions": count(EligibilityDecision, EligibilityDecision.application_id == a.id),
            "documents": count(Document, Document.application_id == a.id),
        })
    session.rollback()
    return data


# --------------------------------------------------------------------------- forms


def definition(call: str):
    """The call's form as the demo publishes it."""
    from app.callforms import builtin_definition, load_definition

    return load_definition(builtin_definition("pack_ia" if call == PACK else "ami_numerique"))


def file_keys(call: str) -> list[str]:
    return [f.key for f in definition(call).file_fields]


def complete_draft_api(client, headers, call: str, org: dict[str, Any], title: str = "Dossier de test") -> str:
    """A complete draft made through the API (answers and every document); its reference."""
    response = client.post("/api/v1/applications", headers=headers,
                           json={"call": call, "organisation": org["siret"], "title": title})
    assert response.status_code == 201, response.get_json()
    reference = response.get_json()["reference"]
    response = client.patch(f"/api/v1/applications/{reference}", headers=headers,
                            json={"answers": answers_for(call, org)})
    assert response.status_code == 200, response.get_json()
    for key in file_keys(call):
        content, name = document_for(key)
        response = api_upload(client, headers, reference, key, content, name)
        assert response.status_code == 201, response.get_json()
    return reference


def at_once(*calls):
    """Run the callables in threads released together; their results, in order."""
    import threading

    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, func):
        barrier.wait()
        try:
            results[i] = func()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results
