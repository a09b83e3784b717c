"""The « Versements » pages: the applicant files a request, finance records
the agreement, validates and pays; who may do what (another organisation,
other roles); co-financing and the leverage page.

Like tests/test_access.py, the database is read only inside short
application contexts (``in_db``): a test-wide context would make every
client share Flask-Login's cached user."""

from __future__ import annotations

import io
from contextlib import contextmanager
from datetime import date

from sqlalchemy import select

from app import ledger
from app.extensions import db
from app.models import Agreement, Application, AuditEntry, CoFinancing, PaymentRequest
from app.operations import payments
from app.operations.cofinancing import leverage
from tests.factories import login, make_application, make_call, make_organisation, make_user
from tests.journey import make_pdf

AMOUNT = 40_000_00


@contextmanager
def in_db(app):
    with app.app_context():
        yield db.session
        db.session.commit()


def _setup(app, state="agreement"):
    with in_db(app) as s:
        call = make_call(s, budget_cents=1_000_000_00, max_aid_cents=100_000_00)
        owner = make_user(s, "applicant")
        other = make_user(s, "applicant")
        make_organisation(s, other)
        finance = make_user(s, "finance")
        instructor = make_user(s, "instructor")
        application = make_application(s, call, make_organisation(s, owner), state="agreement", amount_cents=AMOUNT)
        application.proposed_amount_cents = application.awarded_amount_cents = AMOUNT
        application.decided_on = date.today()
        ledger.reserve(s, application, AMOUNT, year=date.today().year, idempotency_key=f"p:{application.id}",
                       actor=None, regime=call.aid_regime)
        if state == "payments":
            payments.sign_agreement(s, application, signed_on=date.today(), aid_rate_bp=5000,
                                    eligible_costs_cents=80_000_00, bank_guarantee=False, actor=finance)
        return {"ref": application.reference, "owner": owner.email, "other": other.email, "finance": finance.email,
                "instructor": instructor.email, "id": application.id}


def client_for(app, email):
    client = app.test_client()
    assert login(client, email).status_code in (302, 303)
    return client


def test_finance_records_the_agreement_through_the_page(app):
    ids = _setup(app)
    finance = client_for(app, ids["finance"])
    page = finance.get(f"/versements/conventions/{ids['ref']}")
    assert page.status_code == 200 and "Enregistrer la convention signée" in page.get_data(as_text=True)
    bad = finance.post(f"/versements/conventions/{ids['ref']}", data={
        "signed_on": date.today().isoformat(), "aid_rate": "150", "eligible_costs_cents": "80 000,00"})
    assert bad.status_code == 422 and "compris entre 0,01 et 100" in bad.get_data(as_text=True)
    response = finance.post(f"/versements/conventions/{ids['ref']}", data={
        "signed_on": date.today().isoformat(), "aid_rate": "50", "eligible_costs_cents": "80 000,00"})
    assert response.status_code == 303
    with in_db(app) as s:
        application = s.get(Application, ids["id"])
        assert application.state == "payments"
        assert s.execute(select(Agreement)).scalar_one().aid_rate_bp == 5000
        assert ledger.file_balance(s, application).committed_cents == AMOUNT


