"""Accounts through the real routes: sign-up, confirmation, login, logout,
password reset, rate limiting, CSRF and session hygiene.

The database is touched only inside short ``with app.app_context()`` blocks
(``in_db``), never while a request runs: a request made while the test holds an
app context reuses it, and with it ``g``, where Flask-Login caches the current
user from one request to the next.
"""

from __future__ import annotations

import html
import re
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from app.extensions import db
from app.models import User
from app.operations import accounts
from tests.factories import TEST_PASSWORD, csrf_token_from, login, make_user

NEW_PASSWORD = "une autre phrase de passe"


@contextmanager
def in_db(app):
    with app.app_context():
        yield db.session
        db.session.commit()


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def path_of(location: str | None) -> str:
    assert location, "no Location header"
    return urlsplit(location).path


def create_user(app, **kwargs) -> str:
    with in_db(app) as s:
        return make_user(s, **kwargs).email


def count_users(app, email: str) -> int:
    with in_db(app) as s:
        return s.execute(select(func.count(User.id)).where(User.email == email)).scalar_one()


def link_in(message, route: str) -> str:
    """Path of the first ``http://…/<route>/<token>`` link in a mail's body."""
    body = message.get_content()
    match = re.search(rf"https?://[^\s/]+(/{route}/[A-Za-z0-9_.\-]+)", body)
    assert match, f"no /{route}/ link in the mail:\n{body}"
    return match.group(1)


def field_errors(page: str, field_id: str) -> str:
    """The error list rendered next to the field ``field_id`` ('' if none)."""
    match = re.search(rf'<ul class="errors" id="{field_id}-errors">(.*?)</ul>', page, re.S)
    return match.group(1) if match else ""


def signup(client, email="camille@entreprise.fr", password=TEST_PASSWORD, confirm=None, name="Camille Martin"):
    return client.post("/inscription", data={
        "name": name, "email": email, "password": password,
        "password_confirm": password if confirm is None else confirm,
    })


# --- sign-up ---------------------------------------------------------------

def test_signup_short_password_is_refused_next_to_the_field(app, client, outbox):
    response = signup(client, password="court", confirm="court")
    page = text_of(response)
    assert response.status_code == 200
    assert "Le mot de passe doit contenir au moins 12 caractères." in field_errors(page, "password")
    assert 'aria-invalid="true"' in page
    assert count_users(app, "camille@entreprise.fr") == 0
    assert outbox == []


def test_signup_mismatched_confirmation_is_refused_next_to_the_field(app, client, outbox):
    response = signup(client, confirm="un mot de passe different")
    page = text_of(response)
    assert response.status_code == 200
    assert "Les deux mots de passe ne sont pas identiques." in field_errors(page, "password_confirm")
    assert field_errors(page, "password") == ""
    assert count_users(app, "camille@entreprise.fr") == 0
    assert outbox == []


def test_signup_invalid_email_is_refused_next_to_the_field(app, client, outbox):
    response = signup(client, email="pas-une-adresse")
    page = text_of(response)
    assert response.status_code == 200
    assert "Saisissez une adresse e-mail valide, par exemple nom@entreprise.fr." in field_errors(page, "email")
    with in_db(app) as s:
        assert s.execute(select(func.count(User.id))).scalar_one() == 0
    assert outbox == []


def test_signup_confirm_then_login(app, client, outbox):
    response = signup(client, email="Camille@Entreprise.fr")
    assert response.status_code == 200
    assert "Consultez votre messagerie" in text_of(response)

    # One confirmation mail, to the normalised address, with a link.
    assert len(outbox) == 1
    message = outbox[0]
    assert message["To"] == "camille@entreprise.fr"
    assert message["Subject"] == "Confirmez votre adresse e-mail"
    link = link_in(message, "confirmer")

    # Not confirmed yet: refused with the French message.
    refused = login(client, "camille@entreprise.fr")
    assert refused.status_code == 200
    assert "Confirmez d'abord votre adresse e-mail avec le lien reçu par courriel." in text_of(refused)
    with client.session_transaction() as s:
        assert "_user_id" not in s

    # Following the link confirms the address.
    confirmed = client.get(link)
    assert confirmed.status_code == 302
    assert path_of(confirmed.headers["Location"]) == "/connexion"
    with in_db(app) as s:
        assert accounts.find_user(s, "camille@entreprise.fr").email_confirmed_at is not None

    # Login now works and lands on the applicant's dashboard.
    ok = login(client, "camille@entreprise.fr")
    assert ok.status_code == 302
    assert path_of(ok.headers["Location"]) == "/tableau-de-bord"
    dashboard = client.get("/tableau-de-bord")
    assert path_of(dashboard.headers["Location"]) == "/espace/"
    assert client.get("/espace/").status_code == 200


