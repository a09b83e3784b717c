"""Committee pages, API and demo: who sees what (members only their committees'
agendas, 403 otherwise), a session run end to end through the pages, the
minutes PDF, the public list of decisions, the API's shape.

As in test_access.py, the demo is seeded inside a short application context
and the database is read in short ``with app.app_context()`` blocks, so each
test-client request runs as in production."""

from __future__ import annotations

import io
import re
from contextlib import contextmanager

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from app.models import AgendaItem, CommitteeSession, Document, User
from app.operations.demo import seed_demo
from tests.conftest import run_queued_jobs
from tests.factories import TEST_PASSWORD, login, make_user

DEMO_PASSWORD = "demo"
MEMBER = "demo-committee@guichet.test"  # chair of the demo Commission permanente
PROXY_HOLDER = "demo-committee3@guichet.test"


@contextmanager
def in_db(app):
    with app.app_context():
        yield db.session
        db.session.commit()


@pytest.fixture
def demo(app):
    with in_db(app) as s:
        return seed_demo(s)


def sessions(app) -> tuple[int, int]:
    """(decided session id, upcoming session id)."""
    with in_db(app) as s:
        rows = s.execute(select(CommitteeSession).order_by(CommitteeSession.held_at)).scalars().all()
        return rows[0].id, rows[1].id


def logged_in(app, email: str, password: str = DEMO_PASSWORD):
    client = app.test_client()
    assert login(client, email, password).status_code == 302
    return client


def outsider(app, *roles: str) -> str:
    with in_db(app) as s:
        return make_user(s, *roles).email


def pdf_text(content: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages).split())


# --- demo ------------------------------------------------------------------------------

def test_demo_has_a_decided_session_with_a_proxy_a_withdrawal_and_a_grant_above_23000(app, demo):
    from app.ledger import file_balance

    decided, upcoming = sessions(app)
    with in_db(app) as s:
        cs = s.get(CommitteeSession, decided)
        assert cs.status == "closed"
        assert any(a.status == "represented" for a in cs.attendances)
        assert any(item.withdrawals for item in cs.items)
        big = [i for i in cs.items if i.decision == "approved" and i.amount_cents > 23_000_00]
        assert big and big[0].amount_cents < big[0].proposed_amount_cents  # lowered by the committee
        application = big[0].application
        assert application.state == "approved" and application.deliberation_number == big[0].deliberation_number
        assert file_balance(s, application).reserved_cents == big[0].amount_cents
        assert {i.decision for i in cs.items} == {"approved", "rejected"}
        assert s.get(CommitteeSession, upcoming).status == "planned"
        assert {i.block for i in s.get(CommitteeSession, upcoming).items} == {"A"}


# --- access control ------------------------------------------------------------------------

def test_a_member_sees_his_sessions_agenda_and_documents(app, demo):
    decided, upcoming = sessions(app)
    client = logged_in(app, MEMBER)
    home = client.get("/commission/")
    assert home.status_code == 200
    assert f"/commission/seances/{upcoming}" in home.text and f"/commission/seances/{decided}" in home.text
    page = client.get(f"/commission/seances/{decided}")
    assert page.status_code == 200 and "Procès-verbal" in page.text
    with in_db(app) as s:
        item = s.get(CommitteeSession, decided).items[1]
        item_id, reference = item.id, item.application.reference
    item_page = client.get(f"/commission/seances/{decided}/points/{item_id}")
    assert item_page.status_code == 200 and reference in item_page.text
    assert "ne prend pas part au vote" in item_page.text
    assert "intérêt déclaré pour BioVosges" in item_page.text
    declarations = client.get("/commission/declarations")
    assert declarations.status_code == 200


