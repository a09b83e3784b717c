"""The applicant's journey through the pages, end to end, on each demo call:
a draft started from the call page, every section filled (rows, conditional
fields), every document uploaded, submission (receipt PDF read back, mail,
automatic eligibility checks, a second click changing nothing), the
instructor's corrections request, the applicant's corrections and
re-submission, the eligibility decision, messages both ways; a withdrawal with
a reason. Then the bad inputs: each gets a clear French refusal and changes
nothing in the database nor on disk.

The test session ends its transaction before each request (the client does
it: on SQLite every transaction takes the write lock)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from babel.dates import format_date
from freezegun import freeze_time
from sqlalchemy import select

from app.formatting import local_datetime
from app.models import (AnswerRevision, Attachment, Call, ClockPause, CorrectionRequest, EligibilityDecision,
                        EligibilityResult, Organisation, utcnow)
from app.operations.demo import make_siret
from tests.factories import TEST_PASSWORD, declare_no_conflict, make_organisation, make_user
from tests.journey import (AMI, APPLICANT, APPLICANT2, BAD_SIRET, CALLS, at_once, CORRECTED, FRENCH_MONTHS, INSTRUCTOR,
                           NOT_REQUESTED, PACK, PDF_ONLY, answers_for, api_headers, audit_rows, complete_draft_api,
                           definition, demo_file, document_for, drain, fetch, file_keys, flashes, logged_in,
                           logged_in_with_csrf, make_pdf, make_png, org_of, page_posts, pdf_text, plain_text, sha256,
                           snapshot, squeezed, text_of, upload)


def section_url(reference: str, section: str) -> str:
    return f"/espace/dossiers/{reference}/brouillon/{section}"


def fill_section(client, reference: str, section: str, data: dict) -> str:
    """Fill one section as a browser does: the page's own ``_fields`` markers,
    a row added with the « Ajouter une ligne » button when the data has more
    rows than the page shows, then « Enregistrer et continuer ». Returns where
    the page sends the user next."""
    url = section_url(reference, section)
    page = client.get(url)
    assert page.status_code == 200, section
    content = page.get_data(as_text=True)
    for _attempt in range(5):
        missing = [name for name in data if f'name="{name}"' not in content]
        if not missing:
            break
        rows_key = re.match(r"([a-z0-9_]+)-\d+-", missing[0])
        assert rows_key, f"{section}: no input named {missing[0]!r} on the page"
        response = client.post(url, data={**data, "_fields": re.findall(r'name="_fields" value="([^"]+)"', content),
                                          "_action": f"add:{rows_key.group(1)}"})
        assert response.status_code == 303, text_of(response)[-1500:]
        content = client.get(response.headers["Location"]).get_data(as_text=True)
    else:
        pytest.fail(f"{section}: the page never showed {missing}")
    markers = re.findall(r'name="_fields" value="([^"]+)"', content)
    assert markers, section
    response = client.post(url, data={**data, "_fields": markers, "_action": "next"})
    assert response.status_code == 303, plain_text(response)[-2000:]
    return response.headers["Location"]


def receipt_checks(pdf: bytes, session, reference: str, call: str) -> None:
    """The receipt, read back: reference, date and time in French, organisation,
    call, an answer, each current attachment's SHA-256."""
    application = fetch(session, reference)
    text = pdf_text(pdf)
    assert "Accusé de réception" in text
    assert reference in text
    assert application.organisation.name in text and application.organisation.siret in text
    assert application.call.title in text.replace("\n", " ")
    assert local_datetime(application.submitted_at, "fr") in text
    assert any(month in text for month in FRENCH_MONTHS)
    assert answers_for(call, {"siret": "", "department": ""})["titre_projet"] in text.replace("\n", " ")
    shas = [a.sha256 for a in session.execute(select(Attachment).where(Attachment.application_id == application.id)).scalars()]
    assert len(shas) == len(file_keys(call))
    for digest in shas:
        assert digest in squeezed(text)
    session.rollback()


def automatic_outcome(session, reference: str) -> str:
    """The outcome of the latest automatic checks: fail, review or pass."""
    application = fetch(session, reference)
    run = max(r.run for r in session.execute(select(EligibilityResult).where(
        EligibilityResult.application_id == application.id)).scalars())
    outcomes = {r.outcome for r in session.execute(select(EligibilityResult).where(
        EligibilityResult.application_id == application.id, EligibilityResult.run == run)).scalars()}
    session.rollback()
    return "fail" if "fail" in outcomes else "review" if "review" in outcomes else "pass"


def instructor_version(page_html: str) -> str:
    match = re.search(r'name="version" value="(\d+)"', page_html)
    assert match, "no version field on the instructor's page"
    return match.group(1)


# --------------------------------------------------------------------------- the full journey


