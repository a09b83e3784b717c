"""The envelopes page: finance sets an axis budget, a call budget, a yearly
ceiling and a year's payment credits; each change goes through the ledger
(refused below what is held, audited) and binds the next operations."""

from __future__ import annotations

import html

from sqlalchemy import func, select

from app import ledger
from app.models import AuditEntry, Call, LedgerAccount, Plan
from tests.factories import login, make_organisation, make_user
from tests.test_ledger import K, World, plain, reserve


def page(client, path, **data):
    response = client.post(path, data=data) if data else client.get(path)
    return response.status_code, plain(html.unescape(response.get_data(as_text=True)))


def test_finance_lists_every_envelope_and_caps_an_axis(client, session):
    w = World(session)
    application = w.file()
    reserve(w, application, 40 * K, regime="gber:25")
    session.commit()
    login(client, w.finance.email)

    status, body = page(client, "/finances/enveloppes/")
    assert status == 200
    for text in ("Plan IA test", "Année 2025", "Année 2029", "Axe 1 — Compétitivité", w.call.reference,
                 "non votés", "sans plafond"):
        assert text in body, text

    # Below what the axis already holds: refused, nothing changed.
    status, body = page(client, f"/finances/enveloppes/axis:{w.axis.id}", limit="39 999,99", reason="Budget de l'axe")
    assert status == 422 and "déjà 40 000,00 € réservés ou engagés" in body
    session.expire_all()
    assert session.execute(select(LedgerAccount.limit_cents).where(LedgerAccount.key == f"axis:{w.axis.id}")).scalar_one() is None

    status, _body = page(client, f"/finances/enveloppes/axis:{w.axis.id}", limit="50 000,00", reason="Délibération 2026-12")
    assert status == 303
    session.expire_all()
    assert session.execute(select(LedgerAccount.limit_cents).where(LedgerAccount.key == f"axis:{w.axis.id}")).scalar_one() == 50 * K
    audit = session.execute(select(AuditEntry).where(AuditEntry.action == "ledger_set_limit")).scalar_one()
    assert (audit.actor_id, audit.actor_role, audit.reason) == (w.finance.id, "finance", "Délibération 2026-12")
    # The cap binds the next reservation.
    other = w.file(make_organisation(session, make_user(session)))
    session.commit()
    try:
        reserve(w, other, 10 * K + 1, regime="gber:25")
    except ledger.LedgerRefused as refused:
        assert refused.envelope == "axis"
    else:
        raise AssertionError("the axis budget did not bind")
    session.rollback()

    # An axis may go back to uncapped; a reason is required.
    status, body = page(client, f"/finances/enveloppes/axis:{w.axis.id}", limit="", reason="")
    assert status == 422 and "Ce champ est obligatoire" in body
    assert page(client, f"/finances/enveloppes/axis:{w.axis.id}", limit="", reason="Retour au plafond du plan")[0] == 303
    session.expire_all()
    assert session.execute(select(LedgerAccount.limit_cents).where(LedgerAccount.key == f"axis:{w.axis.id}")).scalar_one() is None


def test_a_call_budget_and_a_plan_envelope_are_kept_on_the_call_and_the_plan(client, session):
    w = World(session)
    session.commit()
    login(client, w.finance.email)
    assert page(client, f"/finances/enveloppes/call:{w.call.id}", limit="1 500 000", reason="Budget révisé")[0] == 303
    assert page(client, f"/finances/enveloppes/plan:{w.plan.id}", limit="300 000 000", reason="Plan révisé")[0] == 303
    session.expire_all()
    assert session.get(Call, w.call.id).budget_cents == 1_500_000 * 100
    assert session.get(Plan, w.plan.id).envelope_cents == 300_000_000 * 100
    keys = {f"call:{w.call.id}": 1_500_000 * 100, f"plan:{w.plan.id}": 300_000_000 * 100}
    for key, limit in keys.items():
        assert session.execute(select(LedgerAccount.limit_cents).where(LedgerAccount.key == key)).scalar_one() == limit
    # Only an axis may be uncapped; bad amounts are refused in French.
    status, body = page(client, f"/finances/enveloppes/call:{w.call.id}", limit="", reason="x")
    assert status == 422 and "seul un axe peut rester sans plafond" in body
    status, body = page(client, f"/finances/enveloppes/call:{w.call.id}", limit="12,345", reason="x")
    assert status == 422 and "s'arrête aux centimes" in body
    assert page(client, "/finances/enveloppes/file:1")[0] == 404
    assert page(client, "/finances/enveloppes/call:999999")[0] == 404


def test_payment_credits_of_a_year_through_the_page(client, session):
    w = World(session)
    application = w.file()
    reserve(w, application, 10 * K)
    ledger.commit(session, application, 10 * K, year=2026, idempotency_key="c", actor=w.finance)
    ledger.pay(session, application, 4 * K, kind="advance", year=2027, idempotency_key="p", actor=w.finance)
    session.commit()
    login(client, w.finance.email)
    key = f"year:{w.plan.id}:2027"
    status, body = page(client, f"/finances/enveloppes/{key}", limit="70 000 000", credits="3 999,99", reason="BP 2027")
    assert status == 422 and "l'année 2027 a déjà versé 4 000,00 €" in body
    status, _ = page(client, f"/finances/enveloppes/{key}", limit="70 000 000", credits="5 000", reason="BP 2027")
    assert status == 303
    session.expire_all()
    account = session.execute(select(LedgerAccount).where(LedgerAccount.key == key)).scalar_one()
    assert account.credit_cents == 5 * K
    status, body = page(client, "/finances/")
    assert "Versements de l'année et crédits de paiement" in body and "1 000,00 €" in body  # credits left in 2027
    try:
        ledger.pay(session, application, 1 * K + 1, kind="interim", year=2027, idempotency_key="p2", actor=w.finance)
    except ledger.LedgerRefused as refused:
        assert refused.envelope == "credits"
    else:
        raise AssertionError("the payment credits did not bind")


def test_only_finance_in_charge_of_every_call_sets_envelopes(client, session):
    w = World(session)
    scoped = make_user(session, ("finance", w.call.id))
    applicant = make_user(session)
    admin = make_user(session, "admin")
    session.commit()
    for user, expected in ((scoped, 403), (applicant, 403), (admin, 200)):
        client.post("/deconnexion")
        login(client, user.email)
        assert page(client, "/finances/enveloppes/")[0] == expected, user.email
        assert page(client, f"/finances/enveloppes/axis:{w.axis.id}")[0] == expected, user.email
    client.post("/deconnexion")
    login(client, scoped.email)
    assert page(client, f"/finances/enveloppes/axis:{w.axis.id}", limit="1", reason="x")[0] == 403
    assert session.execute(select(func.count(AuditEntry.id)).where(AuditEntry.action == "ledger_set_limit")).scalar_one() == 0
