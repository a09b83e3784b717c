"""Drafts through the real routes: creating one from the pages and the API on
each demo call, saving answers section by section, errors next to the fields,
repeated rows without JavaScript, conditional fields, autosave, CSRF, access,
and form versions published by an administrator.

The test session ends its transaction before each request (the client does
it: on SQLite every transaction takes the write lock)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import callforms
from app.models import Application, AuditEntry, Call, FormVersion, User
from app.callforms import builtin_definition
from app.operations.drafts import publish_form
from app.operations.demo_committee import DEMO_FILES as COMMITTEE_DEMO_FILES
from tests.factories import csrf_token_from, login, make_call, make_organisation

APPLICANT = "demo-applicant@guichet.test"
APPLICANT2 = "demo-applicant2@guichet.test"
ADMIN = "demo-admin@guichet.test"
PACK, AMI = "PACK-IA-2026", "AMI-ECONUM-2026"
NBSP, NNBSP = "\u00a0", "\u202f"


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True)).replace(NBSP, " ").replace(NNBSP, " ")


def logged_in(app, email: str = APPLICANT):
    client = app.test_client()
    response = login(client, email, "demo")
    assert response.status_code == 302, f"login of {email} failed"
    return client


def token(client, email: str = APPLICANT, scopes=("read", "write")) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": "demo", "scopes": list(scopes)})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def fetch(session, reference: str) -> Application:
    session.expire_all()
    return session.execute(select(Application).where(Application.reference == reference)).scalar_one()


def call_of(session, reference: str) -> Call:
    return session.execute(select(Call).where(Call.reference == reference)).scalar_one()


def demo_file(session, email: str, call: str, *, draft: bool) -> str:
    user = session.execute(select(User).where(User.email == email)).scalar_one()
    org_id = user.memberships[0].organisation_id
    stmt = select(Application.reference).join(Application.call).where(
        Application.organisation_id == org_id, Call.reference == call)
    stmt = stmt.where(Application.state == "draft") if draft else stmt.where(Application.state != "draft")
    reference = session.execute(stmt.order_by(Application.id).limit(1)).scalar_one()
    session.rollback()
    return reference


def new_draft_page(client, call: str) -> str:
    response = client.post("/espace/deposer", data={"call": call, "title": "Projet d'essai"})
    assert response.status_code == 302, text_of(response)[-2000:]
    match = re.search(r"/espace/dossiers/([A-Z]+-\d{4}-\d{4})/brouillon/", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def section_url(reference: str, section: str) -> str:
    return f"/espace/dossiers/{reference}/brouillon/{section}"


def errors_next_to(page: str, anchor: str) -> list[str]:
    match = re.search(rf'<ul class="errors" id="{re.escape(anchor)}-errors">(.*?)</ul>', page, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


# --- creating drafts ---------------------------------------------------------------------------------


def test_links_to_start_a_draft(app, session, demo):
    client = logged_in(app)
    for call in (PACK, AMI):
        assert f'href="/espace/deposer?appel={call}"' in client.get(f"/appels/{call}").get_data(as_text=True)
    dashboard = client.get("/espace/").get_data(as_text=True)
    assert 'href="/espace/deposer"' in dashboard
    draft = demo_file(session, APPLICANT, AMI, draft=True)
    assert f'href="/espace/dossiers/{draft}/brouillon"' in dashboard
    assert 'href="/espace/deposer' not in app.test_client().get(f"/appels/{PACK}").get_data(as_text=True)
    admin = logged_in(app, ADMIN).get("/admin/").get_data(as_text=True)
    assert f'href="/admin/appels/{PACK}/formulaire"' in admin


@pytest.mark.parametrize("call", [PACK, AMI])
def test_create_a_draft_from_the_pages(app, session, demo, call):
    client = logged_in(app)
    page = client.get(f"/espace/deposer?appel={call}")
    assert page.status_code == 200
    assert re.search(rf'<option selected value="{call}">', page.get_data(as_text=True))
    assert "Atelier Numérique de Champagne" in text_of(page)
    reference = new_draft_page(client, call)
    application = fetch(session, reference)
    current = call_of(session, call).current_form
    assert application.state == "draft" and application.call.reference == call
    assert application.form_version_id == current.id and current.number == 1
    assert application.organisation.name == "Atelier Numérique de Champagne"
    assert application.title == "Projet d'essai" and application.answers == {}
    assert session.execute(select(AuditEntry).where(AuditEntry.object_id == reference,
                                                    AuditEntry.action == "create_draft")).scalar_one()
    first = client.get(section_url(reference, application.form_version.definition["sections"][0]["key"]))
    assert first.status_code == 200
    assert "Enregistrer le brouillon" in text_of(first)
    pieces = client.get(section_url(reference, "pieces")).get_data(as_text=True)
    for f in callforms.load_definition(application.form_version.definition).file_fields:
        # the attachments macro: one upload form per file field, outside the answers form
        assert f'action="/espace/dossiers/{reference}/pieces/{f.key}"' in pieces


def test_a_user_with_several_organisations_chooses_one(app, session, demo):
    user = session.execute(select(User).where(User.email == APPLICANT)).scalar_one()
    other = make_organisation(session, user, name="Seconde Société")
    siret = other.siret
    session.commit()
    client = logged_in(app)
    page = text_of(client.get(f"/espace/deposer?appel={PACK}"))
    assert 'type="radio"' in page and "Seconde Société" in page
    refused = client.post("/espace/deposer", data={"call": PACK})
    assert refused.status_code == 422
    assert "Choisissez l'organisation pour laquelle vous déposez ce dossier." in text_of(refused)
    reference = client.post("/espace/deposer", data={"call": PACK, "organisation": siret}).headers["Location"].split("/")[3]
    assert fetch(session, reference).organisation.siret == siret
    # the API wants the SIRET too
    api = app.test_client()
    headers = token(api)
    response = api.post("/api/v1/applications", json={"call": PACK}, headers=headers)
    assert response.status_code == 422 and "plusieurs organisations" in response.get_json()["error"]["message"]
    assert api.post("/api/v1/applications", json={"call": PACK, "organisation": siret}, headers=headers).status_code == 201


def test_a_closed_or_unknown_call_refuses_new_drafts(app, session, demo):
    closed = make_call(session, reference="CLOS", opens_in_days=-30, closes_in_days=-1)
    publish_form(session, closed, builtin_definition("pack_ia"), actor=None)
    session.commit()
    client = logged_in(app)
    page = text_of(client.get("/espace/deposer?appel=CLOS"))
    assert "Cet appel n'est pas ouvert aux candidatures." in page
    assert 'value="CLOS"' not in page
    for call in ("CLOS", "NO-SUCH-CALL"):
        response = client.post("/espace/deposer", data={"call": call})
        assert response.status_code == 422
        assert errors_next_to(response.get_data(as_text=True), "call") == ["N&#39;est pas un choix valide."]
    assert fetch_count(session) == DEMO_FILES


DEMO_FILES = 16 + COMMITTEE_DEMO_FILES  # files of the demo (app.operations.demo and demo_committee)


def fetch_count(session) -> int:
    session.expire_all()
    count = session.execute(select(func.count(Application.id))).scalar_one()
    session.rollback()
    return count


@pytest.mark.parametrize("call", [PACK, AMI])
def test_create_a_draft_through_the_api(app, client, session, demo, call):
    headers = token(client)
    form = client.get(f"/api/v1/calls/{call}/form", headers=headers)
    assert form.status_code == 200
    body = form.get_json()
    assert body["version"] == 1 and body["call"] == call
    fields = {f["key"]: f for f in body["fields"]}
    assert fields["kbis"]["type"] == "file" and fields["kbis"]["max_bytes"] == 10485760 and "application/pdf" in fields["kbis"]["accept"]
    assert fields["depenses"]["type"] == "rows" and [c["key"] for c in fields["depenses"]["columns"]][-1] == "montant_ht"
    assert fields["aide_demandee"]["type"] == "money" and fields["aide_demandee"]["required"] is True
    assert all(set(f) >= {"key", "label", "type", "required", "options", "accept", "max_bytes", "columns"} for f in body["fields"])

    response = client.post("/api/v1/applications", json={"call": call}, headers=headers)
    assert response.status_code == 201, response.get_json()
    draft = response.get_json()
    assert draft["state"] == "draft" and draft["call"] == call and draft["form_version"] == 1
    assert draft["organisation"]["name"] == "Atelier Numérique de Champagne"
    assert response.headers["Location"].endswith(f"/api/v1/applications/{draft['reference']}")
    assert fetch(session, draft["reference"]).form_version.number == 1
    assert all(not p["complete"] or p["total"] == 0 for p in draft["completeness"])


def test_api_draft_creation_errors(app, client, session, demo):
    headers = token(client)
    without_form = make_call(session, reference="SANS-FORMULAIRE")
    closed = make_call(session, reference="CLOS", opens_in_days=-30, closes_in_days=-1)
    publish_form(session, closed, builtin_definition("pack_ia"), actor=None)
    session.commit()
    response = client.post("/api/v1/applications", json={"call": "SANS-FORMULAIRE"}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["message"] == "Le formulaire de cet appel n'est pas encore publié : revenez plus tard."
    response = client.post("/api/v1/applications", json={"call": "CLOS"}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["message"] == "Cet appel n'est pas ouvert aux candidatures."
    assert client.post("/api/v1/applications", json={}, headers=headers).status_code == 422
    assert client.post("/api/v1/applications", json={"call": "NOPE"}, headers=headers).status_code == 404
    other_siret = session.execute(select(User).where(User.email == APPLICANT2)).scalar_one().memberships[0].organisation.siret
    session.rollback()
    response = client.post("/api/v1/applications", json={"call": PACK, "organisation": other_siret}, headers=headers)
    assert response.status_code == 403
    read_only = token(client, scopes=("read",))
    assert client.post("/api/v1/applications", json={"call": PACK}, headers=read_only).status_code == 403
    staff = token(client, ADMIN)
    assert client.post("/api/v1/applications", json={"call": PACK}, headers=staff).status_code == 403
    assert fetch_count(session) == DEMO_FILES


# --- saving answers ------------------------------------------------------------------------------------


def test_save_partial_answers_and_reload_them(app, session, demo):
    client = logged_in(app)
    reference = new_draft_page(client, PACK)
    response = client.post(section_url(reference, "entreprise"), data={
        "_fields": ["siret_etablissement", "departement_etablissement", "effectif", "chiffre_affaires", "code_naf", "date_creation"],
        "siret_etablissement": "", "departement_etablissement": "51", "effectif": "42",
        "chiffre_affaires": "6 800 000,50", "code_naf": "", "date_creation": "14/03/2011", "_action": "save",
    })
    assert response.status_code == 303
    assert response.headers["Location"].endswith(section_url(reference, "entreprise"))
    application = fetch(session, reference)
    assert application.answers == {"departement_etablissement": "51", "effectif": 42, "chiffre_affaires": 680_000_050,
                                   "date_creation": "2011-03-14"}
    audit = session.execute(select(AuditEntry).where(AuditEntry.object_id == reference, AuditEntry.action == "save_answers")).scalar_one()
    assert audit.after == {"keys": ["chiffre_affaires", "date_creation", "departement_etablissement", "effectif"], "source": "form"}
    assert "680000050" not in str(audit.after) and "51" not in str(audit.after["keys"])
    session.rollback()

    page = client.get(section_url(reference, "entreprise"))
    content = page.get_data(as_text=True)
    assert 'value="6 800 000,50"' in content
    assert 'value="42"' in content and 'value="2011-03-14"' in content
    assert '<option value="51" selected>' in content
    assert "Brouillon enregistré." in text_of(page)
    assert "3 sur 5 champs obligatoires remplis" in text_of(page)

    # next section: the title follows maps_to, the aid too
    response = client.post(section_url(reference, "projet"), data={
        "_fields": ["titre_projet", "nature_projet"], "titre_projet": "Vision pour le contrôle qualité",
        "nature_projet": "recrutement", "_action": "next"})
    assert response.headers["Location"].endswith(section_url(reference, "budget"))
    client.post(section_url(reference, "budget"), data={"_fields": ["aide_demandee"], "aide_demandee": "25 000"})
    application = fetch(session, reference)
    assert application.title == "Vision pour le contrôle qualité"
    assert application.requested_amount_cents == 2_500_000


def test_errors_are_shown_next_to_the_fields_and_nothing_is_saved(app, session, demo):
    client = logged_in(app)
    reference = new_draft_page(client, PACK)
    client.post(section_url(reference, "coordonnees"), data={"_fields": ["contact_nom"], "contact_nom": "Camille Martin"})
    response = client.post(section_url(reference, "coordonnees"), data={
        "_fields": ["contact_nom", "contact_email", "contact_telephone", "iban"],
        "contact_nom": "Camille Martinez", "contact_email": "camille@", "contact_telephone": "12 34",
        "iban": "FR76 3000 6000 0112 3456 7890 188"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert [html.unescape(m) for m in errors_next_to(page, "f-iban")] == [
        "Cet IBAN n'est pas valide : la clé de contrôle ne correspond pas. Vérifiez les caractères saisis."]
    assert errors_next_to(page, "f-contact_email") and errors_next_to(page, "f-contact_telephone")
    assert not errors_next_to(page, "f-contact_nom")
    iban_input = re.search(r'<input[^>]*id="f-iban"[^>]*>', page).group(0)
    assert "f-iban-errors" in iban_input and 'aria-invalid="true"' in iban_input
    assert '<a href="#f-iban">' in page and 'role="alert"' in page
    # what was typed is shown again, and nothing was saved
    assert 'value="FR76 3000 6000 0112 3456 7890 188"' in page and 'value="Camille Martinez"' in page
    assert fetch(session, reference).answers == {"contact_nom": "Camille Martin"}


def test_rows_are_added_and_removed_without_javascript(app, session, demo):
    client = logged_in(app)
    reference = new_draft_page(client, PACK)
    url = section_url(reference, "budget")
    first = {"_fields": ["depenses", "cofinancements", "aide_demandee"], "depenses-0-categorie": "prestation_externe",
             "depenses-0-description": "Développement du modèle", "depenses-0-montant_ht": "30 000"}
    response = client.post(url, data={**first, "_action": "add:depenses"})
    assert response.status_code == 303 and "ajouter=depenses" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="depenses-1-montant_ht"' in page and 'value="30 000"' in page
    second = {**first, "depenses-1-categorie": "autre", "depenses-1-description": "Capteurs", "depenses-1-montant_ht": "1 234,56"}
    assert client.post(url, data={**second, "_action": "save"}).status_code == 303
    answers = fetch(session, reference).answers
    assert [r["montant_ht"] for r in answers["depenses"]] == [3_000_000, 123_456]
    page = text_of(client.get(url))
    assert "31 234,56 €" in page  # the total, computed server-side
    response = client.post(url, data={**second, "_action": "remove:depenses:0"})
    assert response.status_code == 303
    assert fetch(session, reference).answers["depenses"] == [
        {"categorie": "autre", "description": "Capteurs", "montant_ht": 123_456}]
    # a bad cell: the error is next to that cell
    bad = {**first, "depenses-0-montant_ht": "trente mille"}
    page = client.post(url, data=bad).get_data(as_text=True)
    assert errors_next_to(page, "f-depenses-0-montant_ht")


def test_hidden_conditional_answers_are_dropped(app, session, demo):
    client = logged_in(app)
    reference = new_draft_page(client, PACK)
    url = section_url(reference, "eligibilite")
    fields = ["diagnostic_ia_realise", "diagnostic_ia_organisme", "diagnostic_ia_date"]
    client.post(url, data={"_fields": fields, "diagnostic_ia_realise": "oui", "diagnostic_ia_organisme": "Grand E-nov+",
                           "diagnostic_ia_date": "2025-10-14"})
    assert fetch(session, reference).answers == {"diagnostic_ia_realise": True, "diagnostic_ia_organisme": "Grand E-nov+",
                                                 "diagnostic_ia_date": "2025-10-14"}
    page = client.get(url).get_data(as_text=True)
    wrapper = re.search(r'<div class="field cf-field" id="champ-diagnostic_ia_organisme"[^>]*>', page).group(0)
    assert "hidden" not in wrapper and 'data-show-if-field="diagnostic_ia_realise"' in wrapper
    client.post(url, data={"_fields": fields, "diagnostic_ia_realise": "non", "diagnostic_ia_organisme": "Grand E-nov+",
                           "diagnostic_ia_date": "2025-10-14"})
    assert fetch(session, reference).answers == {"diagnostic_ia_realise": False}
    page = client.get(url).get_data(as_text=True)
    wrapper = re.search(r'<div class="field cf-field" id="champ-diagnostic_ia_organisme"[^>]*>', page).group(0)
    assert wrapper.rstrip(">").endswith("hidden")
    # through the API as well
    api = app.test_client()
    headers = token(api)
    body = api.patch(f"/api/v1/applications/{reference}", headers=headers,
                     json={"answers": {"nature_projet": "recrutement", "prestataire_nom": "Datavosges"}}).get_json()
    assert "prestataire_nom" not in body["answers"] and body["answers"]["nature_projet"] == "recrutement"


def test_api_patch_answers(app, client, session, demo):
    headers = token(client)
    reference = client.post("/api/v1/applications", json={"call": AMI}, headers=headers).get_json()["reference"]
    url = f"/api/v1/applications/{reference}"
    response = client.patch(url, headers=headers, json={"answers": {"defi": "sante", "couleur": "bleu", "taille": 3}})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["unknown"] == ["couleur", "taille"] and "couleur, taille" in error["message"]
    response = client.patch(url, headers=headers, json={"answers": {"aide_demandee": 1500.5, "date_debut": "01/09/2026"}})
    assert response.status_code == 422
    assert {f["key"] for f in response.get_json()["error"]["fields"]} == {"aide_demandee", "date_debut"}
    response = client.patch(url, headers=headers, json={"answers": {"aide_demandee": 50_000_001}})
    assert response.status_code == 422
    assert "dépasse le plafond de l'appel" in response.get_json()["error"]["fields"][0]["message"]
    assert fetch(session, reference).answers == {}
    session.rollback()

    answers = {
        "defi": "sante", "donnees_sante": True, "trl_initial": 3, "part_grand_est": 85, "date_debut": "2026-09-01",
        "depenses": [{"categorie": "personnel", "description": "Ingénieurs", "montant_ht": 30_000_010},
                     {"categorie": "equipement", "description": "GPU", "montant_ht": 4_999_990}],
        "cofinancements": [{"financeur": "feder", "montant": 10_000_000, "statut": "sollicite"}],
        "aide_demandee": 14_000_000, "contact_email": "camille@example.test",
    }
    response = client.patch(url, headers=headers, json={"answers": answers})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["answers"]["part_grand_est"] == "85"
    assert body["requested_amount_cents"] == 14_000_000
    assert body["budget"]["expenses_cents"] == 35_000_000 and body["budget"]["cofinancing_cents"] == 10_000_000
    assert body["budget"]["aid_share_percent"] == "40.00" and body["budget"]["own_funds_cents"] == 11_000_000
    defi = next(p for p in body["completeness"] if p["section"] == "defi")
    assert (defi["answered"], defi["total"]) == (2, 3)
    assert client.get(f"{url}/answers", headers=headers).get_json()["answers"] == body["answers"]
    # clearing with null
    body = client.patch(url, headers=headers, json={"answers": {"cofinancements": None}}).get_json()
    assert "cofinancements" not in body["answers"] and body["budget"]["cofinancing_cents"] == 0
    assert client.patch(url, headers=token(client, scopes=("read",)), json={"answers": {}}).status_code == 403
    assert client.patch(url, headers=headers, json={"answers": [1]}).status_code == 422
    assert client.patch(url, headers=headers, json={"answers": {}, "state": "submitted"}).status_code == 422


# --- a submitted file, another organisation's file ------------------------------------------------------


def test_a_submitted_file_refuses_edits(app, session, demo):
    reference = demo_file(session, APPLICANT, PACK, draft=False)
    before = fetch(session, reference).answers
    session.rollback()
    client = logged_in(app)
    page = client.get(section_url(reference, "projet"))
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/espace/dossiers/{reference}")
    response = client.post(section_url(reference, "projet"), data={"_fields": ["titre_projet"], "titre_projet": "Autre"})
    assert response.status_code == 409
    assert "Ce dossier a été déposé : ses réponses ne peuvent plus être modifiées ici." in text_of(response)
    auto = client.post(section_url(reference, "projet") + "/auto", data={"_fields": ["titre_projet"], "titre_projet": "Autre"})
    assert auto.status_code == 409 and auto.get_json()["saved"] is False
    api = app.test_client()
    patched = api.patch(f"/api/v1/applications/{reference}", headers=token(api), json={"answers": {"titre_projet": "Autre"}})
    assert patched.status_code == 409
    assert patched.get_json()["error"]["message"] == "Ce dossier a été déposé : ses réponses ne peuvent plus être modifiées ici."
    assert fetch(session, reference).answers == before


def test_another_organisations_draft_is_404(app, session, demo):
    reference = demo_file(session, APPLICANT2, PACK, draft=True)
    client = logged_in(app)
    assert client.get(f"/espace/dossiers/{reference}/brouillon").status_code == 404
    assert client.get(section_url(reference, "projet")).status_code == 404
    assert client.post(section_url(reference, "projet"), data={"titre_projet": "Piraté"}).status_code == 404
    assert client.post(section_url(reference, "projet") + "/auto", data={"titre_projet": "Piraté"}).status_code == 404
    api = app.test_client()
    headers = token(api)
    assert api.patch(f"/api/v1/applications/{reference}", headers=headers, json={"answers": {"titre_projet": "x"}}).status_code == 404
    assert api.get(f"/api/v1/applications/{reference}/answers", headers=headers).status_code == 404
    assert fetch(session, reference).title != "Piraté"
    # staff cannot reach the applicant's editor either
    assert logged_in(app, "demo-instructor@guichet.test").get(section_url(reference, "projet")).status_code == 403


def test_unknown_section_is_404(app, session, demo):
    reference = demo_file(session, APPLICANT, AMI, draft=True)
    assert logged_in(app).get(section_url(reference, "nulle_part")).status_code == 404


def test_a_closed_call_freezes_drafts(app, session, demo):
    reference = demo_file(session, APPLICANT, AMI, draft=True)
    call = call_of(session, AMI)
    call.closes_at = call.opens_at + timedelta(days=1)
    session.commit()
    client = logged_in(app)
    response = client.post(section_url(reference, "projet"), data={"_fields": ["titre_projet"], "titre_projet": "Tard"})
    assert response.status_code == 409
    assert "L'appel est clos : ce brouillon ne peut plus être modifié." in text_of(response)


# --- autosave, CSRF ---------------------------------------------------------------------------------------


def test_autosave_saves_and_answers_json(app, session, demo, csrf):
    reference = demo_file(session, APPLICANT, AMI, draft=True)
    client = logged_in_with_csrf(app)
    page = client.get(section_url(reference, "projet"))
    content = page.get_data(as_text=True)
    assert f'data-autosave-url="/espace/dossiers/{reference}/brouillon/projet/auto"' in content
    assert '/static/js/autosave.js' in content and "<script>" not in content
    assert 'role="status" aria-live="polite" data-autosave-status' in content
    csrf_token = csrf_token_from(content)
    data = {"_fields": ["titre_projet", "trl_initial"], "titre_projet": "Titre enregistré automatiquement", "trl_initial": "4",
            "csrf_token": csrf_token}
    response = client.post(section_url(reference, "projet") + "/auto", data={k: v for k, v in data.items() if k != "csrf_token"},
                           headers={"X-CSRFToken": csrf_token})
    assert response.status_code == 200
    body = response.get_json()
    assert body["saved"] is True and body["changed"] == ["titre_projet", "trl_initial"]
    assert re.fullmatch(r"Brouillon enregistré à \d{2}:\d{2}", body["message"])
    assert {p["section"] for p in body["completeness"]} >= {"projet", "budget"}
    application = fetch(session, reference)
    assert application.answers["trl_initial"] == 4 and application.title == "Titre enregistré automatiquement"
    session.rollback()
    bad = client.post(section_url(reference, "projet") + "/auto", data={"_fields": ["trl_initial"], "trl_initial": "12"},
                      headers={"X-CSRFToken": csrf_token})
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == [{"key": "trl_initial", "message": "La valeur doit être inférieure ou égale à 9."}]
    without = client.post(section_url(reference, "projet") + "/auto", data={"_fields": ["trl_initial"], "trl_initial": "5"})
    assert without.status_code == 400
    assert fetch(session, reference).answers["trl_initial"] == 4


def logged_in_with_csrf(app, email: str = APPLICANT):
    client = app.test_client()
    token_value = csrf_token_from(client.get("/connexion").get_data(as_text=True))
    response = client.post("/connexion", data={"email": email, "password": "demo", "csrf_token": token_value})
    assert response.status_code == 302
    return client


def test_csrf_is_required_on_the_save_form(app, session, demo, csrf):
    reference = demo_file(session, APPLICANT, AMI, draft=True)
    before = fetch(session, reference).answers
    session.rollback()
    client = logged_in_with_csrf(app)
    data = {"_fields": ["titre_projet"], "titre_projet": "Sans jeton"}
    response = client.post(section_url(reference, "projet"), data=data)
    assert response.status_code == 400
    assert fetch(session, reference).answers == before
    session.rollback()
    page_token = csrf_token_from(client.get(section_url(reference, "projet")).get_data(as_text=True))
    response = client.post(section_url(reference, "projet"), data={**data, "csrf_token": page_token})
    assert response.status_code == 303
    assert fetch(session, reference).answers["titre_projet"] == "Sans jeton"


# --- the overview ----------------------------------------------------------------------------------------


def test_overview_shows_progress_budget_and_what_is_missing(app, session, demo):
    client = logged_in(app)
    reference = new_draft_page(client, PACK)
    client.post(section_url(reference, "budget"), data={
        "_fields": ["depenses", "aide_demandee"], "depenses-0-categorie": "prestation_externe",
        "depenses-0-description": "Étude", "depenses-0-montant_ht": "80 000", "aide_demandee": "40 000"})
    page = text_of(client.get(f"/espace/dossiers/{reference}/brouillon"))
    assert "Avancement par section" in page and "Résumé du budget" in page
    assert "80 000,00 €" in page and "50 %" in page
    assert "Extrait Kbis de moins de 3 mois : Joignez ce document." in re.sub(r"<[^>]+>", "", page)
    assert f'href="/espace/dossiers/{reference}/brouillon/pieces#champ-kbis"' in page
    assert "Vos réponses" in page


# --- demo data --------------------------------------------------------------------------------------------


def test_demo_files_answer_their_form(app, session, demo):
    files = session.execute(select(Application)).scalars().all()
    assert files
    for application in files:
        assert application.form_version is not None
        defn = callforms.load_definition(application.form_version.definition)
        complete = application.state != "draft"
        errors = callforms.validate_answers(defn, application.answers, present_files={f.key for f in defn.file_fields},
                                            partial=not complete, max_aid_cents=application.call.max_aid_cents)
        assert errors == [], (application.reference, errors)
        assert application.requested_amount_cents == callforms.requested_amount(defn, application.answers)
        if complete:
            assert all(p.complete for p in callforms.completeness(defn, application.answers, {f.key for f in defn.file_fields}))


# --- form versions (admin) --------------------------------------------------------------------------------


def test_publishing_a_new_form_version_leaves_drafts_on_theirs(app, session, demo):
    client = logged_in(app)
    draft = new_draft_page(client, PACK)
    admin = logged_in(app, ADMIN)
    page = admin.get(f"/admin/appels/{PACK}/formulaire")
    assert page.status_code == 200
    content = text_of(page)
    assert "Version 1" in content and "titre_projet" in content  # the current YAML, ready to edit
    yaml_text = callforms.to_yaml(callforms.builtin_definition("pack_ia"))
    same = admin.post(f"/admin/appels/{PACK}/formulaire", data={"definition": yaml_text})
    assert same.status_code == 303
    assert session.execute(select(func.count(FormVersion.id)).where(FormVersion.call_id == call_of(session, PACK).id)).scalar_one() == 1
    session.rollback()
    changed = yaml_text.replace("label: Code NAF (APE)", "label: Code NAF (APE) de l'établissement")
    assert changed != yaml_text
    response = admin.post(f"/admin/appels/{PACK}/formulaire", data={"definition": changed})
    assert response.status_code == 303
    assert "Version 2 du formulaire publiée" in text_of(admin.get(response.headers["Location"]))
    call = call_of(session, PACK)
    assert [v.number for v in call.form_versions] == [1, 2]
    version2 = call.form_versions[1]
    assert version2.created_by_id is not None and version2.hash == callforms.load_definition(version2.definition).hash
    assert fetch(session, draft).form_version.number == 1
    audit = session.execute(select(AuditEntry).where(AuditEntry.action == "publish_form", AuditEntry.object_id == PACK)
                            .order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
    assert audit.after["form_version"] == 2 and audit.before["form_version"] == 1
    session.rollback()
    # a new draft answers version 2; the old one is still served on request
    new = new_draft_page(client, PACK)
    assert fetch(session, new).form_version.number == 2
    session.rollback()
    api = app.test_client()
    headers = token(api)
    current = api.get(f"/api/v1/calls/{PACK}/form", headers=headers).get_json()
    assert current["version"] == 2
    assert next(f for f in current["fields"] if f["key"] == "code_naf")["label"] == "Code NAF (APE) de l'établissement"
    old = api.get(f"/api/v1/calls/{PACK}/form?version=1", headers=headers).get_json()
    assert next(f for f in old["fields"] if f["key"] == "code_naf")["label"] == "Code NAF (APE)"
    assert api.get(f"/api/v1/calls/{PACK}/form?version=9", headers=headers).status_code == 404
    # the old draft's editor still shows its own version
    page = text_of(client.get(section_url(draft, "entreprise")))
    assert "Code NAF (APE)" in page and "Code NAF (APE) de l'établissement" not in page
    assert admin.get(f"/admin/appels/{PACK}/formulaire/2").status_code == 200


def test_an_invalid_definition_lists_every_problem(app, session, demo):
    admin = logged_in(app, ADMIN)
    yaml_text = (
        "title: Essai\n"
        "sections:\n"
        "  - key: s\n"
        "    title: Section\n"
        "    fields:\n"
        "      - {key: a, type: colour, label: A}\n"
        "      - {key: b, type: choice, label: B}\n"
        "      - {key: c, type: text, label: C, show_if: {field: zz, equals: x}}\n"
        "      - {key: c, type: text, label: C bis}\n"
    )
    response = admin.post(f"/admin/appels/{PACK}/formulaire", data={"definition": yaml_text})
    assert response.status_code == 422
    page = text_of(response)
    assert "4 problème(s) à corriger" in page
    for expected in ("type inconnu « colour »", "« options » est obligatoire", "renvoie au champ inconnu « zz »",
                     "clé de champ en double"):
        assert expected in page
    assert "show_if: {field: zz, equals: x}" in page  # the text is kept for correction
    broken = admin.post(f"/admin/appels/{PACK}/formulaire", data={"definition": "title: [oops\n"})
    assert broken.status_code == 422 and "YAML illisible à la ligne" in text_of(broken)
    assert len(call_of(session, PACK).form_versions) == 1


def test_only_admins_publish_forms(app, session, demo):
    client = logged_in(app, "demo-instructor@guichet.test")
    assert client.get(f"/admin/appels/{PACK}/formulaire").status_code == 403
    assert client.post(f"/admin/appels/{PACK}/formulaire", data={"definition": "title: x"}).status_code == 403
    assert logged_in(app).get(f"/admin/appels/{PACK}/formulaire").status_code == 403
    assert logged_in(app, ADMIN).get("/admin/appels/NOPE/formulaire").status_code == 404


def test_openapi_describes_the_draft_routes(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert {"post", "get"} <= set(document["paths"]["/applications"])
    assert "patch" in document["paths"]["/applications/{reference}"]
    assert "get" in document["paths"]["/calls/{reference}/form"]
