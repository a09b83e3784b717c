"""Schemathesis against the API's own OpenAPI document (/api/v1/openapi.json),
through the WSGI app: every operation, with a valid bearer token (read and
write scopes) of the demo applicant, of the demo instructor, of the demo
finance officer, and of an instructor whose role is scoped to one call, is
called with generated parameters and bodies; no answer may be a 500, and
every answer must be JSON. The example count is bounded (each run stays
well under a minute)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from schemathesis.core import NotSet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.extensions import db
from app.models import Application, Call, CommitteeSession, Organisation
from app.operations.accounts import create_user
from app.operations.demo import seed_demo


ACCOUNTS = {
    "applicant": "demo-applicant@guichet.test",
    "instructor": "demo-instructor@guichet.test",
    "finance": "demo-finance@guichet.test",
    "instructor of one call": "scoped-instructor@guichet.test",
}
# What each token must reach at least: served answers, and generated input refused by the validators.
EXPECTED_STATUSES = {"applicant": {200, 404, 422}, "instructor": {200, 404}, "finance": {200, 404},
                     "instructor of one call": {200, 404}}


SERVED = {
    "applicant": {"/applications/{reference}", "/organisations/{siret}"},
    "instructor": {"/calls/{reference}/ranking", "/committee/sessions/{session_id}"},
    "finance": {"/calls/{reference}/ranking", "/committee/sessions/{session_id}"},
    "instructor of one call": {"/calls/{reference}/ranking"},
}


@pytest.mark.parametrize("account", list(ACCOUNTS))
def test_no_api_operation_answers_500(app, account):
    with app.test_request_context():
        seed_demo(db.session)
        pack = db.session.execute(select(Call).where(Call.reference == "PACK-IA-2026")).scalar_one()
        create_user(db.session, email=ACCOUNTS["instructor of one call"], name="Instructrice du Pack IA",
                    password="demo", roles=[("instructor", pack.id)], actor=None, actor_role="system",
                    allow_demo_password=True)
        db.session.commit()
        # Real objects, put in place of generated path values half the time: the fuzz then reaches the
        # handlers of real files, calls, organisations and sessions (the staff's routes among them).
        files = db.session.execute(select(Application.reference).where(Application.state != "draft")
                                   .order_by(Application.id).limit(6)).scalars().all()
        real = {
            "reference": files,
            "call_reference": ["PACK-IA-2026", "AMI-ECONUM-2026"],
            "siret": db.session.execute(select(Organisation.siret).where(  # the demo applicant's
                Organisation.name == "Atelier Numérique de Champagne")).scalars().all(),
            "session_id": [str(i) for i in db.session.execute(select(CommitteeSession.id)).scalars()],
        }
    client = app.test_client()
    response = client.post("/api/v1/tokens", json={"email": ACCOUNTS[account], "password": "demo",
                                                   "scopes": ["read", "write"]})
    assert response.status_code == 201
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures, operations, statuses, served = [], 0, set(), set()
    # Revoking the token goes last: the other operations keep a valid one.
    every = sorted((r.ok() for r in schema.get_all_operations()), key=lambda o: o.path == "/tokens/current")
    for operation in every:
        operations += 1

        @settings(max_examples=10, deadline=None, database=None, derandomize=True,  # the same draws every run
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), data=st.data())
        def call(case, data):
            for name in case.path_parameters:
                values = real.get("call_reference" if operation.path.startswith("/calls/") else name, [])
                if values and (value := data.draw(st.none() | st.sampled_from(values), label=name)) is not None:
                    case.path_parameters[name] = value
            response = case.call(headers=headers)
            body = "" if isinstance(case.body, NotSet) else str(case.body)[:200]
            where = f"{case.method} {case.formatted_path} {case.query or ''} {body}"
            statuses.add(response.status_code)
            if response.status_code == 200:
                served.add(operation.path)
            content_type = " ".join(response.headers.get("content-type") or response.headers.get("Content-Type") or [])
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code} {response.text[:300]}")
            elif response.status_code != 204 and not content_type.startswith(("application/json", "application/pdf")):
                failures.append(f"{where}: {response.status_code} {content_type}")

        call()
    assert operations >= 15
    # The token worked (answers served) and generated input reached the validators.
    assert EXPECTED_STATUSES[account] <= statuses, statuses
    # with a real object in the path, the role's own operations answer (asked once more with the first real
    # object when the fuzz's draws did not put one in: which values it draws is left to chance)
    for path in SERVED[account] - served:
        name = path.split("{")[1].split("}")[0]
        value = real["call_reference" if path.startswith("/calls/") else name][0]
        response = client.get(f"/api/v1{path.replace('{' + name + '}', value)}", headers=headers)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
    assert failures == [], "\n".join(sorted(set(failures))[:30])


def test_numbers_beyond_a_database_integer_are_not_found_never_a_500(app):
    """Found by the fuzz: an id or a version beyond what a database integer holds failed in the query. Every
    route of the URL map with a number in its path, given such a number (GET, and POST where it takes it), by
    a signed-in administrator and through the API with a staff token: 404 (or 405), never a 500; a form
    version in other digits than 0–9 is refused in words."""
    from werkzeug.routing import IntegerConverter

    from tests.factories import login
    from tests.security.test_permission_matrix import routes

    with app.test_request_context():
        seed_demo(db.session)
        db.session.commit()
    page = app.test_client()
    assert login(page, "demo-admin@guichet.test", "demo").status_code == 302
    api = app.test_client()
    response = api.post("/api/v1/tokens", json={"email": "demo-instructor@guichet.test", "password": "demo",
                                                "scopes": ["read", "write"]})
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    huge = str(2**64)
    wrong, checked = [], 0
    for rule, method in routes(app):
        if not any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            continue
        path = re.sub(r"<int:[^>]+>", huge, rule.rule)
        path = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", path)   # the first choice
        path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "PACK-IA-2026", path)
        client, extra = (api, {"headers": headers}) if rule.endpoint.startswith("api.") else (page, {})
        response = client.open(path, method=method, **extra)
        checked += 1
        if response.status_code not in (404, 405):
            wrong.append(f"{method} {path}: {response.status_code}")
    assert checked >= 30
    assert wrong == []
    assert api.get(f"/api/v1/calls/PACK-IA-2026/form?version={2**63}", headers=headers).status_code == 404
    refused = api.get("/api/v1/calls/PACK-IA-2026/form?version=²", headers=headers)
    assert refused.status_code == 422 and "nombre entier" in refused.get_json()["error"]["message"]