@pytest.mark.parametrize("call", CALLS)
def test_full_applicant_journey_in_the_pages(app, session, demo, outbox, call):
    org = org_of(session, APPLICANT)
    posts = page_posts(call, org)
    answer_key, document_key = CORRECTED[call]
    with freeze_time(utcnow(), tick=True) as clock:
        client = logged_in(app)

        # --- a draft from the call page
        assert f'href="/espace/deposer?appel={call}"' in client.get(f"/appels/{call}").get_data(as_text=True)
        page = client.get(f"/espace/deposer?appel={call}")
        assert page.status_code == 200 and re.search(rf'<option selected value="{call}">', page.get_data(as_text=True))
        response = client.post("/espace/deposer", data={"call": call, "title": "Projet d'essai"})
        assert response.status_code == 302
        reference = re.search(r"/espace/dossiers/([A-Z]+-\d{4}-\d{4})/brouillon/", response.headers["Location"]).group(1)

        # --- every section, in order, each « Enregistrer et continuer » leading to the next one
        sections = [s.key for s in definition(call).sections]
        for i, section in enumerate(s for s in sections if s != "pieces"):
            following = fill_section(client, reference, section, posts[section])
            assert following.endswith(section_url(reference, sections[i + 1])), following
        answers = fetch(session, reference).answers
        session.rollback()
        assert answers == answers_for(call, org)
        if call == PACK:  # a field hidden by its condition is not kept
            assert "poste_recrute" not in answers and answers["diagnostic_ia_organisme"]

        # --- every document, from the page of documents
        pieces = client.get(section_url(reference, "pieces")).get_data(as_text=True)
        sent: dict[str, bytes] = {}
        for key in file_keys(call):
            assert f'action="/espace/dossiers/{reference}/pieces/{key}"' in pieces
            content, name = document_for(key)
            response = upload(client, reference, key, content, name, next_url=section_url(reference, "pieces"))
            assert response.status_code == 303
            assert ("success", f"Le fichier « {name} » est enregistré.") in flashes(client)
            sent[key] = content
        rows = session.execute(select(Attachment).join(Attachment.application).where(
            Attachment.application_id == fetch(session, reference).id)).scalars().all()
        assert {a.field_key: a.sha256 for a in rows} == {k: sha256(v) for k, v in sent.items()}
        session.rollback()

        # --- completeness 100 %: every section complete, nothing left to fix
        overview = client.get(f"/espace/dossiers/{reference}/brouillon")
        text = plain_text(overview)
        assert text.count("section complète") == len(sections)
        assert "Le dossier est complet : vous pouvez le déposer." in text
        assert "Avant de déposer" not in text

        # --- submission
        before = snapshot(app, session, reference)
        response = client.post(f"/espace/dossiers/{reference}/deposer")
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/espace/dossiers/{reference}")
        followup = client.get(response.headers["Location"])
        text = plain_text(followup)
        assert f"Votre dossier {reference} est déposé. L'accusé de réception vous est envoyé par courriel." in text
        assert "Déposé" in text and "Brouillon créé" in text
        assert re.search(r"Étapes .*Brouillon créé .*Déposer (le dossier|la candidature)", text)
        application = fetch(session, reference)
        assert application.state == "submitted" and application.submitted_at is not None
        session.rollback()
        drain(app)
        followup = client.get(f"/espace/dossiers/{reference}")
        assert f'href="/espace/dossiers/{reference}/accuse-de-reception.pdf"' in followup.get_data(as_text=True)
        receipt = client.get(f"/espace/dossiers/{reference}/accuse-de-reception.pdf")
        assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
        assert receipt.headers["Content-Disposition"].startswith("attachment;")
        receipt_checks(receipt.data, session, reference, call)

        # mail: the receipt to the applicant, « Nouveau dossier » to the instructors
        to_applicant = [m for m in outbox if m["To"] == APPLICANT]
        assert [m["Subject"] for m in to_applicant] == [f"Accusé de réception — dossier {reference}"]
        assert f"/espace/dossiers/{reference}" in to_applicant[0].get_content()
        assert [m["Subject"] for m in outbox if m["To"] == INSTRUCTOR] == [f"Nouveau dossier déposé — {reference}"]

        # the eligibility checks ran by themselves
        results = session.execute(select(EligibilityResult).where(
            EligibilityResult.application_id == application.id)).scalars().all()
        assert results and {r.run for r in results} == {1} and all(r.reason for r in results)
        assert len(audit_rows(session, reference, "run_eligibility")) == 1
        session.rollback()

        # --- a second click on « Déposer » changes nothing
        mails = len(outbox)
        once = snapshot(app, session, reference)
        assert once["state"] == "submitted" and once["documents"] == 1 and before["documents"] == 0
        response = client.post(f"/espace/dossiers/{reference}/deposer")
        assert response.status_code == 302
        assert snapshot(app, session, reference) == once
        assert len(audit_rows(session, reference, "transition:submit")) == 1
        session.rollback()
        assert len(outbox) == mails

        # --- the instructor opens the file and starts the eligibility check
        staff = logged_in(app, INSTRUCTOR)
        declare_no_conflict(staff, reference)
        page = staff.get(f"/instruction/dossiers/{reference}")
        assert page.status_code == 200
        staff_text = plain_text(page)
        assert "Résultat des contrôles d'éligibilité" in text_of(page) and results[0].check_name in staff_text
        response = staff.post(f"/instruction/dossiers/{reference}/transitions/start_eligibility",
                              data={"version": instructor_version(page.get_data(as_text=True)), "reason": ""})
        assert response.status_code == 302 and ("success", "Action enregistrée.") in flashes(staff)
        application = fetch(session, reference)
        assert application.state == "eligibility_check" and application.due_date is not None
        first_due = application.due_date
        session.rollback()

        # --- corrections: one answer and one document, with a due date
        page = staff.get(f"/instruction/dossiers/{reference}").get_data(as_text=True)
        assert f'name="keys" value="{answer_key}"' in page and f'name="keys" value="{document_key}"' in page
        due = (utcnow() + timedelta(days=15)).date()
        response = staff.post(f"/instruction/dossiers/{reference}/corrections", data={
            "keys": [answer_key, document_key], "message": "Merci de préciser le projet et de joindre la pièce à jour.",
            "due_date": due.isoformat(), "version": instructor_version(page)})
        assert response.status_code == 302
        assert ("success", "La demande de compléments est envoyée au demandeur.") in flashes(staff)
        application = fetch(session, reference)
        assert application.state == "corrections_requested" and application.due_date is None
        request_row = session.execute(select(CorrectionRequest).where(
            CorrectionRequest.application_id == application.id)).scalar_one()
        assert request_row.keys == sorted([answer_key, document_key]) and request_row.due_date == due
        assert request_row.resolved_at is None
        pause = session.execute(select(ClockPause).where(ClockPause.application_id == application.id)).scalar_one()
        assert pause.ended_at is None
        session.rollback()
        assert [m["Subject"] for m in outbox if m["To"] == APPLICANT][-1] == f"Compléments demandés — dossier {reference}"
        response = staff.post(f"/instruction/dossiers/{reference}/messages",
                              data={"body": "Le devis doit mentionner le détail des jours de prestation."})
        assert response.status_code == 302

        # --- a week later, the applicant sees the request and corrects only what was asked
        clock.move_to(utcnow() + timedelta(days=7))
        client = logged_in(app)
        followup = client.get(f"/espace/dossiers/{reference}")
        text = plain_text(followup)
        assert "Compléments demandés" in text and "Merci de préciser le projet" in text
        assert format_date(due, format="long", locale="fr") in text
        labels = [definition(call).field(k).label for k in sorted([answer_key, document_key])]
        assert "Éléments à corriger : « {} », « {} »".format(*labels) in text
        assert "Le devis doit mentionner le détail des jours de prestation." in text
        assert f'href="/espace/dossiers/{reference}/corrections"' in followup.get_data(as_text=True)
        page = client.get(f"/espace/dossiers/{reference}/corrections")
        content = page.get_data(as_text=True)
        assert page.status_code == 200
        assert f'name="{answer_key}"' in content and f'name="{NOT_REQUESTED[call]}"' not in content
        assert f'action="/espace/dossiers/{reference}/pieces/{document_key}"' in content
        assert 'action="/espace/dossiers/{}/pieces/kbis"'.format(reference) not in content

        old = fetch(session, reference)
        old_answers, old_title, old_amount = dict(old.answers), old.title, old.requested_amount_cents
        session.rollback()
        snapshot_before_corrections = snapshot(app, session, reference)
        # a value the form refuses: the error next to the field, nothing saved
        too_long = "x" * (definition(call).field(answer_key).max_length + 1)
        response = client.post(f"/espace/dossiers/{reference}/corrections", data={answer_key: too_long})
        assert response.status_code == 422
        page = text_of(response)
        assert "Les corrections n'ont pas été enregistrées : corrigez ces points" in page
        assert f'<a href="#f-{answer_key}">{definition(call).field(answer_key).label}</a>' in page
        assert re.search(rf'<ul class="errors" id="f-{answer_key}-errors">\s*<li>[^<]*caractères', page)
        assert snapshot(app, session, reference) == snapshot_before_corrections
        new_value = "Version précisée : le modèle est entraîné sur 20 000 images annotées par nos techniciens."
        response = client.post(f"/espace/dossiers/{reference}/corrections", data={
            answer_key: new_value, NOT_REQUESTED[call]: "Titre changé en douce", "aide_demandee": "1",
            "_fields": [answer_key, NOT_REQUESTED[call], "aide_demandee"]})
        assert response.status_code == 302
        assert ("success", "Corrections enregistrées. Redéposez le dossier quand tout est prêt.") in flashes(client)
        application = fetch(session, reference)
        assert application.answers == {**old_answers, answer_key: new_value}
        assert application.title == old_title and application.requested_amount_cents == old_amount
        revision = session.execute(select(AnswerRevision).where(AnswerRevision.application_id == application.id)).scalar_one()
        assert (revision.key, revision.old_value, revision.new_value) == (answer_key, old_answers[answer_key], new_value)
        assert revision.correction_request_id == request_row.id
        session.rollback()
        assert [r.after for r in audit_rows(session, reference, "correct_answers")] == [{"keys": [answer_key]}]
        session.rollback()
        # the draft editor stays closed: another field cannot be changed that way either
        response = client.post(section_url(reference, "projet"),
                               data={"_fields": [NOT_REQUESTED[call]], NOT_REQUESTED[call]: "Titre changé en douce"})
        assert response.status_code == 409
        assert fetch(session, reference).answers[NOT_REQUESTED[call]] == old_answers[NOT_REQUESTED[call]]
        session.rollback()

        # the requested document gets a new version (the old one is kept); another document is refused
        unchanged = snapshot(app, session, reference)
        content, name = make_png(), "kbis-nouveau.png"
        response = upload(client, reference, "kbis", content, name, next_url=f"/espace/dossiers/{reference}/corrections")
        assert response.status_code == 303
        assert any(c == "error upload-kbis" and "ne peut plus être modifiée" in m for c, m in flashes(client))
        assert snapshot(app, session, reference) == unchanged
        content, name = document_for(document_key, version=2)
        response = upload(client, reference, document_key, content, name, next_url=f"/espace/dossiers/{reference}/corrections")
        assert response.status_code == 303
        versions = session.execute(select(Attachment).where(
            Attachment.application_id == application.id, Attachment.field_key == document_key)
            .order_by(Attachment.id)).scalars().all()
        assert [a.sha256 for a in versions] == [sha256(document_for(document_key)[0]), sha256(content)]
        newest = versions[-1].id
        session.rollback()
        page = plain_text(client.get(f"/espace/dossiers/{reference}/corrections"))
        assert re.search(rf"{re.escape(name)} .*Version précédente .*{re.escape(document_for(document_key)[1])}", page)
        download = client.get(f"/espace/dossiers/{reference}/pieces/{newest}")
        assert download.status_code == 200 and download.data == content
        response = client.post(f"/espace/dossiers/{reference}/messages", data={"body": "Le devis détaillé est joint."})
        assert response.status_code == 302

        # --- re-submission: back to the eligibility check, the clock's pause closed, the due date moved
        response = client.post(f"/espace/dossiers/{reference}/redeposer")
        assert response.status_code == 302
        assert ("success", "Vos corrections sont transmises : le dossier est à nouveau en instruction.") in flashes(client)
        application = fetch(session, reference)
        assert application.state == "eligibility_check"
        assert session.get(CorrectionRequest, request_row.id).resolved_at is not None
        assert session.get(ClockPause, pause.id).ended_at is not None
        assert application.due_date is not None and application.due_date > first_due
        assert session.get(AnswerRevision, revision.id).old_value == old_answers[answer_key]
        runs = {r.run for r in session.execute(select(EligibilityResult).where(
            EligibilityResult.application_id == application.id)).scalars()}
        assert runs == {1, 2}
        session.rollback()
        assert [m["Subject"] for m in outbox if m["To"] == INSTRUCTOR][-1] == f"Compléments reçus — dossier {reference}"

        # --- the instructor decides on eligibility (against the automatic outcome: only with a
        # justification, audited), then starts the instruction
        automatic = automatic_outcome(session, reference)
        staff = logged_in(app, INSTRUCTOR)
        declare_no_conflict(staff, reference)
        decisions = snapshot(app, session, reference)
        against = "no" if automatic == "pass" else "yes"
        response = staff.post(f"/instruction/dossiers/{reference}/eligibilite", data={"eligible": against})
        assert response.status_code == 302
        refused = [m for c, m in flashes(staff) if c == "error"]
        assert refused in (["Vous allez contre le résultat des contrôles : une justification écrite est obligatoire."],
                           ["Certains contrôles sont à examiner : expliquez votre décision."]), refused
        assert snapshot(app, session, reference) == decisions
        justification = "Pièces vérifiées : les déclarations sont conformes au règlement de l'appel."
        response = staff.post(f"/instruction/dossiers/{reference}/eligibilite",
                              data={"eligible": "yes", "justification": justification})
        assert ("success", "Décision d'éligibilité enregistrée.") in flashes(staff)
        decision = session.execute(select(EligibilityDecision).where(
            EligibilityDecision.application_id == application.id)).scalar_one()
        assert decision.eligible is True and decision.run == 2 and decision.automatic_outcome == automatic
        assert decision.overridden is (automatic != "pass")
        action = "override_eligibility" if decision.overridden else "confirm_eligibility"
        (entry,) = audit_rows(session, reference, action)
        assert entry.after == {"eligible": True} and entry.actor_role == "instructor"
        assert entry.before == {"automatic_outcome": automatic}
        assert decision.justification == justification and entry.reason == justification
        session.rollback()
        page = staff.get(f"/instruction/dossiers/{reference}").get_data(as_text=True)
        response = staff.post(f"/instruction/dossiers/{reference}/transitions/start_instruction",
                              data={"version": instructor_version(page), "reason": ""})
        assert ("success", "Action enregistrée.") in flashes(staff)
        assert fetch(session, reference).state == "instruction"
        session.rollback()
        assert [m["Subject"] for m in outbox if m["To"] == APPLICANT][-1] == f"Dossier {reference} recevable"

        # --- messages both ways, on both pages; the timeline tells the story
        staff_page = plain_text(staff.get(f"/instruction/dossiers/{reference}"))
        applicant_page = plain_text(client.get(f"/espace/dossiers/{reference}"))
        for body in ("Le devis doit mentionner le détail des jours de prestation.", "Le devis détaillé est joint."):
            assert body in staff_page and body in applicant_page
        assert "En instruction" in applicant_page
        steps = applicant_page[applicant_page.index("Étapes"):applicant_page.index("Messages avec l'instruction")]
        assert re.fullmatch(r"Étapes Brouillon créé — [^—]+ Déposer (le dossier|la candidature) — [^—]+ "
                            r"Commencer la vérification d'éligibilité — [^—]+ Demander des compléments — [^—]+ "
                            r"Merci de préciser le projet et de joindre la pièce à jour\. Réponses corrigées — [^—]+ "
                            r"Renvoyer (le dossier|la candidature) complétée? — [^—]+ "
                            r"Déclarer éligible et (instruire|lancer l'expertise) — [^—]+ ", steps), steps
        assert "Nouveau message" in " ".join(m["Subject"] for m in outbox if m["To"] == INSTRUCTOR)
        # the receipt is still the one of the submission, with its attachments' fingerprints
        assert snapshot(app, session, reference)["documents"] == 1