def test_applicant_files_finance_validates_and_pays(app):
    ids = _setup(app, "payments")
    owner = client_for(app, ids["owner"])
    page = owner.get(f"/versements/dossiers/{ids['ref']}")
    assert page.status_code == 200 and "Demander un versement" in page.get_data(as_text=True)
    refused = owner.post(f"/versements/dossiers/{ids['ref']}/demandes", data={"kind": "advance",
                                                                             "requested_cents": "20 000"},
                         follow_redirects=True)
    assert "plafonnée à 30" in refused.get_data(as_text=True).replace("\u202f", " ").replace("\xa0", " ")
    bad_lines = owner.post(f"/versements/dossiers/{ids['ref']}/demandes", data={"kind": "interim",
                                                                               "expenses": "sans montant"})
    assert bad_lines.status_code == 422 and "libellé ; montant" in bad_lines.get_data(as_text=True)
    response = owner.post(f"/versements/dossiers/{ids['ref']}/demandes", data={
        "kind": "advance", "started_on": date.today().isoformat(),
        "proofs": [(io.BytesIO(make_pdf("devis")), "devis.pdf")]}, content_type="multipart/form-data")
    assert response.status_code == 303
    with in_db(app) as s:
        request = s.execute(select(PaymentRequest)).scalar_one()
        request_id, proof = request.id, payments.proofs_of(s, request)[0].id
        assert request.requested_cents == 12_000_00
    assert owner.get(f"/versements/dossiers/{ids['ref']}/justificatifs/{proof}").status_code == 200

    # Nobody else files, validates or pays.
    other = client_for(app, ids["other"])
    assert other.get(f"/versements/dossiers/{ids['ref']}").status_code == 404
    assert other.post(f"/versements/dossiers/{ids['ref']}/demandes", data={"kind": "advance"}).status_code == 404
    assert other.get(f"/versements/dossiers/{ids['ref']}/justificatifs/{proof}").status_code == 404
    assert owner.post(f"/versements/demandes/{request_id}/valider").status_code == 403
    assert owner.get("/versements/").status_code == 403
    instructor = client_for(app, ids["instructor"])
    assert instructor.post(f"/versements/demandes/{request_id}/payer").status_code == 403
    assert instructor.get(f"/versements/demandes/{request_id}").status_code == 403

    finance = client_for(app, ids["finance"])
    queue = finance.get("/versements/").get_data(as_text=True)
    assert ids["ref"] in queue
    assert finance.get(f"/versements/dossiers/{ids['ref']}/justificatifs/{proof}").status_code == 200
    assert finance.post(f"/versements/demandes/{request_id}/payer").status_code == 303  # not validated: refused
    with in_db(app) as s:
        assert s.get(PaymentRequest, request_id).status == "filed"
    reduced = finance.post(f"/versements/demandes/{request_id}/valider",
                           data={"validate-accepted_cents": "10 000"}, follow_redirects=True)
    assert "motif de la réduction" in reduced.get_data(as_text=True)
    finance.post(f"/versements/demandes/{request_id}/valider",
                 data={"validate-accepted_cents": "10 000", "validate-reason": "Garantie manquante"})
    finance.post(f"/versements/demandes/{request_id}/payer")
    finance.post(f"/versements/demandes/{request_id}/payer")  # a double click pays once
    with in_db(app) as s:
        application = s.get(Application, ids["id"])
        assert ledger.file_balance(s, application).paid_cents == 10_000_00
        actions = [a for a in s.execute(select(AuditEntry.action).where(AuditEntry.object_id == ids["ref"])).scalars()]
        assert actions.count("pay_payment_request") == 1 and "validate_payment_request" in actions
        assert s.get(PaymentRequest, request_id).status == "paid"
    detail = finance.get(f"/versements/dossiers-finances/{ids['ref']}").get_data(as_text=True)
    assert "Grand livre du dossier" in detail and "Payée" in detail
    assert "Payée" in owner.get(f"/versements/dossiers/{ids['ref']}").get_data(as_text=True)


