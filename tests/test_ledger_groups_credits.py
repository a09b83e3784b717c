"""Two rules of the ledger added on top of the chain of envelopes:

- the payment credits (CP) voted for a year cap what that year pays, in the
  database (CHECK) and in the operation (a French refusal, nothing written);
- linked companies form one single undertaking for de minimis: the rolling
  ceiling counts the aid of every company of the group, at reservation and in
  ``ledger verify``."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app import ledger
from app.ledger.cli import ledger_group
from app.ledger.undertakings import LinkRefused, declare_link, group_of, links_of, remove_link
from app.models import AuditEntry, LedgerAccount, LedgerLeg, UndertakingLink
from tests.factories import make_organisation, make_user
from tests.test_ledger import K, World, assert_refused, plain, reserve


def committed(w: World, application, amount, year=2026):
    reserve(w, application, amount, year=year)
    ledger.commit(w.session, application, amount, year=year, idempotency_key=f"c-{application.id}", actor=w.finance)


# --- payment credits -------------------------------------------------------------

def test_payment_credits_cap_what_a_year_pays(session):
    w = World(session)
    application = w.file()
    committed(w, application, 10 * K)
    ledger.set_credits(session, w.plan, 2027, 5 * K, actor=w.finance, role="finance", reason="Budget primitif 2027")
    ledger.pay(session, application, 3 * K, kind="advance", year=2027, idempotency_key="p1", actor=w.finance)
    session.commit()
    assert w.account(f"year:{w.plan.id}:2027").credit_cents == 5 * K

    refused = assert_refused(
        w, lambda: ledger.pay(session, application, 2 * K + 1, kind="interim", year=2027, idempotency_key="p2",
                              actor=w.finance),
        "credits", "crédits de paiement 2027", "disponible : 2 000,00 € sur 5 000,00 €")
    assert refused.message.startswith("Paiement refusé")
    ledger.pay(session, application, 2 * K, kind="interim", year=2027, idempotency_key="p3", actor=w.finance)
    # A year whose credits are not voted is not capped.
    ledger.pay(session, application, 5 * K, kind="balance", year=2028, idempotency_key="p4", actor=w.finance)
    session.commit()
    assert w.totals(f"year:{w.plan.id}:2027") == (0, 0, 5 * K)
    assert w.totals(f"file:{application.id}") == (0, 10 * K, 10 * K)
    assert ledger.check_invariants(session) == [] and ledger.check_totals(session) == []


def test_credits_cannot_be_set_below_what_the_year_paid_and_are_audited(session):
    w = World(session)
    application = w.file()
    committed(w, application, 10 * K)
    ledger.pay(session, application, 4 * K, kind="advance", year=2027, idempotency_key="p1", actor=w.finance)
    session.commit()
    with pytest.raises(ledger.LedgerRefused) as refused:
        ledger.set_credits(session, w.plan, 2027, 4 * K - 1, actor=w.finance)
    assert "a déjà versé 4 000,00 €" in plain(refused.value.message)
    session.rollback()
    ledger.set_credits(session, w.plan, 2027, 4 * K, actor=w.finance, role="finance", reason="Décision modificative")
    ledger.set_credits(session, w.plan, 2027, None, actor=w.finance, role="finance")
    session.commit()
    rows = session.execute(select(AuditEntry.before, AuditEntry.after).where(AuditEntry.action == "ledger_set_credits")
                           .order_by(AuditEntry.id)).all()
    assert [(b["credit_cents"], a["credit_cents"]) for b, a in rows] == [(None, 4 * K), (4 * K, None)]
    with pytest.raises(ledger.LedgerRefused):
        ledger.set_credits(session, w.plan, 2027, -1, actor=w.finance)


def test_the_database_refuses_payments_beyond_credits_and_verify_names_it(app, session):
    w = World(session)
    application = w.file()
    committed(w, application, 10 * K)
    ledger.set_credits(session, w.plan, 2027, 5 * K, actor=w.finance)
    ledger.pay(session, application, 5 * K, kind="advance", year=2027, idempotency_key="p1", actor=w.finance)
    session.commit()
    key = f"year:{w.plan.id}:2027"
    with pytest.raises(IntegrityError):
        session.execute(text("UPDATE ledger_accounts SET paid_cents = paid_cents + 1 WHERE key = :k"), {"k": key})
    session.rollback()
    with pytest.raises(IntegrityError):
        session.execute(text("UPDATE ledger_accounts SET credit_cents = 1 WHERE key = :k"), {"k": f"call:{w.call.id}"})
    session.rollback()

    # A leg slipped in behind the operations' back: recomputed from the legs, the year pays more than its credits.
    year = w.account(key)
    session.execute(text("INSERT INTO ledger_legs (entry_id, account_id, field, delta_cents) "
                         "SELECT id, :a, 'paid', 1 FROM ledger_entries WHERE operation = 'commit'"), {"a": year.id})
    session.commit()
    faults = [str(f) for f in ledger.check_invariants(session)]
    assert faults == [f"account {key}: paid {5 * K + 1} exceeds the year's payment credits {5 * K}"]
    result = app.test_cli_runner().invoke(ledger_group, ["verify"])
    assert result.exit_code == 1 and "payment credits" in result.output


# --- linked companies ----------------------------------------------------------------

def test_linked_companies_share_the_de_minimis_ceiling(session):
    w = World(session)
    mother = w.org
    daughter = make_organisation(session, make_user(session))
    reserve(w, w.file(mother, declared=0), 200 * K)
    session.commit()
    # Not linked: each company has its own ceiling.
    assert ledger.de_minimis_counted(session, daughter.siren) == 0

    link, created = declare_link(session, daughter.siren, mother.siren, "Filiale détenue à 100 %", actor=w.finance,
                                 role="finance")
    session.commit()
    assert created and (link.siren, link.linked_siren) == tuple(sorted((mother.siren, daughter.siren)))
    assert ledger.de_minimis_counted(session, daughter.siren) == 200 * K
    assert group_of(session, daughter.siren) == sorted([mother.siren, daughter.siren])

    application = w.file(daughter, declared=0)
    refused = assert_refused(w, lambda: reserve(w, application, 100 * K + 1), "undertaking", "plafond de minimis",
                             f"{daughter.siren} et entreprises liées {mother.siren}",
                             "aides déjà accordées par Guichet : 200 000,00 €")
    assert refused.envelope == "undertaking"
    reserve(w, application, 100 * K)  # exactly the ceiling, for the group
    session.commit()
    assert w.totals(f"undertaking:{daughter.siren}") == (100 * K, 0, 0)  # the money stays on each company's account
    assert w.totals(f"undertaking:{mother.siren}") == (200 * K, 0, 0)
    assert ledger.check_invariants(session) == []

    # Declaring it again changes nothing; a wrong link is removed by staff with its reason, audited.
    again, created = declare_link(session, mother.siren, daughter.siren, "Société mère", actor=w.finance)
    assert not created and again.id == link.id
    remove_link(session, link, actor=w.finance, role="finance", reason="Lien déclaré par erreur")
    session.commit()
    assert session.execute(select(func.count(UndertakingLink.id))).scalar_one() == 0
    actions = session.execute(select(AuditEntry.action).where(AuditEntry.object_type == "undertaking")
                              .order_by(AuditEntry.id)).scalars().all()
    assert actions == ["undertaking_link", "undertaking_unlink"]
    assert ledger.de_minimis_counted(session, daughter.siren) == 100 * K


def test_groups_are_transitive_and_links_are_checked(session):
    w = World(session)
    a, b, c = (make_organisation(session, make_user(session)) for _ in range(3))
    declare_link(session, a.siren, b.siren, "Filiale", actor=w.finance)
    declare_link(session, c.siren, b.siren, "Contrôle commun", actor=w.finance)
    session.commit()
    assert group_of(session, a.siren) == sorted([a.siren, b.siren, c.siren])
    assert len(links_of(session, c.siren)) == 2
    reserve(w, w.file(a, declared=0), 150 * K)
    reserve(w, w.file(c, declared=0), 150 * K)
    session.commit()
    assert_refused(w, lambda: reserve(w, w.file(b, declared=0), 1), "undertaking", "plafond de minimis")

    for args, phrase in [((a.siren, "123456789", "Filiale"), "n'est pas un numéro SIREN valide"),
                         ((a.siren, a.siren, "Filiale"), "liée à elle-même"),
                         ((a.siren, b.siren, "  "), "nature du lien")]:
        with pytest.raises(LinkRefused) as refused:
            declare_link(session, *args, actor=w.finance)
        assert phrase in str(refused.value)
    with pytest.raises(LinkRefused):
        remove_link(session, links_of(session, a.siren)[0], actor=w.finance, reason=" ")


def test_verify_rechecks_the_de_minimis_ceiling_of_each_group(app, session):
    w = World(session, ceiling=350 * ledger.rules.DE_MINIMIS_CEILING_CENTS)
    a = w.org
    b = make_organisation(session, make_user(session))
    reserve(w, w.file(a, declared=0), 200 * K, on=date(2026, 3, 1))
    reserve(w, w.file(b, declared=0), 200 * K, on=date(2026, 4, 1))
    session.commit()
    assert ledger.check_invariants(session) == []

    # Found linked afterwards: together they are over the ceiling from 1 April 2026.
    declare_link(session, a.siren, b.siren, "Filiale", actor=w.finance)
    session.commit()
    faults = [str(f) for f in ledger.check_invariants(session)]
    assert len(faults) == 1 and "de minimis 40000000" in faults[0] and "2026-04-01" in faults[0], faults
    assert "+".join(sorted([a.siren, b.siren])) in faults[0]
    result = app.test_cli_runner().invoke(ledger_group, ["verify"])
    assert result.exit_code == 1 and "de minimis" in result.output


# --- the command line -------------------------------------------------------------------

def test_cli_sets_caps_credits_and_links(app, session):
    w = World(session)
    application = w.file()
    committed(w, application, 10 * K)
    b = make_organisation(session, make_user(session))
    session.commit()
    runner = app.test_cli_runner()

    result = runner.invoke(ledger_group, ["set-limit", f"axis:{w.axis.id}", "9999.99", "--reason", "Budget axe 1"])
    assert result.exit_code == 1 and "déjà 10 000,00 € réservés ou engagés" in plain(result.output)
    result = runner.invoke(ledger_group, ["set-limit", f"axis:{w.axis.id}", "12 000,50", "--reason", "Budget axe 1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(ledger_group, ["set-limit", f"call:{w.call.id}", "1500000", "--reason", "Budget révisé"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(ledger_group, ["set-limit", f"call:{w.call.id}", "none", "--reason", "x"])
    assert result.exit_code != 0 and "seul un axe" in result.output
    result = runner.invoke(ledger_group, ["set-limit", "axis:999999", "1", "--reason", "x"])
    assert result.exit_code != 0 and "aucun compte" in result.output
    result = runner.invoke(ledger_group, ["set-limit", f"axis:{w.axis.id}", "12,345", "--reason", "x"])
    assert result.exit_code != 0 and "au centime près" in result.output
    session.expire_all()
    assert w.account(f"axis:{w.axis.id}").limit_cents == 1_200_050
    assert w.account(f"call:{w.call.id}").limit_cents == 150_000_000 and w.call.budget_cents == 150_000_000

    result = runner.invoke(ledger_group, ["set-credits", str(w.plan.id), "2027", "20000", "--reason", "BP 2027"])
    assert result.exit_code == 0, result.output
    assert w.account(f"year:{w.plan.id}:2027").credit_cents == 20 * K

    result = runner.invoke(ledger_group, ["link", w.org.siren, b.siren, "--relation", "Filiale"])
    assert result.exit_code == 0, result.output
    assert "entreprise unique" in result.output and "1000000 centimes" in result.output
    result = runner.invoke(ledger_group, ["link", w.org.siren, "123", "--relation", "Filiale"])
    assert result.exit_code == 1 and "SIREN valide" in result.output
    actions = session.execute(select(AuditEntry.action).where(AuditEntry.action.in_(
        ("ledger_set_limit", "ledger_set_credits", "undertaking_link"))).order_by(AuditEntry.id)).scalars().all()
    assert actions == ["ledger_set_limit", "ledger_set_limit", "ledger_set_credits", "undertaking_link"]
    assert runner.invoke(ledger_group, ["verify"]).exit_code == 0


def test_the_owner_declares_linked_companies_on_the_organisation_page(client, session):
    import html

    from tests.factories import login

    def text(response):
        return plain(html.unescape(response.get_data(as_text=True)))

    w = World(session)
    owner = make_user(session)
    member = make_user(session)
    org = make_organisation(session, owner, member)
    mother = make_organisation(session, make_user(session))
    reserve(w, w.file(mother, declared=0), 120 * K)
    session.commit()
    path = f"/espace/organisations/{org.siret}/entreprises-liees"

    login(client, member.email)
    assert client.get(path).status_code == 200
    assert client.post(path, data={"siren": mother.siren, "relation": "Filiale"}).status_code == 403
    client.post("/deconnexion")
    login(client, owner.email)
    response = client.post(path, data={"siren": "123 456 789", "relation": "Filiale"})
    assert response.status_code == 422 and "n'est pas un numéro SIREN valide" in text(response)
    response = client.post(path, data={"siren": mother.siren, "relation": ""})
    assert response.status_code == 422 and "Ce champ est obligatoire" in text(response)
    assert session.execute(select(func.count(UndertakingLink.id))).scalar_one() == 0

    response = client.post(path, data={"siren": f"{mother.siren[:3]} {mother.siren[3:6]} {mother.siren[6:]}",
                                       "relation": "Société mère (60 % du capital)"})
    assert response.status_code == 303
    body = text(client.get(path))
    assert "Société mère (60 % du capital)" in body and "120 000,00 €" in body  # the group's de minimis so far
    link = session.execute(select(UndertakingLink)).scalar_one()
    assert (link.declared_by_id, link.organisation_id) == (owner.id, org.id)
    audit = session.execute(select(AuditEntry).where(AuditEntry.action == "undertaking_link")).scalar_one()
    assert audit.actor_id == owner.id and audit.actor_role == "applicant"
    # The group's aid now counts when the organisation's own file is reserved.
    assert ledger.de_minimis_counted(session, org.siren) == 120 * K
    # Another company's page is not reachable.
    client.post("/deconnexion")
    login(client, member.email)
    assert client.get(f"/espace/organisations/{mother.siret}/entreprises-liees").status_code == 404


def test_cli_unlink(app, session):
    w = World(session)
    b = make_organisation(session, make_user(session))
    declare_link(session, w.org.siren, b.siren, "Filiale", actor=None)
    session.commit()
    runner = app.test_cli_runner()
    assert runner.invoke(ledger_group, ["unlink", w.org.siren, b.siren, "--reason", " "]).exit_code == 1
    result = runner.invoke(ledger_group, ["unlink", b.siren, w.org.siren, "--reason", "Déclaré par erreur"])
    assert result.exit_code == 0, result.output
    assert session.execute(select(func.count(UndertakingLink.id))).scalar_one() == 0
    assert runner.invoke(ledger_group, ["unlink", b.siren, w.org.siren, "--reason", "x"]).exit_code != 0


def test_the_demo_has_axis_budgets_payment_credits_and_a_linked_holding(client, session, demo):
    from app.models import Axis, Organisation
    from tests.factories import login

    axes = session.execute(select(LedgerAccount).where(LedgerAccount.kind == "axis")).scalars().all()
    assert axes and all(a.limit_cents is not None for a in axes)
    assert sum(a.limit_cents for a in axes) == 350 * 1_000_000 * 100
    years = session.execute(select(LedgerAccount).where(LedgerAccount.kind == "year",
                                                        LedgerAccount.credit_cents.is_not(None))).scalars().all()
    assert years and all(a.paid_cents <= a.credit_cents for a in years)
    org = session.execute(select(Organisation).where(Organisation.name == "Atelier Numérique de Champagne")).scalar_one()
    assert len(group_of(session, org.siren)) == 2
    assert ledger.check_invariants(session) == [] and ledger.check_totals(session) == []
    login(client, "demo-finance@guichet.test", "demo")
    assert client.get("/finances/enveloppes/").status_code == 200
    assert session.execute(select(func.count(Axis.id))).scalar_one() == len(axes)


def test_staff_see_a_group_and_remove_a_link_declared_in_error_with_its_reason(client, session):
    import html

    from tests.factories import login

    def text(response):
        return plain(html.unescape(response.get_data(as_text=True)))

    w = World(session)
    owner = make_user(session, name="Paul Porteur")
    org = make_organisation(session, owner, name="Atelier Lié")
    mother, sister = make_organisation(session, make_user(session), name="Holding Mère"), \
        make_organisation(session, make_user(session), name="Sœur Industrie")
    reserve(w, w.file(mother, declared=0), 120 * K)
    declare_link(session, org.siren, mother.siren, "Société mère (60 % du capital)", actor=owner, role="applicant")
    declare_link(session, mother.siren, sister.siren, "Filiale à 100 %", actor=None)
    scoped = make_user(session, ("finance", w.call.id))
    applicant = make_user(session)
    session.commit()
    path = "/finances/entreprises-liees/"

    # staff in charge of a single call, and applicants, are kept out
    login(client, scoped.email)
    assert client.get(path).status_code == 403
    client.post("/deconnexion")
    login(client, applicant.email)
    assert client.get(path).status_code == 403
    client.post("/deconnexion")

    login(client, w.finance.email)
    assert client.get(path).status_code == 200
    refused = client.get(path, query_string={"siren": "123456789"})
    assert refused.status_code == 422 and "n'est pas un numéro SIREN valide" in text(refused)
    body = text(client.get(path, query_string={"siren": f"{org.siren[:3]} {org.siren[3:]}"}))
    for expected in (org.siren, mother.siren, sister.siren, "Atelier Lié", "Holding Mère", "Sœur Industrie",
                     "Société mère (60 % du capital)", "Paul Porteur", "120 000,00 €"):
        assert expected in body, expected

    link = session.execute(select(UndertakingLink).where(UndertakingLink.relation.like("Société mère%"))).scalar_one()
    removal = f"/finances/entreprises-liees/{link.id}/suppression"
    refused = client.post(removal, data={"siren": org.siren, "reason": "  "})
    assert refused.status_code == 422 and "Ce champ est obligatoire" in text(refused)
    assert session.execute(select(func.count(UndertakingLink.id))).scalar_one() == 2
    done = client.post(removal, data={"siren": org.siren, "reason": "Déclaré par erreur : aucune participation."})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"siren={org.siren}")
    after = text(client.get(done.headers["Location"]))
    assert "est supprimé" in after and "Aucune entreprise liée n'est déclarée." in after
    assert group_of(session, org.siren) == [org.siren] and len(group_of(session, mother.siren)) == 2
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "undertaking_unlink")).scalar_one()
    assert (entry.actor_id, entry.actor_role, entry.reason) == (w.finance.id, "finance",
                                                                 "Déclaré par erreur : aucune participation.")
    assert client.post(removal, data={"reason": "encore"}).status_code == 404
    # the file's ledger page links to the group of its beneficiary
    assert f'/finances/entreprises-liees/?siren={org.siren}' in client.get(
        f"/finances/dossiers/{w.file(org, declared=0).reference}").get_data(as_text=True)
