"""Migrations: one head, a full round trip on an empty database, and models
that agree with the migrations (autogenerate finds nothing)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from config import BASE_DIR
from tests.conftest import make_test_env


@pytest.fixture
def empty_app(tmp_path):
    """An app on its own empty database (a new SQLite file, or a new PostgreSQL database)."""
    from app import create_app
    from app.extensions import db

    env = make_test_env(tmp_path, None)
    url = make_url(env["DATABASE_URL"])
    admin_engine = None
    if url.get_backend_name() == "postgresql":
        migration_db = f"{url.database}_migrations"
        admin_engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{migration_db}"'))
            conn.execute(text(f'CREATE DATABASE "{migration_db}"'))
        env["DATABASE_URL"] = url.set(database=migration_db).render_as_string(hide_password=False)
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'migrations.db'}"
    application = create_app(env=env)
    yield application
    with application.app_context():
        db.engine.dispose()
    if admin_engine is not None:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{migration_db}"'))
        admin_engine.dispose()


def script_directory() -> ScriptDirectory:
    from alembic.config import Config

    config = Config(str(BASE_DIR / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(BASE_DIR / "migrations"))
    return ScriptDirectory.from_config(config)


def test_single_head():
    assert len(script_directory().get_heads()) == 1


def test_every_revision_has_a_real_downgrade():
    for revision in script_directory().walk_revisions():
        source = open(revision.path, encoding="utf-8").read()
        body = source.split("def downgrade():", 1)[1]
        assert "op." in body or "drop_" in body, f"{revision.revision} has an empty downgrade()"


def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_app):
    from app.extensions import db

    with empty_app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "applications", "audit_log", "calls", "organisations"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "applications" in inspect(db.engine).get_table_names()


def test_models_and_migrations_agree(empty_app):
    from app.extensions import db
    from app.models import Base

    with empty_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    assert diff == []
