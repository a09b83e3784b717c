"""Open data: the SCDL « subventions » 2.1.1 file — which grants, each field,
validity against the official Table Schema (frictionless, plus the schema's
custom checks: SIRET values, idBeneficiaire or rnaBeneficiaire) — from the
``export scdl`` command and the public download page; and the demo's money."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import date
from pathlib import Path

import pytest
from frictionless import Resource, Schema
from sqlalchemy import func, select
from stdnum.fr import siret as stdnum_siret

from app import ledger
from app.models import Application, AuditEntry, LedgerEntry
from app.opendata import FIELDS
from app.operations.demo_finance import DEMO_FINANCE_FILES
from config import ConfigError, load_config
from tests.factories import make_organisation, make_user
from tests.test_ledger import K, World, reserve

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "shared" / "specs" / "scdl-subventions-2.1.1.schema.json"
if not SCHEMA_PATH.exists():  # a worktree beside shared/, or the repository inside the workplace
    SCHEMA_PATH = Path("/work/shared/specs/scdl-subventions-2.1.1.schema.json")


def schema_descriptor() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_scdl(path: Path) -> list[dict[str, str]]:
    """Validate a produced file against the official schema with frictionless,
    then apply the schema's custom checks; return its rows."""
    descriptor = schema_descriptor()
    resource = Resource(path=path.name, basepath=str(path.parent), schema=Schema.from_descriptor(descriptor))
    report = resource.validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == [field["name"] for field in descriptor["fields"]] == FIELDS
        rows = list(reader)
    for check in descriptor["custom_checks"]:
        for row in rows:
            if check["name"] == "french-siret-value" and row[check["params"]["column"]]:
                assert stdnum_siret.is_valid(row[check["params"]["column"]]), row
            elif check["name"] == "one-of-required":
                assert row[check["params"]["column1"]] or row[check["params"]["column2"]], row
    return rows


def export(app, tmp_path, *args) -> tuple[object, Path]:
    out = tmp_path / "subventions.csv"
    result = app.test_cli_runner().invoke(args=["export", "scdl", "--out", str(out), *args])
    return result, out


def grants_world(session):
    """Files around the rules: committed above and below the threshold, exactly
    at it, awarded without a ledger entry, refused, committed then reversed."""
    w = World(session)
    org2 = make_organisation(session, make_user(session), name="Coopérative du Sundgau")
    files = {}

    def committed(name, amount, regime="de_minimis", on=date(2026, 3, 10), org=None):
        application = w.file(org, amount=amount)
        reserve(w, application, amount, year=on.year, key=f"{name}-reserve", regime=regime, on=on)
        entry = ledger.commit(session, application, amount, year=on.year, idempotency_key=f"{name}-commit",
                              actor=w.finance, on=on)
        application.state = "payments"
        files[name] = application
        return entry

    committed("above", 30 * K, on=date(2026, 3, 10))
    committed("below", 20 * K)
    committed("threshold", 23 * K)
    committed("gber", 90 * K, regime="gber:25", on=date(2025, 6, 1), org=org2)
    ledger.pay(session, files["gber"], 27 * K, kind="advance", idempotency_key="gber-advance", actor=w.finance,
               on=date(2025, 7, 1))
    ledger.pay(session, files["gber"], 63 * K, kind="balance", idempotency_key="gber-balance", actor=w.finance,
               on=date(2026, 2, 1))
    reversed_commit = committed("reversed", 40 * K)
    ledger.reverse(session, reversed_commit, idempotency_key="reversed-rev", actor=w.finance, reason="Erreur")
    awarded = w.file(amount=60 * K, declared=None)
    awarded.state, awarded.proposed_amount_cents, awarded.awarded_amount_cents = "approved", 60 * K, 55 * K
    awarded.decided_on, awarded.deliberation_number = date(2026, 10, 5), "26CP-0042"
    files["awarded"] = awarded
    refused = w.file(amount=70 * K)
    refused.state, refused.proposed_amount_cents, refused.awarded_amount_cents = "rejected", 70 * K, 70 * K
    refused.decided_on = date(2026, 10, 5)
    session.commit()
    w.files, w.org2 = files, org2
    return w


def test_export_scdl_selects_the_grants_above_23000_euros(app, session, tmp_path):
    w = grants_world(session)
    result, out = export(app, tmp_path)
    assert result.exit_code == 0, result.output
    assert "3 grant(s) written" in result.output
    rows = validate_scdl(out)
    by_ref = {row["objet"].split(" — ")[0]: row for row in rows}
    assert [row["montant"] for row in rows] == ["90000.00", "30000.00", "55000.00"]  # oldest decision first
    gber, above, awarded = rows
    assert gber["nomBeneficiaire"] == "Coopérative du Sundgau" and gber["idBeneficiaire"] == w.org2.siret
    assert gber["notificationUE"] == "non" and above["notificationUE"] == "oui"
    assert gber["dateConvention"] == "2025-06-01"
    assert gber["datesPeriodeVersement"] == "2025-06-01/2026-02-01"  # balance paid: the period ends with it
    assert above["datesPeriodeVersement"] == "2026-03-10/2030-03-10"  # not paid: to the completion limit (48 months)
    assert awarded["referenceDecision"] == "26CP-0042" and awarded["dateConvention"] == "2026-10-05"
    for row in rows:
        assert row["nomAttribuant"] == "Région Grand Est" and row["idAttribuant"] == "20005226400013"
        assert row["nature"] == "aide en numéraire" and row["conditionsVersement"] == "échelonné"
        assert row["pourcentageSubvention"] == "1.00" and row["rnaBeneficiaire"] == ""
        assert len(row["objet"]) <= 256 and w.call.title in row["objet"]
    assert len(by_ref) == 1  # every file is called "Projet test"


