"""The applicant's journey through the API, end to end, on each demo call: a
new company registered by SIRET, the call's form, a draft, its answers and
documents, submission (twice: one submission), the receipt PDF read back;
the instructor asks for corrections in the pages (no staff API yet); the
corrections and the re-submission through the API. Then the bad inputs, each
refused with a French JSON error and changing nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from app.models import AnswerRevision, Attachment, Call, ClockPause, CorrectionRequest, EligibilityResult, utcnow
from app.operations.demo import make_siret
from tests.factories import TEST_PASSWORD, declare_no_conflict, make_user
from tests.journey import (AMI, APPLICANT, APPLICANT2, BAD_SIRET, CALLS, CORRECTED, FRENCH_MONTHS, INSTRUCTOR,
                           NOT_REQUESTED, PACK, PDF_ONLY, answers_for, api_headers, api_upload, audit_rows,
                           at_once, complete_draft_api, demo_file, document_for, drain, fetch, file_keys, flashes,
                           logged_in, make_pdf, make_png, org_of, pdf_text, sha256, snapshot, squeezed)
from workflows.eligibility import load_rules

NEW_SIRET = {PACK: make_siret(61_234_567), AMI: make_siret(62_345_678)}


def new_company_user(session, email: str) -> None:
    make_user(session, "applicant", email=email, name="Léa Fontaine")
    session.commit()


def error_message(response) -> str:
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)[:500]
    return body["error"]["message"]


def instructor_version(page_html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', page_html).group(1)


@pytest.mark.parametrize("call", CALLS)
def test_full_applicant_journey_through_the_api(app, session, client, demo, outbox, call):
    email = f"lea.fontaine.{call.lower()}@example.test"
    new_company_user(session, email)
    headers = api_headers(client, email, TEST_PASSWORD)
    answer_key, document_key = CORRECTED[call]

    # --- the company, registered by its SIRET
    siret = NEW_SIRET[call]
    response = client.post("/api/v1/organisations", headers=headers, json={
        "siret": siret, "name": "Vision Alsace", "legal_form": "SAS", "naf_code": "62.01Z", "address": "3 quai Kléber",
        "postal_code": "67000", "city": "Strasbourg", "department": "67", "headcount": 42, "turnover_cents": 680_000_000,
        "balance_sheet_cents": 410_000_000})
    assert response.status_code == 201, response.get_json()
    organisation = response.get_json()
    assert organisation["siret"] == siret and organisation["department"] == "67" and organisation["is_owner"] is True
    org = {"siret": siret, "department": "67"}

    # --- the call's form: every answer key it will be sent is a field of it
    form = client.get(f"/api/v1/calls/{call}/form", headers=headers)
    assert form.status_code == 200
    fields = {f["key"]: f for f in form.get_json()["fields"]}
    answers = answers_for(call, org)
    assert set(answers) <= set(fields)
    assert {k for k, f in fields.items() if f["type"] == "file"} == set(file_keys(call))

    # --- a draft, its answers in two goes, its documents
    response = client.post("/api/v1/applications", headers=headers, json={"call": call, "organisation": siret})
    assert response.status_code == 201, response.get_json()
    reference = response.get_json()["reference"]
    keys = list(answers)
    half = {k: answers[k] for k in keys[: len(keys) // 2]}
    rest = {k: answers[k] for k in keys[len(keys) // 2:]}
    for part in (half, rest):
        response = client.patch(f"/api/v1/applications/{reference}", headers=headers, json={"answers": part})
        assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["answers"] == answers and body["title"] == answers["titre_projet"]
    assert body["requested_amount_cents"] == answers["aide_demandee"]
    assert [p["section"] for p in body["completeness"] if not p["complete"]] == ["pieces"]
    sent = {}
    for key in file_keys(call):
        content, name = document_for(key)
        response = api_upload(client, headers, reference, key, content, name)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["sha256"] == sha256(content) and response.get_json()["key"] == key
        sent[key] = content
    body = client.get(f"/api/v1/applications/{reference}/answers", headers=headers).get_json()
    assert all(p["complete"] for p in body["completeness"])

    # --- submission, then the same request again: one submission
    response = client.post(f"/api/v1/applications/{reference}/submit", headers=headers)
    assert response.status_code == 200, response.get_json()
    first = response.get_json()
    assert first["state"] == "submitted" and first["submitted_at"]
    drain(app)  # with Redis: the receipt and the mail are jobs
    once = snapshot(app, session, reference)
    assert once["documents"] == 1
    mails = len(outbox)
    again = client.post(f"/api/v1/applications/{reference}/submit", headers=headers)
    assert again.status_code == 200 and again.get_json() == first
    assert snapshot(app, session, reference) == once
    assert len(audit_rows(session, reference, "transition:submit")) == 1
    session.rollback()
    assert len(outbox) == mails
    assert [m["Subject"] for m in outbox if m["To"] == email] == [f"Accusé de réception — dossier {reference}"]
    assert f"Nouveau dossier déposé — {reference}" in [m["Subject"] for m in outbox if m["To"] == INSTRUCTOR]
    assert client.get(f"/api/v1/applications/{reference}", headers=headers).get_json()["state"] == "submitted"
    assert once["eligibility"] > 0

    # --- the receipt, read back
    drain(app)
    receipt = client.get(f"/api/v1/applications/{reference}/receipt", headers=headers)
    assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
    text = pdf_text(receipt.data)
    assert reference in text and "Vision Alsace" in text and siret in text
    call_title = session.execute(select(Call.title).where(Call.reference == call)).scalar_one()
    session.rollback()
    assert call_title in text.replace("\n", " ")
    assert answers["titre_projet"] in text.replace("\n", " ")
    assert any(month in text for month in FRENCH_MONTHS) and "(heure de Paris)" in text
    for content in sent.values():
        assert sha256(content) in squeezed(text)

    # --- the instructor asks for corrections (pages: no staff API yet)
    staff = logged_in(app, INSTRUCTOR)
    declare_no_conflict(staff, reference)
    page = staff.get(f"/instruction/dossiers/{reference}").get_data(as_text=True)
    staff.post(f"/instruction/dossiers/{reference}/transitions/start_eligibility", data={"version": instructor_version(page)})
    page = staff.get(f"/instruction/dossiers/{reference}").get_data(as_text=True)
    due = (utcnow() + timedelta(days=10)).date()
    staff.post(f"/instruction/dossiers/{reference}/corrections", data={
        "keys": [answer_key, document_key], "message": "Précisez le projet et joignez la pièce à jour.",
        "due_date": due.isoformat(), "version": instructor_version(page)})
    assert ("success", "La demande de compléments est envoyée au demandeur.") in flashes(staff)
    assert client.get(f"/api/v1/applications/{reference}", headers=headers).get_json()["state"] == "corrections_requested"

    # --- corrections through the API: only the requested keys
    before = snapshot(app, session, reference)
    response = client.patch(f"/api/v1/applications/{reference}/corrections", headers=headers,
                            json={"answers": {answer_key: "Nouvelle version", NOT_REQUESTED[call]: "Autre titre"}})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"key": NOT_REQUESTED[call], "message": "Ce champ ne fait pas partie des corrections demandées."}]
    assert snapshot(app, session, reference) == before
    response = client.patch(f"/api/v1/applications/{reference}", headers=headers, json={"answers": {answer_key: "x"}})
    assert response.status_code == 409
    assert snapshot(app, session, reference) == before
    content, name = document_for("kbis", version=2)
    response = api_upload(client, headers, reference, "kbis", content, name)
    assert response.status_code == 409 and "ne peut plus être modifiée" in error_message(response)
    assert snapshot(app, session, reference) == before

    new_value = "Version précisée du projet, avec le calendrier détaillé des travaux."
    response = client.patch(f"/api/v1/applications/{reference}/corrections", headers=headers,
                            json={"answers": {answer_key: new_value}})
    assert response.status_code == 200, response.get_json()
    content, name = document_for(document_key, version=2)
    response = api_upload(client, headers, reference, document_key, content, name)
    assert response.status_code == 201
    application = fetch(session, reference)
    assert application.answers == {**answers, answer_key: new_value}
    revision = session.execute(select(AnswerRevision).where(AnswerRevision.application_id == application.id)).scalar_one()
    assert (revision.key, revision.old_value, revision.new_value) == (answer_key, answers[answer_key], new_value)
    versions = session.execute(select(Attachment.sha256).where(
        Attachment.application_id == application.id, Attachment.field_key == document_key).order_by(Attachment.id)).scalars().all()
    assert versions == [sha256(sent[document_key]), sha256(content)]
    session.rollback()

    # --- re-submission
    response = client.post(f"/api/v1/applications/{reference}/resubmit", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"reference": reference, "state": "eligibility_check"}
    application = fetch(session, reference)
    assert application.state == "eligibility_check" and application.due_date is not None
    assert session.execute(select(CorrectionRequest.resolved_at).where(
        CorrectionRequest.application_id == application.id)).scalar_one() is not None
    assert session.execute(select(ClockPause.ended_at).where(ClockPause.application_id == application.id)).scalar_one()
    assert {r.run for r in session.execute(select(EligibilityResult).where(
        EligibilityResult.application_id == application.id)).scalars()} == {1, 2}
    session.rollback()
    # a retried re-submission changes nothing
    after = snapshot(app, session, reference)
    response = client.post(f"/api/v1/applications/{reference}/resubmit", headers=headers)
    assert response.status_code == 200 and response.get_json() == {"reference": reference, "state": "eligibility_check"}
    assert snapshot(app, session, reference) == after


def test_the_applicant_withdraws_through_the_api(app, session, client, demo, outbox):
    reference = demo_file(session, APPLICANT, PACK, "submitted")
    headers = api_headers(client)
    before = snapshot(app, session, reference)
    response = client.post(f"/api/v1/applications/{reference}/withdraw", headers=headers, json={"reason": " "})
    assert response.status_code == 400 and error_message(response) == "Indiquez le motif du retrait."
    response = client.post(f"/api/v1/applications/{reference}/withdraw", headers=headers, json={})
    assert response.status_code == 422 and error_message(response) == "« reason » est obligatoire."
    assert snapshot(app, session, reference) == before
    response = client.post(f"/api/v1/applications/{reference}/withdraw", headers=headers,
                           json={"reason": "Projet abandonné."})
    assert response.status_code == 200 and response.get_json()["state"] == "withdrawn"
    (entry,) = audit_rows(session, reference, "transition:withdraw")
    assert entry.reason == "Projet abandonné."
    session.rollback()
    assert [m["Subject"] for m in outbox if m["To"] == APPLICANT] == [f"Retrait du dossier {reference}"]


# --------------------------------------------------------------------------- bad inputs


def test_invalid_siret_is_refused_by_the_api(app, session, client, demo):
    headers = api_headers(client)
    before = snapshot(app, session)
    response = client.post("/api/v1/organisations", headers=headers, json={"siret": BAD_SIRET, "name": "Fantôme"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"key": "siret", "message": "Ce numéro SIRET n'est pas valide : vérifiez les 14 chiffres (clé de contrôle incorrecte)."}]
    assert snapshot(app, session) == before
    for call, key in ((PACK, "siret_etablissement"), (AMI, "siret_porteur")):
        reference = demo_file(session, APPLICANT, call, "draft") if call == AMI else client.post(
            "/api/v1/applications", headers=headers, json={"call": call}).get_json()["reference"]
        before = snapshot(app, session, reference)
        response = client.patch(f"/api/v1/applications/{reference}", headers=headers, json={"answers": {key: BAD_SIRET}})
        assert response.status_code == 422
        (field,) = response.get_json()["error"]["fields"]
        assert field["key"] == key and "SIRET" in field["message"]
        assert snapshot(app, session, reference) == before


@pytest.mark.parametrize("call", CALLS)
def test_wrong_type_and_oversized_files_are_refused_by_the_api(app, session, client, demo, call):
    headers = api_headers(client)
    reference = client.post("/api/v1/applications", headers=headers, json={"call": call}).get_json()["reference"]
    key = PDF_ONLY[call]
    before = snapshot(app, session, reference)
    response = api_upload(client, headers, reference, key, make_png(), "piece.pdf")
    assert response.status_code == 415
    assert error_message(response) == "Le contenu de ce fichier (PNG) n'est pas accepté pour cette pièce. Formats acceptés : PDF."
    assert snapshot(app, session, reference) == before
    response = api_upload(client, headers, reference, key, make_pdf("gros", padding=10 * 1024 * 1024 + 1), "piece.pdf")
    assert response.status_code == 413
    assert error_message(response) == "Le fichier dépasse la taille maximale autorisée pour cette pièce (10 Mo)."
    assert snapshot(app, session, reference) == before
    # exactly at the limit: accepted
    padding = 10 * 1024 * 1024 - len(make_pdf("juste"))
    while len(at_limit := make_pdf("juste", padding=padding)) > 10 * 1024 * 1024:
        padding -= len(at_limit) - 10 * 1024 * 1024
    assert len(at_limit) == 10 * 1024 * 1024
    response = api_upload(client, headers, reference, key, at_limit, "piece.pdf")
    assert response.status_code == 201 and response.get_json()["size"] == 10 * 1024 * 1024


@pytest.mark.parametrize("call", CALLS)
def test_api_submission_one_second_after_the_deadline_is_refused(app, session, client, demo, outbox, call):
    org = org_of(session, APPLICANT)
    closes_at = session.execute(select(Call.closes_at).where(Call.reference == call)).scalar_one()
    session.rollback()
    headers = api_headers(client)
    late = complete_draft_api(client, headers, call, org, title="En retard")
    on_time = complete_draft_api(client, headers, call, org, title="À l'heure")
    with freeze_time(closes_at + timedelta(seconds=1)):
        headers = api_headers(client)
        before = snapshot(app, session, late)
        response = client.post(f"/api/v1/applications/{late}/submit", headers=headers)
        assert response.status_code == 422
        assert response.get_json()["errors"] == [
            {"key": "", "message": "L'appel à projets est clos : le dépôt n'est plus possible."}]
        assert snapshot(app, session, late) == before
        response = client.patch(f"/api/v1/applications/{late}", headers=headers, json={"answers": {"effectif": 43}})
        assert response.status_code == 409
        assert error_message(response) == "L'appel est clos : ce brouillon ne peut plus être modifié."
        assert snapshot(app, session, late) == before
    with freeze_time(closes_at - timedelta(seconds=1)):
        headers = api_headers(client)
        response = client.post(f"/api/v1/applications/{on_time}/submit", headers=headers)
        assert response.status_code == 200 and response.get_json()["state"] == "submitted"
    assert not [m for m in outbox if late in m["Subject"]]


@pytest.mark.parametrize("call", CALLS)
def test_patching_a_submitted_file_is_refused(app, session, client, demo, call):
    org = org_of(session, APPLICANT)
    headers = api_headers(client)
    reference = complete_draft_api(client, headers, call, org)
    assert client.post(f"/api/v1/applications/{reference}/submit", headers=headers).status_code == 200
    drain(app)
    before = snapshot(app, session, reference)
    response = client.patch(f"/api/v1/applications/{reference}", headers=headers,
                            json={"answers": {"titre_projet": "Changé après le dépôt"}})
    assert response.status_code == 409
    assert error_message(response) == "Ce dossier a été déposé : ses réponses ne peuvent plus être modifiées ici."
    response = client.patch(f"/api/v1/applications/{reference}/corrections", headers=headers,
                            json={"answers": {"titre_projet": "Changé après le dépôt"}})
    assert response.status_code == 409 and error_message(response) == "Aucune correction n'est demandée sur ce dossier."
    content, name = document_for("kbis", version=2)
    response = api_upload(client, headers, reference, "kbis", content, name)
    assert response.status_code == 409
    assert snapshot(app, session, reference) == before


def test_another_organisations_file_is_404_through_the_api(app, session, client, demo):
    other = org_of(session, APPLICANT2)
    owner = api_headers(client, APPLICANT2)
    submitted = complete_draft_api(client, owner, AMI, other)
    draft = demo_file(session, APPLICANT2, PACK, "draft")
    assert client.post(f"/api/v1/applications/{submitted}/submit", headers=owner).status_code == 200
    drain(app)
    headers = api_headers(client)
    before = {ref: snapshot(app, session, ref) for ref in (submitted, draft)}
    for ref in (submitted, draft):
        for method, url, kwargs in (
            ("get", f"/api/v1/applications/{ref}", {}),
            ("get", f"/api/v1/applications/{ref}/answers", {}),
            ("get", f"/api/v1/applications/{ref}/receipt", {}),
            ("patch", f"/api/v1/applications/{ref}", {"json": {"answers": {"titre_projet": "Piraté"}}}),
            ("patch", f"/api/v1/applications/{ref}/corrections", {"json": {"answers": {"titre_projet": "Piraté"}}}),
            ("post", f"/api/v1/applications/{ref}/submit", {}),
            ("post", f"/api/v1/applications/{ref}/resubmit", {}),
            ("post", f"/api/v1/applications/{ref}/withdraw", {"json": {"reason": "Piraté"}}),
        ):
            response = getattr(client, method)(url, headers=headers, **kwargs)
            assert response.status_code == 404, (method, url, response.status_code)
            assert error_message(response) in ("Dossier introuvable.", "Page introuvable.")
        response = api_upload(client, headers, ref, "kbis", make_png(), "kbis.png")
        assert response.status_code == 404 and error_message(response) == "Dossier introuvable."
    assert [a["reference"] for a in client.get("/api/v1/applications", headers=headers).get_json()["items"]
            if a["reference"] in (submitted, draft)] == []
    for ref, snap in before.items():
        assert snapshot(app, session, ref) == snap
    assert client.get(f"/api/v1/applications/{submitted}/receipt", headers=owner).status_code == 200


def test_write_routes_need_the_write_scope(app, session, client, demo):
    reference = demo_file(session, APPLICANT, AMI, "draft")
    read_only = api_headers(client, scopes=("read",))
    before = snapshot(app, session, reference)
    for method, url, kwargs in (
        ("patch", f"/api/v1/applications/{reference}", {"json": {"answers": {"titre_projet": "x"}}}),
        ("post", f"/api/v1/applications/{reference}/submit", {}),
        ("post", f"/api/v1/applications/{reference}/withdraw", {"json": {"reason": "x"}}),
    ):
        response = getattr(client, method)(url, headers=read_only, **kwargs)
        assert response.status_code == 403 and error_message(response) == "Ce jeton n'a pas la portée « write »."
    assert snapshot(app, session, reference) == before


# --------------------------------------------------------------------------- double clicks, for real


@pytest.mark.parametrize("call", CALLS)
def test_two_simultaneous_submissions_make_one(app, session, demo, outbox, call):
    org = org_of(session, APPLICANT)
    first_client, second_client = app.test_client(), app.test_client()
    headers = api_headers(first_client)
    reference = complete_draft_api(first_client, headers, call, org)
    url = f"/api/v1/applications/{reference}/submit"
    responses = at_once(lambda: first_client.post(url, headers=headers), lambda: second_client.post(url, headers=headers))
    assert [r.status_code for r in responses] == [200, 200], [getattr(r, "get_json", lambda: r)() for r in responses]
    assert {r.get_json()["state"] for r in responses} == {"submitted"}
    drain(app)
    assert len(audit_rows(session, reference, "transition:submit")) == 1
    session.rollback()
    snap = snapshot(app, session, reference)
    assert snap["state"] == "submitted" and snap["documents"] == 1
    assert snap["eligibility"] == len(load_rules("pack_ia" if call == PACK else "ami_numerique"))  # one run
    assert [m["Subject"] for m in outbox if m["To"] == APPLICANT] == [f"Accusé de réception — dossier {reference}"]


@pytest.mark.parametrize("call", CALLS)
def test_two_simultaneous_resubmissions_make_one(app, session, demo, outbox, call):
    org = org_of(session, APPLICANT)
    first_client, second_client = app.test_client(), app.test_client()
    headers = api_headers(first_client)
    reference = complete_draft_api(first_client, headers, call, org)
    assert first_client.post(f"/api/v1/applications/{reference}/submit", headers=headers).status_code == 200
    staff = logged_in(app, INSTRUCTOR)
    declare_no_conflict(staff, reference)
    page = staff.get(f"/instruction/dossiers/{reference}").get_data(as_text=True)
    staff.post(f"/instruction/dossiers/{reference}/transitions/start_eligibility", data={"version": instructor_version(page)})
    staff.post(f"/instruction/dossiers/{reference}/corrections", data={
        "keys": [CORRECTED[call][0]], "message": "Précisez.", "due_date": (utcnow() + timedelta(days=9)).date().isoformat()})
    assert fetch(session, reference).state == "corrections_requested"
    session.rollback()
    url = f"/api/v1/applications/{reference}/resubmit"
    responses = at_once(lambda: first_client.post(url, headers=headers), lambda: second_client.post(url, headers=headers))
    assert [r.status_code for r in responses] == [200, 200], [getattr(r, "get_json", lambda: r)() for r in responses]
    assert {r.get_json()["state"] for r in responses} == {"eligibility_check"}
    assert len(audit_rows(session, reference, "transition:resubmit")) == 1
    session.rollback()


def test_two_simultaneous_withdrawals_make_one(app, session, demo, outbox):
    reference = demo_file(session, APPLICANT, PACK, "submitted")
    first_client, second_client = app.test_client(), app.test_client()
    headers = api_headers(first_client)
    url = f"/api/v1/applications/{reference}/withdraw"
    responses = at_once(lambda: first_client.post(url, headers=headers, json={"reason": "Abandon"}),
                        lambda: second_client.post(url, headers=headers, json={"reason": "Abandon"}))
    assert sorted(r.status_code for r in responses)[0] == 200, responses
    assert {r.status_code for r in responses} <= {200, 403, 409}
    assert all(error_message(r) for r in responses if r.status_code != 200)
    assert len(audit_rows(session, reference, "transition:withdraw")) == 1
    session.rollback()
    assert len([m for m in outbox if m["To"] == APPLICANT]) == 1


# --------------------------------------------------------------------------- corrections of special fields


def corrections_requested(app, session, client, headers, call: str, keys: list[str]) -> str:
    org = org_of(session, APPLICANT)
    reference = complete_draft_api(client, headers, call, org)
    assert client.post(f"/api/v1/applications/{reference}/submit", headers=headers).status_code == 200
    staff = logged_in(app, INSTRUCTOR)
    declare_no_conflict(staff, reference)
    staff.post(f"/instruction/dossiers/{reference}/transitions/start_eligibility")
    staff.post(f"/instruction/dossiers/{reference}/corrections", data={
        "keys": keys, "message": "À corriger.", "due_date": (utcnow() + timedelta(days=9)).date().isoformat()})
    assert fetch(session, reference).state == "corrections_requested"
    session.rollback()
    return reference


@pytest.mark.parametrize("call", CALLS)
def test_a_corrected_title_and_amount_follow_their_maps_to(app, session, client, demo, call):
    headers = api_headers(client)
    reference = corrections_requested(app, session, client, headers, call, ["titre_projet", "aide_demandee"])
    response = client.patch(f"/api/v1/applications/{reference}/corrections", headers=headers,
                            json={"answers": {"titre_projet": "Titre corrigé", "aide_demandee": 3_000_000}})
    assert response.status_code == 200, response.get_json()
    application = fetch(session, reference)
    assert application.answers["titre_projet"] == "Titre corrigé" and application.title == "Titre corrigé"
    assert application.requested_amount_cents == 3_000_000
    session.rollback()


@pytest.mark.parametrize("call", CALLS)
def test_a_correction_above_the_calls_ceiling_is_refused_at_once(app, session, client, demo, call):
    headers = api_headers(client)
    reference = corrections_requested(app, session, client, headers, call, ["aide_demandee"])
    before = snapshot(app, session, reference)
    ceiling = session.execute(select(Call.max_aid_cents).where(Call.reference == call)).scalar_one()
    session.rollback()
    response = client.patch(f"/api/v1/applications/{reference}/corrections", headers=headers,
                            json={"answers": {"aide_demandee": ceiling + 1}})
    assert response.status_code == 422
    (error,) = response.get_json()["errors"]
    assert error["key"] == "aide_demandee" and "plafond" in error["message"]
    assert snapshot(app, session, reference) == before
