"""Who reaches what: dashboards per role, files per organisation and per call,
staff creation by an administrator.

These tests override conftest's ``demo`` fixture with one that seeds the same
demo data through the real seeding code but inside a short application
context. conftest's ``demo`` (through ``session``) keeps an app context pushed
for the whole test; Flask then reuses it for every test-client request, so all
requests share ``g``, where Flask-Login caches the current user: a second,
anonymous client would be served as the first client's user and access checks
would pass or fail for the wrong reason. The database is likewise read only
inside short ``with app.app_context()`` blocks (``in_db``).
"""

from __future__ import annotations

import html
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Application, AuditEntry, Call, Organisation, User
from app.operations import accounts
from app.operations.demo import seed_demo
from tests.factories import (TEST_PASSWORD, declare_no_conflict, login, make_application, make_call, make_organisation,
                             make_user)

DEMO_PASSWORD = "demo"
DASHBOARDS = {
    "applicant": "/espace/",
    "instructor": "/instruction/",
    "expert": "/instruction/expertise",
    "committee": "/commission/",
    "finance": "/finances/",
    "admin": "/admin/",
}
ROLES = list(DASHBOARDS)


@contextmanager
def in_db(app):
    with app.app_context():
        yield db.session
        db.session.commit()


@pytest.fixture
def demo(app):
    """The demo data set, seeded through the real code (see the module docstring)."""
    with in_db(app) as s:
        return seed_demo(s)


def demo_email(role: str) -> str:
    return f"demo-{role}@guichet.test"


def logged_in(app, email: str, password: str = DEMO_PASSWORD):
    client = app.test_client()
    response = login(client, email, password)
    assert response.status_code == 302, f"login of {email} failed"
    assert urlsplit(response.headers["Location"]).path == "/tableau-de-bord"
    return client


def path_of(response) -> str:
    return urlsplit(response.headers["Location"]).path


def references(app, *, organisation: str | None = None, call: str | None = None, draft: bool | None = None) -> list[str]:
    with in_db(app) as s:
        stmt = select(Application.reference).join(Application.organisation).join(Application.call)
        if organisation is not None:
            stmt = stmt.where(Organisation.name == organisation)
        if call is not None:
            stmt = stmt.where(Call.reference == call)
        if draft is True:
            stmt = stmt.where(Application.state == "draft")
        elif draft is False:
            stmt = stmt.where(Application.state != "draft")
        refs = list(s.execute(stmt.order_by(Application.reference)).scalars())
    assert refs, "the query should match demo files"
    return refs


ORG1, ORG2 = "Atelier Numérique de Champagne", "BioVosges"
AMI, PACK = "AMI-ECONUM-2026", "PACK-IA-2026"


def call_id(app, reference: str) -> int:
    with in_db(app) as s:
        return s.execute(select(Call.id).where(Call.reference == reference)).scalar_one()


# --- dashboards ------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_demo_account_lands_on_its_own_dashboard(app, demo, role):
    client = logged_in(app, demo_email(role))
    response = client.get("/tableau-de-bord")
    assert response.status_code == 302
    assert path_of(response) == DASHBOARDS[role]
    page = client.get(DASHBOARDS[role])
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"


# Administrators also reach the finance pages (tests/test_finance.py).
SHARED_DASHBOARDS = {("admin", "finance")}


@pytest.mark.parametrize("role,other", [(r, o) for r in ROLES for o in ROLES if o != r and (r, o) not in SHARED_DASHBOARDS])
def test_demo_account_is_refused_other_dashboards(app, demo, role, other):
    client = logged_in(app, demo_email(role))
    response = client.get(DASHBOARDS[other])
    assert response.status_code == 403
    assert "Vous n'avez pas accès à cette page." in html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("path", [*DASHBOARDS.values(), "/tableau-de-bord"])
def test_anonymous_user_is_sent_to_login(app, demo, path):
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert path_of(response) == "/connexion"
    assert f"next={path.replace('/', '%2F')}" in response.headers["Location"]


def test_user_without_any_role_gets_403_on_the_dashboard(app):
    with in_db(app) as s:
        user = make_user(s)
        user.roles.clear()
        email = user.email
    client = logged_in(app, email, TEST_PASSWORD)
    assert client.get("/tableau-de-bord").status_code == 403
    assert client.get("/espace/").status_code == 403


