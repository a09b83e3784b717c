"""Decision letters and agreements (read back with pypdf), letter texts per
call with checked placeholders, and versioned storage."""

from __future__ import annotations

from datetime import date

import pytest

from app import audit
from app.documents import RENDERERS, document_path, generate_document, latest_document, render_agreement, render_decision_letter
from app.extensions import db
from app.letters import LetterTextError, amount_in_words, check_text, payment_schedule
from app.models import Application, Document, LetterTemplate
from app.operations.letters import save_letter_text
from tests.factories import declare_no_conflict, login, make_application, make_call, make_organisation, make_user
from tests.journey import pdf_text


def decided(session, *, state="approved", amount=4_567_890, number="CP-2026-11-0042", call=None, org=None) -> Application:
    call = call or make_call(session, max_aid_cents=None)
    org = org or make_organisation(session, make_user(session))
    application = make_application(session, call, org, state=state, amount_cents=amount, title="Vision industrielle")
    application.proposed_amount_cents = amount
    application.awarded_amount_cents = amount
    application.decided_on = date(2026, 11, 20)
    application.deliberation_number = number
    session.flush()
    return application


def flat(data: bytes) -> str:
    return " ".join(pdf_text(data).split())


# --- amount in words and schedule --------------------------------------------------------------

@pytest.mark.parametrize("cents, words", [
    (2_300_000, "vingt-trois mille euros"),
    (4_567_890, "quarante-cinq mille six cent soixante-dix-huit euros et quatre-vingt-dix centimes"),
    (100, "un euro"),
    (101, "un euro et un centime"),
    (100_000_000, "un million d'euros"),
    (300_000_000, "trois millions d'euros"),
])
def test_amount_in_words_in_french(cents, words):
    assert amount_in_words(cents) == words


def test_payment_schedule_takes_its_shares_from_the_configuration(app, monkeypatch):
    with app.app_context():
        steps = payment_schedule(10_000_001)
        assert [s.amount_cents for s in steps] == [3_000_000, 5_000_000, 2_000_001]
        assert sum(s.amount_cents for s in steps) == 10_000_001
        monkeypatch.setitem(app.config, "PAYMENT_ADVANCE_PERCENT", 60)
        monkeypatch.setitem(app.config, "PAYMENT_INTERIM_CAP_PERCENT", 90)
        assert [s.amount_cents for s in payment_schedule(1_000_000)] == [600_000, 300_000, 100_000]


# --- the PDFs ------------------------------------------------------------------------------------

def test_approval_letter_has_reference_amount_in_words_deliberation_schedule_and_appeal(session):
    application = decided(session)
    text = flat(render_decision_letter(session, application))
    assert "Notification de décision" in text
    assert application.reference in text
    assert "CP-2026-11-0042" in text
    assert "20 novembre 2026" in text
    assert "45 678,90 €" in text
    assert "quarante-cinq mille six cent soixante-dix-huit euros et quatre-vingt-dix centimes" in text
    # above 23,000 €: the agreement's schedule (30 % advance, up to 80 %, balance)
    assert "13 703,67 €" in text and "Solde sur rapport final" in text
    assert "tribunal administratif de Strasbourg" in text and "deux mois" in text
    assert application.organisation.name in text


def test_small_approval_is_paid_at_once_without_agreement(session):
    application = decided(session, amount=1_500_000, number="CP-2026-11-0043")
    text = flat(render_decision_letter(session, application))
    assert "versée en une fois" in text and "Solde" not in text
    assert "quinze mille euros" in text


def test_refusal_letter_gives_the_reasons_and_the_appeal(session):
    application = decided(session, state="rejected", number="CP-2026-11-0044")
    audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                 action="transition:reject", reason="Le projet ne relève pas de l'intelligence artificielle.")
    text = flat(render_decision_letter(session, application))
    assert "n'a pas retenu" in text
    assert "Le projet ne relève pas de l'intelligence artificielle." in text
    assert "CP-2026-11-0044" in text and application.reference in text
    assert "tribunal administratif de Strasbourg" in text
    assert "En lettres" not in text


def test_agreement_has_amount_in_words_and_the_payment_schedule(session):
    application = decided(session, amount=5_000_000, number="CP-2026-11-0045")
    text = flat(render_agreement(session, application))
    assert "Convention" in text and application.reference in text and "CP-2026-11-0045" in text
    assert "cinquante mille euros" in text
    for amount in ("15 000,00 €", "25 000,00 €", "10 000,00 €", "50 000,00 €"):
        assert amount in text
    assert "Avance" in text and "Acomptes" in text and "Solde" in text
    assert "Page 1 / " in text


def test_every_french_character_and_the_euro_sign_survive(session):
    application = decided(session, number="CP-2026-11-0046")
    application.organisation.name = "Œuvre Ça Été Îlot Ûber Ÿvette « Ærø »"
    text = flat(render_decision_letter(session, application))
    assert "Œuvre Ça Été Îlot Ûber Ÿvette « Ærø »" in text and "€" in text


def test_workflow_templates_have_renderers():
    assert RENDERERS["lettre_decision"][0] == "decision_letter"
    assert RENDERERS["convention"][0] == "agreement"


