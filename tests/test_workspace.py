"""The instructors' workspace: filters, sort, search, pagination, saved views,
bulk actions re-checked file by file, and a constant number of queries."""

from __future__ import annotations

import html
from contextlib import contextmanager
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import Application, AuditEntry, EligibilityDecision, SavedView, utcnow
from tests.factories import login, make_application, make_call, make_organisation, make_user


@contextmanager
def in_db(app):
    with app.app_context():
        yield db.session
        db.session.commit()


@pytest.fixture
def files(app):
    """Two calls, five files with varied organisations, amounts, dates and states; a global instructor."""
    with in_db(app) as s:
        instructor = make_user(s, "instructor", email="inst@region.test", name="Inès Instructrice")
        colleague = make_user(s, "instructor", email="coll@region.test", name="Bruno Collègue")
        pack, ami = make_call(s, reference="PACK-T"), make_call(s, reference="AMI-T", workflow="ami_numerique")
        alsace = make_organisation(s, make_user(s), name="Alsace Robotique", department="67")
        alsace.size_category = "small"
        vosges = make_organisation(s, make_user(s), name="Vosges Bois", department="88")
        vosges.size_category = "medium"
        now = utcnow()
        rows = [
            (pack, alsace, "Vision industrielle", 2_000_000, "submitted", 10),
            (pack, vosges, "Prévision des ventes", 500_000, "eligibility_check", 5),
            (pack, alsace, "Maintenance prédictive", 3_500_000, "instruction", 3),
            (ami, vosges, "Jumeau numérique", 9_000_000, "submitted", 2),
            (ami, alsace, "Diagnostic dermatologique", 1_200_000, "submitted", 1),
        ]
        refs = {}
        for call, org, title, amount, state, days_ago in rows:
            a = make_application(s, call, org, state=state, amount_cents=amount, title=title)
            a.submitted_at = now - timedelta(days=days_ago)
            refs[title] = a
        refs["Vision industrielle"].assigned_instructor_id = colleague.id
        s.flush()
        s.add(EligibilityDecision(application_id=refs["Prévision des ventes"].id, run=1, automatic_outcome="pass",
                                  eligible=True, decided_by_id=instructor.id))
        s.add(EligibilityDecision(application_id=refs["Maintenance prédictive"].id, run=1, automatic_outcome="fail",
                                  eligible=False, decided_by_id=instructor.id))
        out = {"instructor": instructor.email, "colleague_id": colleague.id,
               "refs": {t: a.reference for t, a in refs.items()}, "ids": {t: a.id for t, a in refs.items()}}
    return out


def listed(client, **params) -> list[str]:
    response = client.get("/instruction/espace/", query_string={"per_page": 100, **params})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    import re

    return re.findall(r'name="ids" value="\d+" id="sel-\d+" aria-label="Sélectionner ([A-Z0-9-]+)"', page)


def staff(app, email):
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def test_filters_each_narrow_the_list(app, files):
    client, refs = staff(app, files["instructor"]), files["refs"]
    assert len(listed(client)) == 5
    assert set(listed(client, call="AMI-T")) == {refs["Jumeau numérique"], refs["Diagnostic dermatologique"]}
    assert listed(client, state="instruction") == [refs["Maintenance prédictive"]]
    assert set(listed(client, stage="eligibility")) == {refs[t] for t in ("Vision industrielle", "Prévision des ventes",
                                                                          "Jumeau numérique", "Diagnostic dermatologique")}
    assert set(listed(client, department="88")) == {refs["Prévision des ventes"], refs["Jumeau numérique"]}
    assert set(listed(client, size="small")) == {refs[t] for t in ("Vision industrielle", "Maintenance prédictive",
                                                                   "Diagnostic dermatologique")}
    assert listed(client, instructor=str(files["colleague_id"])) == [refs["Vision industrielle"]]
    assert len(listed(client, instructor="none")) == 4
    assert set(listed(client, amount_min="15 000", amount_max="40000,00")) == {refs["Vision industrielle"],
                                                                              refs["Maintenance prédictive"]}
    assert listed(client, eligibility="eligible") == [refs["Prévision des ventes"]]
    assert listed(client, eligibility="ineligible") == [refs["Maintenance prédictive"]]
    assert len(listed(client, eligibility="undecided")) == 3
    today = utcnow().astimezone(ZoneInfo("Europe/Paris")).date()  # the filter's days are Paris days
    recent = listed(client, submitted_from=(today - timedelta(days=4)).isoformat(), submitted_to=today.isoformat())
    assert set(recent) == {refs["Maintenance prédictive"], refs["Jumeau numérique"], refs["Diagnostic dermatologique"]}


def test_search_on_title_organisation_and_reference(app, files):
    client, refs = staff(app, files["instructor"]), files["refs"]
    assert listed(client, q="jumeau") == [refs["Jumeau numérique"]]
    assert len(listed(client, q="vosges bois")) == 2
    assert listed(client, q=refs["Vision industrielle"]) == [refs["Vision industrielle"]]
    assert listed(client, q="100%_") == []


