"""Finance: ``ledger verify`` (summary, every invariant named), the finance
pages (consumption charts, commitments and payments lists, a file's ledger),
who reaches them, and the CSV/XLSX exports — their content and their
streaming (generators, rows fetched with ``yield_per``)."""

from __future__ import annotations

import csv
import html
import inspect
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, insert, select

from app import exports, ledger
from app.blueprints import finance as finance_views
from app.ledger.cli import ledger_group
from app.models import LedgerAccount, LedgerEntry, LedgerLeg
from tests.factories import login, make_call, make_organisation, make_user
from tests.test_ledger import K, World, plain, reserve

PASSWORD = "un mot de passe solide"


def money_world(session):
    """Two calls; file ``a`` reserved, committed, paid twice (one reversed),
    partly decommitted; file ``b`` (other call) committed in 2027."""
    w = World(session)
    other_call = make_call(session)
    a = w.file(amount=50 * K)
    b = w.file(make_organisation(session, make_user(session)), call=other_call, amount=40 * K)
    reserve(w, a, 50 * K, year=2026, key="a-reserve", on=date(2026, 3, 2))
    ledger.commit(session, a, 50 * K, year=2026, idempotency_key="a-commit", actor=w.finance, on=date(2026, 4, 1))
    ledger.pay(session, a, 15 * K, kind="advance", idempotency_key="a-advance", actor=w.finance, on=date(2026, 5, 1))
    wrong = ledger.pay(session, a, 10 * K, kind="interim", idempotency_key="a-interim", actor=w.finance,
                       on=date(2026, 6, 1))
    ledger.reverse(session, wrong, idempotency_key="a-interim-rev", actor=w.finance, reason="Montant erroné",
                   on=date(2026, 6, 2))
    ledger.decommit(session, a, 5 * K, idempotency_key="a-decommit", actor=w.finance, year=2026, on=date(2026, 9, 1))
    reserve(w, b, 40 * K, year=2027, key="b-reserve", regime="gber:25", on=date(2027, 1, 10))
    ledger.commit(session, b, 40 * K, year=2027, idempotency_key="b-commit", actor=w.finance, on=date(2027, 2, 1))
    session.commit()
    w.a, w.b, w.other_call = a, b, other_call
    return w


def staff(session, *roles):
    return make_user(session, *roles).email


def status(client, path) -> int:
    """A page's status. Streamed responses are read within the request
    (``buffered``): the test client runs each request in its own context."""
    return client.get(path, buffered=True).status_code


def client_for(app, email, password=PASSWORD):
    client = app.test_client()
    assert login(client, email, password).status_code == 302
    return client


# --- ledger verify ------------------------------------------------------------------