def test_a_committee_member_outside_the_committee_gets_403(app, demo):
    decided, _upcoming = sessions(app)
    with in_db(app) as s:
        item = s.get(CommitteeSession, decided).items[0]
        item_id = item.id
        receipt = Document(application_id=item.application_id, kind="receipt", version=1, stored_name="x" * 32,
                           sha256="0" * 64, size_bytes=1)
        s.add(receipt)
        s.flush()
        document_id = receipt.id
    client = logged_in(app, outsider(app, "committee"), TEST_PASSWORD)
    assert "seances" not in client.get("/commission/").text
    for path in (f"/commission/seances/{decided}", f"/commission/seances/{decided}/points/{item_id}",
                 f"/commission/seances/{decided}/points/{item_id}/documents/{document_id}",
                 f"/commission/seances/{decided}/proces-verbal.pdf"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/commission/seances/{decided}/vote", data={"key": f"item:{item_id}", "voter_id": 1,
                                                                    "choice": "for"}).status_code == 403
    assert client.get("/commission/gestion").status_code == 403


@pytest.mark.parametrize("role", ["applicant", "expert", "finance"])
def test_other_roles_do_not_reach_the_committee_pages(app, demo, role):
    decided, _upcoming = sessions(app)
    client = logged_in(app, outsider(app, role), TEST_PASSWORD)
    for path in ("/commission/", f"/commission/seances/{decided}", "/commission/gestion", "/commission/declarations"):
        assert client.get(path).status_code == 403, path


def test_a_member_cannot_run_the_session(app, demo):
    _decided, upcoming = sessions(app)
    client = logged_in(app, MEMBER)
    assert client.post(f"/commission/seances/{upcoming}/ouvrir").status_code == 403
    assert client.post(f"/commission/seances/{upcoming}/votes/ouvrir", data={"key": "block:A"}).status_code == 403
    assert client.post(f"/commission/seances/{upcoming}/presences", data={}).status_code == 403


def test_anonymous_visitors_are_sent_to_login(app, demo):
    decided, _upcoming = sessions(app)
    response = app.test_client().get(f"/commission/seances/{decided}")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


# --- a session through the pages, minutes, publication ----------------------------------------

def post(client, path: str, data: dict, expect: str | None = None):
    response = client.post(path, data=data, follow_redirects=True)
    assert response.status_code == 200
    if expect is not None:
        assert expect in response.text, re.findall(r'class="flash[^"]*">([^<]*)', response.text)
    return response