def test_export_scdl_by_year(app, session, tmp_path):
    grants_world(session)
    result, out = export(app, tmp_path, "--year", "2025")
    assert result.exit_code == 0, result.output
    assert [row["montant"] for row in validate_scdl(out)] == ["90000.00"]
    result, out = export(app, tmp_path, "--year", "2024")
    assert "0 grant(s) written" in result.output
    assert validate_scdl(out) == []
    result, _out = export(app, tmp_path, "--year", "25")
    assert result.exit_code == 2 and "année sur quatre chiffres" in result.output


def test_an_invalid_file_fails_the_schema(session, tmp_path):
    """The validation itself catches a broken file (so a green test means something)."""
    bad = tmp_path / "bad.csv"
    row = {field: "" for field in FIELDS} | {
        "nomAttribuant": "Région Grand Est", "idAttribuant": "2000522640001", "dateConvention": "05/10/2026",
        "nomBeneficiaire": "X", "idBeneficiaire": "81234567600017", "objet": "Y", "montant": "1 000,00",
        "nature": "subvention", "conditionsVersement": "échelonné", "datesPeriodeVersement": "2026",
        "notificationUE": "peut-être", "pourcentageSubvention": "1.00"}
    with bad.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerow(row)
    report = Resource(path=bad.name, basepath=str(tmp_path), schema=Schema.from_descriptor(schema_descriptor())).validate()
    wrong = {error[0] for error in report.flatten(["fieldName"])}
    assert wrong == {"idAttribuant", "dateConvention", "montant", "nature", "datesPeriodeVersement", "notificationUE"}


def test_public_page_lists_and_serves_the_grants(app, session, tmp_path):
    grants_world(session)
    client = app.test_client()
    page = html.unescape(client.get("/donnees-ouvertes/").get_data(as_text=True))
    assert "Coopérative du Sundgau" in page and "26CP-0042" in page
    assert "Année 2025 (CSV, 1 subvention(s))" in page and "Année 2026 (CSV, 2 subvention(s))" in page
    response = client.get("/donnees-ouvertes/subventions.csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "Content-Length" not in response.headers  # streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="subventions.csv"'
    served = tmp_path / "served.csv"
    served.write_bytes(response.get_data())
    _result, out = export(app, tmp_path)
    assert served.read_bytes() == out.read_bytes()
    validate_scdl(served)
    one_year = client.get("/donnees-ouvertes/subventions.csv?annee=2025", buffered=True).get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(one_year)))) == 1
    assert client.get("/donnees-ouvertes/?annee=vingt").status_code == 404


def test_attributing_authority_is_configurable_and_checked():
    config = load_config({"GUICHET_ENV": "testing"})
    assert config["SCDL_ATTRIBUTING_SIRET"] == "20005226400013"
    assert stdnum_siret.is_valid(config["SCDL_ATTRIBUTING_SIRET"])  # the Région Grand Est, Luhn-valid
    assert config["SCDL_THRESHOLD_CENTS"] == 2_300_000
    with pytest.raises(ConfigError, match="SCDL_ATTRIBUTING_SIRET"):
        load_config({"GUICHET_ENV": "testing", "SCDL_ATTRIBUTING_SIRET": "20005226400014"})


# --- the demo ----------------------------------------------------------------------------

def test_demo_has_money_at_every_stage_and_a_valid_open_data_file(app, session, demo, tmp_path):
    references = {}
    for grant in DEMO_FINANCE_FILES:
        application = session.execute(select(Application).where(Application.title == grant.title)).scalar_one()
        references[grant.title] = application
        assert application.awarded_amount_cents == grant.awarded * 100
        assert application.decided_on is not None and application.deliberation_number
        balance = ledger.file_balance(session, application)
        if grant.lapse:
            assert application.state == "lapsed"
            assert balance.committed_cents == balance.paid_cents > 0  # the rest decommitted by the transition
        elif not grant.committed:
            assert (balance.reserved_cents, balance.committed_cents) == (grant.awarded * 100, 0)
        else:
            assert balance.committed_cents > 0 and balance.paid_cents > 0
            if grant.stage == "closed":
                assert balance.committed_cents == balance.paid_cents
    assert {a.state for a in references.values()} >= {"approved", "agreement", "payments", "closed", "lapsed"}
    lapse = session.execute(select(AuditEntry).where(AuditEntry.action == "transition:declare_lapse")).scalar_one()
    assert lapse.actor_role == "finance"
    kinds = set(session.execute(select(LedgerEntry.payment_kind).where(LedgerEntry.operation == "pay")).scalars())
    assert kinds == {"advance", "interim", "balance"}
    assert session.execute(select(func.count()).where(LedgerEntry.operation == "decommit")).scalar_one() >= 2
    assert ledger.check_totals(session) == [] and ledger.check_entries(session) == []
    assert ledger.check_invariants(session) == []

    result, out = export(app, tmp_path)
    assert result.exit_code == 0, result.output
    rows = validate_scdl(out)
    assert len(rows) >= 8 and all(float(row["montant"]) > 23_000 for row in rows)
    assert {row["notificationUE"] for row in rows} == {"oui", "non"}

    client = app.test_client()
    from tests.factories import login

    login(client, "demo-finance@guichet.test", "demo")
    for path in ("/finances/engagements", "/finances/versements"):
        assert "Aucun mouvement" not in client.get(path).get_data(as_text=True)
    closed = next(a for a in references.values() if a.state == "closed")
    assert "Solde" in client.get(f"/finances/dossiers/{closed.reference}").get_data(as_text=True)