@pytest.mark.parametrize("call, state", [(PACK, "submitted"), (AMI, "eligibility_check")])
def test_the_applicant_withdraws_with_a_reason(app, session, demo, outbox, call, state):
    reference = demo_file(session, APPLICANT, call, state)
    client = logged_in(app)
    page = client.get(f"/espace/dossiers/{reference}")
    assert f'action="/espace/dossiers/{reference}/retrait"' in page.get_data(as_text=True)
    before = snapshot(app, session, reference)
    response = client.post(f"/espace/dossiers/{reference}/retrait", data={"reason": "   "})
    assert response.status_code == 302
    assert ("error", "Indiquez le motif du retrait.") in flashes(client)
    assert snapshot(app, session, reference) == before
    assert not outbox

    reason = "Le projet est reporté à l'an prochain."
    response = client.post(f"/espace/dossiers/{reference}/retrait", data={"reason": reason})
    assert ("success", "Votre dossier est retiré.") in flashes(client)
    assert fetch(session, reference).state == "withdrawn"
    session.rollback()
    (entry,) = audit_rows(session, reference, "transition:withdraw")
    assert entry.reason == reason and entry.before == {"state": state} and entry.after["state"] == "withdrawn"
    session.rollback()
    mine = [m for m in outbox if m["To"] == APPLICANT]
    assert [m["Subject"] for m in mine] == [f"Retrait du dossier {reference}"] and reason in mine[0].get_content()
    assert [m["Subject"] for m in outbox if m["To"] == INSTRUCTOR] == [f"Dossier {reference} retiré par le demandeur"]
    text = plain_text(client.get(f"/espace/dossiers/{reference}"))
    assert "Retiré" in text and reason in text and "Retirer le dossier" not in text
    # once withdrawn, a second request changes nothing
    after = snapshot(app, session, reference)
    client.post(f"/espace/dossiers/{reference}/retrait", data={"reason": reason})
    assert any(c == "error" for c, _m in flashes(client))
    assert snapshot(app, session, reference) == after


