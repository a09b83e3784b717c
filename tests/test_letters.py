"""Decision letters and agreements (read back with pypdf), letter texts per
call with checked placeholders, and versioned storage."""

from __future__ import annotations

import html
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


# --- the agreement only above 23,000 € (DOMAIN.md §5) ----------------------------------------------

def approved_file(session, amount: int):
    """An approved file whose amount is reserved, as the committee leaves it."""
    from app import ledger

    call = make_call(session, budget_cents=1_000_000_00, max_aid_cents=None)
    owner = make_user(session, email=f"owner-{amount}@example.test")
    application = decided(session, amount=amount, number=f"CP-2026-11-{amount % 10_000:04d}", call=call,
                          org=make_organisation(session, owner))
    ledger.reserve(session, application, amount, year=date.today().year, idempotency_key=f"t:{application.id}:r",
                   actor=None, regime=call.aid_regime)
    session.flush()
    return application, owner


@pytest.mark.parametrize("amount, convention", [(2_300_000, False), (2_300_001, True)])
def test_a_convention_only_above_23000_euros_and_the_file_still_reaches_payments(app, session, outbox, amount,
                                                                                 convention):
    import io

    from sqlalchemy import select
    from werkzeug.datastructures import FileStorage

    from app.models import AuditEntry
    from app.operations import payments
    from app.operations.transitions import transition
    from tests.conftest import run_queued_jobs
    from tests.journey import make_pdf

    application, owner = approved_file(session, amount)
    instructor = make_user(session, "instructor")
    finance = make_user(session, "finance")
    session.commit()
    transition(session, application, "prepare_agreement", actor=instructor, role="instructor")
    session.commit()
    run_queued_jobs(app)
    session.expire_all()
    application = session.get(Application, application.id)
    reference = application.reference
    assert application.state == "agreement"
    agreements = session.query(Document).filter_by(application_id=application.id, kind="agreement").count()
    assert agreements == (1 if convention else 0)
    waived = session.execute(select(AuditEntry).where(
        AuditEntry.object_id == reference, AuditEntry.action == "decision_serves_as_agreement")).scalars().all()
    assert len(waived) == (0 if convention else 1)
    if waived:
        assert (waived[0].after["amount_cents"], waived[0].after["threshold_cents"]) == (2_300_000, 2_300_000)
    mail = [str(m["Subject"]) for m in outbox if str(m["To"]) == owner.email]
    assert mail == [f"Convention à signer — dossier {reference}" if convention
                    else f"Modalités de votre aide — dossier {reference}"]
    letter = flat(render_decision_letter(session, application))
    if convention:
        assert "une convention vous sera adressée" in letter and "Solde sur rapport final" in letter
    else:
        assert "aucune convention n'est établie : la présente notification en tient lieu" in letter
        assert "versée en une fois" in letter and "Solde" not in letter

    # finance records the terms (the convention signed, or the decision's) and the aid is committed
    payments.sign_agreement(session, application, signed_on=payments._today(), aid_rate_bp=5000,
                            eligible_costs_cents=2 * amount, bank_guarantee=False, actor=finance)
    session.commit()
    assert application.state == "payments"
    agreement = payments.agreement_of(session, application)
    if convention:
        assert (agreement.advance_share_bp, agreement.interim_cap_bp) == (3000, 8000)
        advance = payments.file_request(session, application, kind="advance", user=owner)
        assert advance.requested_cents == amount * 30 // 100
    else:
        # the decision's terms: one payment, on justification of the expenses
        assert (agreement.advance_share_bp, agreement.interim_cap_bp, agreement.long_interim_cap_bp) == (0, 0, 0)
        with pytest.raises(payments.PaymentRefused, match="versée en une fois"):
            payments.file_request(session, application, kind="advance", user=owner)
        proof = FileStorage(stream=io.BytesIO(make_pdf("Facture")), filename="facture.pdf",
                            content_type="application/pdf")
        balance = payments.file_request(session, application, kind="balance", user=owner,
                                        expenses=[("Prestation", 2 * amount)], proofs=[proof])
        assert balance.requested_cents == amount
    session.commit()
    run_queued_jobs(app)
    mail = [str(m["Subject"]) for m in outbox if str(m["To"]) == owner.email]
    assert mail[-1] == (f"Convention signée — dossier {reference}" if convention
                        else f"Aide engagée — dossier {reference}")


def test_no_convention_is_generated_for_an_aid_of_23000_euros_even_when_asked(app, session):
    small, _ = approved_file(session, 2_300_000)
    large, _ = approved_file(session, 2_300_001)
    session.commit()
    assert generate_document(small.id, "convention") is None
    assert generate_document(large.id, "convention") is not None
    kinds = {(d.application_id, d.kind) for d in session.query(Document)}
    assert kinds == {(large.id, "agreement")}


