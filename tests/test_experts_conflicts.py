"""Experts (invitation, reminders, revocation, what they see), conflicts of
interest (declaration, automatic flags, enforcement on every file route and
in the API) and private annotations (never shown outside the staff)."""

from __future__ import annotations

import html
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from app.callforms import builtin_definition
from app.extensions import db
from app.models import (Annotation, Application, AuditEntry, ConflictDeclaration, ExpertInvitation, Membership, Review, User,
                        utcnow)
from app.operations.drafts import publish_form
from tests.factories import TEST_PASSWORD, declare_no_conflict, login, make_application, make_call, make_organisation, make_user

SHARED_TEXT = "Un résumé que les experts peuvent lire"
PRIVATE_TEXT = "Effectif confidentiel"
NOTE = "Note interne : relancer le commissaire aux comptes"


@contextmanager
def in_db(app):
    with app.app_context():
        yield db.session
        db.session.commit()


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def client_for(app, email):
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


@pytest.fixture
def case(app):
    """An AMI call with its form, an applicant organisation (domain acme-robotique.fr) and two files, an instructor."""
    with in_db(app) as s:
        call = make_call(s, workflow="ami_numerique")
        form = publish_form(s, call, builtin_definition("ami_numerique"), None)
        applicant = make_user(s, email="dirigeant@acme-robotique.fr", name="Dirigeant")
        org = make_organisation(s, applicant, name="Acme Robotique")
        files = []
        for title in ("Robot de tri", "Autre projet"):
            a = make_application(s, call, org, title=title)
            a.form_version_id = form.id
            a.answers = {"titre_projet": title, "resume": SHARED_TEXT, "effectif": 42, "type_structure": "entreprise",
                         "description_technique": "Vision et apprentissage profond."}
            files.append(a)
        instructor = make_user(s, "instructor", email="ines@region-grandest.fr", name="Inès")
        data = {"ref": files[0].reference, "other": files[1].reference, "id": files[0].id, "applicant": applicant.email,
                "instructor": instructor.email, "call_id": call.id}
    return data


def invite(app, case, email="expert@labo-ia.fr", days=10):
    staff = client_for(app, case["instructor"])
    declare_no_conflict(staff, case["ref"])
    due = (utcnow() + timedelta(days=days)).date().isoformat()
    response = staff.post(f"/instruction/dossiers/{case['ref']}/experts", data={"email": email, "due_on": due})
    assert response.status_code == 302
    return staff


# --- experts -----------------------------------------------------------------

def test_invited_expert_sees_only_invited_files_and_shared_fields(app, case, outbox):
    invite(app, case)
    with in_db(app) as s:
        expert = s.execute(select(User).where(User.email == "expert@labo-ia.fr")).scalar_one()
        assert expert.has_role("expert", case["call_id"]) and not expert.has_role("expert", case["call_id"] + 1000)
        expert.set_password(TEST_PASSWORD)
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "invite_expert")).scalar_one()
    mail = [m for m in outbox if m["To"] == "expert@labo-ia.fr"]
    assert len(mail) == 1 and case["ref"] in mail[0]["Subject"]
    body = mail[0].get_content()
    assert f"/instruction/expertise/{case['ref']}" in body and "Choisissez votre mot de passe" in body

    expert = client_for(app, "expert@labo-ia.fr")
    home = text_of(expert.get("/instruction/expertise"))
    assert case["ref"] in home and case["other"] not in home
    assert expert.get(f"/instruction/expertise/{case['other']}").status_code == 404
    first = expert.get(f"/instruction/expertise/{case['ref']}")
    assert first.status_code == 302 and first.headers["Location"].endswith(f"/instruction/expertise/{case['ref']}/declaration")
    assert expert.post(f"/instruction/expertise/{case['ref']}/declaration", data={"conflict": "no"}).status_code == 302
    page = text_of(expert.get(f"/instruction/expertise/{case['ref']}"))
    assert SHARED_TEXT in page and "Vision et apprentissage profond." in page
    assert "42" not in re.sub(r"\d{4}-\d{4}", "", page.split("<main", 1)[1]) and "Effectif" not in page
    assert "Type de structure" not in page
    # no staff page, no API file
    assert expert.get(f"/instruction/dossiers/{case['ref']}").status_code == 403
    assert expert.get("/instruction/espace/").status_code == 403