def test_staff_run_the_upcoming_session_members_vote_and_the_minutes_are_published(app, demo):
    decided, upcoming = sessions(app)
    with in_db(app) as s:
        members = {u.email: u.id for u in s.execute(select(User).where(User.email.like("demo-committee%"))).scalars()}
        references = [i.application.reference for i in s.get(CommitteeSession, upcoming).items]
    public = app.test_client().get("/deliberations")
    assert public.status_code == 200 and "Aucune décision" in public.text

    staff = logged_in(app, "demo-instructor@guichet.test")
    assert staff.get("/commission/gestion").status_code == 200
    base = f"/commission/seances/{upcoming}"
    post(staff, f"{base}/ouvrir", {}, "Séance ouverte")
    post(staff, f"{base}/votes/ouvrir", {"key": "block:A"}, "Quorum non atteint")
    for email in ("demo-committee@guichet.test", "demo-committee2@guichet.test", "demo-committee3@guichet.test"):
        post(staff, f"{base}/presences", {"attendance-member_id": members[email], "attendance-status": "present",
                                          "attendance-holder_id": 0}, "enregistrée")
    # A member gives his proxy himself.
    proxy_giver = logged_in(app, "demo-committee4@guichet.test")
    post(proxy_giver, f"{base}/procuration", {"proxy-holder_id": members[PROXY_HOLDER]}, "procuration")
    post(staff, f"{base}/votes/ouvrir", {"key": "block:A"}, "Vote ouvert")
    post(staff, f"{base}/approuver-proces-verbal", {}, "Procès-verbal approuvé")

    chair = logged_in(app, MEMBER)
    post(chair, f"{base}/vote", {"key": "block:A", "voter_id": members[MEMBER], "choice": "for"}, "Vote enregistré")
    holder = logged_in(app, PROXY_HOLDER)
    page = holder.get(base).text
    assert "Vote de Pierre Hoffmann" in page  # the proxy he holds
    post(holder, f"{base}/vote", {"key": "block:A", "voter_id": members[PROXY_HOLDER], "choice": "for"}, "Vote enregistré")
    post(holder, f"{base}/vote", {"key": "block:A", "voter_id": members["demo-committee4@guichet.test"],
                                  "choice": "against"}, "Vote enregistré")
    # Not his proxy: refused.
    post(holder, f"{base}/vote", {"key": "block:A", "voter_id": members["demo-committee2@guichet.test"],
                                  "choice": "for"}, "ne pouvez pas voter")
    post(staff, f"{base}/votes/clore", {"key": "block:A"}, "la délibération est enregistrée")
    post(staff, f"{base}/clore", {}, "Séance close")

    with in_db(app) as s:
        items = s.get(CommitteeSession, upcoming).items
        assert [(i.decision, i.votes_for, i.votes_against) for i in items] == [("approved", 2, 1)] * 2
        assert all(i.application.state == "approved" for i in items)
        assert s.get(CommitteeSession, decided).status == "minutes_approved"
        decided_numbers = [i.deliberation_number for i in s.get(CommitteeSession, decided).items]
        new_numbers = [i.deliberation_number for i in items]
    public = app.test_client().get("/deliberations").text
    assert all(n in public for n in decided_numbers)  # approved minutes: published
    assert not any(n in public for n in new_numbers)  # minutes still a draft

    run_queued_jobs(app)  # the minutes are drafted after the commit (an RQ job when Redis is configured)
    minutes = chair.get(f"/commission/seances/{decided}/proces-verbal.pdf")
    assert minutes.status_code == 200 and minutes.mimetype == "application/pdf"
    text = pdf_text(minutes.data)
    assert "Approuvé lors de la séance" in text and "Pierre Hoffmann ne prend pas part au vote" in text
    draft = pdf_text(chair.get(f"{base}/proces-verbal.pdf").data)
    assert "PROJET" in draft and all(r in draft for r in references)

    # The decision letter of the workflow's approve: deliberation, amount in figures and in words, appeal.
    with in_db(app) as s:
        health = s.get(CommitteeSession, upcoming).items[0]
        letter = s.execute(select(Document).where(Document.application_id == health.application_id,
                                                  Document.kind == "decision_letter")).scalar_one()
        letter_id, item_id, number = letter.id, health.id, health.deliberation_number
    response = chair.get(f"{base}/points/{item_id}/documents/{letter_id}")
    assert response.status_code == 200
    text = pdf_text(response.data)
    assert number in text and "120 000,00 €" in text.replace("\u202f", " ").replace("\u00a0", " ")
    assert "cent vingt mille euros" in text and "tribunal administratif de Strasbourg" in text
    assert '<a href="/deliberations">' in app.test_client().get("/").text


def test_raising_the_amount_through_the_page_is_refused(app, demo):
    _decided, upcoming = sessions(app)
    with in_db(app) as s:
        item = s.get(CommitteeSession, upcoming).items[0]
        item_id, proposed = item.id, item.proposed_amount_cents
    staff = logged_in(app, "demo-admin@guichet.test")
    path = f"/commission/seances/{upcoming}/points/{item_id}"
    post(staff, path, {"settings-block": "A", "settings-amount": "999 999 999"}, "pas le porter au-delà")
    post(staff, path, {"settings-block": "A", "settings-amount": "100 000"}, "Point mis à jour")
    with in_db(app) as s:
        assert s.get(AgendaItem, item_id).amount_cents == 100_000_00 < proposed


