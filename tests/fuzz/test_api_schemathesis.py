"""Schemathesis against the API's own OpenAPI document (/api/v1/openapi.json),
through the WSGI app: every operation, with a valid bearer token of the demo
applicant (read and write scopes), is called with generated parameters and
bodies; no answer may be a 500, and every answer must be JSON. The example
count is bounded (the whole module runs in well under a minute)."""

from __future__ import annotations

import schemathesis
from schemathesis.core import NotSet
from hypothesis import HealthCheck, given, settings
from app.extensions import db
from app.operations.demo import seed_demo


def test_no_api_operation_answers_500(app):
    with app.test_request_context():
        seed_demo(db.session)
        db.session.commit()
    client = app.test_client()
    response = client.post("/api/v1/tokens", json={"email": "demo-applicant@guichet.test", "password": "demo",
                                                   "scopes": ["read", "write"]})
    assert response.status_code == 201
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures, operations, statuses = [], 0, set()
    # Revoking the token goes last: the other operations keep a valid one.
    every = sorted((r.ok() for r in schema.get_all_operations()), key=lambda o: o.path == "/tokens/current")
    for operation in every:
        operations += 1

        @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case):
            response = case.call(headers=headers)
            body = "" if isinstance(case.body, NotSet) else str(case.body)[:200]
            where = f"{case.method} {case.formatted_path} {case.query or ''} {body}"
            statuses.add(response.status_code)
            content_type = " ".join(response.headers.get("content-type") or response.headers.get("Content-Type") or [])
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code} {response.text[:300]}")
            elif response.status_code != 204 and not content_type.startswith(("application/json", "application/pdf")):
                failures.append(f"{where}: {response.status_code} {content_type}")

        call()
    assert operations >= 15
    # The token worked (answers served) and generated input reached the validators.
    assert {200, 404, 422} <= statuses, statuses
    assert failures == [], "\n".join(sorted(set(failures))[:30])