@pytest.mark.parametrize("call, state", [(PACK, "rejected"), (AMI, "approved")])
def test_no_withdrawal_after_the_decision(app, session, demo, outbox, call, state):
    reference = demo_file(session, APPLICANT, call, state)
    client = logged_in(app)
    assert "/retrait" not in client.get(f"/espace/dossiers/{reference}").get_data(as_text=True)
    before = snapshot(app, session, reference)
    client.post(f"/espace/dossiers/{reference}/retrait", data={"reason": "Trop tard"})
    assert ("error", "Cette action n'est pas possible sur ce dossier dans son état actuel.") in flashes(client)
    assert snapshot(app, session, reference) == before
    assert not outbox


@pytest.mark.parametrize("call", CALLS)
def test_a_double_click_on_submit_and_on_resubmit_makes_one_of_each(app, session, demo, outbox, call):
    org = org_of(session, APPLICANT)
    api = app.test_client()
    reference = complete_draft_api(api, api_headers(api), call, org)
    first, second = logged_in(app), logged_in(app)
    url = f"/espace/dossiers/{reference}/deposer"
    responses = at_once(lambda: first.post(url), lambda: second.post(url))
    assert [r.status_code for r in responses] == [302, 302], responses
    assert all(r.headers["Location"].endswith(f"/espace/dossiers/{reference}") for r in responses)
    assert len(audit_rows(session, reference, "transition:submit")) == 1
    session.rollback()
    drain(app)
    assert snapshot(app, session, reference)["documents"] == 1
    assert len([m for m in outbox if m["To"] == APPLICANT]) == 1

    staff = logged_in(app, INSTRUCTOR)

    declare_no_conflict(staff, reference)
    staff.post(f"/instruction/dossiers/{reference}/transitions/start_eligibility")
    staff.post(f"/instruction/dossiers/{reference}/corrections", data={
        "keys": [CORRECTED[call][0]], "message": "Précisez.", "due_date": (utcnow() + timedelta(days=9)).date().isoformat()})
    assert fetch(session, reference).state == "corrections_requested"
    session.rollback()
    url = f"/espace/dossiers/{reference}/redeposer"
    responses = at_once(lambda: first.post(url), lambda: second.post(url))
    assert [r.status_code for r in responses] == [302, 302], responses
    assert len(audit_rows(session, reference, "transition:resubmit")) == 1
    assert fetch(session, reference).state == "eligibility_check"
    session.rollback()
    messages = flashes(first) + flashes(second)
    assert ("success", "Vos corrections sont transmises : le dossier est à nouveau en instruction.") in messages
    assert not [m for c, m in messages if c == "error"], messages