def test_bad_filter_values_are_reported_and_ignored(app, files):
    client = staff(app, files["instructor"])
    response = client.get("/instruction/espace/", query_string={"amount_min": "beaucoup", "submitted_from": "hier",
                                                                 "sort": "n'importe", "stage": "nulle-part"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "montant en euros invalide" in text and "AAAA-MM-JJ" in text and "Tri inconnu" in text and "Étape inconnue" in text
    assert len(listed(client, amount_min="beaucoup")) == 5


def test_sort_and_pagination(app, files):
    client, refs = staff(app, files["instructor"]), files["refs"]
    by_amount = listed(client, sort="amount", dir="asc")
    assert by_amount[0] == refs["Prévision des ventes"] and by_amount[-1] == refs["Jumeau numérique"]
    assert listed(client, sort="amount", dir="desc") == by_amount[::-1]
    newest_first = listed(client)
    assert newest_first[0] == refs["Diagnostic dermatologique"] and newest_first[-1] == refs["Vision industrielle"]
    page = client.get("/instruction/espace/", query_string={"per_page": 25}).get_data(as_text=True)
    assert "Page 1 sur 1" in page and "5 dossiers" in page


def test_pagination_splits_pages_with_a_total(app, files, monkeypatch):
    from app.operations import workspace

    monkeypatch.setattr(workspace, "PAGE_SIZES", (2, 50, 100))
    client = staff(app, files["instructor"])
    first = listed(client, per_page=2)
    second = listed(client, per_page=2, page=2)
    third = listed(client, per_page=2, page=3)
    assert len(first) == 2 and len(second) == 2 and len(third) == 1
    assert len(set(first + second + third)) == 5
    assert "Page 2 sur 3" in client.get("/instruction/espace/", query_string={"per_page": 2, "page": 2}).get_data(as_text=True)


def test_saved_views_are_per_user(app, files):
    client = staff(app, files["instructor"])
    response = client.post("/instruction/espace/vues", data={"name": "Gros dossiers", "amount_min": "20000", "sort": "amount"})
    assert response.status_code == 302 and "amount_min=20000" in response.headers["Location"]
    page = client.get("/instruction/espace/").get_data(as_text=True)
    assert "Gros dossiers" in page
    assert client.post("/instruction/espace/vues", data={"name": "  "}).status_code == 302
    with in_db(app) as s:
        views = s.execute(select(SavedView)).scalars().all()
        assert [(v.name, v.filters) for v in views] == [("Gros dossiers", {"amount_min": "20000", "sort": "amount"})]
        view_id = views[0].id
        other = make_user(s, "instructor", email="other@region.test").email
    other_client = staff(app, other)
    assert "Gros dossiers" not in other_client.get("/instruction/espace/").get_data(as_text=True)
    assert other_client.post(f"/instruction/espace/vues/{view_id}/supprimer").status_code == 404
    assert client.post(f"/instruction/espace/vues/{view_id}/supprimer").status_code == 302
    with in_db(app) as s:
        assert s.execute(select(SavedView)).scalars().all() == []


def test_workspace_is_for_instructors_and_admins_only(app, files):
    with in_db(app) as s:
        applicant = make_user(s).email
        expert = make_user(s, "expert").email
        admin = make_user(s, "admin").email
        scoped = make_user(s, ("instructor", s.execute(select(Application.call_id).where(
            Application.reference == files["refs"]["Jumeau numérique"])).scalar_one())).email
    assert staff(app, applicant).get("/instruction/espace/").status_code == 403
    assert staff(app, expert).get("/instruction/espace/").status_code == 403
    assert len(listed(staff(app, admin))) == 5
    assert set(listed(staff(app, scoped))) == {files["refs"]["Jumeau numérique"], files["refs"]["Diagnostic dermatologique"]}
    assert app.test_client().get("/instruction/espace/").status_code == 302


def test_bulk_transition_with_allowed_and_refused_files(app, files):
    client, ids, refs = staff(app, files["instructor"]), files["ids"], files["refs"]
    chosen = [ids["Vision industrielle"], ids["Jumeau numérique"], ids["Maintenance prédictive"]]
    response = client.post("/instruction/espace/actions", data={"action": "transition", "transition": "start_eligibility",
                                                                "ids": [str(i) for i in chosen] + ["999999"]})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 dossier(s) traité(s), 2 écarté(s)" in text
    assert "#999999" in text and "hors de votre périmètre" in text
    with in_db(app) as s:
        states = dict(s.execute(select(Application.reference, Application.state)).all())
        assert states[refs["Vision industrielle"]] == "eligibility_check"
        assert states[refs["Jumeau numérique"]] == "eligibility_check"
        assert states[refs["Maintenance prédictive"]] == "instruction"  # refused, unchanged
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "transition:start_eligibility")).scalars().all().__len__() == 2


