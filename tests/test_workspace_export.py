"""The instructors' list as a spreadsheet: every page of what the filters give, in the list's order,
scoped as the list is, streamed (the statements do not grow with the files), French figures, and
text an applicant typed never read as a formula."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Application, ConflictDeclaration, User
from tests.factories import make_application, make_organisation, make_user, recorded_statements
from tests.test_workspace import files, in_db, listed, staff  # noqa: F401 - the fixture

CSV_URL = "/instruction/espace/dossiers.csv"
XLSX_URL = "/instruction/espace/dossiers.xlsx"


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_the_export_holds_every_page_of_the_filtered_list_in_its_order(app, files):
    client, refs = staff(app, files["instructor"]), files["refs"]
    rows = csv_rows(client.get(CSV_URL, query_string={"per_page": 25}))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Référence", "Projet", "Organisation", "SIRET"] and header[-1] == "Conflit d'intérêts"
    assert [r[0] for r in body] == listed(client)  # the same files, in the list's default order
    by_ref = {r[0]: dict(zip(header, r)) for r in body}
    vision = by_ref[refs["Vision industrielle"]]
    assert vision["Organisation"] == "Alsace Robotique" and vision["Département"] == "67"
    assert vision["Taille"] == "Petite entreprise" and vision["Appel"] == "PACK-T"
    assert vision["Montant demandé (€)"] == "20000,00" and vision["Instructeur"] == "Bruno Collègue"
    assert vision["État"] == "Déposé" and vision["Éligibilité"] == "non décidé"
    assert by_ref[refs["Prévision des ventes"]]["Éligibilité"] == "éligible"
    assert by_ref[refs["Maintenance prédictive"]]["Éligibilité"] == "non éligible"

    # filters and sort as the list's, and every page of them: one file a page here, three in the file
    params = {"department": "67", "sort": "amount", "dir": "desc", "per_page": 25}
    exported = [r[0] for r in csv_rows(client.get(CSV_URL, query_string=params))[1:]]
    assert exported == listed(client, department="67", sort="amount", dir="desc")
    assert exported == [refs["Maintenance prédictive"], refs["Vision industrielle"], refs["Diagnostic dermatologique"]]
    response = client.get(CSV_URL, query_string={"call": "PACK-T"})
    assert "dossiers-PACK-T-" in response.headers["Content-Disposition"]
    assert len(csv_rows(response)) == 1 + 3


def test_the_workbook_has_numbers_dates_and_the_same_rows(app, files):
    client, refs = staff(app, files["instructor"]), files["refs"]
    response = client.get(XLSX_URL, query_string={"sort": "reference"})
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.get_data())).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Référence" and len(rows) == 1 + 5
    assert [r[0] for r in rows[1:]] == sorted(refs.values())
    row = next(r for r in rows if r[0] == refs["Jumeau numérique"])
    assert row[9] == 90_000 and isinstance(row[9], (int, float, Decimal))  # an amount, not a text
    assert row[11].date() <= date.today()  # the deposit, a date and time
    assert sheet["J2"].number_format.startswith("#,##0.00")


def test_the_export_is_scoped_as_the_list_and_refused_to_others(app, files):
    with in_db(app) as s:
        call_id = s.execute(select(Application.call_id).where(
            Application.reference == files["refs"]["Jumeau numérique"])).scalar_one()
        scoped = make_user(s, ("instructor", call_id)).email
        applicant = make_user(s).email
        expert = make_user(s, "expert").email
    exported = {r[0] for r in csv_rows(staff(app, scoped).get(CSV_URL))[1:]}
    assert exported == {files["refs"]["Jumeau numérique"], files["refs"]["Diagnostic dermatologique"]}
    # a call the instructor does not hold gives nothing, not the other call's files
    assert csv_rows(staff(app, scoped).get(CSV_URL, query_string={"call": "PACK-T"}))[1:] == []
    for email in (applicant, expert):
        assert staff(app, email).get(CSV_URL).status_code == 403
        assert staff(app, email).get(XLSX_URL).status_code == 403
    anonymous = app.test_client().get(CSV_URL)
    assert anonymous.status_code == 302 and "/connexion" in anonymous.headers["Location"]


def test_a_refused_filter_sends_back_to_the_list_with_the_reason(app, files):
    client = staff(app, files["instructor"])
    response = client.get(CSV_URL, query_string={"amount_min": "beaucoup", "department": "67"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/instruction/espace/?")
    assert "department=67" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "montant en euros invalide" in page


def test_text_typed_by_an_applicant_is_never_read_as_a_formula(app, files):
    with in_db(app) as s:
        call_id = s.execute(select(Application.call_id).where(
            Application.reference == files["refs"]["Jumeau numérique"])).scalar_one()
        from app.models import Call

        org = make_organisation(s, make_user(s), name="+33 Conseil", department="57")
        make_application(s, s.get(Call, call_id), org, title='=HYPERLINK("https://exemple.test","Cliquez")',
                         amount_cents=100_000)
    client = staff(app, files["instructor"])
    rows = csv_rows(client.get(CSV_URL, query_string={"q": "HYPERLINK"}))
    assert rows[1][1] == "'=HYPERLINK(\"https://exemple.test\",\"Cliquez\")" and rows[1][2] == "'+33 Conseil"
    sheet = load_workbook(io.BytesIO(client.get(XLSX_URL, query_string={"q": "HYPERLINK"}).get_data())).worksheets[0]
    assert sheet["B2"].data_type == "s" and sheet["B2"].value.startswith("=HYPERLINK")


def test_conflicts_are_marked_as_on_the_list(app, files):
    with in_db(app) as s:
        user_id = s.execute(select(User.id).where(User.email == files["instructor"])).scalar_one()
        s.add(ConflictDeclaration(application_id=files["ids"]["Jumeau numérique"], user_id=user_id, role="instructor",
                                  has_conflict=True, link="Associé"))
    rows = csv_rows(staff(app, files["instructor"]).get(CSV_URL))
    marks = {r[0]: r[-1] for r in rows[1:]}
    assert marks[files["refs"]["Jumeau numérique"]] == "oui"
    assert {ref for ref, mark in marks.items() if mark} == {files["refs"]["Jumeau numérique"]}


def test_the_export_costs_the_same_statements_for_5_and_50_files(app, files):
    client = staff(app, files["instructor"])

    def statements() -> int:
        with app.app_context(), recorded_statements(db.engine) as recorded:
            assert client.get(CSV_URL).status_code == 200
        return len(recorded)

    few = statements()
    with in_db(app) as s:
        from app.models import Call

        call = s.execute(select(Call).where(Call.reference == "PACK-T")).scalar_one()
        for n in range(45):
            make_application(s, call, make_organisation(s, make_user(s), name=f"Société {n}"), amount_cents=10_000 + n)
    assert len(csv_rows(client.get(CSV_URL))) == 1 + 50
    assert statements() == few


def test_the_list_links_to_its_exports_with_its_filters(app, files):
    page = staff(app, files["instructor"]).get("/instruction/espace/", query_string={"department": "88"})
    text = page.get_data(as_text=True)
    assert 'href="/instruction/espace/dossiers.csv?department=88"' in text
    assert 'href="/instruction/espace/dossiers.xlsx?department=88"' in text


def test_rows_fetched_in_batches_keep_every_file_and_its_conflict_mark(app, files):
    from app.operations import workspace as ops

    with in_db(app) as s:
        user = s.execute(select(User).where(User.email == files["instructor"])).scalar_one()
        s.add(ConflictDeclaration(application_id=files["ids"]["Jumeau numérique"], user_id=user.id, role="instructor",
                                  has_conflict=True, link="Associé"))
        s.flush()
        filters = ops.Filters.from_args({"sort": "reference"})
        with app.test_request_context():
            rows = list(ops.export_rows(s, user, ops.export_statement(s, user, filters), batch=2))
        assert [r[0] for r in rows] == sorted(files["refs"].values())
        assert [r[0] for r in rows if r[-1] == "oui"] == [files["refs"]["Jumeau numérique"]]
        assert ops.export_filename(filters, "csv", today=date(2026, 12, 2)) == "dossiers-2026-12-02.csv"