# --------------------------------------------------------------------------- bad inputs


def test_invalid_siret_is_refused_on_the_organisation_page_and_in_the_form(app, session, demo):
    client = logged_in(app)
    before = snapshot(app, session)
    response = client.post("/espace/organisations/nouvelle", data={
        "siret": BAD_SIRET, "name": "Société fantôme", "legal_form": "SAS", "naf_code": "62.01Z",
        "address": "1 rue du Lac", "postal_code": "88000", "city": "Épinal", "department": "88", "headcount": "4",
        "turnover_cents": "100 000", "balance_sheet_cents": "50 000"})
    assert response.status_code == 200
    assert "Ce numéro SIRET n'est pas valide : vérifiez les 14 chiffres (clé de contrôle incorrecte)." in text_of(response)
    assert snapshot(app, session) == before
    lookup = client.get("/espace/organisations/nouvelle", query_string={"siret": BAD_SIRET})
    assert "Ce numéro SIRET n'est pas valide" in text_of(lookup)
    assert session.execute(select(Organisation).where(Organisation.siret == BAD_SIRET)).scalar_one_or_none() is None
    session.rollback()

    for call, section, key in ((PACK, "entreprise", "siret_etablissement"), (AMI, "porteur", "siret_porteur")):
        reference = demo_file(session, APPLICANT, call, "draft") if call == AMI else None
        if reference is None:
            response = client.post("/espace/deposer", data={"call": call})
            reference = response.headers["Location"].split("/")[3]
        before = snapshot(app, session, reference)
        response = client.post(section_url(reference, section), data={"_fields": [key], key: BAD_SIRET})
        assert response.status_code == 422
        page = text_of(response)
        errors = re.search(rf'<ul class="errors" id="f-{key}-errors">(.*?)</ul>', page, re.S)
        assert errors and "SIRET" in errors.group(1)
        assert f'value="{BAD_SIRET}"' in page  # what was typed is shown again
        assert snapshot(app, session, reference) == before


