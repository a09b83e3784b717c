"""The ``flask`` commands: create-user, seed-demo, audit verify, workflows check.

The commands run in the test's application context, so they share its
session; the test commits before each invocation and expires after it.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from stdnum.fr import siret as stdnum_siret

from app.audit import compute_hash
from app.operations.demo_payments import DEMO_EXECUTION_FILES
from app.models import (
    GENESIS_HASH,
    Application,
    AuditEntry,
    AuditPurgeAllowed,
    Call,
    Organisation,
    Plan,
    RoleAssignment,
    User,
    utcnow,
)
from app.operations.demo import DEMO_ACCOUNTS
from app.operations.demo_finance import DEMO_FINANCE_FILES
from app.operations.demo_scoring import PROJECTS as DEMO_SCORING_PROJECTS
from app.operations.demo_committee import DEMO_FILES as COMMITTEE_DEMO_FILES
from app.operations.demo_committee import MEMBERS as COMMITTEE_MEMBERS
from tests.factories import login, make_user

STRONG = "correct horse battery staple"
DEMO_EMAILS = {email for email, _name, _role in DEMO_ACCOUNTS}
# seed_demo's own files, the AMI files in instruction of demo_scoring, the decided ones of demo_finance
# the files under agreement of demo_payments and those of the committee sessions
DEMO_FILES = 16 + len(DEMO_SCORING_PROJECTS) + len(DEMO_FINANCE_FILES) + DEMO_EXECUTION_FILES + COMMITTEE_DEMO_FILES
ALL_DEMO_EMAILS = DEMO_EMAILS | {email for email, _name in COMMITTEE_MEMBERS}
REFERENCE_RE = re.compile(r"^(?P<prefix>[A-Z]+)-(?P<year>\d{4})-(?P<number>\d{4})$")


@pytest.fixture
def cli(app, session):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        session.commit()
        result = runner.invoke(args=list(args))
        # end whatever the command left open (a failed command may not have rolled back)
        session.rollback()
        return result

    return invoke


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def user_by_email(session, email: str) -> User | None:
    return session.execute(select(User).where(User.email == email)).scalar_one_or_none()


def counts(session) -> dict[str, int]:
    return {m.__name__: count(session, m) for m in (Plan, Call, User, Organisation, Application, RoleAssignment, AuditEntry)}


# --- create-user ---------------------------------------------------------------------------------


def test_create_user_creates_a_confirmed_account_that_can_log_in(cli, session, client):
    result = cli("create-user", "--email", "Inst@Example.test", "--name", "Irène Instructrice",
                 "--role", "instructor", "--password", STRONG)
    assert result.exit_code == 0, result.output
    assert "inst@example.test" in result.output
    user = user_by_email(session, "inst@example.test")
    assert user is not None and user.name == "Irène Instructrice"
    assert user.active and user.email_confirmed_at is not None
    assert [(r.role, r.call_id) for r in user.roles] == [("instructor", None)]
    assert user.check_password(STRONG)
    session.rollback()
    response = login(client, "inst@example.test", STRONG)
    assert response.status_code == 302
    assert "/connexion" not in response.headers["Location"]


def test_create_user_with_several_roles(cli, session):
    result = cli("create-user", "--email", "multi@example.test", "--name", "M", "--role", "finance",
                 "--role", "committee", "--password", STRONG)
    assert result.exit_code == 0, result.output
    assert user_by_email(session, "multi@example.test").role_names == {"finance", "committee"}


def test_create_user_with_role_scoped_to_a_call(cli, session, demo):
    result = cli("create-user", "--email", "scoped@example.test", "--name", "S", "--role", "instructor:PACK-IA-2026",
                 "--password", STRONG)
    assert result.exit_code == 0, result.output
    pack_id = session.execute(select(Call.id).where(Call.reference == "PACK-IA-2026")).scalar_one()
    user = user_by_email(session, "scoped@example.test")
    assert [(r.role, r.call_id) for r in user.roles] == [("instructor", pack_id)]
    assert user.has_role("instructor", pack_id)
    ami_id = session.execute(select(Call.id).where(Call.reference == "AMI-ECONUM-2026")).scalar_one()
    assert not user.has_role("instructor", ami_id)


def test_create_user_with_unknown_call_fails(cli, session, demo):
    result = cli("create-user", "--email", "x@example.test", "--name", "X", "--role", "instructor:NOPE-2026",
                 "--password", STRONG)
    assert result.exit_code != 0
    assert "NOPE-2026" in result.output
    assert user_by_email(session, "x@example.test") is None


def test_create_user_with_unknown_role_fails_and_creates_nothing(cli, session):
    before = counts(session)
    result = cli("create-user", "--email", "x@example.test", "--name", "X", "--role", "superuser", "--password", STRONG)
    assert result.exit_code != 0
    assert "superuser" in result.output
    assert user_by_email(session, "x@example.test") is None
    assert counts(session) == before


def test_create_user_with_duplicate_email_fails(cli, session):
    make_user(session, email="taken@example.test", name="First")
    before = counts(session)
    result = cli("create-user", "--email", "TAKEN@example.test", "--name", "Second", "--role", "admin",
                 "--password", STRONG)
    assert result.exit_code != 0
    assert "taken@example.test" in result.output
    assert counts(session) == before
    user = user_by_email(session, "taken@example.test")
    assert user.name == "First" and user.role_names == {"applicant"}


@pytest.mark.parametrize("password", ["short", "elevenchars", "demo", "password"])
def test_create_user_refuses_weak_passwords(cli, session, password):
    result = cli("create-user", "--email", "weak@example.test", "--name", "W", "--role", "admin", "--password", password)
    assert result.exit_code != 0
    assert "mot de passe" in result.output.lower()
    assert user_by_email(session, "weak@example.test") is None


def test_create_user_requires_a_role(cli, session):
    result = cli("create-user", "--email", "norole@example.test", "--name", "N", "--password", STRONG)
    assert result.exit_code != 0
    assert "--role" in result.output
    assert user_by_email(session, "norole@example.test") is None


# --- seed-demo -----------------------------------------------------------------------------------


def test_seed_demo_loads_calls_accounts_files_and_organisations(cli, session):
    result = cli("seed-demo")
    assert result.exit_code == 0, result.output
    for email in DEMO_EMAILS:
        assert email in result.output
    assert "demo" in result.output

    assert set(session.execute(select(Call.reference)).scalars()) == {"AMI-ECONUM-2026", "PACK-IA-2026"}
    assert set(session.execute(select(User.email)).scalars()) == ALL_DEMO_EMAILS
    roles = {u.email: u.role_names for u in session.execute(select(User)).scalars()}
    assert roles == {email: {role} for email, _n, role in DEMO_ACCOUNTS} | {
        email: {"committee"} for email, _n in COMMITTEE_MEMBERS}
    assert all(u.email_confirmed_at is not None for u in session.execute(select(User)).scalars())

    states = Counter(session.execute(select(Application.state)).scalars())
    assert len(states) >= 5, states
    files = session.execute(select(Application)).scalars().all()
    assert {a.call.reference for a in files} == {"AMI-ECONUM-2026", "PACK-IA-2026"}
    assert len({a.reference for a in files}) == len(files)

    organisations = session.execute(select(Organisation)).scalars().all()
    assert len(organisations) == 2
    for org in organisations:
        assert stdnum_siret.is_valid(org.siret), org.siret
        assert org.siren == org.siret[:9]
    assert {m.user.email for o in organisations for m in o.memberships} == {
        "demo-applicant@guichet.test", "demo-applicant2@guichet.test"}


def test_seed_demo_twice_duplicates_nothing(cli, session):
    assert cli("seed-demo").exit_code == 0
    first = counts(session)
    result = cli("seed-demo")
    assert result.exit_code == 0, result.output
    assert "already" in result.output
    assert counts(session) == first
    result = cli("seed-demo", "--if-empty")
    assert result.exit_code == 0
    assert counts(session) == first


def test_seed_demo_scale_adds_exactly_n_files(cli, session):
    assert cli("seed-demo").exit_code == 0
    demo_refs = set(session.execute(select(Application.reference)).scalars())
    result = cli("seed-demo", "--scale", "300")
    assert result.exit_code == 0, result.output
    assert "300" in result.output

    files = session.execute(select(Application)).scalars().all()
    assert len(files) == len(demo_refs) + 300
    new = [a for a in files if a.reference not in demo_refs]
    assert len(new) == 300
    refs = [a.reference for a in files]
    assert len(set(refs)) == len(refs)
    year = utcnow().year
    prefixes = {}
    for a in new:
        match = REFERENCE_RE.match(a.reference)
        assert match, a.reference
        assert match["prefix"] == a.call.file_prefix
        assert int(match["year"]) == year
        prefixes.setdefault(a.call.reference, set()).add(int(match["number"]))
    assert set(prefixes) == {"AMI-ECONUM-2026", "PACK-IA-2026"}
    assert all(len(numbers) > 50 for numbers in prefixes.values())
    assert len({a.state for a in new}) >= 4

    verify = cli("audit", "verify")
    assert verify.exit_code == 0, verify.output


def test_seed_demo_scale_on_an_empty_database_seeds_the_demo_first(cli, session):
    result = cli("seed-demo", "--scale", "20")
    assert result.exit_code == 0, result.output
    assert count(session, Call) == 2
    assert count(session, User) == len(ALL_DEMO_EMAILS)
    assert count(session, Application) == DEMO_FILES + 20


def test_seed_demo_scale_twice_keeps_references_unique(cli, session):
    assert cli("seed-demo", "--scale", "40").exit_code == 0
    assert cli("seed-demo", "--scale", "40").exit_code == 0
    refs = session.execute(select(Application.reference)).scalars().all()
    assert len(refs) == DEMO_FILES + 80
    assert len(set(refs)) == len(refs)


def test_seed_demo_is_refused_in_production(app, cli, session):
    previous = app.config["GUICHET_ENV"]
    app.config["GUICHET_ENV"] = "production"
    try:
        result = cli("seed-demo")
    finally:
        app.config["GUICHET_ENV"] = previous
    assert result.exit_code != 0
    assert "production" in result.output
    assert counts(session) == dict.fromkeys(counts(session), 0)


# --- audit verify --------------------------------------------------------------------------------


def last_entry(session) -> AuditEntry:
    return session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one()


def test_audit_verify_on_an_empty_and_an_intact_chain(cli, session):
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "0 rows" in result.output
    assert cli("seed-demo").exit_code == 0
    total = count(session, AuditEntry)
    assert total > 10
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert f"{total} rows" in result.output


def test_audit_verify_detects_a_forged_row(cli, session, demo):
    last = last_entry(session)
    forged = AuditEntry(at=utcnow(), actor_id=None, actor_role="admin", object_type="application", object_id="PIA-2026-0001",
                        action="approve", after={"state": "approved"}, prev_hash=last.hash, hash="f" * 64)
    session.add(forged)
    session.commit()
    forged_id = forged.id
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"row {forged_id}" in result.output
    assert "altered" in result.output


def test_audit_verify_detects_a_row_with_a_valid_hash_off_the_chain(cli, session, demo):
    at = utcnow()
    prev = "a" * 64  # not the hash of the previous row
    forged = AuditEntry(at=at, actor_id=None, actor_role="admin", object_type="user", object_id="1", action="grant_role",
                        after={"role": "admin"}, prev_hash=prev,
                        hash=compute_hash(prev, at, None, "admin", "user", "1", "grant_role", None, {"role": "admin"}, None))
    session.add(forged)
    session.commit()
    forged_id = forged.id
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"row {forged_id}" in result.output
    assert "prev_hash" in result.output


def test_audit_verify_detects_a_deleted_middle_row(cli, session, demo):
    ids = session.execute(select(AuditEntry.id).order_by(AuditEntry.id)).scalars().all()
    assert len(ids) >= 3
    middle, following = ids[len(ids) // 2], ids[len(ids) // 2 + 1]
    session.execute(insert(AuditPurgeAllowed).values(id=99))
    session.execute(delete(AuditEntry).where(AuditEntry.id == middle))
    session.execute(delete(AuditPurgeAllowed))
    session.commit()
    assert session.get(AuditEntry, middle) is None
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"row {following}" in result.output
    assert "removed" in result.output


def test_audit_verify_stops_at_the_first_fault(cli, session, demo):
    ids = session.execute(select(AuditEntry.id).order_by(AuditEntry.id)).scalars().all()
    session.execute(insert(AuditPurgeAllowed).values(id=99))
    session.execute(delete(AuditEntry).where(AuditEntry.id.in_([ids[1], ids[-2]])))
    session.execute(delete(AuditPurgeAllowed))
    session.commit()
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert result.output.count("broken") == 1
    assert f"row {ids[2]}" in result.output


def test_audit_rows_cannot_be_updated(session, demo):
    entry = last_entry(session)
    entry_id, action = entry.id, entry.action
    session.rollback()
    with pytest.raises(DBAPIError):
        session.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(action="tampered"))
        session.flush()
    session.rollback()
    assert session.get(AuditEntry, entry_id).action == action


def test_audit_rows_cannot_be_deleted_without_the_purge_flag(session, demo):
    entry_id = last_entry(session).id
    session.rollback()
    with pytest.raises(DBAPIError):
        session.execute(delete(AuditEntry).where(AuditEntry.id == entry_id))
    session.rollback()
    assert session.get(AuditEntry, entry_id) is not None


def test_genesis_is_the_first_prev_hash(session, demo):
    first = session.execute(select(AuditEntry).order_by(AuditEntry.id).limit(1)).scalar_one()
    assert first.prev_hash == GENESIS_HASH


# --- workflows check -----------------------------------------------------------------------------


def test_workflows_check_reports_every_definition_ok(app):
    from workflows.loader import DEFINITIONS_DIR

    names = sorted(p.stem for p in DEFINITIONS_DIR.glob("*.yaml"))
    assert names
    result = app.test_cli_runner().invoke(args=["workflows", "check"])
    assert result.exit_code == 0, result.output
    for name in names:
        assert f"{name}: ok" in result.output


def test_workflows_check_fails_on_a_broken_definition(app, tmp_path, monkeypatch):
    import workflows.loader as loader

    for path in loader.DEFINITIONS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "broken.yaml").write_text("name: broken\nstates: [unclosed\n", encoding="utf-8")
    monkeypatch.setattr(loader, "DEFINITIONS_DIR", tmp_path)
    result = app.test_cli_runner().invoke(args=["workflows", "check"])
    assert result.exit_code == 1
    assert "broken: 1 problem" in result.output
    assert "pack_ia: ok" in result.output


def test_workflows_check_names_an_effect_template_the_application_lacks(app, monkeypatch):
    from app import notifications

    result = app.test_cli_runner().invoke(args=["workflows", "check"])
    assert result.exit_code == 0 and "templates/pack_ia: ok" in result.output, result.output
    templates = dict(notifications.TEMPLATES)
    del templates["accuse_reception"]
    monkeypatch.setattr(notifications, "TEMPLATES", templates)
    result = app.test_cli_runner().invoke(args=["workflows", "check"])
    assert result.exit_code == 1
    assert "aucun modèle de courriel « accuse_reception »" in result.output
    assert "templates/pack_ia: " in result.output and "templates/ami_numerique: " in result.output
