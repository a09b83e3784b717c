"""Agreements and payments: the schedule's caps (advance 30/60 %, cumulated
80/90 %, balance capped by the commitment and decommitting the rest),
idempotent retries, reversal, the workflow's guards, and access."""

from __future__ import annotations

import io
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app import ledger
from app.ledger.payment_rules import Schedule, months_between
from app.models import Agreement, Application, AuditEntry, LedgerEntry, PaymentRequest, utcnow
from app.operations import payments
from app.operations.payments import PaymentRefused
from app.operations.transitions import TransitionRefused, transition
from tests.factories import make_application, make_call, make_organisation, make_user
from tests.journey import make_pdf


def paris_today() -> date:
    """Today in Europe/Paris, as the application dates what it records (a day ahead of UTC's late at night)."""
    return utcnow().astimezone(ZoneInfo("Europe/Paris")).date()


COMMITTED = 40_000_00  # 40,000 € in cents


def plain(message: str) -> str:
    return message.replace("\u202f", " ").replace("\xa0", " ")


def proof(name: str = "facture.pdf") -> FileStorage:
    return FileStorage(stream=io.BytesIO(make_pdf("Facture")), filename=name, content_type="application/pdf")


def file_at_agreement(session, *, amount=COMMITTED):
    call = make_call(session, budget_cents=1_000_000_00, max_aid_cents=100_000_00)
    owner = make_user(session, "applicant")
    application = make_application(session, call, make_organisation(session, owner), state="agreement",
                                   amount_cents=amount)
    application.proposed_amount_cents = application.awarded_amount_cents = amount
    application.decided_on = date.today()
    ledger.reserve(session, application, amount, year=date.today().year, idempotency_key=f"t:{application.id}:r",
                   actor=None, regime=call.aid_regime)
    session.flush()
    return application, owner


def signed_file(session, *, guarantee=False, rate_bp=5000, costs=80_000_00):
    application, owner = file_at_agreement(session)
    finance = make_user(session, "finance")
    payments.sign_agreement(session, application, signed_on=date.today(), aid_rate_bp=rate_bp,
                            eligible_costs_cents=costs, bank_guarantee=guarantee, actor=finance)
    session.flush()
    return application, owner, finance


def paid(session, application) -> int:
    session.expire_all()
    return ledger.file_balance(session, application).paid_cents


def test_schedule_rules_as_plain_values():
    s = Schedule(100_000, 5000, 3000, 8000, 9000, 48)
    assert s.advance_cap() == 30_000
    assert s.cumulative_cap(date(2026, 1, 15), date(2030, 1, 14)) == 80_000
    assert s.cumulative_cap(date(2026, 1, 15), date(2030, 1, 15)) == 90_000  # 48 months to the day
    assert s.interim_max(120_000, 30_000, None, date(2026, 6, 1)) == 30_000   # 50 % of 120,000 − 30,000
    assert s.interim_max(400_000, 30_000, None, date(2026, 6, 1)) == 50_000   # 80 % cap
    assert s.balance(150_000, 80_000) == (0, 20_000)       # 75,000 due, 80,000 already paid: nothing more
    assert s.balance(180_000, 80_000) == (10_000, 10_000)
    assert s.balance(500_000, 80_000) == (20_000, 0)       # capped by the commitment
    assert months_between(date(2026, 1, 31), date(2026, 2, 28)) == 0
    assert months_between(date(2026, 1, 31), date(2026, 3, 1)) == 1


def test_signing_records_the_agreement_and_commits_through_the_transition(session):
    application, _ = file_at_agreement(session)
    finance = make_user(session, "finance")
    with pytest.raises(TransitionRefused):
        transition(session, application, "sign_agreement", actor=finance, role="finance")
    payments.sign_agreement(session, application, signed_on=date.today(), aid_rate_bp=5000,
                            eligible_costs_cents=80_000_00, bank_guarantee=False, actor=finance)
    session.commit()
    assert application.state == "payments"
    balance = ledger.file_balance(session, application)
    assert (balance.reserved_cents, balance.committed_cents) == (0, COMMITTED)
    agreement = payments.agreement_of(session, application)
    assert (agreement.advance_share_bp, agreement.interim_cap_bp, agreement.long_interim_cap_bp) == (3000, 8000, 9000)
    actions = set(session.execute(select(AuditEntry.action).where(AuditEntry.object_id == application.reference)).scalars())
    assert {"record_agreement", "transition:sign_agreement"} <= actions