# --- applicants see their own organisation's files -------------------------

def test_applicant_sees_only_their_organisations_files(app, demo):
    own, others = references(app, organisation=ORG1), references(app, organisation=ORG2)
    client = logged_in(app, demo_email("applicant"))
    page = client.get("/espace/").get_data(as_text=True)
    assert ORG1 in page
    for ref in own:
        assert ref in page
    for ref in others:
        assert ref not in page
    assert ORG2 not in page


def test_applicant_gets_404_on_another_organisations_file(app, demo):
    client = logged_in(app, demo_email("applicant"))
    for ref in references(app, organisation=ORG2):
        assert client.get(f"/espace/dossiers/{ref}").status_code == 404, ref
    assert client.get("/espace/dossiers/PIA-1999-9999").status_code == 404


def test_applicant_opens_their_own_files_drafts_included(app, demo):
    client = logged_in(app, demo_email("applicant"))
    own_draft = references(app, organisation=ORG1, draft=True)[0]
    own_submitted = references(app, organisation=ORG1, draft=False)[0]
    for ref in (own_draft, own_submitted):
        response = client.get(f"/espace/dossiers/{ref}")
        assert response.status_code == 200, ref
        assert ref in response.get_data(as_text=True)


# --- instructors -----------------------------------------------------------

def test_instructor_gets_403_on_drafts(app, demo):
    client = logged_in(app, demo_email("instructor"))
    drafts = references(app, draft=True)
    for ref in drafts:
        assert client.get(f"/instruction/dossiers/{ref}").status_code == 403, ref
    assert client.get("/instruction/dossiers/PIA-1999-9999").status_code == 404


