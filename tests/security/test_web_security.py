"""Web security, checked over the whole URL map where it can be: CSRF on
every state-changing request, security headers on every page, no inline
script or style in the templates (the CSP forbids them), HTTPS-only
transport (HSTS), script injection in every free-text field rendered back,
SQL injection in filters and search. (Session renewal, logout, login rate
limiting, upload attacks and API tokens: tests/test_auth.py,
tests/test_attachments.py, tests/test_api.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import AgendaItem, Application, AuditEntry, Call, Committee, CommitteeSession, Organisation, User
from app.operations.demo import seed_demo
from tests.factories import login
from tests.journey import (APPLICANT, DEMO_PASSWORD, INSTRUCTOR, PACK, answers_for, api_headers, complete_draft_api,
                           definition, org_of, text_of)
from tests.security.test_permission_matrix import in_db, routes

ROOT = Path(__file__).resolve().parents[2]
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
XSS = "<script>alert('xss')</script><img src=x onerror=alert(1)>"


def concrete(rule) -> str:
    """The rule with made-up values: "1" for each variable, the first choice of an ``any(...)`` one."""
    def value(match: re.Match) -> str:
        choices = re.match(r"any\(([^)]*)\)", match.group(1) or "")
        return choices.group(1).split(",")[0].strip() if choices else "1"

    return re.sub(r"<(?:([^:<>]+):)?[^<>]+>", value, rule.rule)


# --------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_state_changing_page_request_without_csrf_token_is_400(app, csrf, signed_in):
    """Every non-API route taking POST/PUT/PATCH/DELETE, from the URL map,
    refuses a request without the token (the API uses bearer tokens, not
    cookies: it is exempt)."""
    client = app.test_client()
    if signed_in:
        with in_db(app) as s:
            seed_demo(s)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/connexion").get_data(as_text=True))
        assert login(client, APPLICANT, DEMO_PASSWORD).status_code == 400  # the login form itself
        response = client.post("/connexion", data={"email": APPLICANT, "password": DEMO_PASSWORD,
                                                   "csrf_token": token.group(1)})
        assert response.status_code == 302
    checked = []
    for rule, method in routes(app):
        if method not in STATE_CHANGING or rule.endpoint.startswith("api."):
            continue
        response = client.open(concrete(rule), method=method, data={"x": "1"})
        assert response.status_code == 400, f"{method} {rule.rule} answers {response.status_code} without a CSRF token"
        assert "Le formulaire a expiré" in text_of(response)
        checked.append(rule.endpoint)
    assert len(checked) >= 30


# --------------------------------------------------------------------------- headers


def assert_security_headers(response, where: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts, f"{where}: no script-src in the CSP"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, where
    assert "'unsafe-inline'" not in directives.get("style-src", []), where
    assert directives.get("frame-ancestors") == ["'none'"], where
    assert directives.get("object-src") == ["'none'"], where
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") == "same-origin", where


def test_every_get_route_sends_the_security_headers(app):
    """Every GET route of the map (with made-up values: a 404 page counts
    too), for a visitor and a signed-in person, plus the API's answers."""
    with in_db(app) as s:
        seed_demo(s)
    visitor, member = app.test_client(), app.test_client()
    assert login(member, APPLICANT, DEMO_PASSWORD).status_code == 302
    for rule, method in routes(app):
        if method != "GET":
            continue
        for client in (visitor, member):
            response = client.get(concrete(rule) if rule.endpoint != "static" else "/static/css/guichet.css")
            assert_security_headers(response, f"GET {rule.rule} ({response.status_code})")
    assert "no-store" in member.get("/espace/").headers["Cache-Control"]