def test_staff_create_a_committee_and_plan_a_session(app, demo):
    staff = logged_in(app, "demo-admin@guichet.test")
    post(staff, "/commission/commissions", {"committee-name": "Jury Startups IA", "committee-code": "JSI",
                                            "committee-kind": "jury", "committee-quorum": "2",
                                            "committee-tie_rule": "reject"}, "Commission créée")
    with in_db(app) as s:
        from app.models import Committee

        committee_id = s.execute(select(Committee.id).where(Committee.code == "JSI")).scalar_one()
        member_id = s.execute(select(User.id).where(User.email == MEMBER)).scalar_one()
    post(staff, f"/commission/commissions/{committee_id}", {"member-user_id": member_id}, "est membre")
    response = post(staff, "/commission/seances", {"session-committee_id": committee_id, "session-day": "2026-12-15",
                                                   "session-time": "09:30", "session-place": "Châlons"},
                    "Séance programmée")
    assert "Jury Startups IA" in response.text


# --- API ---------------------------------------------------------------------------------------

def token(client, email: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/tokens", json={"email": email, "password": password})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_api_gives_sessions_with_items_votes_and_withdrawals(app, demo):
    decided, upcoming = sessions(app)
    client = app.test_client()
    headers = token(client, MEMBER)
    listing = client.get("/api/v1/committee/sessions", headers=headers).get_json()
    assert {s["id"] for s in listing["items"]} == {decided, upcoming}
    detail = client.get(f"/api/v1/committee/sessions/{decided}", headers=headers).get_json()
    assert detail["status"] == "closed" and detail["committee"]["code"] == "CP"
    items = detail["items"]
    assert set(items[0]) >= {"reference", "decision", "deliberation_number", "amount_cents", "votes", "withdrawn"}
    assert {i["decision"] for i in items} == {"approved", "rejected"}
    assert all(re.fullmatch(r"CP-\d{4}-\d{2}-\d{2}-\d{3}", i["deliberation_number"]) for i in items)
    assert items[0]["votes"] == {"for": 4, "against": 1, "abstain": 0}
    assert items[1]["withdrawn"] == ["Pierre Hoffmann"]
    assert items[1]["votes"] == {"for": 3, "against": 0, "abstain": 1}
    pending = client.get(f"/api/v1/committee/sessions/{upcoming}", headers=headers).get_json()["items"]
    assert [i["decision"] for i in pending] == [None, None]


def test_api_access_is_for_members_staff_and_finance(app, demo):
    decided, _upcoming = sessions(app)
    client = app.test_client()
    for email in ("demo-finance@guichet.test", "demo-instructor@guichet.test"):
        assert client.get(f"/api/v1/committee/sessions/{decided}", headers=token(client, email)).status_code == 200
    for email in ("demo-applicant@guichet.test", "demo-expert@guichet.test"):
        headers = token(client, email)
        assert client.get("/api/v1/committee/sessions", headers=headers).status_code == 403
        assert client.get(f"/api/v1/committee/sessions/{decided}", headers=headers).status_code == 403
    stranger = token(client, outsider(app, "committee"), TEST_PASSWORD)
    assert client.get("/api/v1/committee/sessions", headers=stranger).get_json() == {"items": []}
    assert client.get(f"/api/v1/committee/sessions/{decided}", headers=stranger).status_code == 403
    assert client.get("/api/v1/committee/sessions/999999", headers=stranger).status_code == 404


# --- the instruction report on the agenda ---------------------------------------------------------

def test_demo_agenda_items_carry_their_instruction_report(app, demo):
    from app.operations.reviews import REPORT_KIND

    decided, upcoming = sessions(app)
    with in_db(app) as s:
        items = [*s.get(CommitteeSession, decided).items, *s.get(CommitteeSession, upcoming).items]
        paths = []
        for item in items:
            report = s.execute(select(Document).where(Document.application_id == item.application_id,
                                                      Document.kind == REPORT_KIND)).scalar_one()
            paths.append((f"/commission/seances/{item.session_id}/points/{item.id}",
                          f"/commission/seances/{item.session_id}/points/{item.id}/documents/{report.id}",
                          item.application.reference))
    assert len(paths) == 5
    client = logged_in(app, MEMBER)
    for page, document, reference in paths:
        html = client.get(page).text
        assert f'href="{document}"' in html and "Rapport d'instruction (v1, PDF)" in html
        response = client.get(document)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        text = pdf_text(response.data)
        assert "Rapport d'instruction" in text and reference in text and "Avis" in text


# --- staff scoped to some calls see those calls' sessions and items only ---------------------------------

@pytest.fixture
def scoped(app, demo):
    """An instructor and a finance officer of Pack IA only, an instructor of a call with no file at committee;
    the demo's items by call."""
    from app.models import Call
    from tests.factories import make_call

    with in_db(app) as s:
        pack = s.execute(select(Call).where(Call.reference == "PACK-IA-2026")).scalar_one()
        other = make_call(s, reference="AMI-AUTRE-2026")
        users = {"pack": make_user(s, ("instructor", pack.id)).email,
                 "pack_finance": make_user(s, ("finance", pack.id)).email,
                 "elsewhere": make_user(s, ("instructor", other.id)).email}
        rows = s.execute(select(AgendaItem).order_by(AgendaItem.session_id, AgendaItem.position)).scalars().all()
        items = {"pack": [(i.session_id, i.id, i.application.reference) for i in rows
                          if i.application.call_id == pack.id],
                 "other": [(i.session_id, i.id, i.application.reference) for i in rows
                           if i.application.call_id != pack.id]}
    return users, items


def test_a_scoped_instructor_sees_only_the_items_of_his_calls(app, scoped):
    users, items = scoped
    decided, upcoming = sessions(app)
    client = logged_in(app, users["pack"], TEST_PASSWORD)
    home = client.get("/commission/gestion").text
    assert f"/commission/seances/{decided}" in home and f"/commission/seances/{upcoming}" in home
    page = client.get(f"/commission/seances/{decided}").text
    assert all(ref in page for _s, _i, ref in items["pack"] if _s == decided)
    assert not any(ref in page for _s, _i, ref in items["other"])
    for session_id, item_id, _ref in items["pack"]:
        assert client.get(f"/commission/seances/{session_id}/points/{item_id}").status_code == 200
    for session_id, item_id, _ref in items["other"]:
        assert client.get(f"/commission/seances/{session_id}/points/{item_id}").status_code == 404
    # The minutes list every item, some of another call's: refused, and not offered.
    assert client.get(f"/commission/seances/{decided}/proces-verbal.pdf").status_code == 403
    assert "proces-verbal.pdf" not in page
    # The upcoming session mixes both calls: he does not run it, nor the vote on its block.
    assert "Ouvrir la séance" not in client.get(f"/commission/seances/{upcoming}").text
    for action in ("ouvrir", "clore"):
        assert client.post(f"/commission/seances/{upcoming}/{action}").status_code == 403
    assert client.post(f"/commission/seances/{upcoming}/presences", data={}).status_code == 403
    post(logged_in(app, "demo-admin@guichet.test"), f"/commission/seances/{upcoming}/ouvrir", {}, "Séance ouverte")
    post(client, f"/commission/seances/{upcoming}/votes/ouvrir", {"key": "block:A"}, "introuvable")
    with in_db(app) as s:
        assert {i.vote_status for i in s.get(CommitteeSession, upcoming).items} == {"pending"}


def test_an_instructor_of_another_call_sees_no_session_but_an_empty_one_to_prepare(app, scoped):
    users, items = scoped
    decided, upcoming = sessions(app)
    client = logged_in(app, users["elsewhere"], TEST_PASSWORD)
    home = client.get("/commission/gestion").text
    assert f"/commission/seances/{decided}" not in home and f"/commission/seances/{upcoming}" not in home
    for session_id in (decided, upcoming):
        assert client.get(f"/commission/seances/{session_id}").status_code == 403
        assert client.get(f"/commission/seances/{session_id}/proces-verbal.pdf").status_code == 403
    session_id, item_id, _ref = items["pack"][0]
    assert client.get(f"/commission/seances/{session_id}/points/{item_id}").status_code == 403
    assert client.post(f"/commission/seances/{upcoming}/ouvrir").status_code == 403
    with in_db(app) as s:
        assert s.get(CommitteeSession, upcoming).status == "planned"
    # A session with an empty agenda, still being prepared, is his to fill; none of the demo files is offered.
    with in_db(app) as s:
        from app.models import Committee

        committee_id = s.execute(select(Committee.id).where(Committee.code == "CP")).scalar_one()
    admin = logged_in(app, "demo-admin@guichet.test")
    post(admin, "/commission/seances", {"session-committee_id": committee_id, "session-day": "2027-01-20",
                                        "session-time": "10:00", "session-place": "Châlons"}, "Séance programmée")
    with in_db(app) as s:
        empty = s.execute(select(CommitteeSession.id).order_by(CommitteeSession.id.desc()).limit(1)).scalar_one()
    page = client.get(f"/commission/seances/{empty}")
    assert page.status_code == 200 and "Aucun autre dossier n'est prêt pour la commission." in page.text


def test_the_api_scopes_sessions_and_items_by_call(app, scoped):
    users, items = scoped
    decided, upcoming = sessions(app)
    client = app.test_client()
    for who in ("pack", "pack_finance"):
        headers = token(client, users[who], TEST_PASSWORD)
        listing = client.get("/api/v1/committee/sessions", headers=headers).get_json()
        assert {s["id"] for s in listing["items"]} == {decided, upcoming}
        detail = client.get(f"/api/v1/committee/sessions/{decided}", headers=headers).get_json()
        assert [i["reference"] for i in detail["items"]] == [r for s, _i, r in items["pack"] if s == decided]
    headers = token(client, users["elsewhere"], TEST_PASSWORD)
    assert client.get("/api/v1/committee/sessions", headers=headers).get_json() == {"items": []}
    for session_id in (decided, upcoming):
        response = client.get(f"/api/v1/committee/sessions/{session_id}", headers=headers)
        assert response.status_code == 403 and "appels" in response.get_json()["error"]["message"]
    # Staff on every call still see every item.
    headers = token(client, "demo-instructor@guichet.test")
    detail = client.get(f"/api/v1/committee/sessions/{decided}", headers=headers).get_json()
    assert len(detail["items"]) == 3


# --- quorum lost during a vote, through the pages ----------------------------------------------------------

def test_a_vote_that_lost_its_quorum_is_refused_at_closing_then_adjourned(app, demo):
    _decided, upcoming = sessions(app)
    with in_db(app) as s:
        members = {u.email: u.id for u in s.execute(select(User).where(User.email.like("demo-committee%"))).scalars()}
    staff = logged_in(app, "demo-admin@guichet.test")
    base = f"/commission/seances/{upcoming}"
    post(staff, f"{base}/ouvrir", {}, "Séance ouverte")
    present = ("demo-committee@guichet.test", "demo-committee2@guichet.test", "demo-committee3@guichet.test")
    for email in present:
        post(staff, f"{base}/presences", {"attendance-member_id": members[email], "attendance-status": "present",
                                          "attendance-holder_id": 0}, "enregistrée")
    post(staff, f"{base}/votes/ouvrir", {"key": "block:A"}, "Vote ouvert")
    post(staff, f"{base}/vote", {"key": "block:A", "voter_id": members[present[0]], "choice": "for"}, "Vote enregistré")
    page = post(staff, f"{base}/presences", {"attendance-member_id": members[present[2]], "attendance-status": "absent",
                                             "attendance-holder_id": 0}, "enregistrée")
    assert "Ajourner le vote" in page.text
    post(staff, f"{base}/votes/clore", {"key": "block:A"}, "Le vote reste ouvert")
    with in_db(app) as s:
        assert [(i.vote_status, i.decision) for i in s.get(CommitteeSession, upcoming).items] == [("open", None)] * 2
    post(staff, f"{base}/votes/ajourner", {"key": "block:A"}, "Vote ajourné")
    post(staff, f"{base}/clore", {}, "Séance close")
    with in_db(app) as s:
        items = s.get(CommitteeSession, upcoming).items
        assert [(i.vote_status, len(i.votes), i.application.state) for i in items] == [("pending", 0, "committee")] * 2
