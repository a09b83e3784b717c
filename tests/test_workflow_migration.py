"""Moving files to a newer workflow version: explicit, checked, audited; and
the drawing of a call's workflow."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

import workflows
from app.errors import UserFacingError
from app.models import Application, AuditEntry, WorkflowVersion
from app.operations.workflow_migration import migrate_call_files, plan_migration
from tests.factories import login, make_application, make_call, make_organisation, make_user


def pin_to_variant(session, application, change) -> str:
    variant = copy.deepcopy(workflows.load_definition("pack_ia").to_dict())
    change(variant)
    definition = workflows.from_dict(variant)
    if session.execute(select(WorkflowVersion).where(WorkflowVersion.hash == definition.hash)).scalar() is None:
        session.add(WorkflowVersion(name="pack_ia", hash=definition.hash, label="2024.9", definition=definition.to_dict()))
        session.flush()
    application.workflow_version = definition.hash
    return definition.hash


def relabel(variant):
    variant["label"] = "Pack IA (ancienne version)"


def add_state(variant):
    variant["states"]["pre_check"] = {"stage": "eligibility", "label": "Pré-contrôle"}
    variant["transitions"].append({"name": "pre_check", "from": "submitted", "to": "pre_check", "roles": ["instructor"]})
    variant["transitions"].append({"name": "end_pre_check", "from": "pre_check", "to": "eligibility_check",
                                   "roles": ["instructor"]})


@pytest.fixture
def files(session):
    call = make_call(session, reference="PACK-TEST")
    org = make_organisation(session, make_user(session))
    old = make_application(session, call, org, state="instruction")
    current = make_application(session, call, org, state="submitted")
    session.commit()
    return call, old, current


def test_compatible_files_move_and_each_move_is_audited(session, files):
    call, old, current = files
    old_hash = pin_to_variant(session, old, relabel)
    session.commit()
    version_before = session.get(Application, old.id).version
    plan = plan_migration(session, call)
    assert {v.hash for v in plan.versions} == {old_hash, current.workflow_version}
    assert not plan.blocked
    moved = migrate_call_files(session, call, None, role="system")
    session.commit()
    assert moved == 1
    refreshed = session.get(Application, old.id)
    assert refreshed.workflow_version == workflows.load_definition("pack_ia").hash
    assert refreshed.version == version_before + 1  # concurrent editors of the file are told
    row = session.execute(select(AuditEntry).where(AuditEntry.action == "migrate_workflow")).scalar_one()
    assert row.object_id == old.reference
    assert row.before == {"workflow_version": old_hash}


def test_a_file_in_a_state_the_new_version_lacks_blocks_the_whole_migration(session, files):
    call, old, current = files
    pin_to_variant(session, old, add_state)
    old.state = "pre_check"
    relabelled = make_application(session, call, old.organisation, state="submitted")
    pin_to_variant(session, relabelled, relabel)
    session.commit()
    plan = plan_migration(session, call)
    assert plan.blocked
    with pytest.raises(UserFacingError) as info:
        migrate_call_files(session, call, None)
    assert "pre_check" in info.value.message
    session.rollback()
    assert session.get(Application, relabelled.id).workflow_version != workflows.load_definition("pack_ia").hash
    assert session.execute(select(AuditEntry).where(AuditEntry.action == "migrate_workflow")).first() is None


def test_admin_page_draws_the_workflow_and_migrates(app, session, files, client):
    call, old, current = files
    pin_to_variant(session, old, relabel)
    make_user(session, "admin", email="admin@region-grandest.fr")
    make_user(session, "instructor", email="instr@region-grandest.fr")
    session.commit()
    login(client, "instr@region-grandest.fr")
    assert client.get("/admin/appels/PACK-TEST/circuit").status_code == 403
    client.post("/deconnexion")
    login(client, "admin@region-grandest.fr")
    page = client.get("/admin/appels/PACK-TEST/circuit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in html and "eligibility_check" in html and "Déposer le dossier" in html
    assert "compatible" in html
    response = client.post("/admin/appels/PACK-TEST/circuit/migrer", follow_redirects=True)
    assert "1 dossier(s) passent" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Application, old.id).workflow_version == workflows.load_definition("pack_ia").hash


def test_cli_migrate_dry_run_changes_nothing(app, session, files):
    call, old, current = files
    old_hash = pin_to_variant(session, old, relabel)
    session.commit()
    result = app.test_cli_runner().invoke(args=["workflows", "migrate", "PACK-TEST", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "compatible" in result.output
    session.expire_all()
    assert session.get(Application, old.id).workflow_version == old_hash
    result = app.test_cli_runner().invoke(args=["workflows", "migrate", "PACK-TEST"])
    assert result.exit_code == 0 and "1 file(s) moved" in result.output
