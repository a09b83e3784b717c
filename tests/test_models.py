"""The data model: identifiers, constraints, references, optimistic locking, audit chain."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import audit
from app.models import Application, AuditEntry, Organisation, RoleAssignment, utcnow
from app.models.organisation import InvalidIdentifier
from app.references import format_reference, next_reference
from tests.factories import make_application, make_call, make_organisation, make_user


def test_siret_is_checked_with_luhn_and_la_poste_rule(session):
    with pytest.raises(InvalidIdentifier):
        Organisation(siret="73282932000075", siren="732829320", name="Luhn faux")
    ok = Organisation(siret="732 829 320 00074", siren="732829320", name="Luhn juste")
    assert ok.siret == "73282932000074"
    # La Poste: Luhn does not hold, the digit sum is a multiple of 5.
    la_poste = Organisation(siret="35600000049837", siren="356000000", name="La Poste")
    assert la_poste.siret == "35600000049837"
    with pytest.raises(InvalidIdentifier):
        Organisation(siret="35600000049838", siren="356000000", name="La Poste, mauvais chiffre")


def test_siret_must_start_with_its_siren_in_the_database(session):
    session.add(Organisation(siret="73282932000074", siren="356000000", name="Incohérent"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_money_cannot_be_negative(session):
    call = make_call(session)
    org = make_organisation(session, make_user(session))
    application = make_application(session, call, org)
    session.commit()
    application.requested_amount_cents = -1
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_draft_has_no_submission_time(session):
    call = make_call(session)
    org = make_organisation(session, make_user(session))
    application = make_application(session, call, org, state="draft")
    application.submitted_at = utcnow()
    with pytest.raises(IntegrityError):
        session.flush()


def test_roles_are_unique_per_user_and_call_and_applicant_is_never_scoped(session):
    call = make_call(session)
    user = make_user(session, "instructor")
    session.commit()
    session.add(RoleAssignment(user_id=user.id, role="instructor"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    user = make_user(session, ("instructor", call.id))
    session.commit()
    session.add(RoleAssignment(user_id=user.id, role="instructor", call_id=call.id))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    user = make_user(session)
    session.commit()
    session.add(RoleAssignment(user_id=user.id, role="applicant", call_id=call.id))
    with pytest.raises(IntegrityError):
        session.flush()


def test_role_scoping(session):
    call_a = make_call(session)
    call_b = make_call(session)
    user = make_user(session, ("instructor", call_a.id), "expert")
    assert user.has_role("instructor", call_a)
    assert not user.has_role("instructor", call_b)
    assert user.has_role("expert", call_b)
    assert user.has_role("instructor")  # holds it for at least one call
    assert not user.has_role("admin")
    assert user.is_staff


def test_references_follow_the_prefix_year_sequence(session):
    assert [next_reference(session, "PIA", 2026) for _ in range(3)] == ["PIA-2026-0001", "PIA-2026-0002", "PIA-2026-0003"]
    assert next_reference(session, "PIA", 2027) == "PIA-2027-0001"
    assert next_reference(session, "AMI", 2026) == "AMI-2026-0001"
    assert format_reference("PIA", 2026, 42) == "PIA-2026-0042"


def test_concurrent_references_are_never_duplicated(app):
    from app.extensions import db

    results: list[str] = []
    errors: list[BaseException] = []

    def take(n: int) -> None:
        with app.app_context():
            try:
                for _ in range(n):
                    results.append(next_reference(db.session, "CONC", 2026))
                    db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=take, args=(10,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(results) == 40
    assert sorted(results) == [f"CONC-2026-{i:04d}" for i in range(1, 41)]


def test_optimistic_locking_refuses_a_stale_write(app):
    from app.extensions import db

    with app.app_context():
        call = make_call(db.session)
        org = make_organisation(db.session, make_user(db.session))
        reference = make_application(db.session, call, org).reference
        db.session.commit()
        db.session.remove()

    engine = None
    with app.app_context():
        engine = db.engine
        from sqlalchemy.orm import Session

        first, second = Session(engine, expire_on_commit=False), Session(engine, expire_on_commit=False)
        try:
            a1 = first.execute(select(Application).where(Application.reference == reference)).scalar_one()
            first.commit()  # release SQLite's write lock; the loaded version stays in memory
            a2 = second.execute(select(Application).where(Application.reference == reference)).scalar_one()
            second.commit()
            a1.state = "eligibility_check"
            first.commit()
            a2.state = "withdrawn"
            with pytest.raises(StaleDataError):
                second.commit()
        finally:
            first.close()
            second.close()
    with app.app_context():
        final = db.session.execute(select(Application).where(Application.reference == reference)).scalar_one()
        assert final.state == "eligibility_check"
        assert final.version == 2


def test_audit_rows_chain_their_hashes(session):
    user = make_user(session)
    first = audit.record(session, actor=user, role="applicant", object_type="user", object_id=user.id, action="a")
    second = audit.record(session, actor=user, role="applicant", object_type="user", object_id=user.id, action="b",
                          before={"state": "x"}, after={"state": "y"}, reason="parce que")
    session.commit()
    assert second.prev_hash == first.hash
    assert len(first.hash) == 64 and first.hash != second.hash
    assert list(audit.verify_chain(session)) == []


def test_audit_log_refuses_update_and_delete(session):
    user = make_user(session)
    entry = audit.record(session, actor=user, role=None, object_type="user", object_id=user.id, action="a")
    session.commit()
    with pytest.raises(DBAPIError):
        session.execute(text("UPDATE audit_log SET action = 'forged' WHERE id = :id"), {"id": entry.id})
    session.rollback()
    with pytest.raises(DBAPIError):
        session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entry.id})
    session.rollback()
    assert session.get(AuditEntry, entry.id).action == "a"


def test_audit_verify_names_an_altered_row(session):
    user = make_user(session)
    for action in ("a", "b", "c"):
        audit.record(session, actor=user, role=None, object_type="user", object_id=user.id, action=action)
    session.commit()
    last = session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
    forged = AuditEntry(at=utcnow(), actor_id=user.id, object_type="user", object_id=str(user.id), action="forged",
                        prev_hash=last.hash, hash="f" * 64)
    session.add(forged)
    session.commit()
    faults = list(audit.verify_chain(session))
    assert [f.entry_id for f in faults] == [forged.id]
    assert "altered" in faults[0].problem
