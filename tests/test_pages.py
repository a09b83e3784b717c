"""Public pages: the home page's calls in French format, language choice,
accessibility landmarks and labels, security headers, error pages.

The database is touched only inside short ``with app.app_context()`` blocks,
never while a request runs (see tests/test_access.py's docstring for why
conftest's ``demo`` fixture is overridden here).
"""

from __future__ import annotations

import html
import re
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Call
from app.operations.demo import seed_demo
from tests.factories import make_call

ROOT = Path(__file__).resolve().parent.parent
PARIS = ZoneInfo("Europe/Paris")
FRENCH_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
                 "novembre", "décembre"]
NBSP, NNBSP = "\u00a0", "\u202f"


@contextmanager
def in_db(app):
    with app.app_context():
        yield db.session
        db.session.commit()


@pytest.fixture
def demo(app):
    """The demo data set, seeded through the real code in a short app context."""
    with in_db(app) as s:
        return seed_demo(s)


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def squash(text: str) -> str:
    """Every run of whitespace (no-break spaces included) as one plain space."""
    return re.sub(r"\s+", " ", text.replace(NBSP, " ").replace(NNBSP, " "))


def html_lang(response) -> str | None:
    match = re.search(r"<html[^>]*\blang=\"([^\"]*)\"", response.get_data(as_text=True))
    return match.group(1) if match else None