@pytest.mark.parametrize("call", CALLS)
def test_a_png_renamed_pdf_and_an_oversized_file_are_refused(app, session, demo, call):
    reference = demo_file(session, APPLICANT, call, "draft") if call == AMI else None
    client = logged_in(app)
    if reference is None:
        reference = client.post("/espace/deposer", data={"call": call}).headers["Location"].split("/")[3]
    key = PDF_ONLY[call]
    before = snapshot(app, session, reference)
    response = upload(client, reference, key, make_png(), "devis.pdf", next_url=section_url(reference, "pieces"))
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/pieces#champ-{key}")
    messages = [m for c, m in flashes(client) if c == f"error upload-{key}"]
    assert messages == ["Le contenu de ce fichier (PNG) n'est pas accepté pour cette pièce. Formats acceptés : PDF."]
    assert snapshot(app, session, reference) == before
    # the message is shown next to the field on the page it goes back to
    page = plain_text(client.get(response.headers["Location"].split("#")[0]))
    assert "PNG" in page and "n'est pas accepté" in page

    big = make_pdf("gros", padding=10 * 1024 * 1024 + 1)  # the form allows 10 Mo
    response = upload(client, reference, key, big, "devis.pdf", next_url=section_url(reference, "pieces"))
    assert response.status_code == 303
    messages = [m for c, m in flashes(client) if c == f"error upload-{key}"]
    assert messages == ["Le fichier dépasse la taille maximale autorisée pour cette pièce (10 Mo)."]
    assert snapshot(app, session, reference) == before
    assert not list((Path(app.config["UPLOAD_FOLDER"]) / ".tmp").glob("*"))