def test_confirmation_link_with_a_tampered_token_is_refused(app, client, outbox):
    signup(client)
    link = link_in(outbox[0], "confirmer")
    response = client.get(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
    assert response.status_code == 400
    assert "Ce lien de confirmation n'est pas valide." in text_of(response)
    with in_db(app) as s:
        assert accounts.find_user(s, "camille@entreprise.fr").email_confirmed_at is None


def test_password_is_stored_hashed(app, client, outbox):
    signup(client)
    with in_db(app) as s:
        stored = accounts.find_user(s, "camille@entreprise.fr").password_hash
    assert stored != TEST_PASSWORD
    assert TEST_PASSWORD not in stored
    # werkzeug's "method$salt$hash" format, with the configured method (scrypt; fast pbkdf2 in tests).
    method = app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    assert method.startswith(("scrypt", "pbkdf2:"))
    assert stored.startswith(method.split(":")[0] + ":")
    assert stored.split("$")[0].startswith(method)
    assert len(stored.split("$")) == 3
    assert check_password_hash(stored, TEST_PASSWORD)


def test_signup_with_a_taken_address_creates_nothing_and_mails_the_owner(app, client, outbox):
    email = create_user(app, email="owner@entreprise.fr", name="Propriétaire")
    with in_db(app) as s:
        hash_before = accounts.find_user(s, email).password_hash

    response = signup(client, email="Owner@entreprise.fr", password="tout autre mot de passe")
    assert response.status_code == 200
    # Same answer as a fresh sign-up: the form does not reveal that the account exists.
    assert "Un message a été envoyé à owner@entreprise.fr" in text_of(response)

    assert count_users(app, "owner@entreprise.fr") == 1
    with in_db(app) as s:
        assert accounts.find_user(s, email).password_hash == hash_before
    assert len(outbox) == 1
    assert outbox[0]["To"] == "owner@entreprise.fr"
    assert outbox[0]["Subject"] == "Tentative de création de compte sur Guichet"
    assert "/mot-de-passe-oublie" in outbox[0].get_content()
    assert "/confirmer/" not in outbox[0].get_content()


# --- login -----------------------------------------------------------------

@pytest.mark.parametrize("email,password", [
    ("known@example.test", "pas le bon mot de passe"),
    ("unknown@example.test", TEST_PASSWORD),
])
def test_login_failure_shows_the_generic_message(app, client, email, password):
    create_user(app, email="known@example.test")
    response = login(client, email, password)
    assert response.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect." in text_of(response)
    with client.session_transaction() as s:
        assert "_user_id" not in s
    assert path_of(client.get("/espace/").headers["Location"]) == "/connexion"


def test_login_redirects_to_the_dashboard(app, client):
    email = create_user(app)
    response = login(client, email)
    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/tableau-de-bord"
    with in_db(app) as s:
        assert accounts.find_user(s, email).last_login_at is not None


def test_login_follows_a_local_next(app):
    email = create_user(app)
    local = app.test_client().post("/connexion?next=/espace/", data={"email": email, "password": TEST_PASSWORD})
    assert local.headers["Location"] == "/espace/"


OFF_SITE = ["//evil.example/", "https://evil.example/", "/\t/evil.example", "/\\evil.example", "/\n/evil.example"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_next_never_redirects_off_site(app, target):
    email = create_user(app)
    response = app.test_client().post("/connexion", query_string={"next": target},
                                      data={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/tableau-de-bord"
    assert "evil.example" not in location


# --- rate limiting ---------------------------------------------------------

def test_sixth_failed_login_for_an_address_is_rate_limited(app, client):
    email = create_user(app)
    for attempt in range(5):
        response = login(client, email, "mauvais mot de passe")
        assert response.status_code == 200, f"attempt {attempt + 1}"
    limited = login(client, email, "mauvais mot de passe")
    assert limited.status_code == 429
    assert "Trop de tentatives" in text_of(limited)
    # Even the right password is refused while the limit holds.
    assert login(app.test_client(), email).status_code == 429
    # Another address from the same IP is not affected.
    other = create_user(app)
    assert login(app.test_client(), other).status_code == 302


def test_successful_logins_are_not_counted(app):
    email = create_user(app)
    for _ in range(4):
        assert login(app.test_client(), email, "mauvais mot de passe").status_code == 200
    for _ in range(6):
        assert login(app.test_client(), email).status_code == 302
    # Fifth failure: still under the limit, successes did not count.
    assert login(app.test_client(), email, "mauvais mot de passe").status_code == 200
    assert login(app.test_client(), email, "mauvais mot de passe").status_code == 429


# --- session ---------------------------------------------------------------

def test_session_is_renewed_at_login(app, client):
    email = create_user(app)
    with client.session_transaction() as s:
        s["x"] = 1
        s["lang"] = "en"
    assert login(client, email).status_code == 302
    with client.session_transaction() as s:
        assert "x" not in s
        assert s.get("lang") == "en"  # the language choice survives
        assert "_user_id" in s


def test_logout_destroys_the_session(app, client):
    email = create_user(app)
    login(client, email)
    assert client.get("/espace/").status_code == 200
    with client.session_transaction() as s:
        s["x"] = 1

    response = client.post("/deconnexion")
    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/"
    with client.session_transaction() as s:
        assert "_user_id" not in s
        assert "x" not in s
    after = client.get("/espace/")
    assert after.status_code == 302
    assert path_of(after.headers["Location"]) == "/connexion"


def test_a_copy_of_the_session_cookie_is_dead_after_logout(app, client):
    """Flask's session lives in a signed cookie: logging out must also refuse a
    copy taken before (the account's session epoch is part of the session id)."""
    email = create_user(app)
    login(client, email)
    with client.session_transaction() as s:
        stolen = dict(s)
    assert client.post("/deconnexion").status_code == 302
    with client.session_transaction() as s:
        s.update(stolen)  # replay the old cookie's content
    replay = client.get("/espace/")
    assert replay.status_code == 302 and path_of(replay.headers["Location"]) == "/connexion"
    login(client, email)  # logging in again works and gives a fresh session
    assert client.get("/espace/").status_code == 200


def test_a_new_password_ends_the_other_sessions(app, client):
    from app.extensions import db
    from app.models import User
    from app.operations.accounts import reset_password

    email = create_user(app)
    login(client, email)
    assert client.get("/espace/").status_code == 200
    with app.app_context():
        user = db.session.execute(db.select(User).where(User.email == email)).scalar_one()
        reset_password(db.session, user, "un autre mot de passe bien long")
        db.session.commit()
    after = client.get("/espace/")
    assert after.status_code == 302 and path_of(after.headers["Location"]) == "/connexion"


def test_logout_by_get_is_not_allowed(app, client):
    email = create_user(app)
    login(client, email)
    response = client.get("/deconnexion")
    assert response.status_code == 405
    assert "Méthode non autorisée." in text_of(response)
    assert client.get("/espace/").status_code == 200  # still logged in


def test_session_cookie_is_httponly_and_samesite_lax(app, client):
    email = create_user(app)
    response = login(client, email)
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookies[0].split(";")[1:]}
    assert "httponly" in attributes
    assert attributes.get("samesite") == "SameSite=Lax"


# --- password reset --------------------------------------------------------

def test_password_reset_flow(app, client, outbox):
    email = create_user(app, email="reset@example.test")
    response = client.post("/mot-de-passe-oublie", data={"email": email})
    assert response.status_code == 200
    assert "un lien pour choisir un nouveau mot de passe vient d'y être envoyé" in text_of(response)
    assert len(outbox) == 1
    assert outbox[0]["To"] == email
    link = link_in(outbox[0], "reinitialiser")

    assert client.get(link).status_code == 200
    changed = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert changed.status_code == 302
    assert path_of(changed.headers["Location"]) == "/connexion"

    old = login(app.test_client(), email, TEST_PASSWORD)
    assert old.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect." in text_of(old)
    assert login(app.test_client(), email, NEW_PASSWORD).status_code == 302

    # The link has served: it cannot be used again.
    again = client.post(link, data={"password": "encore un autre mot de passe", "password_confirm": "encore un autre mot de passe"})
    assert again.status_code == 400
    assert "Ce lien n'est plus valide : il a déjà servi ou le mot de passe a changé." in text_of(again)
    assert login(app.test_client(), email, NEW_PASSWORD).status_code == 302


def test_password_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(app, client, outbox):
    create_user(app, email="known@example.test")
    known = text_of(client.post("/mot-de-passe-oublie", data={"email": "known@example.test"}))
    outbox.clear()
    unknown = client.post("/mot-de-passe-oublie", data={"email": "nobody@example.test"})
    assert unknown.status_code == 200
    # the same page, but for the CSRF tokens, signed with the second they were made in
    token = re.compile(r'name="csrf_token" type="hidden" value="[^"]*"')
    assert token.sub("", text_of(unknown).replace("nobody@example.test", "known@example.test")) == token.sub("", known)
    assert outbox == []


def test_password_reset_refuses_a_weak_new_password(app, client, outbox):
    email = create_user(app)
    client.post("/mot-de-passe-oublie", data={"email": email})
    link = link_in(outbox[0], "reinitialiser")
    response = client.post(link, data={"password": "court", "password_confirm": "court"})
    assert response.status_code == 200
    assert "Le mot de passe doit contenir au moins 12 caractères." in field_errors(text_of(response), "password")
    assert login(app.test_client(), email).status_code == 302  # unchanged


def test_tampered_reset_token_shows_a_french_error(app, client, outbox):
    email = create_user(app)
    client.post("/mot-de-passe-oublie", data={"email": email})
    link = link_in(outbox[0], "reinitialiser")
    tampered = link[:-3] + ("xyz" if not link.endswith("xyz") else "abc")
    response = client.get(tampered)
    assert response.status_code == 400
    assert "Ce lien n'est pas valide." in text_of(response)
    post = client.post(tampered, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert post.status_code == 400
    assert login(app.test_client(), email, NEW_PASSWORD).status_code == 200  # password not changed


# --- CSRF ------------------------------------------------------------------

def test_login_without_csrf_token_is_refused(app, client, csrf):
    email = create_user(app)
    response = login(client, email)
    assert response.status_code == 400
    assert "Le formulaire a expiré ou n'est pas valide" in text_of(response)
    with client.session_transaction() as s:
        assert "_user_id" not in s


def test_login_with_the_page_csrf_token_works(app, client, csrf):
    email = create_user(app)
    token = csrf_token_from(client.get("/connexion").get_data(as_text=True))
    response = client.post("/connexion", data={"email": email, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/tableau-de-bord"


# --- demo password ---------------------------------------------------------

def test_demo_password_is_refused_in_production(app):
    email = create_user(app, email="demo-like@guichet.test", password=accounts.DEMO_PASSWORD)
    previous = app.config["GUICHET_ENV"]
    try:
        with app.test_request_context():
            assert accounts.authenticate(db.session, email, "demo").user is not None  # allowed outside production
            app.config["GUICHET_ENV"] = "production"
            result = accounts.authenticate(db.session, email, "demo")
            assert result.user is None
            assert result.error == "Le mot de passe de démonstration est refusé en production : réinitialisez-le."
        response = login(app.test_client(), email, "demo")
        assert response.status_code == 200
        assert "Le mot de passe de démonstration est refusé en production" in text_of(response)
    finally:
        app.config["GUICHET_ENV"] = previous
    assert app.config["GUICHET_ENV"] == "testing"