class Tags(HTMLParser):
    """Start tags of a page, in order, as (tag, attributes) pairs."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def demo_calls(app) -> list[tuple[str, str, object]]:
    with in_db(app) as s:
        return [(c.reference, c.title, c.closes_at) for c in s.execute(select(Call).order_by(Call.reference)).scalars()]


def french_datetime(value) -> str:
    local = value.astimezone(PARIS)
    return f"{local.day} {FRENCH_MONTHS[local.month - 1]} {local.year} à {local:%H:%M}"


# --- home page -------------------------------------------------------------

def test_home_lists_the_demo_calls_with_french_amounts_and_dates(app, client, demo):
    response = client.get("/")
    assert response.status_code == 200
    page = text_of(response)
    calls = demo_calls(app)
    assert [ref for ref, _, _ in calls] == ["AMI-ECONUM-2026", "PACK-IA-2026"]
    for reference, title, closes_at in calls:
        assert reference in page
        assert title in page
        assert f'href="/appels/{reference}"' in page
        assert french_datetime(closes_at) in squash(page)
    flat = squash(page)
    assert "5 000 000 €" in flat  # AMI budget
    assert "1 750 000 €" in flat  # Pack IA budget
    assert "500 000 €" in flat and "50 000 €" in flat  # maximum aid per file
    # Babel's French grouping separator is the narrow no-break space.
    assert f"5{NNBSP}000{NNBSP}000" in page
    assert "5,000,000" not in page and "5000000" not in page


def test_home_hides_draft_closed_and_future_calls_from_the_open_list(app, client):
    with in_db(app) as s:
        shown = make_call(s, status="published").reference
        draft = make_call(s, status="draft").reference
        closed = make_call(s, status="closed").reference
        past = make_call(s, opens_in_days=-30, closes_in_days=-1).reference
        future = make_call(s, opens_in_days=5, closes_in_days=40).reference
    page = text_of(client.get("/"))
    open_list, _, upcoming = page.partition("Bientôt ouverts")
    assert f"/appels/{shown}\"" in open_list
    for hidden in (draft, closed, past):
        assert f"/appels/{hidden}\"" not in page
    assert f"/appels/{future}\"" not in open_list
    assert f"/appels/{future}\"" in upcoming


def test_home_without_open_calls_says_so(app, client):
    page = text_of(client.get("/"))
    assert "Aucun appel n'est ouvert en ce moment." in page


# --- language --------------------------------------------------------------

def test_pages_are_french_by_default(app, client):
    response = client.get("/")
    assert html_lang(response) == "fr"
    assert "Appels à projets ouverts" in text_of(response)


def test_switching_to_english_sets_the_html_lang(app, client):
    response = client.post("/langue", data={"lang": "en", "next": "/connexion"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/connexion"
    assert html_lang(client.get("/")) == "en"
    assert html_lang(client.get("/connexion")) == "en"
    client.post("/langue", data={"lang": "fr"})
    assert html_lang(client.get("/")) == "fr"


@pytest.mark.skipif(not (ROOT / "translations/en/LC_MESSAGES/messages.mo").exists(),
                    reason="English catalogue not compiled (pybabel compile -d translations, done by make)")
def test_switching_to_english_translates_the_page(app, client):
    client.post("/langue", data={"lang": "en"})
    page = text_of(client.get("/"))
    assert "Open calls" in page
    assert "Appels ouverts" not in page


def test_unknown_language_is_refused(app, client):
    assert client.post("/langue", data={"lang": "de"}).status_code == 400
    assert html_lang(client.get("/")) == "fr"


def test_language_switch_returns_to_the_page(app, client):
    response = client.post("/langue", data={"lang": "en", "next": "/appels/X?page=2"})
    assert response.headers["Location"] == "/appels/X?page=2"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\t/evil.example",
                                    "/\\evil.example", "/\r/evil.example"])
def test_language_switch_never_redirects_off_site(app, client, target):
    response = client.post("/langue", data={"lang": "en", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- accessibility ---------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/connexion", "/inscription", "/mot-de-passe-oublie", "/page-inconnue"])
def test_skip_link_main_and_landmarks(app, client, path):
    tags = Tags(client.get(path).get_data(as_text=True))
    links = tags.all("a")
    assert links, "no link on the page"
    assert links[0].get("href") == "#contenu"  # the skip link comes first
    mains = tags.all("main")
    assert len(mains) == 1 and mains[0].get("id") == "contenu"
    assert len(tags.all("header")) == 1
    assert len(tags.all("footer")) == 1
    navs = tags.all("nav")
    assert navs and all(nav.get("aria-label") for nav in navs)
    order = [t for t, _ in tags.tags if t in ("header", "main", "footer")]
    assert order == ["header", "main", "footer"]


@pytest.mark.parametrize("path,expected", [
    ("/connexion", {"email", "password"}),
    ("/inscription", {"name", "email", "password", "password_confirm"}),
])
def test_every_visible_input_has_a_label(app, client, path, expected):
    tags = Tags(client.get(path).get_data(as_text=True))
    inputs = [a for a in tags.all("input") if a.get("type") != "hidden"]
    ids = {a.get("id") for a in inputs}
    assert ids == expected
    assert all(a.get("id") for a in inputs)
    labelled = {a.get("for") for a in tags.all("label")}
    assert ids <= labelled, f"inputs without a label: {ids - labelled}"


def test_errors_are_linked_to_their_field(app, client):
    tags = Tags(client.post("/inscription", data={"name": "", "email": "x", "password": "", "password_confirm": ""})
                .get_data(as_text=True))
    email = next(a for a in tags.all("input") if a.get("id") == "email")
    assert email.get("aria-invalid") == "true"
    assert "email-errors" in (email.get("aria-describedby") or "").split()
    assert any(a.get("id") == "email-errors" for a in tags.all("ul"))


# --- security headers ------------------------------------------------------

def header_pages(app) -> list[str]:
    with in_db(app) as s:
        reference = make_call(s).reference
    return ["/", "/connexion", "/inscription", f"/appels/{reference}", "/page-inconnue", "/api/v1/openapi.json",
            "/api/v1/inconnu"]


def test_security_headers_on_every_page(app, client):
    for path in header_pages(app):
        response = client.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert response.headers.get("X-Frame-Options") == "DENY", path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path


def test_hsts_over_https_only(app, client):
    for path in header_pages(app):
        secure = client.get(path, base_url="https://localhost")
        assert secure.headers.get("Strict-Transport-Security", "").startswith("max-age="), path
        max_age = int(re.search(r"max-age=(\d+)", secure.headers["Strict-Transport-Security"]).group(1))
        assert max_age >= 31536000, path
        plain = client.get(path)
        assert "Strict-Transport-Security" not in plain.headers, path


# --- call pages and errors -------------------------------------------------

def test_call_page(app, client, demo):
    with in_db(app) as s:
        call = s.execute(select(Call).where(Call.reference == "AMI-ECONUM-2026")).scalar_one()
        title, closes_at = call.title, call.closes_at
    response = client.get("/appels/AMI-ECONUM-2026")
    assert response.status_code == 200
    page = text_of(response)
    assert title in page
    assert "5 000 000 €" in squash(page)
    assert french_datetime(closes_at) in squash(page)
    assert "Cet appel est ouvert aux candidatures." in page


def test_draft_call_page_is_404(app, client):
    with in_db(app) as s:
        draft = make_call(s, status="draft").reference
        closed = make_call(s, status="closed").reference
    assert client.get(f"/appels/{draft}").status_code == 404
    closed_page = client.get(f"/appels/{closed}")
    assert closed_page.status_code == 200
    assert "Cet appel n'est pas ouvert aux candidatures." in text_of(closed_page)
    assert client.get("/appels/N-EXISTE-PAS").status_code == 404


def test_unknown_page_is_a_french_404(app, client):
    response = client.get("/page-qui-n-existe-pas")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = text_of(response)
    assert html_lang(response) == "fr"
    assert "Erreur 404" in page
    assert "Page introuvable." in page
    assert "Retour à l'accueil" in page


def test_unknown_api_path_is_a_json_404(app, client):
    response = client.get("/api/v1/unknown")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": {"status": 404, "message": "Page introuvable."}}