def test_the_agreement_page_says_the_decision_serves_as_agreement(app, session, client):
    from app.operations import payments

    application, _ = approved_file(session, 2_300_000)
    application.state = "agreement"
    finance = make_user(session, "finance", email="finance-small@example.test")
    session.commit()
    login(client, finance.email)
    page = client.get(f"/versements/conventions/{application.reference}").get_data(as_text=True)
    assert "aucune convention n'est établie, la lettre de notification de la décision en tient lieu" in page
    assert "Enregistrer les modalités de la décision et engager l'aide" in page
    # no convention to sign, no advance to guarantee: the form asks for the notification date only
    assert "Date de notification de la décision" in page and "Date de signature" not in page
    assert "Garantie bancaire" not in page and 'name="bank_guarantee"' not in page
    done = client.post(f"/versements/conventions/{application.reference}", data={  # CSRF is off in tests
        "signed_on": "2026-11-25", "aid_rate": "50", "eligible_costs_cents": "46 000",
        "bank_guarantee": "y"})  # a guarantee posted all the same is not recorded
    assert done.status_code == 303, done.get_data(as_text=True)
    session.expire_all()
    agreement = payments.agreement_of(session, application)
    assert agreement.single_payment and not agreement.bank_guarantee
    detail = html.unescape(client.get(f"/versements/dossiers-finances/{application.reference}").get_data(as_text=True))
    assert "Modalités de la décision" in detail and "Décision notifiée le" in detail
    assert "aucune : un versement unique, sur justificatifs" in detail and "Convention signée le" not in detail


# --- editable texts of the receipt and the ineligibility letter ------------------------------------

def test_admin_edits_the_receipt_text_with_its_own_placeholders(app, session, client):
    from html import unescape

    from app.documents import render_receipt

    call = make_call(session)
    admin = make_user(session, "admin", email="admin-receipt@example.test")
    owner = make_user(session)
    application = make_application(session, call, make_organisation(session, owner, name="Atelier Ça Va"),
                                   state="submitted", amount_cents=1_234_500, title="Vision")
    session.commit()
    login(client, admin.email)
    listing = unescape(client.get(f"/admin/appels/{call.reference}/lettres").get_data(as_text=True))
    assert "Accusé de réception" in listing and "Notification d'inéligibilité" in listing
    form = unescape(client.get(f"/admin/appels/{call.reference}/lettres/receipt").get_data(as_text=True))
    assert "{montant_demande}" in form and "{date_depot}" in form and "{deliberation}" not in form
    assert "Cet accusé ne vaut pas décision" in form  # the default text, to start from
    # a receipt quotes no decision: {montant} and {deliberation} are refused, with the fields it may use
    refused = client.post(f"/admin/appels/{call.reference}/lettres/receipt",
                          data={"body": "Reçu {reference} : {montant}, délibération {deliberation}"})
    assert refused.status_code == 422
    html = unescape(refused.get_data(as_text=True))
    assert "Champ(s) inconnu(s) : {montant}, {deliberation}" in html and "{montant_demande}" in html
    assert session.query(LetterTemplate).count() == 0
    body = "Nous avons reçu le dossier {reference} de {organisation} ({montant_demande} demandés) le {date_depot}."
    assert client.post(f"/admin/appels/{call.reference}/lettres/receipt", data={"body": body}).status_code == 302
    session.expire_all()
    row = session.query(LetterTemplate).one()
    assert (row.kind, row.body) == ("receipt", body)
    text = flat(render_receipt(session, session.get(Application, application.id)))
    assert f"Nous avons reçu le dossier {application.reference} de Atelier Ça Va (12 345,00 € demandés) le" in text
    assert "Cet accusé ne vaut pas décision" not in text
    assert "Pièces jointes" in text  # the structured parts stay


def test_admin_edits_the_ineligibility_text_and_the_reasons_stay(app, session):
    from app.documents import render_ineligibility_letter

    application = decided(session, state="ineligible", number="CP-2026-11-0050")
    admin = make_user(session, "admin")
    with pytest.raises(LetterTextError) as exc:
        save_letter_text(session, application.call_id, "ineligibility", "Décision {deliberation} : {motif}", admin)
    assert "{deliberation}" in exc.value.message and "{motif}" in exc.value.message
    with pytest.raises(LetterTextError):
        save_letter_text(session, application.call_id, "ineligibility", "Accolade {reference", admin)
    assert session.query(LetterTemplate).count() == 0
    save_letter_text(session, application.call_id, "ineligibility",
                     "Le projet « {titre} » ({reference}) n'est pas éligible à l'appel « {appel} ».", admin)
    audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                 action="transition:declare_ineligible", reason="L'entreprise n'est pas établie en Grand Est.")
    text = flat(render_ineligibility_letter(session, application))
    assert (f"Le projet « Vision industrielle » ({application.reference}) n'est pas éligible à l'appel "
            f"« {application.call.title} »") in text
    assert "Il ne peut donc pas être instruit" not in text
    assert "L'entreprise n'est pas établie en Grand Est." in text and "tribunal administratif de Strasbourg" in text


def test_a_refusal_without_a_recorded_reason_points_to_the_committee_opinion_once(session):
    import re

    from app.models import LetterTemplate

    application = decided(session, state="rejected", number="CP-2026-11-0047")
    text = flat(render_decision_letter(session, application))
    assert "Motifs : voir l'avis de la commission joint à votre dossier." in text
    assert text.count("Motifs") == 1 and not re.search(r"Motifs : *(Voies|Motifs|$)", text)
    # a call's own text without {motifs}: the pointer is added after it
    session.add(LetterTemplate(call_id=application.call_id, kind="decision_refusal",
                               body="Madame, Monsieur,\n\nVotre projet {titre} n'a pas été retenu."))
    session.flush()
    text = flat(render_decision_letter(session, application))
    assert "n'a pas été retenu. Motifs : voir l'avis de la commission" in text