@pytest.mark.parametrize("call", CALLS)
def test_submission_one_second_after_the_deadline_is_refused_one_second_before_accepted(app, session, demo, outbox, call):
    org = org_of(session, APPLICANT)
    closes_at = session.execute(select(Call.closes_at).where(Call.reference == call)).scalar_one()
    session.rollback()
    api = app.test_client()
    late = complete_draft_api(api, api_headers(api), call, org, title="En retard")
    on_time = complete_draft_api(api, api_headers(api), call, org, title="À l'heure")

    with freeze_time(closes_at + timedelta(seconds=1)):
        client = logged_in(app)
        before = snapshot(app, session, late)
        response = client.post(f"/espace/dossiers/{late}/deposer")
        assert response.status_code == 422
        assert "L'appel à projets est clos : le dépôt n'est plus possible." in plain_text(response)
        assert snapshot(app, session, late) == before
        assert not outbox
    with freeze_time(closes_at - timedelta(seconds=1)):
        client = logged_in(app)
        response = client.post(f"/espace/dossiers/{on_time}/deposer")
        assert response.status_code == 302
        application = fetch(session, on_time)
        assert application.state == "submitted" and application.submitted_at < closes_at
        session.rollback()


@pytest.mark.parametrize("call", CALLS)
def test_a_submitted_file_cannot_be_edited_in_the_pages(app, session, demo, call):
    org = org_of(session, APPLICANT)
    api = app.test_client()
    headers = api_headers(api)
    reference = complete_draft_api(api, headers, call, org)
    assert api.post(f"/api/v1/applications/{reference}/submit", headers=headers).status_code == 200
    drain(app)
    client = logged_in(app)
    before = snapshot(app, session, reference)
    section = definition(call).sections[0].key
    key = definition(call).sections[0].fields[0].key
    page = client.get(section_url(reference, section))
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/espace/dossiers/{reference}")
    response = client.post(section_url(reference, section), data={"_fields": ["effectif"], "effectif": "7"})
    assert response.status_code == 409
    assert "Ce dossier a été déposé : ses réponses ne peuvent plus être modifiées ici." in plain_text(response)
    auto = client.post(section_url(reference, section) + "/auto", data={"_fields": [key], key: make_siret(1)})
    assert auto.status_code == 409 and auto.get_json()["saved"] is False
    content, name = document_for("kbis", version=2)
    response = upload(client, reference, "kbis", content, name)
    assert any("ne peut plus être modifiée" in m for c, m in flashes(client) if c == "error upload-kbis")
    attachment_id = before["attachments"][0][0]
    response = client.post(f"/espace/dossiers/{reference}/pieces/{attachment_id}/supprimer")
    assert any("ne peuvent plus être supprimées" in m for _c, m in flashes(client))
    assert snapshot(app, session, reference) == before


