"""The JSON API under /api/v1: bearer tokens, visibility of files, errors, OpenAPI.

The test session must end its transaction (commit or rollback) before each
request: on SQLite every transaction takes the write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.models import ApiToken, Application, Call, Organisation, RoleAssignment, User, utcnow
from tests.factories import TEST_PASSWORD, make_application, make_call, make_organisation, make_user

DEMO_APPLICANT = "demo-applicant@guichet.test"
DEMO_APPLICANT2 = "demo-applicant2@guichet.test"
DEMO_INSTRUCTOR = "demo-instructor@guichet.test"
DEMO_CALLS = {"AMI-ECONUM-2026", "PACK-IA-2026"}


def create_token(client, email: str, password: str = "demo", **extra):
    return client.post("/api/v1/tokens", json={"email": email, "password": password, **extra})


def token_for(client, email: str, password: str = "demo", **extra) -> str:
    response = create_token(client, email, password, **extra)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def list_files(client, secret: str, **params) -> list[dict]:
    response = client.get("/api/v1/applications", headers=bearer(secret), query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def siret_of(session, email: str) -> str:
    user = session.execute(select(User).where(User.email == email)).scalar_one()
    (membership,) = user.memberships
    siret = membership.organisation.siret
    session.rollback()
    return siret


@pytest.fixture
def applicant(session) -> str:
    """One confirmed applicant (cheaper than the whole demo); returns its e-mail."""
    user = make_user(session, email="applicant@example.test")
    session.commit()
    return user.email


# --- POST /api/v1/tokens -------------------------------------------------------------------------


def test_create_token_returns_secret_scopes_and_expiry(client, session, demo):
    before = datetime.now(timezone.utc)
    response = create_token(client, DEMO_APPLICANT, days=7, name="script")
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("gch_") and len(body["token"]) > 30
    assert body["scopes"] == ["read"]
    assert isinstance(body["id"], int)
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(days=7) - timedelta(minutes=1) <= expires <= datetime.now(timezone.utc) + timedelta(days=7)

    token = session.get(ApiToken, body["id"])
    assert token.user.email == DEMO_APPLICANT
    assert token.name == "script"
    assert token.revoked_at is None


def test_default_token_lifetime_comes_from_config(app, client, demo):
    body = create_token(client, DEMO_APPLICANT).get_json()
    expires = datetime.fromisoformat(body["expires_at"])
    expected = datetime.now(timezone.utc) + timedelta(days=app.config["API_TOKEN_DAYS"])
    assert abs(expires - expected) < timedelta(minutes=1)


def test_database_stores_only_a_sha256_of_the_token(client, session, demo):
    body = create_token(client, DEMO_APPLICANT).get_json()
    secret = body["token"]
    token = session.get(ApiToken, body["id"])
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    for row in session.execute(select(ApiToken.__table__)).all():
        for value in row:
            assert not (isinstance(value, str) and secret in value), "clear token stored in api_tokens"
    # the shown prefix is too short to be the secret
    assert len(token.prefix) <= 12 < len(secret)


def test_each_token_is_different(client, demo):
    assert token_for(client, DEMO_APPLICANT) != token_for(client, DEMO_APPLICANT)


def test_wrong_password_is_401_json(client, session, demo):
    error = assert_json_error(create_token(client, DEMO_APPLICANT, "not the password"), 401)
    unknown = assert_json_error(create_token(client, "nobody@guichet.test", "not the password"), 401)
    # the same answer for an unknown address: no account enumeration
    assert error["message"] == unknown["message"]
    assert session.execute(select(ApiToken)).first() is None


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"email": DEMO_APPLICANT},
        {"password": "demo"},
        {"email": "", "password": "demo"},
        {"email": DEMO_APPLICANT, "password": 12345},
        {"email": [DEMO_APPLICANT], "password": "demo"},
    ],
    ids=["empty", "no-password", "no-email", "blank-email", "password-not-string", "email-not-string"],
)
def test_missing_or_invalid_credentials_fields_are_422(client, session, applicant, payload):
    assert_json_error(client.post("/api/v1/tokens", json=payload), 422)
    assert session.execute(select(ApiToken)).first() is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "email=demo-applicant@guichet.test&password=demo", "content_type": "application/x-www-form-urlencoded"},
        {"data": "{not json", "content_type": "application/json"},
        {"data": '["a", "list"]', "content_type": "application/json"},
        {"data": "", "content_type": "application/json"},
    ],
    ids=["form", "broken-json", "json-list", "empty-body"],
)
def test_non_json_object_body_is_422(client, applicant, kwargs):
    assert_json_error(client.post("/api/v1/tokens", **kwargs), 422)


@pytest.mark.parametrize("days", ["30", 0, -1, 366, 1.5, True, None])
def test_bad_days_is_422(client, session, applicant, days):
    assert_json_error(create_token(client, applicant, TEST_PASSWORD, days=days), 422)
    assert session.execute(select(ApiToken)).first() is None


@pytest.mark.parametrize("scopes", [["admin"], ["read", "delete"], "read", [1]], ids=["unknown", "one-unknown", "string", "int"])
def test_bad_scopes_are_422(client, session, applicant, scopes):
    assert_json_error(create_token(client, applicant, TEST_PASSWORD, scopes=scopes), 422)
    assert session.execute(select(ApiToken)).first() is None


def test_empty_scope_list_falls_back_to_read(client, session, applicant):
    body = create_token(client, applicant, TEST_PASSWORD, scopes=[]).get_json()
    assert body["scopes"] == ["read"]
    assert session.get(ApiToken, body["id"]).scope_set == {"read"}


def test_token_scopes_are_stored(client, session, demo):
    read_only = create_token(client, DEMO_APPLICANT, scopes=["read"]).get_json()
    both = create_token(client, DEMO_APPLICANT, scopes=["write", "read", "read"]).get_json()
    assert read_only["scopes"] == ["read"]
    assert both["scopes"] == ["read", "write"]
    assert session.get(ApiToken, read_only["id"]).scope_set == {"read"}
    assert session.get(ApiToken, both["id"]).scope_set == {"read", "write"}


def test_token_without_read_scope_is_403_on_read_endpoints(client, demo):
    secret = token_for(client, DEMO_APPLICANT, scopes=["write"])
    assert_json_error(client.get("/api/v1/calls", headers=bearer(secret)), 403)
    assert_json_error(client.get("/api/v1/applications", headers=bearer(secret)), 403)


def test_unconfirmed_or_deactivated_account_gets_no_token(client, session):
    make_user(session, email="pending@example.test", confirmed=False)
    make_user(session, email="gone@example.test", active=False)
    session.commit()
    assert_json_error(create_token(client, "pending@example.test", TEST_PASSWORD), 401)
    assert_json_error(create_token(client, "gone@example.test", TEST_PASSWORD), 401)
    assert session.execute(select(ApiToken)).first() is None


def test_token_creation_is_audited(client, session, demo):
    from app.models import AuditEntry

    body = create_token(client, DEMO_APPLICANT).get_json()
    entry = session.execute(
        select(AuditEntry).where(AuditEntry.action == "issue_token", AuditEntry.object_id == str(body["id"]))
    ).scalar_one()
    assert body["token"] not in str(entry.after)


# --- authentication of requests ------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_calls_without_valid_authorization_is_401_with_challenge(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/calls", headers=headers)
    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_401(client, applicant):
    response = client.get("/api/v1/calls", headers=bearer("gch_" + "x" * 43))
    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_bearer_scheme_is_case_insensitive(client, demo):
    secret = token_for(client, DEMO_APPLICANT)
    assert client.get("/api/v1/calls", headers={"Authorization": f"bearer {secret}"}).status_code == 200


def test_calls_lists_both_demo_calls(client, demo):
    response = client.get("/api/v1/calls", headers=bearer(token_for(client, DEMO_APPLICANT)))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"items"}
    assert {c["reference"] for c in body["items"]} == DEMO_CALLS
    pack = next(c for c in body["items"] if c["reference"] == "PACK-IA-2026")
    assert pack["status"] == "published"
    assert pack["axis"] == 1
    assert pack["budget_cents"] == 175_000_000
    assert pack["max_aid_cents"] == 5_000_000


def test_draft_calls_are_hidden_from_applicants_only(client, session, demo):
    make_call(session, reference="DRAFT-CALL", status="draft")
    session.commit()
    applicant = {c["reference"] for c in client.get("/api/v1/calls", headers=bearer(token_for(client, DEMO_APPLICANT))).get_json()["items"]}
    staff = {c["reference"] for c in client.get("/api/v1/calls", headers=bearer(token_for(client, DEMO_INSTRUCTOR))).get_json()["items"]}
    assert "DRAFT-CALL" not in applicant
    assert "DRAFT-CALL" in staff
    assert DEMO_CALLS <= applicant


def test_revoked_token_is_refused(client, session, demo):
    body = create_token(client, DEMO_APPLICANT).get_json()
    secret = body["token"]
    assert client.get("/api/v1/calls", headers=bearer(secret)).status_code == 200
    response = client.delete("/api/v1/tokens/current", headers=bearer(secret))
    assert response.status_code == 204
    assert response.data == b""
    assert session.get(ApiToken, body["id"]).revoked_at is not None
    session.rollback()
    assert_json_error(client.get("/api/v1/calls", headers=bearer(secret)), 401)
    assert_json_error(client.delete("/api/v1/tokens/current", headers=bearer(secret)), 401)


def test_revoking_one_token_keeps_the_others(client, demo):
    first, second = token_for(client, DEMO_APPLICANT), token_for(client, DEMO_APPLICANT)
    assert client.delete("/api/v1/tokens/current", headers=bearer(first)).status_code == 204
    assert client.get("/api/v1/calls", headers=bearer(second)).status_code == 200


def test_expired_token_is_refused(client, session, demo):
    body = create_token(client, DEMO_APPLICANT).get_json()
    assert client.get("/api/v1/calls", headers=bearer(body["token"])).status_code == 200
    session.get(ApiToken, body["id"]).expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert_json_error(client.get("/api/v1/calls", headers=bearer(body["token"])), 401)


def test_token_of_deactivated_user_is_refused(client, session, demo):
    secret = token_for(client, DEMO_APPLICANT)
    assert client.get("/api/v1/calls", headers=bearer(secret)).status_code == 200
    session.execute(select(User).where(User.email == DEMO_APPLICANT)).scalar_one().active = False
    session.commit()
    assert_json_error(client.get("/api/v1/calls", headers=bearer(secret)), 401)
    assert_json_error(client.get("/api/v1/applications", headers=bearer(secret)), 401)


def test_every_api_route_except_openapi_and_token_creation_requires_a_token(app, client):
    open_endpoints = {("api.openapi", "GET"), ("api.create_token", "POST")}
    checked = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] != "api":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) in open_endpoints:
                continue
            response = client.open(path, method=method)
            assert response.status_code == 401, f"{method} {rule.rule} answers {response.status_code} without a token"
            assert_json_error(response, 401)
            assert "WWW-Authenticate" in response.headers
            checked.append((method, rule.rule))
    assert ("GET", "/api/v1/calls") in checked
    assert ("GET", "/api/v1/applications/<reference>") in checked
    assert ("DELETE", "/api/v1/tokens/current") in checked
    assert len(checked) >= 4


def test_api_errors_are_json_for_unknown_paths(client):
    assert_json_error(client.get("/api/v1/no-such-thing"), 404)
    assert_json_error(client.put("/api/v1/tokens", json={}), 405)


# --- visibility of files -------------------------------------------------------------------------


def test_applicant_sees_only_its_organisation_files(client, session, demo):
    siret = siret_of(session, DEMO_APPLICANT)
    applicant_items = list_files(client, token_for(client, DEMO_APPLICANT))
    instructor_items = list_files(client, token_for(client, DEMO_INSTRUCTOR))
    assert applicant_items, "the demo applicant has files"
    assert len(applicant_items) < len(instructor_items)
    assert {a["organisation"]["siret"] for a in applicant_items} == {siret}
    own_total = session.execute(
        select(Application).join(Organisation).where(Organisation.siret == siret)
    ).scalars().all()
    session.rollback()
    assert {a["reference"] for a in applicant_items} == {a.reference for a in own_total}
    # its own drafts included
    assert "draft" in {a["state"] for a in applicant_items}


def test_application_json_shape(client, demo):
    item = list_files(client, token_for(client, DEMO_APPLICANT), limit=1)[0]
    assert set(item) == {"reference", "call", "organisation", "title", "state", "requested_amount_cents",
                         "workflow_version", "version", "created_at", "submitted_at"}
    assert re.fullmatch(r"[A-Z]+-\d{4}-\d{4}", item["reference"])
    assert item["call"] in DEMO_CALLS
    assert set(item["organisation"]) == {"siret", "name"}


def test_staff_never_see_drafts(client, session, demo):
    all_files = session.execute(select(Application)).scalars().all()
    non_drafts = {a.reference for a in all_files if a.state != "draft"}
    assert any(a.state == "draft" for a in all_files)
    session.rollback()
    items = list_files(client, token_for(client, DEMO_INSTRUCTOR))
    assert {a["reference"] for a in items} == non_drafts
    assert "draft" not in {a["state"] for a in items}
    assert list_files(client, token_for(client, DEMO_INSTRUCTOR), state="draft") == []


def test_staff_member_of_an_organisation_sees_its_drafts_but_not_others(client, session, demo):
    org1 = session.execute(select(Organisation).where(Organisation.name == "Atelier Numérique de Champagne")).scalar_one()
    other_drafts = {a.reference for a in session.execute(
        select(Application).where(Application.state == "draft", Application.organisation_id != org1.id)).scalars()}
    own_drafts = {a.reference for a in session.execute(
        select(Application).where(Application.state == "draft", Application.organisation_id == org1.id)).scalars()}
    assert other_drafts and own_drafts
    both = make_user(session, "applicant", "instructor", email="both@example.test")
    make_organisation(session)  # unrelated org, so the user joins org1 below
    from app.models import Membership

    session.add(Membership(user=both, organisation=org1, is_owner=False))
    session.commit()
    items = list_files(client, token_for(client, "both@example.test", TEST_PASSWORD))
    refs = {a["reference"] for a in items}
    assert own_drafts <= refs
    assert not other_drafts & refs


def test_instructor_scoped_to_one_call_sees_only_that_call(client, session, demo):
    pack = session.execute(select(Call).where(Call.reference == "PACK-IA-2026")).scalar_one()
    expected = {a.reference for a in session.execute(
        select(Application).where(Application.call_id == pack.id, Application.state != "draft")).scalars()}
    user = User(email="scoped@example.test", name="Scoped", active=True, email_confirmed_at=utcnow())
    user.set_password(TEST_PASSWORD)
    user.roles.append(RoleAssignment(role="instructor", call_id=pack.id))
    session.add(user)
    session.flush()
    assert [(r.role, r.call_id) for r in user.roles] == [("instructor", pack.id)]
    session.commit()
    secret = token_for(client, "scoped@example.test", TEST_PASSWORD)
    items = list_files(client, secret)
    assert expected and {a["reference"] for a in items} == expected
    assert {a["call"] for a in items} == {"PACK-IA-2026"}
    ami_ref = session.execute(
        select(Application.reference).join(Call).where(Call.reference == "AMI-ECONUM-2026", Application.state != "draft").limit(1)
    ).scalar_one()
    session.rollback()
    assert_json_error(client.get(f"/api/v1/applications/{ami_ref}", headers=bearer(secret)), 404)


def test_role_assignment_for_other_role_gives_no_files(client, session, demo):
    make_user(session, "expert", email="expert@example.test")
    session.commit()
    assert list_files(client, token_for(client, "expert@example.test", TEST_PASSWORD)) == []


def test_get_application_of_own_organisation(client, session, demo):
    siret = siret_of(session, DEMO_APPLICANT)
    secret = token_for(client, DEMO_APPLICANT)
    ref = list_files(client, secret)[0]["reference"]
    response = client.get(f"/api/v1/applications/{ref}", headers=bearer(secret))
    assert response.status_code == 200
    assert response.get_json()["reference"] == ref
    assert response.get_json()["organisation"]["siret"] == siret


def test_get_application_of_another_organisation_is_404(client, session, demo):
    other_siret = siret_of(session, DEMO_APPLICANT2)
    secret = token_for(client, DEMO_APPLICANT)
    other = [a for a in list_files(client, token_for(client, DEMO_INSTRUCTOR)) if a["organisation"]["siret"] == other_siret]
    assert other
    for item in other[:3]:
        assert_json_error(client.get(f"/api/v1/applications/{item['reference']}", headers=bearer(secret)), 404)
    assert_json_error(client.get("/api/v1/applications/NOPE-2026-9999", headers=bearer(secret)), 404)


def test_get_draft_of_an_organisation_is_404_for_staff(client, session, demo):
    draft = session.execute(select(Application.reference).where(Application.state == "draft").limit(1)).scalar_one()
    session.rollback()
    assert_json_error(client.get(f"/api/v1/applications/{draft}", headers=bearer(token_for(client, DEMO_INSTRUCTOR))), 404)
    # while its own applicant reads it
    owner = token_for(client, DEMO_APPLICANT)
    owner2 = token_for(client, DEMO_APPLICANT2)
    codes = {client.get(f"/api/v1/applications/{draft}", headers=bearer(s)).status_code for s in (owner, owner2)}
    assert codes == {200, 404}


def test_files_created_by_factories_follow_the_same_rules(client, session):
    call = make_call(session)
    alice = make_user(session, email="alice@example.test")
    bob = make_user(session, email="bob@example.test")
    org_a, org_b = make_organisation(session, alice), make_organisation(session, bob)
    a_draft = make_application(session, call, org_a, state="draft")
    a_sub = make_application(session, call, org_a)
    b_sub = make_application(session, call, org_b)
    make_user(session, "instructor", email="inst@example.test")
    session.commit()
    refs = lambda email: {a["reference"] for a in list_files(client, token_for(client, email, TEST_PASSWORD))}  # noqa: E731
    assert refs("alice@example.test") == {a_draft.reference, a_sub.reference}
    assert refs("bob@example.test") == {b_sub.reference}
    assert refs("inst@example.test") == {a_sub.reference, b_sub.reference}


# --- pagination ----------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": -5}, {"limit": 1001}, {"offset": -1}, {"offset": 2**31},
                                    {"offset": 2**63}])
def test_limit_and_offset_are_validated(client, session, params):
    make_user(session, "instructor", email="inst@example.test")
    session.commit()
    secret = token_for(client, "inst@example.test", TEST_PASSWORD)
    assert_json_error(client.get("/api/v1/applications", headers=bearer(secret), query_string=params), 422)


def test_limit_bounds_are_inclusive(client, demo):
    secret = token_for(client, DEMO_INSTRUCTOR)
    assert len(list_files(client, secret, limit=1)) == 1
    assert len(list_files(client, secret, limit=1000)) == len(list_files(client, secret))


def test_pagination_with_limit_and_offset(client, demo):
    secret = token_for(client, DEMO_INSTRUCTOR)
    everything = [a["reference"] for a in list_files(client, secret)]
    assert len(everything) > 6
    page1 = [a["reference"] for a in list_files(client, secret, limit=3)]
    page2 = [a["reference"] for a in list_files(client, secret, limit=3, offset=3)]
    assert len(page1) == 3 and len(page2) == 3
    assert page1 + page2 == everything[:6]
    tail = list_files(client, secret, limit=1000, offset=len(everything) - 1)
    assert [a["reference"] for a in tail] == everything[-1:]
    assert list_files(client, secret, offset=len(everything)) == []


def test_state_filter(client, demo):
    secret = token_for(client, DEMO_INSTRUCTOR)
    submitted = list_files(client, secret, state="submitted")
    assert submitted and {a["state"] for a in submitted} == {"submitted"}
    assert list_files(client, secret, state="no-such-state") == []


# --- OpenAPI -------------------------------------------------------------------------------------


def test_openapi_document_is_valid_and_public(client):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert {"/tokens", "/calls", "/applications"} <= set(document["paths"])


def test_openapi_describes_every_api_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    prefix = "/api/v1"
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] != "api" or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path.startswith(prefix)
        path = path[len(prefix):]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert missing == []


def test_openapi_marks_token_protected_operations_as_secured(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "security" not in document["paths"]["/tokens"]["post"]
    for path in ("/calls", "/applications", "/applications/{reference}"):
        assert document["paths"][path]["get"]["security"] == [{"bearer": []}]
    assert document["paths"]["/tokens/current"]["delete"]["security"] == [{"bearer": []}]


def test_non_numeric_limit_is_refused(app, client, demo):
    token = client.post("/api/v1/tokens", json={"email": "demo-applicant@guichet.test", "password": "demo"}).get_json()["token"]
    response = client.get("/api/v1/applications?limit=abc", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422
    assert "limit" in response.get_json()["error"]["message"]


def test_token_use_is_recorded(app, client, demo):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import ApiToken

    created = client.post("/api/v1/tokens", json={"email": "demo-applicant@guichet.test", "password": "demo"}).get_json()
    with app.app_context():
        assert db.session.get(ApiToken, created["id"]).last_used_at is None
    assert client.get("/api/v1/calls", headers={"Authorization": f"Bearer {created['token']}"}).status_code == 200
    with app.app_context():
        used = db.session.execute(select(ApiToken).where(ApiToken.id == created["id"])).scalar_one()
        assert used.last_used_at is not None