def test_regenerating_the_decision_letter_keeps_the_old_version(app, session):
    application = decided(session, number="CP-2026-11-0047")
    session.commit()
    first_id = generate_document(application.id, "lettre_decision")
    application = session.get(Application, application.id)
    application.awarded_amount_cents = 3_000_000
    session.commit()
    second_id = generate_document(application.id, "lettre_decision")
    first, second = session.get(Document, first_id), session.get(Document, second_id)
    assert (first.version, second.version) == (1, 2)
    assert first.sha256 != second.sha256
    old, new = document_path(first).read_bytes(), document_path(second).read_bytes()
    assert "quarante-cinq mille" in flat(old) and "trente mille euros" in flat(new)
    import hashlib

    assert hashlib.sha256(old).hexdigest() == first.sha256
    assert latest_document(session, application, "decision_letter").id == second.id


# --- letter texts --------------------------------------------------------------------------------

def test_check_text_refuses_unknown_placeholders_with_a_clear_message():
    assert check_text("Dossier {reference} : {montant} ({montant_lettres}), délibération {deliberation}.")
    with pytest.raises(LetterTextError) as exc:
        check_text("Bonjour {nom_du_maire}, montant {montant} {amount}")
    assert "{nom_du_maire}" in exc.value.message and "{amount}" in exc.value.message
    assert "Champs possibles" in exc.value.message and "{montant_lettres}" in exc.value.message
    for bad in ("Accolade {reference", "Format {montant:>10}", "{}", "  "):
        with pytest.raises(LetterTextError):
            check_text(bad)


def test_a_call_text_is_used_in_its_letters(session):
    application = decided(session, number="CP-2026-11-0048")
    admin = make_user(session, "admin")
    save_letter_text(session, application.call_id, "decision_approval",
                     "Texte propre à l'appel pour {reference} : {montant_lettres}, délibération {deliberation}.", admin)
    text = flat(render_decision_letter(session, application))
    assert f"Texte propre à l'appel pour {application.reference} : quarante-cinq mille" in text
    assert "tribunal administratif de Strasbourg" in text  # the legal mentions stay


def test_admin_edits_a_letter_text_and_unknown_placeholders_are_refused(app, session, client):
    call = make_call(session)
    admin = make_user(session, "admin", email="admin-letters@example.test")
    session.commit()
    login(client, admin.email)
    page = client.get(f"/admin/appels/{call.reference}/lettres")
    assert page.status_code == 200 and "Convention" in page.get_data(as_text=True)
    form = client.get(f"/admin/appels/{call.reference}/lettres/agreement")
    assert "{montant_lettres}" in form.get_data(as_text=True)
    refused = client.post(f"/admin/appels/{call.reference}/lettres/agreement", data={"body": "Montant {montnat}"})
    assert refused.status_code == 422
    assert "Champ(s) inconnu(s) : {montnat}" in refused.get_data(as_text=True)
    assert db.session.query(LetterTemplate).count() == 0
    saved = client.post(f"/admin/appels/{call.reference}/lettres/agreement", data={"body": "Article unique : {montant}."})
    assert saved.status_code == 302
    row = db.session.query(LetterTemplate).one()
    assert (row.kind, row.body, row.call_id) == ("agreement", "Article unique : {montant}.", call.id)
    assert client.get(f"/admin/appels/{call.reference}/lettres/inconnue").status_code == 404


def test_only_admins_of_the_call_edit_its_letters(app, session, client):
    call, other = make_call(session), make_call(session)
    scoped = make_user(session, ("admin", other.id), email="scoped-admin@example.test")
    finance = make_user(session, "finance", email="finance-letters@example.test")
    session.commit()
    login(client, scoped.email)
    assert client.get(f"/admin/appels/{call.reference}/lettres").status_code == 403
    assert client.get(f"/admin/appels/{other.reference}/lettres").status_code == 200
    finance_client = app.test_client()
    login(finance_client, finance.email)
    assert finance_client.post(f"/admin/appels/{call.reference}/lettres/agreement", data={"body": "x"}).status_code == 403


def test_the_files_letters_are_downloaded_by_its_applicants_and_staff_only(app, session, client):
    owner = make_user(session, email="letters-owner@example.test")
    stranger = make_user(session, email="letters-stranger@example.test")
    instructor = make_user(session, "instructor", email="letters-instructor@example.test")
    application = decided(session, org=make_organisation(session, owner), number="CP-2026-11-0049")
    session.commit()
    generate_document(application.id, "lettre_decision")
    generate_document(application.id, "convention")
    url = f"/dossiers/{application.reference}/lettres/decision_letter.pdf"
    login(client, owner.email)
    page = client.get(f"/espace/dossiers/{application.reference}").get_data(as_text=True)
    assert url in page and f"/dossiers/{application.reference}/lettres/agreement.pdf" in page
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "CP-2026-11-0049" in flat(response.data)
    staff = app.test_client()
    login(staff, instructor.email)
    declare_no_conflict(staff, application.reference)
    assert url in staff.get(f"/instruction/dossiers/{application.reference}").get_data(as_text=True)
    assert staff.get(url).status_code == 200
    other = app.test_client()
    login(other, stranger.email)
    assert other.get(url).status_code == 404
    assert client.get(f"/dossiers/{application.reference}/lettres/receipt.pdf").status_code == 404