def test_revoked_invitation_closes_the_file(app, case, outbox):
    staff = invite(app, case)
    with in_db(app) as s:
        invitation = s.execute(select(ExpertInvitation)).scalar_one()
        s.get(User, invitation.expert_id).set_password(TEST_PASSWORD)
        invitation_id = invitation.id
    assert staff.post(f"/instruction/dossiers/{case['ref']}/experts/{invitation_id}/revoquer").status_code == 302
    expert = client_for(app, "expert@labo-ia.fr")
    assert expert.get(f"/instruction/expertise/{case['ref']}").status_code == 404
    assert case["ref"] not in text_of(expert.get("/instruction/expertise"))
    assert any("retirée" in m["Subject"] for m in outbox if m["To"] == "expert@labo-ia.fr")
    again = staff.post(f"/instruction/dossiers/{case['ref']}/experts/{invitation_id}/revoquer", follow_redirects=True)
    assert "déjà révoquée" in text_of(again)


def test_invitation_refused_for_a_past_due_date_or_a_conflicted_expert(app, case):
    staff = invite(app, case, days=5)
    past = staff.post(f"/instruction/dossiers/{case['ref']}/experts",
                      data={"email": "autre@labo.fr", "due_on": utcnow().date().isoformat()}, follow_redirects=True)
    assert "postérieure à aujourd'hui" in text_of(past)
    same_domain = staff.post(f"/instruction/dossiers/{case['ref']}/experts", follow_redirects=True, data={
        "email": "collegue@acme-robotique.fr", "due_on": (utcnow() + timedelta(days=9)).date().isoformat()})
    assert "conflit d'intérêts" in text_of(same_domain)
    with in_db(app) as s:
        assert len(s.execute(select(ExpertInvitation)).scalars().all()) == 1
        assert s.execute(select(User).where(User.email == "collegue@acme-robotique.fr")).scalar_one_or_none() is None


def test_experts_are_reminded_once_before_and_once_after_the_due_date(app, case, outbox):
    from app.operations.schedule import tick

    invite(app, case, days=10)
    before = len(outbox)
    with app.app_context():
        tick(db.session)
        assert len(outbox) == before  # 10 days away: nothing yet
        with freeze_time(utcnow() + timedelta(days=8)):
            tick(db.session)
            tick(db.session)
        assert len(outbox) == before + 1 and "Rappel" in outbox[-1]["Subject"]
        with freeze_time(utcnow() + timedelta(days=12)):
            tick(db.session)
            tick(db.session)
        assert len(outbox) == before + 2 and "retard" in outbox[-1]["Subject"]
        invitation = db.session.execute(select(ExpertInvitation)).scalar_one()
        assert invitation.reminders_sent == 2


def test_an_expert_who_submitted_the_review_is_not_reminded(app, case, outbox):
    from app.operations.schedule import tick

    invite(app, case, days=10)
    with app.app_context():
        invitation = db.session.execute(select(ExpertInvitation)).scalar_one()
        application = db.session.get(Application, invitation.application_id)
        db.session.add(Review(application_id=application.id, reviewer_id=invitation.expert_id, reviewer_role="expert",
                              grid_name="ami_numerique", scores={}, comments={}, status="submitted", opinion="Favorable",
                              submitted_at=utcnow()))
        db.session.commit()
        before = len(outbox)
        with freeze_time(utcnow() + timedelta(days=12)):
            tick(db.session)
        assert len(outbox) == before
        assert db.session.get(ExpertInvitation, invitation.id).reminders_sent == 0


# --- conflicts of interest ---------------------------------------------------

FILE_ROUTES = [  # every staff route on one file (instruction and reviews blueprints), GET and POST
    ("get", "/instruction/dossiers/{ref}"),
    ("get", "/instruction/dossiers/{ref}/accuse-de-reception.pdf"),
    ("get", "/instruction/dossiers/{ref}/pieces/1"),
    ("post", "/instruction/dossiers/{ref}/eligibilite"),
    ("post", "/instruction/dossiers/{ref}/eligibilite/relancer"),
    ("post", "/instruction/dossiers/{ref}/transitions/start_eligibility"),
    ("post", "/instruction/dossiers/{ref}/corrections"),
    ("post", "/instruction/dossiers/{ref}/messages"),
    ("post", "/instruction/dossiers/{ref}/notes"),
    ("post", "/instruction/dossiers/{ref}/attribution"),
    ("post", "/instruction/dossiers/{ref}/experts"),
    ("post", "/instruction/dossiers/{ref}/experts/1/revoquer"),
    ("get", "/instruction/dossiers/{ref}/avis"),
    ("post", "/instruction/dossiers/{ref}/avis"),
    ("post", "/instruction/dossiers/{ref}/avis/1/rouvrir"),
    ("get", "/instruction/dossiers/{ref}/rapport"),
    ("post", "/instruction/dossiers/{ref}/rapport"),
    ("get", "/instruction/dossiers/{ref}/rapport.pdf"),
    ("post", "/instruction/dossiers/{ref}/rapport.pdf"),
    ("post", "/instruction/dossiers/{ref}/rapport/proposition"),
]