def test_verify_prints_a_one_line_summary(app, session):
    money_world(session)
    result = app.test_cli_runner().invoke(ledger_group, ["verify"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    # reserved 0 (a committed all, b committed all); committed 50k − 5k + 40k; paid 15k (the interim reversed)
    assert lines[0] == ("ledger consistent: 8 entries over 9 accounts; reserved 0.00 €, committed 85 000.00 €, "
                        "paid 15 000.00 €, envelope left 349 915 000.00 €")
    summary = ledger.summary(session)
    assert (summary.entries, summary.committed_cents, summary.paid_cents) == (8, 85 * K, 15 * K)


def test_verify_names_each_broken_invariant_and_exits_non_zero(app, session):
    w = money_world(session)
    file_account = w.account(f"file:{w.b.id}")
    entry = session.execute(select(LedgerEntry).where(LedgerEntry.idempotency_key == "b-commit")).scalar_one()
    # legs are append-only, but a forged INSERT can still break the invariants: verify must see it
    session.execute(insert(LedgerLeg).values(entry_id=entry.id, account_id=file_account.id, field="paid",
                                             delta_cents=41 * K))
    call_account = w.account(f"call:{w.call.id}")
    session.execute(insert(LedgerLeg).values(entry_id=entry.id, account_id=call_account.id, field="reserved",
                                             delta_cents=w.call.budget_cents))
    session.commit()

    broken = [str(v) for v in ledger.check_invariants(session)]
    assert f"account file:{w.b.id}: paid {41 * K} exceeds committed {40 * K}" in broken
    assert any(v.startswith(f"account call:{w.call.id}: reserved") and "exceeds the limit" in v for v in broken)

    result = app.test_cli_runner().invoke(ledger_group, ["verify"])
    assert result.exit_code == 1
    assert f"violation: account file:{w.b.id}: paid {41 * K} exceeds committed {40 * K}" in result.output
    assert f"violation: account file:{w.b.id}: paid stored 0, sum of entries {41 * K}" in result.output
    assert f"violation: entry {entry.id}:" in result.output  # the commit no longer balances
    assert "violation(s); " in result.output and "envelope left" in result.output


def test_invariants_hold_on_a_consistent_ledger(session):
    money_world(session)
    assert ledger.check_invariants(session) == []
    assert ledger.check_totals(session) == [] and ledger.check_entries(session) == []


# --- who reaches the finance pages ----------------------------------------------------

FINANCE_PATHS = ["/finances/", "/finances/engagements", "/finances/versements", "/finances/engagements.csv",
                 "/finances/engagements.xlsx", "/finances/versements.csv", "/finances/versements.xlsx"]


@pytest.mark.parametrize("role,expected", [("finance", 200), ("admin", 200), ("applicant", 403), ("instructor", 403),
                                         ("expert", 403), ("committee", 403)])
def test_finance_pages_are_for_finance_and_admin(app, session, role, expected):
    w = money_world(session)
    email = staff(session, role)
    session.commit()
    client = client_for(app, email)
    for path in [*FINANCE_PATHS, f"/finances/dossiers/{w.a.reference}"]:
        assert status(client, path) == expected, (role, path)


def test_anonymous_is_sent_to_login(app, session):
    w = money_world(session)
    client = app.test_client()
    for path in [*FINANCE_PATHS, f"/finances/dossiers/{w.a.reference}"]:
        response = client.get(path)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"], path


def test_finance_officer_scoped_to_a_call_sees_only_that_call(app, session):
    w = money_world(session)
    email = staff(session, ("finance", w.call.id))
    session.commit()
    client = client_for(app, email)
    page = client.get("/finances/engagements").get_data(as_text=True)
    assert w.a.reference in page and w.b.reference not in page
    assert client.get(f"/finances/dossiers/{w.b.reference}").status_code == 403
    assert client.get(f"/finances/dossiers/{w.a.reference}").status_code == 200
    exported = client.get("/finances/engagements.csv", buffered=True).get_data(as_text=True)
    assert w.a.reference in exported and w.b.reference not in exported
    dashboard = client.get("/finances/").get_data(as_text=True)
    assert "Consommation par appel" in dashboard and "Consommation par année" not in dashboard
    # another call's reference in the filter is refused, not shown
    refused = html.unescape(client.get(f"/finances/engagements?appel={w.other_call.reference}").get_data(as_text=True))
    assert "est inconnu" in refused


# --- the pages ----------------------------------------------------------------------

def test_dashboard_draws_consumption_charts_with_their_numbers(app, session):
    money_world(session)
    email = staff(session, "finance")
    session.commit()
    response = client_for(app, email).get("/finances/")
    page = html.unescape(response.get_data(as_text=True))
    for title in ("Consommation de l'enveloppe du plan", "Consommation par année", "Consommation par axe",
                  "Consommation par appel"):
        assert title in page
    assert page.count('<svg class="chart-bar"') >= 4
    assert "<script" not in page and "style=" not in page  # CSP: no inline script or style
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    text = plain(page)
    assert "85 000,00 €" in text  # the plan's committed total, in the table beside the chart
    assert "349 915 000,00 €" in text  # and what is left of the envelope


def test_chart_scales_each_bar():
    capped = ledger.Balance(1, "call:1", "call", "Appel", 100 * K, 10 * K, 40 * K, 20 * K)
    uncapped = ledger.Balance(2, "axis:1", "axis", "Axe", None, 0, 30 * K, 0)
    bars = finance_views.chart([capped, uncapped])
    assert (bars[0].paid, bars[0].committed, bars[0].reserved, bars[0].share) == (200, 400, 100, 50)
    assert (bars[1].committed, bars[1].reserved, bars[1].share) == (1000, 0, None)


def test_commitments_list_filters_by_year_and_call_and_signs_amounts(app, session):
    w = money_world(session)
    email = staff(session, "finance")
    session.commit()
    client = client_for(app, email)
    page = plain(client.get("/finances/engagements").get_data(as_text=True))
    assert w.a.reference in page and w.b.reference in page
    assert "Dégagement" in page and "-5 000,00 €" in page
    assert "3 mouvement(s), total 85 000,00 €" in page
    only_2027 = client.get("/finances/engagements?annee=2027").get_data(as_text=True)
    assert w.b.reference in only_2027 and w.a.reference not in only_2027
    only_call = client.get(f"/finances/engagements?appel={w.call.reference}").get_data(as_text=True)
    assert w.a.reference in only_call and w.b.reference not in only_call
    bad = html.unescape(client.get("/finances/engagements?annee=deux-mille").get_data(as_text=True))
    assert "n'est pas valide" in bad and w.b.reference in bad  # the bad filter is named and ignored
    assert status(client, "/finances/engagements.csv?annee=deux-mille") == 400


def test_payments_list_shows_reversals_negative_and_paginates(app, session, monkeypatch):
    w = money_world(session)
    email = staff(session, "finance")
    session.commit()
    client = client_for(app, email)
    page = plain(client.get("/finances/versements").get_data(as_text=True))
    assert "Contrepassation (versement)" in page and "-10 000,00 €" in page
    assert "3 mouvement(s), total 15 000,00 €" in page
    monkeypatch.setattr(finance_views, "PAGE_SIZE", 2)
    first = client.get("/finances/versements").get_data(as_text=True)
    assert "Page suivante" in first and first.count(f">{w.a.reference}</a>") == 2
    second = client.get("/finances/versements?page=2").get_data(as_text=True)
    assert "Page précédente" in second and "Page suivante" not in second
    assert second.count(f">{w.a.reference}</a>") == 1


def test_file_ledger_shows_entries_legs_and_running_totals(app, session):
    w = money_world(session)
    email = staff(session, "admin")
    session.commit()
    client = client_for(app, email)
    page = html.unescape(plain(client.get(f"/finances/dossiers/{w.a.reference}").get_data(as_text=True)))
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 6  # reserve, commit, advance, interim, its reversal, decommit
    last_cells = lambda row: [c.split("</td>")[0] for c in row.split('<td class="num">')[-3:]]  # noqa: E731
    assert last_cells(rows[0]) == ["50 000,00 €", "0,00 €", "0,00 €"]
    assert last_cells(rows[1]) == ["0,00 €", "50 000,00 €", "0,00 €"]
    assert last_cells(rows[3]) == ["0,00 €", "50 000,00 €", "25 000,00 €"]
    assert last_cells(rows[4]) == ["0,00 €", "50 000,00 €", "15 000,00 €"]
    assert last_cells(rows[5]) == ["0,00 €", "45 000,00 €", "15 000,00 €"]
    assert "contrepasse l'écriture n°" in page and "Montant erroné" in page
    assert "Appel test" in page and "réservé" in page  # the legs name their accounts and fields
    assert client.get("/finances/dossiers/XX-1999-0001").status_code == 404


# --- exports: content ------------------------------------------------------------------

def test_csv_export_of_commitments(app, session):
    w = money_world(session)
    email = staff(session, "finance")
    session.commit()
    response = client_for(app, email).get("/finances/engagements.csv?annee=2026", buffered=True)
    assert response.status_code == 200 and "Content-Length" not in response.headers  # a generator: streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="engagements-2026.csv"'
    assert response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == exports.HEADERS
    assert [(r[3], r[5], r[11]) for r in rows[1:]] == [("Dégagement", w.a.reference, "-5000,00"),
                                                       ("Engagement", w.a.reference, "50000,00")]


def test_xlsx_export_of_payments(app, session):
    w = money_world(session)
    email = staff(session, "finance")
    session.commit()
    response = client_for(app, email).get(f"/finances/versements.xlsx?appel={w.call.reference}", buffered=True)
    assert response.status_code == 200 and "Content-Length" not in response.headers
    assert response.headers["Content-Disposition"] == f'attachment; filename="versements-{w.call.reference}.xlsx"'
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True)["Versements"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == exports.HEADERS
    amounts = [(r[3], r[4], r[11]) for r in rows[1:]]
    assert amounts == [("Contrepassation (versement)", "Acompte", -10000), ("Versement", "Acompte", 10000),
                       ("Versement", "Avance", 15000)]
    assert rows[1][1].date() == date(2026, 6, 2)


def test_cli_exports_write_csv_and_xlsx(app, session, tmp_path):
    w = money_world(session)
    runner = app.test_cli_runner()
    out = tmp_path / "engagements.xlsx"
    result = runner.invoke(args=["export", "commitments", "--out", str(out), "--call", w.other_call.reference])
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    assert [(r[5], r[11]) for r in rows[1:]] == [(w.b.reference, 40000)]
    out = tmp_path / "versements.csv"
    assert runner.invoke(args=["export", "payments", "--out", str(out), "--year", "2026"]).exit_code == 0
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].split(";") == exports.HEADERS and len(lines) == 4
    bad = runner.invoke(args=["export", "payments", "--out", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 1 and ".csv or .xlsx" in bad.output
    unknown = runner.invoke(args=["export", "payments", "--out", str(out), "--call", "NOPE"])
    assert unknown.exit_code == 1 and "unknown call" in unknown.output


# --- exports: streaming ------------------------------------------------------------------

def test_exports_are_generators_fed_by_yield_per(session):
    w = money_world(session)
    seen = []

    @event.listens_for(session, "do_orm_execute")
    def record(state):
        seen.append(state.execution_options.get("yield_per"))

    try:
        rows = exports.rows(session, "payments", batch=2)
        assert inspect.isgenerator(rows)
        assert seen == []  # nothing is read before the first row is asked for
        first = next(rows)
        assert seen == [2] and first[5] == w.a.reference
        assert len([first, *rows]) == 3
        assert inspect.isgenerator(exports.csv_chunks(session, "payments"))
        assert inspect.isgenerator(exports.xlsx_chunks(session, "payments"))
    finally:
        event.remove(session, "do_orm_execute", record)


def test_csv_goes_out_in_chunks_as_rows_arrive(session, monkeypatch):
    money_world(session)
    monkeypatch.setattr(exports, "CHUNK", 200)  # a few rows per chunk
    chunks = list(exports.csv_chunks(session, "commitments", batch=1))
    assert len(chunks) >= 3
    assert "".join(chunks).count("\r\n") == 4  # the header and three movements
    out = io.StringIO()
    exports.write_csv(session, out, "commitments")
    assert out.getvalue() == "".join(chunks)


def test_xlsx_is_written_in_write_only_mode_and_sent_in_chunks(session, monkeypatch):
    money_world(session)
    from openpyxl import Workbook

    modes = []
    real = Workbook.__init__

    def spy(self, write_only=False, iso_dates=False):
        modes.append(write_only)
        real(self, write_only=write_only, iso_dates=iso_dates)

    monkeypatch.setattr(Workbook, "__init__", spy)
    monkeypatch.setattr(exports, "CHUNK", 1024)
    chunks = list(exports.xlsx_chunks(session, "commitments"))
    assert modes == [True] and len(chunks) > 1
    sheet = load_workbook(io.BytesIO(b"".join(chunks)), read_only=True).active
    assert len(list(sheet.iter_rows(values_only=True))) == 4
    assert exports.euros(-1) == Decimal("-0.01")