def test_another_organisations_file_is_404_in_every_page(app, session, demo):
    other = org_of(session, APPLICANT2)
    api = app.test_client()
    headers = api_headers(api, APPLICANT2)
    submitted = complete_draft_api(api, headers, PACK, other)
    assert api.post(f"/api/v1/applications/{submitted}/submit", headers=headers).status_code == 200
    drain(app)
    draft = demo_file(session, APPLICANT2, PACK, "draft")
    attachment_id = snapshot(app, session, submitted)["attachments"][0][0]
    before = {ref: snapshot(app, session, ref) for ref in (submitted, draft)}

    client = logged_in(app)
    for url in (f"/espace/dossiers/{draft}/brouillon", section_url(draft, "projet"), f"/espace/dossiers/{draft}",
                f"/espace/dossiers/{submitted}", f"/espace/dossiers/{submitted}/accuse-de-reception.pdf",
                f"/espace/dossiers/{submitted}/pieces/{attachment_id}", f"/espace/dossiers/{submitted}/corrections"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Page introuvable." in plain_text(response)
    for url, data in ((section_url(draft, "projet"), {"_fields": ["titre_projet"], "titre_projet": "Piraté"}),
                      (f"/espace/dossiers/{draft}/deposer", {}),
                      (f"/espace/dossiers/{submitted}/messages", {"body": "Bonjour"}),
                      (f"/espace/dossiers/{submitted}/retrait", {"reason": "Piraté"}),
                      (f"/espace/dossiers/{submitted}/redeposer", {}),
                      (f"/espace/dossiers/{submitted}/corrections", {"titre_projet": "Piraté"}),
                      (f"/espace/dossiers/{submitted}/pieces/{attachment_id}/supprimer", {})):
        assert client.post(url, data=data).status_code == 404, url
    response = upload(client, draft, "kbis", make_png(), "kbis.png")
    assert response.status_code == 404
    for ref, snap in before.items():
        assert snapshot(app, session, ref) == snap
    # the owner reaches the same pages
    owner = logged_in(app, APPLICANT2)
    assert owner.get(f"/espace/dossiers/{submitted}/accuse-de-reception.pdf").status_code == 200
    assert owner.get(f"/espace/dossiers/{submitted}/pieces/{attachment_id}").status_code == 200


def test_no_message_thread_on_a_draft(app, session, demo, outbox):
    reference = demo_file(session, APPLICANT, AMI, "draft")
    client = logged_in(app)
    before = snapshot(app, session, reference)
    response = client.post(f"/espace/dossiers/{reference}/messages", data={"body": "Bonjour, une question ?"})
    assert response.status_code == 302
    assert ("error", "Les messages avec l'instruction s'ouvrent une fois le dossier déposé.") in flashes(client)
    assert snapshot(app, session, reference) == before
    assert not outbox


def test_forms_posted_without_their_csrf_token_are_refused(app, session, demo, csrf):
    reference = demo_file(session, APPLICANT, AMI, "draft")
    client = logged_in_with_csrf(app)
    before = snapshot(app, session, reference)
    refusal = "Le formulaire a expiré ou n'est pas valide : rechargez la page et recommencez."

    response = client.post(section_url(reference, "projet"), data={"_fields": ["titre_projet"], "titre_projet": "Sans jeton"})
    assert response.status_code == 400 and refusal in plain_text(response)
    response = client.post(f"/espace/dossiers/{reference}/deposer")
    assert response.status_code == 400 and refusal in plain_text(response)
    response = upload(client, reference, "kbis", make_png(), "kbis.png")
    assert response.status_code == 400 and refusal in plain_text(response)
    assert snapshot(app, session, reference) == before

    # with the page's token, the same requests go through
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get(section_url(reference, "pieces")).get_data(as_text=True)).group(1)
    response = client.post(section_url(reference, "projet"),
                           data={"_fields": ["titre_projet"], "titre_projet": "Avec jeton", "csrf_token": token})
    assert response.status_code == 303
    assert upload(client, reference, "kbis", make_png(), "kbis.png", csrf_token=token).status_code == 303
    response = client.post(f"/espace/dossiers/{reference}/deposer", data={"csrf_token": token})
    assert response.status_code == 422  # incomplete: refused with the list of what is missing, not for CSRF
    text = plain_text(response)
    assert "Avant de déposer, corrigez ces points" in text and "Annexe technique : Joignez ce document." in text
    after = snapshot(app, session, reference)
    assert after["answers"]["titre_projet"] == "Avec jeton" and len(after["attachments"]) == 1
    assert after["state"] == "draft"


# --------------------------------------------------------------------------- eligibility of a clean file


@pytest.mark.parametrize("call", [PACK, AMI])
def test_a_valid_complete_file_passes_the_automatic_eligibility_checks(app, session, demo, call):
    # A company never aided before, established in Grand Est, 42 people, not in consulting.
    user = make_user(session, "applicant", email="nouvelle@example.test")
    organisation = make_organisation(session, user, name="Nouvelle Société", department="67")
    organisation.headcount, organisation.naf_code, organisation.size_category = 42, "6201Z", "small"
    org = {"siret": organisation.siret, "department": "67"}
    session.commit()
    api = app.test_client()
    headers = api_headers(api, "nouvelle@example.test", TEST_PASSWORD)
    reference = complete_draft_api(api, headers, call, org)
    assert api.post(f"/api/v1/applications/{reference}/submit", headers=headers).status_code == 200
    application = fetch(session, reference)
    results = session.execute(select(EligibilityResult).where(EligibilityResult.application_id == application.id)).scalars().all()
    assert {r.check_name: r.reason for r in results if r.outcome != "pass"} == {}