def test_bulk_assign_and_corrections(app, files):
    client, ids, refs = staff(app, files["instructor"]), files["ids"], files["refs"]
    response = client.post("/instruction/espace/actions", data={
        "action": "assign", "instructor_id": str(files["colleague_id"]),
        "ids": [str(ids["Jumeau numérique"]), str(ids["Prévision des ventes"])]})
    assert "2 dossier(s) traité(s), 0 écarté(s)" in response.get_data(as_text=True)
    due = (utcnow() + timedelta(days=10)).date().isoformat()
    response = client.post("/instruction/espace/actions", data={
        "action": "corrections", "keys": "titre_projet", "message": "Précisez le titre.", "due_date": due,
        "ids": [str(ids["Prévision des ventes"]), str(ids["Vision industrielle"])]})
    text = response.get_data(as_text=True)
    assert "1 dossier(s) traité(s), 1 écarté(s)" in text  # a submitted file cannot be sent back yet
    with in_db(app) as s:
        rows = {a.reference: a for a in s.execute(select(Application)).scalars()}
        assert rows[refs["Jumeau numérique"]].assigned_instructor_id == files["colleague_id"]
        assert rows[refs["Prévision des ventes"]].state == "corrections_requested"
        assert rows[refs["Vision industrielle"]].state == "submitted"


def test_bulk_assignment_refuses_a_conflicted_instructor(app, files):
    from app.models import ConflictDeclaration

    client, ids = staff(app, files["instructor"]), files["ids"]
    with in_db(app) as s:
        s.add(ConflictDeclaration(application_id=ids["Jumeau numérique"], user_id=files["colleague_id"],
                                  role="instructor", has_conflict=True, link="Ancien associé du dirigeant"))
    response = client.post("/instruction/espace/actions", data={
        "action": "assign", "instructor_id": str(files["colleague_id"]),
        "ids": [str(ids["Jumeau numérique"]), str(ids["Diagnostic dermatologique"])]})
    text = html.unescape(response.get_data(as_text=True))
    assert "1 dossier(s) traité(s), 1 écarté(s)" in text and "conflit d'intérêts" in text


def test_the_list_costs_the_same_number_of_queries_for_5_and_50_files(app, files):
    client = staff(app, files["instructor"])
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def measure() -> int:
        client.get("/instruction/espace/", query_string={"per_page": 100})  # warm caches
        statements.clear()
        event.listen(engine, "before_cursor_execute", listener)
        try:
            response = client.get("/instruction/espace/", query_string={"per_page": 100})
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert response.status_code == 200
        return len(statements)

    with_5 = measure()
    assert len(listed(client)) == 5
    with in_db(app) as s:
        call = make_call(s)
        for i in range(45):
            org = make_organisation(s, make_user(s), department="57")
            a = make_application(s, call, org, title=f"Projet {i}")
            a.assigned_instructor_id = files["colleague_id"]
    with_50 = measure()
    assert len(listed(client)) == 50
    assert with_5 == with_50, (with_5, with_50)
    assert with_50 <= 15


def test_the_list_costs_the_same_number_of_queries_whoever_the_files_are_assigned_to(app, files):
    """The statements of a page depend on the filters, never on the data: listing files with an
    assigned instructor used to add one (the instructor's roles, eagerly loaded with the user), so the
    bench counted 14 statements on the demo data and 13 on 100,000 unassigned files."""
    client = staff(app, files["instructor"])
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def measure(**params) -> tuple[int, list[str]]:
        client.get("/instruction/espace/", query_string=params)  # warm caches
        statements.clear()
        event.listen(engine, "before_cursor_execute", listener)
        try:
            response = client.get("/instruction/espace/", query_string=params)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert response.status_code == 200
        refs = listed(client, **params)
        return len(statements), refs

    colleague = str(files["colleague_id"])
    assigned, assigned_refs = measure(instructor=colleague)
    unassigned, unassigned_refs = measure(instructor="none")
    assert assigned_refs == [files["refs"]["Vision industrielle"]] and len(unassigned_refs) == 4
    assert assigned == unassigned, (assigned, unassigned)
    # and the page size does not matter either (25 or 100 rows a page, with or without assigned files)
    assert measure(instructor=colleague, per_page=100)[0] == measure(instructor="none", per_page=25)[0] == assigned


def test_conflicted_files_are_listed_without_a_link(app, files):
    from app.models import ConflictDeclaration

    from app.models import User

    with in_db(app) as s:
        user_id = s.execute(select(User.id).where(User.email == files["instructor"])).scalar_one()
        s.add(ConflictDeclaration(application_id=files["ids"]["Jumeau numérique"], user_id=user_id, role="instructor",
                                  has_conflict=True, link="Associé"))
    page = html.unescape(staff(app, files["instructor"]).get("/instruction/espace/").get_data(as_text=True))
    ref = files["refs"]["Jumeau numérique"]
    assert f"{ref} <span class=\"state\">conflit d'intérêts</span>" in page
    assert f"/instruction/dossiers/{ref}\"" not in page
    assert f"/instruction/dossiers/{files['refs']['Vision industrielle']}\"" in page


def test_bulk_form_offers_the_staff_transitions_of_the_workflows(app, files):
    page = html.unescape(staff(app, files["instructor"]).get("/instruction/espace/").get_data(as_text=True))
    assert '<option value="start_eligibility">' in page and '<option value="start_instruction">' in page
    assert '<option value="submit">' not in page and '<option value="approve">' not in page
