"""Small factories for test objects, going through the real models."""

from __future__ import annotations

import itertools
import re
from contextlib import contextmanager
from datetime import timedelta

from app.models import (Application, Axis, Call, ConflictDeclaration, ExpertInvitation, Membership, Organisation, Plan,
                        RoleAssignment, User, utcnow)
from app.operations.demo import MILLION, make_siret
from app.references import next_reference
from app.workflow_versions import current_version

TEST_PASSWORD = "un mot de passe solide"
_seq = itertools.count(1)


def make_user(session, *roles: str | tuple[str, int | None], email: str | None = None, name: str = "Test User",
              password: str = TEST_PASSWORD, confirmed: bool = True, active: bool = True, locale: str = "fr") -> User:
    n = next(_seq)
    user = User(email=email or f"user{n}@example.test", name=name, active=active, locale=locale,
                email_confirmed_at=utcnow() if confirmed else None)
    user.set_password(password)
    for role in roles or ("applicant",):
        role_name, call_id = role if isinstance(role, tuple) else (role, None)
        user.roles.append(RoleAssignment(role=role_name, call_id=call_id))
    session.add(user)
    session.flush()
    return user


def make_plan(session) -> Plan:
    plan = Plan(name="Plan IA test", start_year=2025, years=5, envelope_cents=350 * MILLION,
                yearly_ceiling_cents=70 * MILLION)
    session.add(plan)
    session.add(Axis(plan=plan, number=1, title="Compétitivité"))
    session.flush()
    return plan


def make_call(session, *, reference: str | None = None, prefix: str | None = None, workflow: str = "pack_ia",
              status: str = "published", budget_cents: int = 2 * MILLION, max_aid_cents: int | None = 5_000_000,
              opens_in_days: int = -10, closes_in_days: int = 30, aid_regime: str | None = None) -> Call:
    axis = session.query(Axis).first()
    if axis is None:
        make_plan(session)
        axis = session.query(Axis).first()
    n = next(_seq)
    now = utcnow()
    call = Call(reference=reference or f"CALL-{n}", file_prefix=prefix or f"T{n}", title=f"Appel test {n}",
                axis=axis, opens_at=now + timedelta(days=opens_in_days), closes_at=now + timedelta(days=closes_in_days),
                budget_cents=budget_cents, max_aid_cents=max_aid_cents, status=status, workflow_name=workflow,
                aid_regime=aid_regime or ("gber:25" if workflow == "ami_numerique" else "de_minimis"))
    session.add(call)
    session.flush()
    return call


def make_organisation(session, *members: User, name: str | None = None, department: str = "67") -> Organisation:
    n = next(_seq)
    siret = make_siret(50_000_000 + n)
    org = Organisation(siret=siret, siren=siret[:9], name=name or f"Organisation {n}", department=department)
    session.add(org)
    for i, user in enumerate(members):
        session.add(Membership(user=user, organisation=org, is_owner=i == 0))
    session.flush()
    return org


def make_application(session, call: Call, organisation: Organisation, *, state: str = "submitted",
                     amount_cents: int = 1_000_000, title: str = "Projet test") -> Application:
    now = utcnow()
    application = Application(
        reference=next_reference(session, call.file_prefix, now.year), call=call, organisation=organisation,
        title=title, state=state, requested_amount_cents=amount_cents, workflow_version=current_version(session, call.workflow_name),
        submitted_at=None if state == "draft" else now,
    )
    session.add(application)
    session.flush()
    return application


def login(client, email: str, password: str = TEST_PASSWORD, follow: bool = False):
    return client.post("/connexion", data={"email": email, "password": password}, follow_redirects=follow)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def clear_reviewers(session, application: Application, *reviewers: User, invited_by: User | None = None) -> None:
    """Make ``reviewers`` able to score ``application``: each declares no conflict of
    interest, and the experts among them get an active invitation."""
    for user in reviewers:
        role = "instructor" if user.has_role("instructor", application.call_id) else "expert"
        if role == "expert":
            session.add(ExpertInvitation(application_id=application.id, expert_id=user.id,
                                         invited_by_id=invited_by.id if invited_by else None,
                                         due_on=utcnow().date() + timedelta(days=14)))
        session.add(ConflictDeclaration(application_id=application.id, user_id=user.id, role=role, has_conflict=False))
    session.flush()


def declare_no_conflict(client, reference: str):
    """The logged-in instructor declares no conflict of interest on the file (required before opening it)."""
    response = client.post(f"/instruction/dossiers/{reference}/conflit", data={"conflict": "no"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


@contextmanager
def recorded_statements(engine):
    """The SQL statements sent on ``engine`` inside the block, in order."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
