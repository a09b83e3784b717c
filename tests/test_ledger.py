"""The ledger: each operation on every account of the chain, refusals at each
cap with nothing written, idempotency, reversals, the database's own guards
(CHECK constraints, append-only triggers) and the totals check."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from app import ledger
from app.ledger import rules
from app.ledger.cli import ledger_group
from app.ledger.demo import seed_ledger
from app.models import (Application, AuditEntry, Axis, LedgerAccount, LedgerEntry, LedgerLeg, Organisation, Plan)
from app.operations.demo import EURO, MILLION, make_siret
from tests.factories import make_application, make_call, make_organisation, make_user

K = 1000 * EURO  # a thousand euros, in cents
_keys = itertools.count(1)


def plain(message: str) -> str:
    """French money uses narrow and no-break spaces: compare with plain ones."""
    return message.replace("\u202f", " ").replace("\xa0", " ")


class World:
    """A plan (2025–2029) with one axis, one call and files, built per test."""

    def __init__(self, session, *, envelope=350 * MILLION, ceiling=70 * MILLION, budget=2 * MILLION, max_aid=None):
        self.session = session
        self.plan = Plan(name="Plan IA test", start_year=2025, years=5, envelope_cents=envelope,
                         yearly_ceiling_cents=ceiling)
        self.axis = Axis(plan=self.plan, number=1, title="Compétitivité")
        session.add_all([self.plan, self.axis])
        session.flush()
        self.call = make_call(session, budget_cents=budget, max_aid_cents=max_aid)
        self.finance = make_user(session, "finance")
        self.org = make_organisation(session, make_user(session))

    def file(self, org=None, *, declared=None, amount=10 * K, call=None) -> Application:
        application = make_application(self.session, call or self.call, org or self.org, state="committee",
                                        amount_cents=amount)
        if declared is not None:
            application.answers = {ledger.DE_MINIMIS_ANSWER_KEY: declared}
            self.session.flush()
        return application

    def account(self, key: str) -> LedgerAccount:
        self.session.expire_all()
        return self.session.execute(select(LedgerAccount).where(LedgerAccount.key == key)).scalar_one()

    def totals(self, key: str) -> tuple[int, int, int]:
        a = self.account(key)
        return a.reserved_cents, a.committed_cents, a.paid_cents

    def snapshot(self) -> dict:
        self.session.expire_all()
        s = self.session
        return {
            "accounts": sorted(s.execute(select(LedgerAccount.key, LedgerAccount.reserved_cents, LedgerAccount.committed_cents,
                                                LedgerAccount.paid_cents, LedgerAccount.limit_cents)).all()),
            "entries": s.execute(select(func.count(LedgerEntry.id))).scalar_one(),
            "legs": s.execute(select(func.count(LedgerLeg.id))).scalar_one(),
            "audit": s.execute(select(func.count(AuditEntry.id))).scalar_one(),
        }

    def chain_keys(self, application, *years, undertaking=True) -> list[str]:
        keys = [f"plan:{self.plan.id}", *(f"year:{self.plan.id}:{y}" for y in years), f"axis:{self.axis.id}",
                f"call:{application.call_id}", f"file:{application.id}"]
        if undertaking:
            keys.append(f"undertaking:{application.organisation.siren}")
        return keys


def reserve(w: World, application, amount, *, year=2026, key=None, **kw):
    return ledger.reserve(w.session, application, amount, year=year, actor=w.finance, role="finance",
                          idempotency_key=key or f"reserve-{next(_keys)}", **kw)


# --- each operation on every account of the chain --------------------------------

def test_reserve_moves_every_account_of_the_chain_and_is_audited(session):
    w = World(session)
    application = w.file()
    entry = reserve(w, application, 10 * K, key="k-reserve")
    session.commit()

    for key in w.chain_keys(application, 2026):
        assert w.totals(key) == (10 * K, 0, 0), key
    assert session.execute(select(LedgerAccount).where(LedgerAccount.key == f"year:{w.plan.id}:2025")).first() is None
    assert entry.operation == "reserve" and entry.regime == "de_minimis" and entry.year == 2026
    assert entry.actor_id == w.finance.id and entry.actor_role == "finance"
    legs = session.execute(select(LedgerLeg).where(LedgerLeg.entry_id == entry.id)).scalars().all()
    assert len(legs) == 6 and {leg.field for leg in legs} == {"reserved"} and {leg.delta_cents for leg in legs} == {10 * K}
    row = session.execute(select(AuditEntry).where(AuditEntry.action == "ledger_reserve")).scalar_one()
    assert row.object_id == application.reference and row.actor_id == w.finance.id
    assert row.after["entry"] == entry.id and row.after["amount_cents"] == 10 * K
    assert ledger.check_totals(session) == [] and ledger.check_entries(session) == []


def test_gber_aid_does_not_touch_the_undertaking(session):
    w = World(session)
    application = w.file()
    entry = reserve(w, application, 10 * K, regime="gber:25")
    session.commit()
    assert entry.regime == "gber:25"
    assert session.execute(select(LedgerAccount).where(LedgerAccount.kind == "undertaking")).first() is None
    for key in w.chain_keys(application, 2026, undertaking=False):
        assert w.totals(key) == (10 * K, 0, 0)


def test_commit_moves_reservation_to_commitment_on_the_year_of_the_decision(session):
    w = World(session)
    application = w.file()
    reserve(w, application, 10 * K, year=2026)
    entry = ledger.commit(session, application, 8 * K, year=2027, idempotency_key="commit-1", actor=w.finance)
    session.commit()

    for key in w.chain_keys(application):
        assert w.totals(key) == (2 * K, 8 * K, 0), key
    # The reservation stays on 2026 for what is left; the commitment counts on 2027.
    assert w.totals(f"year:{w.plan.id}:2026") == (2 * K, 0, 0)
    assert w.totals(f"year:{w.plan.id}:2027") == (0, 8 * K, 0)
    assert entry.regime == "de_minimis"
    assert ledger.check_entries(session) == [] and ledger.check_totals(session) == []


def test_commit_beyond_the_reservation_is_refused(session):
    w = World(session)
    application = w.file()
    reserve(w, application, 10 * K)
    session.commit()
    before = w.snapshot()
    with pytest.raises(ledger.LedgerRefused) as refused:
        ledger.commit(session, application, 11 * K, year=2026, idempotency_key="too-much", actor=w.finance)
    assert "reste réservé" in refused.value.message and application.reference in refused.value.message
    session.commit()
    assert w.snapshot() == before


def test_commit_without_reservation_is_refused(session):
    w = World(session)
    application = w.file()
    with pytest.raises(ledger.LedgerRefused) as refused:
        ledger.commit(session, application, K, year=2026, idempotency_key="c", actor=w.finance)
    assert "Aucune aide n'a été réservée" in refused.value.message


def test_pay_is_reported_on_the_year_of_payment_and_never_exceeds_the_commitment(session):
    w = World(session)
    application = w.file()
    reserve(w, application, 10 * K, year=2026)
    ledger.commit(session, application, 10 * K, year=2026, idempotency_key="c", actor=w.finance)
    entry = ledger.pay(session, application, 3 * K, kind="advance", year=2027, idempotency_key="p1", actor=w.finance)
    session.commit()

    assert entry.payment_kind == "advance" and entry.year == 2027
    for key in w.chain_keys(application, undertaking=False):
        assert w.totals(key) == (0, 10 * K, 3 * K), key
    assert w.totals(f"year:{w.plan.id}:2026") == (0, 10 * K, 0)
    assert w.totals(f"year:{w.plan.id}:2027") == (0, 0, 3 * K)  # a year may pay more than it committed
    assert w.totals(f"undertaking:{w.org.siren}") == (0, 10 * K, 0)  # payments do not touch de minimis

    before = w.snapshot()
    with pytest.raises(ledger.LedgerRefused) as refused:
        ledger.pay(session, application, 7 * K + 1, kind="balance", year=2027, idempotency_key="p2", actor=w.finance)
    assert "Paiement refusé" in refused.value.message and refused.value.envelope == "file"
    session.commit()
    assert w.snapshot() == before
    ledger.pay(session, application, 7 * K, kind="balance", year=2028, idempotency_key="p3", actor=w.finance)
    session.commit()
    assert w.totals(f"file:{application.id}") == (0, 10 * K, 10 * K)
    assert ledger.check_entries(session) == [] and ledger.check_totals(session) == []


def test_release_and_decommit_take_amounts_back_from_where_they_sit(session):
    w = World(session)
    application = w.file()
    reserve(w, application, 6 * K, year=2025)
    reserve(w, application, 4 * K, year=2026)
    ledger.release(session, application, 5 * K, year=2026, idempotency_key="r1", actor=w.finance, reason="Refus partiel")
    session.commit()
    # 2026 first (4 k€), then 2025 for the rest.
    assert w.totals(f"year:{w.plan.id}:2026") == (0, 0, 0)
    assert w.totals(f"year:{w.plan.id}:2025") == (5 * K, 0, 0)
    for key in w.chain_keys(application):
        assert w.totals(key) == (5 * K, 0, 0), key

    ledger.commit(session, application, 5 * K, year=2026, idempotency_key="c", actor=w.finance)
    ledger.pay(session, application, 2 * K, kind="advance", year=2026, idempotency_key="p", actor=w.finance)
    before = w.snapshot()
    with pytest.raises(ledger.LedgerRefused) as refused:  # never below what was paid
        ledger.decommit(session, application, 3 * K + 1, idempotency_key="d-too-much", actor=w.finance)
    assert "engagé et non payé" in refused.value.message
    assert w.snapshot() == before
    entry = ledger.decommit(session, application, idempotency_key="d", actor=w.finance, reason="Sous-réalisation")
    session.commit()
    assert entry.amount_cents == 3 * K
    for key in w.chain_keys(application, undertaking=False):
        assert w.totals(key) == (0, 2 * K, 2 * K), key
    assert w.totals(f"year:{w.plan.id}:2026") == (0, 2 * K, 2 * K)
    assert w.totals(f"undertaking:{w.org.siren}") == (0, 2 * K, 0)
    assert ledger.decommit(session, application, idempotency_key="d-again", actor=w.finance) is None
    assert ledger.check_entries(session) == [] and ledger.check_totals(session) == []


def test_release_remaining_releases_and_decommits_and_is_a_noop_when_nothing_is_held(session):
    w = World(session)
    application = w.file()
    assert ledger.release_remaining(session, application, idempotency_key="x", actor=None) == []
    reserve(w, application, 10 * K)
    ledger.commit(session, application, 6 * K, year=2026, idempotency_key="c", actor=w.finance)
    ledger.pay(session, application, K, kind="advance", idempotency_key="p", actor=w.finance, year=2026)
    entries = ledger.release_remaining(session, application, idempotency_key="lapse", actor=None, reason="Caducité")
    session.commit()
    assert [(e.operation, e.amount_cents) for e in entries] == [("release", 4 * K), ("decommit", 5 * K)]
    assert w.totals(f"file:{application.id}") == (0, K, K)
    assert ledger.release_remaining(session, application, idempotency_key="lapse-2", actor=None) == []
    # A retry with the same key returns the same entries and changes nothing.
    again = ledger.release_remaining(session, application, idempotency_key="lapse", actor=None)
    assert [e.id for e in again] == [e.id for e in entries]
    assert w.totals(f"file:{application.id}") == (0, K, K)


# --- refusals at each cap, nothing written ----------------------------------------

def assert_refused(w: World, call, envelope: str, *phrases: str):
    w.session.commit()
    before = w.snapshot()
    with pytest.raises(ledger.LedgerRefused) as refused:
        call()
    assert refused.value.envelope == envelope
    for phrase in phrases:
        assert phrase in plain(refused.value.message), refused.value.message
    w.session.commit()  # even if the caller commits after the refusal, nothing was written
    assert w.snapshot() == before
    return refused.value


def test_plan_envelope_refuses(session):
    w = World(session, envelope=100 * K, ceiling=60 * K)
    reserve(w, w.file(), 60 * K, year=2025)
    reserve(w, w.file(), 40 * K, year=2026)
    last = w.file()
    assert_refused(w, lambda: reserve(w, last, 1, year=2027), "plan", "l'enveloppe du plan « Plan IA test »",
                   "disponible : 0,00")


def test_yearly_ceiling_refuses_and_the_next_year_accepts(session):
    w = World(session, ceiling=60 * K)
    reserve(w, w.file(), 50 * K, year=2026)
    other = w.file()
    assert_refused(w, lambda: reserve(w, other, 20 * K, year=2026), "year", "plafond annuel 2026",
                   "10 000,00")
    reserve(w, other, 20 * K, year=2027)
    session.commit()
    assert w.totals(f"year:{w.plan.id}:2027") == (20 * K, 0, 0)


def test_yearly_ceiling_applies_to_commitments_by_year_of_decision(session):
    w = World(session, ceiling=60 * K)
    first, second = w.file(), w.file()
    reserve(w, first, 50 * K, year=2026)
    reserve(w, second, 30 * K, year=2025)
    # Committing the 2025 reservation by a 2026 decision would put 80 k€ on 2026.
    assert_refused(w, lambda: ledger.commit(session, second, 30 * K, year=2026, idempotency_key="c2", actor=w.finance),
                   "year", "plafond annuel 2026")


def test_axis_limit_refuses(session):
    w = World(session)
    ledger.ensure_accounts(session, w.plan)
    ledger.set_limit(session, w.account(f"axis:{w.axis.id}"), 30 * K, actor=w.finance, role="finance")
    reserve(w, w.file(), 20 * K)
    other = w.file()
    assert_refused(w, lambda: reserve(w, other, 20 * K), "axis", "l'enveloppe de l'axe « Axe 1 — Compétitivité »")


def test_call_budget_refuses(session):
    w = World(session, budget=30 * K)
    reserve(w, w.file(), 25 * K)
    other = w.file()
    assert_refused(w, lambda: reserve(w, other, 5 * K + 1), "call", "le budget de l'appel", w.call.reference)
    reserve(w, other, 5 * K)
    session.commit()
    assert w.account(f"call:{w.call.id}").available_cents == 0


def test_maximum_aid_per_file_refuses(session):
    w = World(session, max_aid=10 * K)
    application = w.file()
    assert_refused(w, lambda: reserve(w, application, 10 * K + 1), "file", "plafond d'aide par dossier",
                   application.reference)


def test_de_minimis_ceiling_counts_declared_aid_and_other_establishments_and_refuses_entirely(session):
    w = World(session)
    # Another establishment (SIRET) of the same company (SIREN): the same single undertaking.
    siret = make_siret(int(w.org.siren[:8]), establishment=2)
    sister = Organisation(siret=siret, siren=siret[:9], name="Établissement secondaire", department="57")
    session.add(sister)
    session.flush()
    reserve(w, w.file(sister, declared=0), 100 * K, regime="de_minimis")
    application = w.file(declared=150 * K)
    # 100 k€ (Guichet) + 150 k€ (declared) + 50 k€ = exactly the ceiling: granted.
    # 50 k€ + 1 cent would cross it: refused entirely, not in part.
    refused = assert_refused(w, lambda: reserve(w, application, 50 * K + 1), "undertaking",
                             "plafond de minimis", w.org.siren, "ne peut pas être accordée en partie")
    assert "aides déclarées : 150 000,00 €" in plain(refused.message)
    assert "aides déjà accordées par Guichet : 100 000,00 €" in plain(refused.message)
    reserve(w, application, 50 * K)
    session.commit()
    assert w.totals(f"undertaking:{w.org.siren}") == (150 * K, 0, 0)
    assert ledger.de_minimis_counted(session, w.org.siren) == 150 * K
    # A GBER aid for the same company is not de minimis: not refused.
    reserve(w, w.file(), 10 * K, regime="gber:25")


def test_de_minimis_window_rolls_over_three_years(session):
    w = World(session, ceiling=350 * MILLION)
    old = w.file(declared=0)
    reserve(w, old, 250 * K, year=2025, on=date(2025, 3, 1))
    ledger.commit(session, old, 250 * K, year=2025, on=date(2025, 3, 1), idempotency_key="c-old", actor=w.finance)
    application = w.file(declared=0)
    assert_refused(w, lambda: reserve(w, application, 100 * K, year=2027, on=date(2027, 6, 1)), "undertaking",
                   "plafond de minimis")
    assert ledger.de_minimis_counted(session, w.org.siren, date(2028, 2, 28)) == 250 * K
    assert ledger.de_minimis_counted(session, w.org.siren, date(2028, 3, 1)) == 0
    reserve(w, application, 100 * K, year=2028, on=date(2028, 3, 2))
    session.commit()
    assert w.totals(f"undertaking:{w.org.siren}") == (100 * K, 250 * K, 0)


def test_year_outside_the_plan_and_bad_input_are_refused(session):
    w = World(session)
    application = w.file()
    with pytest.raises(ledger.LedgerRefused, match="hors de la période du plan"):
        reserve(w, application, K, year=2031)
    with pytest.raises(ledger.LedgerRefused, match="strictement positif"):
        reserve(w, application, 0)
    with pytest.raises(ledger.LedgerRefused, match="strictement positif"):
        reserve(w, application, 10.5)
    with pytest.raises(ledger.LedgerRefused, match="Régime d'aide inconnu"):
        reserve(w, application, K, regime="gber:")
    reserve(w, application, K, regime="gber:25")
    with pytest.raises(ledger.LedgerRefused, match="sous le régime gber:25"):
        reserve(w, application, K, regime="de_minimis")


def test_a_refusal_leaves_the_callers_earlier_work_in_place(session):
    w = World(session, budget=30 * K)
    first, second = w.file(), w.file()
    session.commit()
    reserve(w, first, 20 * K)  # not committed yet
    with pytest.raises(ledger.LedgerRefused):
        reserve(w, second, 20 * K)
    session.commit()
    assert w.totals(f"call:{w.call.id}") == (20 * K, 0, 0)
    assert session.execute(select(func.count(LedgerEntry.id))).scalar_one() == 1


# --- idempotency and reversals -------------------------------------------------------

def test_an_idempotency_key_already_used_returns_the_entry_and_changes_nothing(session):
    w = World(session)
    application = w.file()
    first = reserve(w, application, 10 * K, key="committee-2026-03:PIA")
    session.commit()
    before = w.snapshot()
    again = reserve(w, application, 10 * K, key="committee-2026-03:PIA")
    session.commit()
    assert again.id == first.id
    assert w.snapshot() == before
    with pytest.raises(ledger.LedgerRefused) as refused:
        reserve(w, application, 11 * K, key="committee-2026-03:PIA")
    assert refused.value.status == 409 and "clé d'idempotence" in refused.value.message


def test_a_reversing_entry_negates_the_legs_once(session):
    w = World(session)
    application = w.file()
    entry = reserve(w, application, 10 * K)
    session.commit()
    with pytest.raises(ledger.LedgerRefused, match="motif"):
        ledger.reverse(session, entry, idempotency_key="rev", actor=w.finance, reason=" ")
    reversal = ledger.reverse(session, entry, idempotency_key="rev", actor=w.finance, reason="Erreur de saisie")
    session.commit()
    assert reversal.operation == "reversal" and reversal.reverses_id == entry.id
    original = {(leg.account_id, leg.field): leg.delta_cents for leg in entry.legs}
    negated = {(leg.account_id, leg.field): -leg.delta_cents for leg in reversal.legs}
    assert original == negated
    for key in w.chain_keys(application, 2026):
        assert w.totals(key) == (0, 0, 0), key
    assert ledger.reverse(session, entry, idempotency_key="rev", actor=w.finance, reason="Erreur").id == reversal.id
    with pytest.raises(ledger.LedgerRefused, match="déjà été contrepassée"):
        ledger.reverse(session, entry, idempotency_key="rev-2", actor=w.finance, reason="Encore")
    with pytest.raises(ledger.LedgerRefused, match="ne se contrepasse pas"):
        ledger.reverse(session, reversal, idempotency_key="rev-3", actor=w.finance, reason="Annuler")
    assert session.execute(select(AuditEntry).where(AuditEntry.action == "ledger_reversal")).scalar_one().reason == "Erreur de saisie"
    assert ledger.check_entries(session) == [] and ledger.check_totals(session) == []


def test_reversing_a_release_must_fit_the_envelope_again(session):
    w = World(session, budget=30 * K)
    first, second = w.file(), w.file()
    reserve(w, first, 20 * K)
    released = ledger.release(session, first, idempotency_key="rel", actor=w.finance)
    reserve(w, second, 20 * K)
    assert_refused(w, lambda: ledger.reverse(session, released, idempotency_key="rev", actor=w.finance, reason="Erreur"),
                   "call", "le budget de l'appel")


# --- the database's own guards -------------------------------------------------------

def test_check_constraints_refuse_a_direct_update_that_breaks_a_cap(session):
    w = World(session, budget=30 * K)
    application = w.file()
    reserve(w, application, 10 * K)
    session.commit()
    call_key, file_key = f"call:{w.call.id}", f"file:{application.id}"
    with pytest.raises(IntegrityError):
        session.execute(update(LedgerAccount).where(LedgerAccount.key == call_key)
                        .values(committed_cents=LedgerAccount.limit_cents))
    session.rollback()
    with pytest.raises(IntegrityError):  # payments above the commitment
        session.execute(update(LedgerAccount).where(LedgerAccount.key == file_key).values(paid_cents=1))
    session.rollback()
    with pytest.raises(IntegrityError):  # negative totals
        session.execute(update(LedgerAccount).where(LedgerAccount.key == file_key).values(reserved_cents=-1))
    session.rollback()
    with pytest.raises(IntegrityError):  # a limit below what is held
        session.execute(update(LedgerAccount).where(LedgerAccount.key == call_key).values(limit_cents=K))
    session.rollback()
    assert w.totals(call_key) == (10 * K, 0, 0)


def test_entries_and_legs_are_append_only(session):
    w = World(session)
    entry = reserve(w, w.file(), 10 * K)
    session.commit()
    for statement in (update(LedgerEntry).values(amount_cents=1), delete(LedgerEntry),
                      update(LedgerLeg).values(delta_cents=1), delete(LedgerLeg)):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(statement)
        session.rollback()
    if session.get_bind().dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text("TRUNCATE ledger_legs"))
        session.rollback()
    assert session.get(LedgerEntry, entry.id).amount_cents == 10 * K


def test_set_limit_refuses_below_what_is_held_and_is_audited(session):
    w = World(session)
    reserve(w, w.file(), 20 * K)
    session.commit()
    axis = w.account(f"axis:{w.axis.id}")
    with pytest.raises(ledger.LedgerRefused, match="Plafond refusé"):
        ledger.set_limit(session, axis, 20 * K - 1, actor=w.finance, role="finance")
    ledger.set_limit(session, axis, 20 * K, actor=w.finance, role="finance", reason="Vote du budget de l'axe")
    session.commit()
    assert w.account(f"axis:{w.axis.id}").limit_cents == 20 * K
    row = session.execute(select(AuditEntry).where(AuditEntry.action == "ledger_set_limit")).scalar_one()
    assert row.before == {"limit_cents": None} and row.after == {"limit_cents": 20 * K}


# --- the totals check ------------------------------------------------------------------

def test_check_totals_finds_nothing_after_a_sequence_and_finds_a_corrupted_total(app, session):
    w = World(session)
    a, b = w.file(), w.file(make_organisation(session, make_user(session)))
    reserve(w, a, 10 * K)
    reserve(w, b, 20 * K, regime="gber:25", year=2027)
    ledger.commit(session, a, 10 * K, year=2026, idempotency_key="ca", actor=w.finance)
    ledger.pay(session, a, 3 * K, kind="advance", idempotency_key="pa", actor=w.finance, year=2027)
    released = ledger.release(session, b, 5 * K, idempotency_key="rb", actor=w.finance)
    ledger.reverse(session, released, idempotency_key="rev-rb", actor=w.finance, reason="Erreur")
    ledger.decommit(session, a, 2 * K, idempotency_key="da", actor=w.finance)
    session.commit()
    assert ledger.check_totals(session) == []
    assert ledger.check_entries(session) == []

    runner = app.test_cli_runner()
    result = runner.invoke(ledger_group, ["verify"])
    assert result.exit_code == 0, result.output
    assert "ledger consistent" in result.output

    session.execute(text("UPDATE ledger_accounts SET reserved_cents = reserved_cents + 1 WHERE key = :k"),
                    {"k": f"call:{w.call.id}"})
    session.commit()
    faults = ledger.check_totals(session)
    assert [(f.key, f.field, f.stored_cents - f.computed_cents) for f in faults] == [(f"call:{w.call.id}", "reserved", 1)]
    result = runner.invoke(ledger_group, ["verify"])
    assert result.exit_code == 1
    assert f"call:{w.call.id}" in result.output


def test_balance_rules_spot_an_unbalanced_entry():
    legs = [("plan", "reserved", 5), ("year", "reserved", 5), ("axis", "reserved", 5), ("call", "reserved", 5),
            ("file", "reserved", 5)]
    assert rules.balance_problems("reserve", 5, "gber:25", legs) == []
    assert rules.balance_problems("reserve", 5, "de_minimis", legs) == [
        "undertaking level moves {'reserved': 0, 'committed': 0, 'paid': 0}, reserve of 5 requires "
        "{'reserved': 5, 'committed': 0, 'paid': 0}"]
    commit_legs = [(lvl, "reserved", -5) for lvl in ("plan", "axis", "call", "file")] + \
        [(lvl, "committed", 5) for lvl in ("plan", "axis", "call", "file")] + \
        [("year", "reserved", -2), ("year", "reserved", -3), ("year", "committed", 5)]
    assert rules.balance_problems("commit", 5, "gber:25", commit_legs) == []
    assert rules.balance_problems("reversal", 5, "gber:25", [(l, f, -d) for l, f, d in commit_legs], "commit") == []
    assert rules.balance_problems("commit", 5, "gber:25", commit_legs[:-1]) != []


def test_split_from_years_and_window_edges():
    assert rules.split_from_years([(2025, 6), (2026, 4), (2027, 3)], 9, 2026) == ([(2026, 4), (2025, 5)], 0)
    assert rules.split_from_years([(2025, 6)], 9, 2026) == ([(2025, 6)], 3)
    assert rules.years_before(date(2028, 2, 29), 3) == date(2025, 2, 28)
    aids = [rules.AidOnUndertaking(1, 100, date(2025, 3, 1)), rules.AidOnUndertaking(2, 50, None)]
    assert rules.counted_de_minimis(aids, date(2028, 3, 1)) == 50
    assert rules.counted_de_minimis(aids, date(2028, 2, 29)) == 150


# --- accounts and the demo ----------------------------------------------------------------

def test_ensure_accounts_builds_the_tree_once(session):
    w = World(session, max_aid=50 * K)
    submitted = w.file()
    draft = make_application(session, w.call, w.org, state="draft")
    created = ledger.ensure_accounts(session, w.plan)
    session.commit()
    assert created == 1 + 5 + 1 + 1 + 1
    keys = {a.key: a for a in session.execute(select(LedgerAccount)).scalars()}
    assert keys[f"plan:{w.plan.id}"].limit_cents == w.plan.envelope_cents
    assert [keys[f"year:{w.plan.id}:{y}"].limit_cents for y in range(2025, 2030)] == [w.plan.yearly_ceiling_cents] * 5
    assert keys[f"axis:{w.axis.id}"].limit_cents is None
    assert keys[f"call:{w.call.id}"].limit_cents == w.call.budget_cents
    assert keys[f"call:{w.call.id}"].parent_id == keys[f"axis:{w.axis.id}"].id
    assert keys[f"file:{submitted.id}"].limit_cents == 50 * K
    assert f"file:{draft.id}" not in keys
    assert ledger.ensure_accounts(session, w.plan) == 0
    assert session.execute(select(func.count(AuditEntry.id)).where(AuditEntry.action == "ledger_accounts")).scalar_one() == 1
    rows = ledger.balances(session, w.plan)
    assert [r.kind for r in rows] == ["plan"] + ["year"] * 5 + ["axis", "call"]


def test_demo_ledger_seeds_consistent_entries(session, demo):
    plan = session.execute(select(Plan)).scalar_one()
    seeded = select(LedgerEntry.operation, func.count(LedgerEntry.id)).where(
        LedgerEntry.idempotency_key.like("demo:%")).group_by(LedgerEntry.operation)
    by_operation = dict(session.execute(seeded).all())
    assert by_operation["reserve"] > 0 and by_operation["commit"] > 0
    total = session.execute(select(func.count(LedgerEntry.id))).scalar_one()
    seed_ledger(session, plan)  # idempotent: a second run adds nothing
    session.commit()
    assert session.execute(select(func.count(LedgerEntry.id))).scalar_one() == total
    assert ledger.check_totals(session) == [] and ledger.check_entries(session) == []


def test_cli_ensure_accounts_creates_the_tree(app, session):
    w = World(session)
    w.file()
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(ledger_group, ["ensure-accounts"])
    assert result.exit_code == 0, result.output
    assert "9 account(s) created" in result.output  # plan, 5 years, axis, call, file
    session.expire_all()
    assert session.execute(select(func.count(LedgerAccount.id))).scalar_one() == 9
    assert "0 account(s) created" in runner.invoke(ledger_group, ["ensure-accounts"]).output


def test_finance_dashboard_shows_the_ledger_balances(app, client, demo):
    from tests.factories import login

    login(client, "demo-finance@guichet.test", "demo")
    html = client.get("/finances/").get_data(as_text=True)
    assert "Enveloppes et engagements" in html
    plain = html.replace("\u202f", " ").replace("\u00a0", " ")
    assert "350 000 000,00 €" in plain  # the plan's envelope, as its cap


def test_de_minimis_window_edge_day_by_day(session):
    """An aid granted on 1 March 2025 still counts on 29 February 2028 and no
    longer on 1 March 2028 (window (on − 3 years, on]); a reservation that
    would cross the ceiling on the last day is refused, the next day it passes."""
    w = World(session, ceiling=350 * MILLION)
    old = w.file(declared=0)
    reserve(w, old, 250 * K, year=2025, on=date(2025, 3, 1))
    application = w.file(declared=0)
    assert_refused(w, lambda: reserve(w, application, 50 * K + 1, year=2028, on=date(2028, 2, 29)), "undertaking",
                   "plafond de minimis")
    reserve(w, application, 50 * K, year=2028, on=date(2028, 2, 29), key="edge-exact")  # exactly the ceiling
    session.commit()
    third = w.file(declared=0)
    reserve(w, third, 250 * K, year=2028, on=date(2028, 3, 1))
    session.commit()
    assert ledger.de_minimis_counted(session, w.org.siren, date(2028, 3, 1)) == 300 * K