def test_an_agreement_whose_rate_does_not_cover_the_commitment_is_refused(session):
    application, _ = file_at_agreement(session)
    finance = make_user(session, "finance")
    with pytest.raises(PaymentRefused, match="dépasse le taux d'aide"):
        payments.sign_agreement(session, application, signed_on=date.today(), aid_rate_bp=2500,
                                eligible_costs_cents=80_000_00, bank_guarantee=False, actor=finance)
    assert session.execute(select(func.count(Agreement.id))).scalar_one() == 0
    assert application.state == "agreement"


@pytest.mark.parametrize(("guarantee", "share"), [(False, 30), (True, 60)])
def test_advance_is_capped_at_30_or_60_percent(session, guarantee, share):
    application, owner, finance = signed_file(session, guarantee=guarantee)
    cap = COMMITTED * share // 100
    with pytest.raises(PaymentRefused) as refused:
        payments.file_request(session, application, kind="advance", user=owner, requested_cents=cap + 1)
    assert f"plafonnée à {share} %" in plain(refused.value.message)
    request = payments.file_request(session, application, kind="advance", user=owner)
    assert request.requested_cents == cap
    assert application.work_started_on == paris_today()
    payments.validate_request(session, request, actor=finance)
    payments.pay_request(session, request, actor=finance)
    session.commit()
    assert paid(session, application) == cap
    with pytest.raises(PaymentRefused, match="premier versement"):
        payments.file_request(session, application, kind="advance", user=owner)


def test_interim_payments_are_capped_at_80_percent_cumulated_then_90_after_48_months(session):
    application, owner, finance = signed_file(session)
    advance = payments.file_request(session, application, kind="advance", user=owner)
    payments.validate_request(session, advance, actor=finance)
    payments.pay_request(session, advance, actor=finance)
    # 50 % of 70,000 € = 35,000 €, capped at 80 % of 40,000 € = 32,000 €; 12,000 € paid already
    with pytest.raises(PaymentRefused) as refused:
        payments.file_request(session, application, kind="interim", user=owner, expenses=[("Prestation", 70_000_00)],
                              proofs=[proof()], requested_cents=20_000_01)
    assert "plafonnés à 80 %" in plain(refused.value.message)
    interim = payments.file_request(session, application, kind="interim", user=owner,
                                    expenses=[("Prestation", 50_000_00), ("Matériel", 20_000_00)], proofs=[proof()])
    assert interim.requested_cents == 20_000_00
    assert len(payments.proofs_of(session, interim)) == 1
    payments.validate_request(session, interim, actor=finance)
    payments.pay_request(session, interim, actor=finance)
    assert paid(session, application) == 32_000_00
    with pytest.raises(PaymentRefused, match="plafond est déjà atteint"):
        payments.file_request(session, application, kind="interim", user=owner, expenses=[("Suite", 78_000_00)],
                              proofs=[proof()])
    application.work_started_on = date.today() - timedelta(days=49 * 31)  # past 48 months: 90 %
    late = payments.file_request(session, application, kind="interim", user=owner, expenses=[("Suite", 78_000_00)],
                                 proofs=[proof()])
    assert late.requested_cents == 4_000_00
    session.commit()