def test_hsts_over_https_and_in_production_not_over_plain_http(app):
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/").headers  # local http: no HSTS
    secure = client.get("/", base_url="https://guichet.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    # No ProxyFix is configured: a forged X-Forwarded-Proto does not make a plain request "secure".
    forged = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers


@pytest.fixture
def keep_form_settings():
    """A production app turns off the test e-mail domains in the form
    validators (a module setting): put them back for the next tests."""
    from app.callforms import values

    saved = dict(values.SETTINGS)
    yield
    values.SETTINGS.update(saved)


def test_hsts_always_in_production(tmp_path, keep_form_settings):
    from app import create_app

    production = create_app(env={"GUICHET_ENV": "production", "GUICHET_INSTANCE": str(tmp_path),
                                 "SECRET_KEY": "x" * 40, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
    response = production.test_client().get("/static/css/guichet.css")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    assert production.config["SESSION_COOKIE_SECURE"] is True


def test_templates_have_no_inline_script_style_or_event_handler():
    """What the CSP would block in a browser, found in the source instead."""
    problems = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b(?![^>]*\bsrc=)[^>]*>", text):
            problems.append(f"{path.name}: inline script {match.group(0)}")
        for match in re.finditer(r"<[a-z][^>]*\s(style|on[a-z]+)\s*=", text):
            problems.append(f"{path.name}: {match.group(1)}= attribute")
        if re.search(r"<style\b", text):
            problems.append(f"{path.name}: <style> element")
        if "javascript:" in text:
            problems.append(f"{path.name}: javascript: URL")
    assert problems == []


# --------------------------------------------------------------------------- script injection


def free_text_keys() -> list[str]:
    return [f.key for f in definition(PACK).fields
            if f.type in ("text", "long_text") and (getattr(f, "max_length", None) or 1000) >= 100]


def test_script_injection_in_every_free_text_field_is_escaped_where_shown(app, outbox):
    """A payload in every free-text answer, the title, an organisation's name,
    the person's name, a message, a request for corrections and a
    justification: shown escaped on every page that renders them."""
    with in_db(app) as s:
        seed_demo(s)
    with in_db(app) as s:
        org = org_of(s, APPLICANT)
        user = s.execute(select(User).where(User.email == APPLICANT)).scalar_one()
        user.name = f"Camille {XSS}"
    api = app.test_client()
    headers = api_headers(api)
    reference = complete_draft_api(api, headers, PACK, org, title=f"Titre {XSS}")
    answers = answers_for(PACK, org)
    keys = free_text_keys()
    assert len(keys) >= 5
    for key in keys:
        if key in answers and isinstance(answers[key], str) and "@" not in answers[key]:
            answers[key] = f"{answers[key][:40]} {XSS}"
    response = api.patch(f"/api/v1/applications/{reference}", headers=headers, json={"answers": answers})
    assert response.status_code == 200, response.get_json()

    client = app.test_client()
    assert login(client, APPLICANT, DEMO_PASSWORD).status_code == 302
    draft_pages = [f"/espace/dossiers/{reference}/brouillon"] + [
        f"/espace/dossiers/{reference}/brouillon/{s.key}" for s in definition(PACK).sections]
    response = client.post(f"/espace/organisations/{org['siret']}/modifier", data={"name": f"Atelier {XSS}"})
    assert response.status_code in (302, 303), text_of(response)[-800:]
    assert api.post(f"/api/v1/applications/{reference}/submit", headers=headers).status_code == 200
    client.post(f"/espace/dossiers/{reference}/messages", data={"body": f"Question {XSS}"})
    staff = app.test_client()
    assert login(staff, INSTRUCTOR, DEMO_PASSWORD).status_code == 302
    staff.post(f"/instruction/dossiers/{reference}/messages", data={"body": f"Réponse {XSS}"})

    pages = [(client, p) for p in draft_pages] + [
        (client, f"/espace/dossiers/{reference}"), (client, "/espace/"), (client, f"/espace/organisations/{org['siret']}"),
        (client, "/espace/organisations"), (staff, f"/instruction/dossiers/{reference}"), (staff, "/instruction/")]
    shown = 0
    for who, path in pages:
        page = who.get(path)
        body = page.get_data(as_text=True)
        assert "<script>alert" not in body and "<img src=x" not in body, path
        shown += body.count("&lt;script&gt;alert(")
    assert shown >= 10  # the payloads are there, escaped


def assert_escaped(pages: dict[str, tuple], minimum: dict[str, int]) -> None:
    """Each page (a client and a path) holds the payload escaped at least ``minimum[name]`` times, never raw."""
    for name, (who, path) in pages.items():
        page = who.get(path)
        assert page.status_code == 200, (name, path, page.status_code)
        body = page.get_data(as_text=True)
        assert "<script>alert" not in body and "<img src=x" not in body, f"{name}: raw payload on {path}"
        assert body.count("&lt;script&gt;alert(") >= minimum[name], f"{name}: the payload is not shown on {path}"


def test_script_injection_in_reviews_reports_and_private_notes_is_escaped_where_shown(app, session):
    """Through the staff's forms: an expert's and the lead instructor's review (opinion, a comment per
    criterion), the instruction report (the instructor's opinion, the reasons of a reduced and a refused
    expense), the proposal's reason and a private note: stored as typed, shown escaped on the review forms,
    the report and the file's page (notes, history); a reopened review comes back escaped to its author."""
    from app.models import Annotation, InstructionReport, Review
    from tests.factories import TEST_PASSWORD
    from tests.test_reviews import GOOD, Setup

    setup = Setup(session)
    reference = setup.file.reference
    lead, expert = app.test_client(), app.test_client()
    assert login(lead, setup.lead.email, TEST_PASSWORD).status_code == 302
    assert login(expert, setup.e1.email, TEST_PASSWORD).status_code == 302
    review_url = f"/instruction/dossiers/{reference}/avis"
    scores = {f"score-{code}": str(value) for code, value in GOOD.items()}
    for who, name in ((expert, "Experte"), (lead, "Instructeur")):
        response = who.post(review_url, data={**scores, **{f"comment-{code}": f"{name} {XSS}" for code in GOOD},
                                              "opinion": f"Avis {name} {XSS}", "action": "submit"})
        assert response.status_code == 302, text_of(response)[-600:]
    response = lead.post(f"/instruction/dossiers/{reference}/rapport", data={
        "decision-0": "accepted", "decision-1": "reduced", "eligible-1": "45 000,00", "reason-1": f"Réduite {XSS}",
        "decision-2": "refused", "reason-2": f"Refusée {XSS}", "opinion": f"Avis de l'instructeur {XSS}"})
    assert response.status_code == 302
    response = lead.post(f"/instruction/dossiers/{reference}/rapport/proposition",
                         data={"amount": "150 000,00", "reason": f"Proposition {XSS}"})
    assert response.status_code == 302
    assert lead.post(f"/instruction/dossiers/{reference}/notes", data={"body": f"Note privée {XSS}\nSuite"}).status_code == 302
    # stored as typed (escaping is the page's work, not the database's)
    session.expire_all()
    reviews = session.execute(select(Review).where(Review.application_id == setup.file.id)).scalars().all()
    assert len(reviews) == 2 and all(r.status == "submitted" and XSS in r.opinion for r in reviews)
    assert all(XSS in text for r in reviews for text in r.comments.values())
    report = session.execute(select(InstructionReport).where(InstructionReport.application_id == setup.file.id)).scalar_one()
    assert XSS in report.opinion
    assert XSS in session.execute(select(Annotation.body).where(Annotation.application_id == setup.file.id)).scalar_one()

    pages = {
        "expert's review form": (expert, review_url),      # her comments and opinion; the instructor's opinion
        "lead's review form": (lead, review_url),
        "report": (lead, f"/instruction/dossiers/{reference}/rapport"),  # both opinions, the reasons, the report's opinion
        "file page": (lead, f"/instruction/dossiers/{reference}"),       # the private note, the proposal's reason
    }
    per_criterion = len(GOOD)
    assert_escaped(pages, {"expert's review form": per_criterion + 2, "lead's review form": per_criterion + 2,
                           "report": 5, "file page": 2})
    expert_review = next(r for r in reviews if r.reviewer_id == setup.e1.id)
    response = lead.post(f"{review_url}/{expert_review.id}/rouvrir", data={"reason": f"Réouverture {XSS}"})
    assert response.status_code == 302
    # (the reason is kept in the audit log of the review, shown on no page); her draft comes back to her
    assert_escaped({"expert's reopened draft": (expert, review_url)}, {"expert's reopened draft": per_criterion + 1})


def test_script_injection_in_committee_texts_and_letter_texts_is_escaped_where_shown(app, session):
    """Through the committee's and the administrators' forms: a new committee's name and a session's place
    (staff), an agenda item's block label, a member's reason for withdrawing from an item (déport) and the
    nature of a declared interest, and a call's decision-letter text edited by an administrator: shown
    escaped on every page rendering them."""
    from app.models import LetterTemplate, Withdrawal

    seed_demo(session)
    session.commit()
    admin, member = app.test_client(), app.test_client()
    assert login(admin, "demo-admin@guichet.test", DEMO_PASSWORD).status_code == 302
    assert login(member, "demo-committee@guichet.test", DEMO_PASSWORD).status_code == 302
    response = admin.post("/commission/commissions", data={
        "committee-name": f"Jury {XSS}", "committee-code": "JURY", "committee-kind": "jury",
        "committee-quorum": "2", "committee-tie_rule": "reject"})
    assert response.status_code == 302
    jury = session.execute(select(Committee).where(Committee.code == "JURY")).scalar_one()
    assert jury.name == f"Jury {XSS}"
    response = admin.post("/commission/seances", data={
        "session-committee_id": str(jury.id), "session-day": "2030-03-12", "session-time": "10:00",
        "session-place": f"Salle {XSS}"})
    assert response.status_code == 302
    planned = session.execute(select(CommitteeSession).where(CommitteeSession.committee_id == jury.id)).scalar_one()
    # the upcoming session of the Commission permanente (where the demo member sits), its first item
    cp = session.execute(select(Committee).where(Committee.code == "CP")).scalar_one()
    upcoming = session.execute(select(CommitteeSession).where(CommitteeSession.committee_id == cp.id,
                                                              CommitteeSession.status == "planned")).scalar_one()
    item = upcoming.items[0]
    item_url = f"/commission/seances/{upcoming.id}/points/{item.id}"
    response = member.post(f"{item_url}/deport", data={"reason": f"Lien familial {XSS}"})
    assert response.status_code == 302
    assert session.execute(select(Withdrawal.reason).where(Withdrawal.item_id == item.id)).scalar_one() == \
        f"Lien familial {XSS}"
    # a block label (20 characters at most): the shortest payload
    response = admin.post(item_url, data={"settings-block": "<script>alert(1)",
                                          "settings-amount": str(item.amount_cents // 100)})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(AgendaItem, item.id).block == "<script>alert(1)"
    siret = session.execute(select(Organisation.siret).where(Organisation.name == "Atelier Numérique de Champagne")).scalar_one()
    response = member.post("/commission/declarations", data={"siret": siret, "description": f"Actionnaire {XSS}"})
    assert response.status_code == 302
    pack = session.execute(select(Call).where(Call.reference == "PACK-IA-2026")).scalar_one()
    letter_url = f"/admin/appels/{pack.reference}/lettres/decision_approval"
    response = admin.post(letter_url, data={"body": f"Madame, Monsieur,\n{XSS}\nNous avons le plaisir…"})
    assert response.status_code == 302, text_of(response)[-600:]
    assert XSS in session.execute(select(LetterTemplate.body).where(LetterTemplate.call_id == pack.id)).scalar_one()

    assert_escaped({
        "staff home": (admin, "/commission/gestion"),                  # the jury's name, the session's place
        "committee page": (admin, f"/commission/commissions/{jury.id}"),
        "session page": (admin, f"/commission/seances/{planned.id}"),
        "item page": (member, item_url),                                # the withdrawal's reason
        "member's declarations": (member, "/commission/declarations"),  # the interest and the withdrawal
        "letter text": (admin, letter_url),
        "agenda with the block": (admin, f"/commission/seances/{upcoming.id}"),
        "item page for staff": (admin, item_url),                       # the block, the withdrawal's reason
    }, {"staff home": 2, "committee page": 1, "session page": 2, "item page": 1, "member's declarations": 2,
        "letter text": 1, "agenda with the block": 1, "item page for staff": 2})


# --------------------------------------------------------------------------- SQL injection


SQLI = ["' OR '1'='1", "1; DROP TABLE applications; --", "' UNION SELECT password_hash FROM users --", "%' --", "\\'; --"]


def test_sql_injection_in_filters_and_search_finds_nothing_and_changes_nothing(app):
    with in_db(app) as s:
        seed_demo(s)
    api = app.test_client()
    headers = api_headers(api)
    client = app.test_client()
    assert login(client, APPLICANT, DEMO_PASSWORD).status_code == 302
    staff = app.test_client()
    assert login(staff, INSTRUCTOR, DEMO_PASSWORD).status_code == 302
    finance = app.test_client()
    assert login(finance, "demo-finance@guichet.test", DEMO_PASSWORD).status_code == 302
    with in_db(app) as s:  # counted once everybody is signed in (a login writes its audit row)
        before = (s.scalar(select(func.count(Application.id))), s.scalar(select(func.count(User.id))),
                  s.scalar(select(func.count(Organisation.id))), s.scalar(select(func.count(AuditEntry.id))))
    for payload in SQLI:
        listing = api.get("/api/v1/applications", headers=headers, query_string={"state": payload})
        assert listing.status_code == 200 and listing.get_json()["items"] == []
        for name in ("limit", "offset"):
            assert api.get("/api/v1/applications", headers=headers, query_string={name: payload}).status_code == 422
        assert api.get(f"/api/v1/applications/{payload}", headers=headers).status_code == 404
        assert api.get(f"/api/v1/organisations/{payload}", headers=headers).status_code in (404, 422)
        assert api.get(f"/api/v1/calls/{payload}/form", headers=headers).status_code == 404
        assert client.get(f"/espace/dossiers/{payload}").status_code == 404
        lookup = client.get("/espace/organisations/nouvelle", query_string={"siret": payload})
        assert lookup.status_code == 200 and "SIRET" in text_of(lookup)
        assert client.get("/espace/deposer", query_string={"appel": payload}).status_code == 200
        assert staff.get("/instruction/", query_string={"page": payload}).status_code == 200
        assert staff.get(f"/instruction/dossiers/{payload}").status_code == 404
        # the workspace's search and filters: a search finds nothing, a bad filter is refused in words
        search = staff.get("/instruction/espace/", query_string={"q": payload})
        assert search.status_code == 200 and "AMI-2026-" not in text_of(search) and "PIA-2026-" not in text_of(search)
        for name in ("call", "state", "stage", "department", "size", "instructor", "amount_min", "submitted_from",
                     "eligibility", "sort", "page"):
            assert staff.get("/instruction/espace/", query_string={name: payload}).status_code in (200, 400, 422), name
        for path in ("/finances/engagements", "/finances/versements"):
            for name in ("annee", "appel"):
                assert finance.get(path, query_string={name: payload}).status_code in (200, 400, 404, 422), (path, name)
        assert client.get("/donnees-ouvertes/", query_string={"annee": payload}).status_code in (200, 404)
    with in_db(app) as s:
        after = (s.scalar(select(func.count(Application.id))), s.scalar(select(func.count(User.id))),
                 s.scalar(select(func.count(Organisation.id))), s.scalar(select(func.count(AuditEntry.id))))
    assert after == before


# --- NUL characters -------------------------------------------------------------------------------------

def test_a_nul_character_is_refused_at_the_door_in_french(app, client, session):
    """Nobody types a NUL character and PostgreSQL's text cannot hold one (the forms' fuzzing found the
    500s it caused there): forms, query strings and JSON bodies holding one are refused with 400."""
    from tests.factories import make_user

    user = make_user(session, "admin")
    session.commit()
    before = session.execute(select(func.count(AuditEntry.id))).scalar_one()
    response = client.post("/connexion", data={"email": f"{user.email}\x00", "password": "x"})
    assert response.status_code == 400
    assert "caractère non autorisé" in response.get_data(as_text=True)
    assert client.get("/appels/?q=vision\x00").status_code == 400
    response = client.post("/api/v1/applications", json={"call": "PACK-IA-2026", "title": "Titre\x00"})
    assert response.status_code == 400 and "caractère nul" in response.get_json()["error"]["message"]
    assert session.execute(select(func.count(AuditEntry.id))).scalar_one() == before  # nothing recorded
    assert login(client, user.email).status_code == 302  # the same form without it works
    response = client.post("/admin/appels/PACK-IA-2026/lettres/decision_approval", data={"body": "Texte\x00"})
    assert response.status_code == 400