def test_file_routes_list_is_complete(app):
    rules = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/instruction/dossiers/<reference>")}
    covered = {path.replace("{ref}", "<reference>").replace("transitions/start_eligibility", "transitions/<name>")
               .replace("pieces/1", "pieces/<int:attachment_id>").replace("experts/1/", "experts/<int:invitation_id>/")
               .replace("avis/1/", "avis/<int:review_id>/")
               for _method, path in FILE_ROUTES}
    assert rules - {"/instruction/dossiers/<reference>/conflit"} == covered


def conflicted_staff(app, case, kind: str) -> str:
    with in_db(app) as s:
        if kind == "member":
            user = make_user(s, "instructor", email="double@region-grandest.fr")
            org_id = s.execute(select(Application.organisation_id).where(Application.reference == case["ref"])).scalar_one()
            s.add(Membership(user_id=user.id, organisation_id=org_id))
        elif kind == "domain":
            user = make_user(s, "instructor", email="cousin@acme-robotique.fr")
        else:
            user = make_user(s, "instructor", email="declared@region-grandest.fr")
            s.add(ConflictDeclaration(application_id=case["id"], user_id=user.id, role="instructor", has_conflict=True,
                                      link="Ancien salarié"))
        return user.email


@pytest.mark.parametrize("kind", ["member", "domain", "declared"])
def test_a_conflicted_instructor_is_refused_on_every_file_route(app, case, kind):
    client = client_for(app, conflicted_staff(app, case, kind))
    for method, path in FILE_ROUTES:
        response = getattr(client, method)(path.format(ref=case["ref"]))
        assert response.status_code == 403, (kind, method, path, response.status_code)
        assert "Conflit d'intérêts" in text_of(response), path
    # the declaration page says why, and takes no declaration
    page = client.get(f"/instruction/dossiers/{case['ref']}/conflit")
    assert page.status_code == 200 and "vous ne pouvez ni l'ouvrir" in text_of(page)
    # the other file of another organisation is fine once declared
    with in_db(app) as s:
        other_org = make_organisation(s, make_user(s, email="x@ailleurs.fr"))
        call = s.get(Application, case["id"]).call
        other = make_application(s, call, other_org).reference
    declare_no_conflict(client, other)
    assert client.get(f"/instruction/dossiers/{other}").status_code == 200


def test_public_webmail_domains_do_not_flag(app, case):
    with in_db(app) as s:
        applicant = s.execute(select(User).where(User.email == case["applicant"])).scalar_one()
        applicant.email = "acme.robotique@gmail.com"
        make_user(s, "instructor", email="ines.perso@gmail.com")
    client = client_for(app, "ines.perso@gmail.com")
    assert client.get(f"/instruction/dossiers/{case['ref']}").status_code == 302  # asked to declare, not refused
    declare_no_conflict(client, case["ref"])
    assert client.get(f"/instruction/dossiers/{case['ref']}").status_code == 200


def test_declaring_a_conflict_is_recorded_and_closes_the_file(app, case):
    client = client_for(app, case["instructor"])
    with in_db(app) as s:
        inst = s.execute(select(User).where(User.email == case["instructor"])).scalar_one()
        s.get(Application, case["id"]).assigned_instructor_id = inst.id
    empty = client.post(f"/instruction/dossiers/{case['ref']}/conflit", data={"conflict": "yes", "link": " "})
    assert empty.status_code == 200 and "Décrivez le lien" in text_of(empty)
    response = client.post(f"/instruction/dossiers/{case['ref']}/conflit", data={"conflict": "yes", "link": "Mon frère y travaille"})
    assert response.status_code == 302
    assert client.get(f"/instruction/dossiers/{case['ref']}").status_code == 403
    with in_db(app) as s:
        rows = s.execute(select(ConflictDeclaration)).scalars().all()
        assert [(r.has_conflict, r.link, r.role) for r in rows] == [(True, "Mon frère y travaille", "instructor")]
        assert s.get(Application, case["id"]).assigned_instructor_id is None  # taken off the file
        audit = s.execute(select(AuditEntry).where(AuditEntry.action == "declare_conflict")).scalar_one()
        assert audit.object_id == case["ref"] and audit.reason == "Mon frère y travaille"
    # and nobody can put them back in charge
    with in_db(app) as s:
        boss = make_user(s, "instructor", email="chef@region-grandest.fr")
        boss_email, inst_id = boss.email, s.execute(select(User.id).where(User.email == case["instructor"])).scalar_one()
    boss_client = client_for(app, boss_email)
    declare_no_conflict(boss_client, case["ref"])
    refused = boss_client.post(f"/instruction/dossiers/{case['ref']}/attribution", data={"instructor_id": str(inst_id)},
                               follow_redirects=True)
    assert "en conflit d'intérêts" in text_of(refused)