def test_balance_pays_rate_times_accepted_costs_and_decommits_the_rest_then_close_passes(session):
    application, owner, finance = signed_file(session)
    advance = payments.file_request(session, application, kind="advance", user=owner)
    payments.validate_request(session, advance, actor=finance)
    payments.pay_request(session, advance, actor=finance)
    with pytest.raises(TransitionRefused):
        transition(session, application, "close", actor=finance, role="finance")
    balance = payments.file_request(session, application, kind="balance", user=owner,
                                    expenses=[("Dépenses réelles", 60_000_00)], proofs=[proof(), proof("b.pdf")])
    assert balance.requested_cents == 18_000_00  # 50 % × 60,000 € − 12,000 € paid
    assert application.work_completed_on == paris_today()
    with pytest.raises(PaymentRefused, match="motif de la réduction"):
        payments.validate_request(session, balance, actor=finance, accepted_costs_cents=50_000_00)
    payments.validate_request(session, balance, actor=finance, accepted_costs_cents=50_000_00,
                              reason="Facture hors période")
    assert balance.accepted_cents == 13_000_00
    payments.pay_request(session, balance, actor=finance)
    session.commit()
    totals = ledger.file_balance(session, application)
    assert (totals.committed_cents, totals.paid_cents) == (25_000_00, 25_000_00)  # 15,000 € decommitted
    assert balance.decommit_cents == 15_000_00
    transition(session, application, "close", actor=finance, role="finance")
    session.commit()
    assert application.state == "closed"
    assert ledger.check_totals(session) == [] and ledger.check_entries(session) == []


def test_balance_is_capped_by_the_commitment(session):
    application, owner, finance = signed_file(session)
    balance = payments.file_request(session, application, kind="balance", user=owner,
                                    expenses=[("Dépenses réelles", 200_000_00)], proofs=[proof()])
    assert balance.requested_cents == COMMITTED
    payments.validate_request(session, balance, actor=finance)
    payments.pay_request(session, balance, actor=finance)
    session.commit()
    assert paid(session, application) == COMMITTED
    assert balance.decommit_entry_id is None and balance.decommit_cents == 0


def test_paying_twice_pays_once_and_a_reversal_restores_the_totals(session):
    application, owner, finance = signed_file(session)
    request = payments.file_request(session, application, kind="advance", user=owner)
    payments.validate_request(session, request, actor=finance)
    payments.pay_request(session, request, actor=finance)
    payments.pay_request(session, request, actor=finance)  # a retried request
    session.commit()
    assert paid(session, application) == 12_000_00
    assert session.execute(select(func.count(LedgerEntry.id)).where(LedgerEntry.operation == "pay")).scalar_one() == 1
    with pytest.raises(PaymentRefused, match="motif"):
        payments.reverse_payment(session, request, actor=finance, reason=" ")
    payments.reverse_payment(session, request, actor=finance, reason="Virement sur un mauvais compte")
    session.commit()
    assert paid(session, application) == 0
    assert request.status == "reversed"
    assert session.execute(select(LedgerEntry.reverses_id).where(LedgerEntry.operation == "reversal")).scalar() == request.pay_entry_id
    again = payments.file_request(session, application, kind="advance", user=owner)  # the applicant files again
    assert again.requested_cents == 12_000_00
    assert ledger.check_totals(session) == []


def test_one_request_at_a_time_and_only_after_signature(session):
    application, owner = file_at_agreement(session)
    with pytest.raises(PaymentRefused, match="convention signée"):
        payments.file_request(session, application, kind="advance", user=owner)
    finance = make_user(session, "finance")
    payments.sign_agreement(session, application, signed_on=date.today(), aid_rate_bp=5000,
                            eligible_costs_cents=80_000_00, bank_guarantee=False, actor=finance)
    payments.file_request(session, application, kind="advance", user=owner)
    with pytest.raises(PaymentRefused, match="déjà en cours"):
        payments.file_request(session, application, kind="interim", user=owner, expenses=[("x", 1_000_00)],
                              proofs=[proof()])
    with pytest.raises(PaymentRefused, match="justificatif"):
        payments.file_request(session, application, kind="interim", user=owner, expenses=[("x", 1_000_00)])


def test_rejecting_a_balance_reopens_the_completion(session):
    application, owner, finance = signed_file(session)
    balance = payments.file_request(session, application, kind="balance", user=owner,
                                    expenses=[("Dépenses", 10_000_00)], proofs=[proof()],
                                    started_on=date.today() - timedelta(days=90),
                                    completed_on=date.today() - timedelta(days=1))
    assert application.work_completed_on == date.today() - timedelta(days=1)
    payments.reject_request(session, balance, actor=finance, reason="Rapport final incomplet")
    assert balance.status == "rejected" and application.work_completed_on is None
    with pytest.raises(PaymentRefused, match="validée"):
        payments.pay_request(session, balance, actor=finance)