def test_instructor_sees_submitted_files_but_not_drafts(app, demo):
    client = logged_in(app, demo_email("instructor"))
    drafts, submitted = references(app, draft=True), references(app, draft=False)
    first = client.get(f"/instruction/dossiers/{submitted[0]}")
    assert first.status_code == 302 and path_of(first) == f"/instruction/dossiers/{submitted[0]}/conflit"
    declare_no_conflict(client, submitted[0])
    assert client.get(f"/instruction/dossiers/{submitted[0]}").status_code == 200
    pages = range(1, len(submitted) // 25 + 2)  # the list shows 25 files a page
    listing = "".join(client.get(f"/instruction/?page={n}").get_data(as_text=True) for n in pages)
    for ref in drafts:
        assert ref not in listing
    for ref in submitted:
        assert ref in listing


def scoped_instructor(app) -> str:
    ami = call_id(app, AMI)
    with in_db(app) as s:
        return make_user(s, ("instructor", ami)).email


def test_instructor_scoped_to_one_call_gets_403_on_another_call(app, demo):
    client = logged_in(app, scoped_instructor(app), TEST_PASSWORD)
    for ref in references(app, call=PACK, draft=False):
        assert client.get(f"/instruction/dossiers/{ref}").status_code == 403, ref


def test_instructor_scoped_to_one_call_sees_that_calls_files(app, demo):
    client = logged_in(app, scoped_instructor(app), TEST_PASSWORD)
    ami_files, pack_files = references(app, call=AMI, draft=False), references(app, call=PACK, draft=False)
    for ref in ami_files:
        declare_no_conflict(client, ref)
        assert client.get(f"/instruction/dossiers/{ref}").status_code == 200, ref
    pages = range(1, len(ami_files) // 25 + 2)  # the list shows 25 files a page
    listing = "".join(client.get(f"/instruction/?page={n}").get_data(as_text=True) for n in pages)
    assert AMI in listing and PACK not in listing
    assert all(ref in listing for ref in ami_files)
    assert not any(ref in listing for ref in pack_files)


# --- several roles ---------------------------------------------------------

def test_user_with_two_roles_reaches_both_spaces(app):
    with in_db(app) as s:
        user = make_user(s, "applicant", "instructor")
        make_organisation(s, user, name="Double Casquette SARL")
        call = make_call(s)
        email, reference = user.email, call.reference
    client = logged_in(app, email, TEST_PASSWORD)
    assert path_of(client.get("/tableau-de-bord")) == "/instruction/"
    espace = client.get("/espace/")
    assert espace.status_code == 200
    assert "Double Casquette SARL" in espace.get_data(as_text=True)
    instruction = client.get("/instruction/")
    assert instruction.status_code == 200
    assert reference in instruction.get_data(as_text=True)
    for other in ("/admin/", "/finances/", "/commission/", "/instruction/expertise"):
        assert client.get(other).status_code == 403, other


def test_user_with_two_roles_sees_files_in_both_spaces(app):
    with in_db(app) as s:
        user = make_user(s, "applicant", "instructor")
        org = make_organisation(s, user)
        call = make_call(s)
        own_draft = make_application(s, call, org, state="draft").reference
        other_submitted = make_application(s, call, make_organisation(s, make_user(s)), state="submitted").reference
        email = user.email
    client = logged_in(app, email, TEST_PASSWORD)
    espace = client.get("/espace/").get_data(as_text=True)
    assert own_draft in espace and other_submitted not in espace
    instruction = client.get("/instruction/").get_data(as_text=True)
    assert other_submitted in instruction and own_draft not in instruction
    assert client.get(f"/espace/dossiers/{own_draft}").status_code == 200
    declare_no_conflict(client, other_submitted)
    assert client.get(f"/instruction/dossiers/{other_submitted}").status_code == 200


# --- staff creation by an administrator ------------------------------------

NEW_STAFF = "nouvel.instructeur@region-grandest.fr"
NEW_STAFF_PASSWORD = "mot de passe initial solide"


def staff_form(call: int) -> dict[str, str]:
    return {"name": "Nouvel Instructeur", "email": NEW_STAFF, "password": NEW_STAFF_PASSWORD,
            "role": "instructor", "call_id": str(call)}


def test_admin_creates_a_scoped_staff_user_who_can_log_in(app, demo):
    ami = call_id(app, AMI)
    admin = logged_in(app, demo_email("admin"))
    response = admin.post("/admin/utilisateurs", data=staff_form(ami))
    assert response.status_code == 302
    assert path_of(response) == "/admin/"
    assert NEW_STAFF in admin.get("/admin/").get_data(as_text=True)

    with in_db(app) as s:
        user = accounts.find_user(s, NEW_STAFF)
        assert user is not None
        assert user.email_confirmed_at is not None
        assert [(r.role, r.call_id) for r in user.roles] == [("instructor", ami)]
        user_id = user.id
        admin_id = accounts.find_user(s, demo_email("admin")).id
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "create_user",
                                                     AuditEntry.object_id == str(user_id))).scalars().all()
        assert len(entries) == 1
        assert entries[0].object_type == "user"
        assert entries[0].actor_id == admin_id
        assert entries[0].actor_role == "admin"
        assert entries[0].after["email"] == NEW_STAFF

    # The new account logs in at once, as a scoped instructor (pages are checked above).
    staff = logged_in(app, NEW_STAFF, NEW_STAFF_PASSWORD)
    assert path_of(staff.get("/tableau-de-bord")) == "/instruction/"
    assert staff.get(f"/instruction/dossiers/{references(app, call=PACK, draft=False)[0]}").status_code == 403
    assert staff.get("/admin/").status_code == 403


def test_admin_cannot_create_a_duplicate_account(app, demo):
    admin = logged_in(app, demo_email("admin"))
    data = staff_form(0) | {"email": "demo-finance@guichet.test"}
    response = admin.post("/admin/utilisateurs", data=data)
    assert response.status_code == 422
    with in_db(app) as s:
        assert len(s.execute(select(User).where(User.email == "demo-finance@guichet.test")).scalars().all()) == 1


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_non_admin_cannot_create_users(app, demo, role):
    client = logged_in(app, demo_email(role))
    response = client.post("/admin/utilisateurs", data=staff_form(0))
    assert response.status_code == 403
    with in_db(app) as s:
        assert accounts.find_user(s, NEW_STAFF) is None
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "create_user",
                                                  AuditEntry.actor_role == "admin")).first() is None


def test_anonymous_cannot_create_users(app, demo):
    response = app.test_client().post("/admin/utilisateurs", data=staff_form(0))
    assert response.status_code == 302
    assert path_of(response) == "/connexion"
    with in_db(app) as s:
        assert accounts.find_user(s, NEW_STAFF) is None