def test_conflicted_expert_cannot_open_the_file(app, case):
    invite(app, case)
    with in_db(app) as s:
        s.execute(select(User).where(User.email == "expert@labo-ia.fr")).scalar_one().set_password(TEST_PASSWORD)
    expert = client_for(app, "expert@labo-ia.fr")
    assert expert.post(f"/instruction/expertise/{case['ref']}/declaration",
                       data={"conflict": "yes", "link": "Consultant de l'entreprise"}).status_code == 302
    response = expert.get(f"/instruction/expertise/{case['ref']}")
    assert response.status_code == 403 and SHARED_TEXT not in text_of(response)


def api_token(client, email, password=TEST_PASSWORD) -> str:
    response = client.post("/api/v1/tokens", json={"email": email, "password": password, "name": "t", "scopes": ["read", "write"]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def test_api_enforces_declarations_and_conflicts(app, case):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_token(client, case['instructor'])}"}
    for path in (f"/api/v1/applications/{case['ref']}", f"/api/v1/applications/{case['ref']}/answers"):
        response = client.get(path, headers=headers)
        assert response.status_code == 403 and "Déclarez" in response.get_json()["error"]["message"]
    bad = client.post(f"/api/v1/applications/{case['ref']}/conflict-declaration", json={"conflict": "non"}, headers=headers)
    assert bad.status_code == 422
    ok = client.post(f"/api/v1/applications/{case['ref']}/conflict-declaration", json={"conflict": False}, headers=headers)
    assert ok.status_code == 201 and ok.get_json()["conflict"] is False
    assert client.get(f"/api/v1/applications/{case['ref']}", headers=headers).status_code == 200
    declared = client.post(f"/api/v1/applications/{case['other']}/conflict-declaration",
                           json={"conflict": True, "link": "Ancien associé"}, headers=headers)
    assert declared.status_code == 201
    for path in (f"/api/v1/applications/{case['other']}", f"/api/v1/applications/{case['other']}/answers"):
        assert client.get(path, headers=headers).status_code == 403
    # the applicant reads their own file without any declaration
    with in_db(app) as s:
        s.execute(select(User).where(User.email == case["applicant"])).scalar_one()
    own = {"Authorization": f"Bearer {api_token(client, case['applicant'])}"}
    assert client.get(f"/api/v1/applications/{case['ref']}", headers=own).status_code == 200


# --- private annotations -----------------------------------------------------

def test_annotations_stay_with_the_staff(app, case):
    staff = invite(app, case)
    assert staff.post(f"/instruction/dossiers/{case['ref']}/notes", data={"body": NOTE}).status_code == 302
    assert staff.post(f"/instruction/dossiers/{case['ref']}/notes", data={"body": "   "}).status_code == 302
    assert NOTE in text_of(staff.get(f"/instruction/dossiers/{case['ref']}"))
    with in_db(app) as s:
        assert [a.body for a in s.execute(select(Annotation)).scalars()] == [NOTE]
        s.execute(select(User).where(User.email == "expert@labo-ia.fr")).scalar_one().set_password(TEST_PASSWORD)
    applicant = client_for(app, case["applicant"])
    for path in ("/espace/", f"/espace/dossiers/{case['ref']}"):
        response = applicant.get(path)
        assert response.status_code == 200 and NOTE not in text_of(response)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {api_token(api, case['applicant'])}"}
    for path in (f"/api/v1/applications/{case['ref']}", f"/api/v1/applications/{case['ref']}/answers", "/api/v1/applications"):
        response = api.get(path, headers=headers)
        assert response.status_code == 200 and NOTE not in response.get_data(as_text=True)
    expert = client_for(app, "expert@labo-ia.fr")
    expert.post(f"/instruction/expertise/{case['ref']}/declaration", data={"conflict": "no"})
    page = expert.get(f"/instruction/expertise/{case['ref']}")
    assert page.status_code == 200 and NOTE not in text_of(page)