def test_cofinancing_page_and_leverage(app):
    ids = _setup(app, "payments")
    finance = client_for(app, ids["finance"])
    form = finance.get(f"/versements/cofinancement/{ids['ref']}")
    assert form.status_code == 200 and "40 000,00" in form.get_data(as_text=True).replace("\u202f", " ")
    response = finance.post(f"/versements/cofinancement/{ids['ref']}", data={
        "region": "40 000", "feder": "100 000", "etat": "", "industriel": "140 000,50", "academique": "0"})
    assert response.status_code == 303
    with in_db(app) as s:
        application = s.get(Application, ids["id"])
        rows = dict(s.execute(select(CoFinancing.funder, CoFinancing.amount_cents)).all())
        assert rows == {"region": 40_000_00, "feder": 100_000_00, "industriel": 140_000_50, "academique": 0}
        lev = leverage(s, "call", application.call_id)
        assert (lev.region_cents, lev.others_cents, str(lev.ratio), lev.meets_target) == (40_000_00, 240_000_50, "6.00", True)
        plan_id = application.call.axis.plan_id
        assert leverage(s, "plan", plan_id).ratio == lev.ratio
        assert leverage(s, "axis", application.call.axis_id).files == 1
    page = finance.get("/versements/effet-levier").get_data(as_text=True)
    assert "Effet de levier" in page and "atteinte" in page
    applicant = client_for(app, ids["owner"])
    assert applicant.get("/versements/effet-levier").status_code == 403
    assert applicant.post(f"/versements/cofinancement/{ids['ref']}", data={"region": "1"}).status_code == 403


def test_admin_edits_the_aid_regime_of_a_call_and_reservations_record_it(app):
    with in_db(app) as s:
        call = make_call(s)
        admin = make_user(s, "admin")
        finance = make_user(s, "finance")
        ref, admin_email, finance_email = call.reference, admin.email, finance.email
    page = client_for(app, admin_email)
    assert page.get(f"/admin/appels/{ref}/regime-aide").status_code == 200
    bad = page.post(f"/admin/appels/{ref}/regime-aide", data={"aid_regime": "gber"})
    assert bad.status_code == 422 and "Régime d&#39;aide invalide" in bad.get_data(as_text=True)
    # The call's grid (Pack IA) computes a de minimis aid: a GBER regime needs a GBER grid with it.
    mismatch = page.post(f"/admin/appels/{ref}/regime-aide", data={"aid_regime": "gber:28"})
    assert mismatch.status_code == 422 and "doivent concorder" in mismatch.get_data(as_text=True)
    assert page.post(f"/admin/appels/{ref}/regime-aide",
                     data={"aid_regime": "gber:25", "grid_name": "ami_numerique"}).status_code == 303
    assert client_for(app, finance_email).post(f"/admin/appels/{ref}/regime-aide",
                                                data={"aid_regime": "de_minimis"}).status_code == 403
    with in_db(app) as s:
        from app.models import Call

        call = s.execute(select(Call).where(Call.reference == ref)).scalar_one()
        assert (call.aid_regime, call.grid_name) == ("gber:25", "ami_numerique")
        assert s.execute(select(AuditEntry.action).where(AuditEntry.object_id == ref)).scalars().all() == ["set_aid_regime"]
        application = make_application(s, call, make_organisation(s, make_user(s)), state="committee")
        application.proposed_amount_cents = 10_000_00
        from app.operations.transitions import _ledger_reserve

        _ledger_reserve(s, application, {}, None, "committee")
        assert ledger.entries_of(s, application)[0].regime == "gber:25"


def test_the_aid_regime_check_constraint_holds_in_the_database(app):
    import pytest
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        call = make_call(db.session)
        call.aid_regime = "aucun"
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_demo_shows_payments_at_several_stages(app):
    from app.operations.demo import seed_demo

    with in_db(app) as s:
        seed_demo(s)
    with in_db(app) as s:
        statuses = set(s.execute(select(PaymentRequest.kind + ":" + PaymentRequest.status)).scalars())
        assert {"advance:paid", "interim:filed", "balance:paid"} <= statuses
        assert s.execute(select(Application.state).where(Application.state == "agreement")).first()
        assert ledger.check_totals(s) == [] and ledger.check_entries(s) == []
    client = app.test_client()
    login(client, "demo-finance@guichet.test", "demo")
    queue = client.get("/versements/").get_data(as_text=True)
    assert "Acompte" in queue and "Conventions à enregistrer" in queue
    page = client.get("/versements/effet-levier").get_data(as_text=True)
    assert "Plan régional Intelligence artificielle Grand Est" in page
