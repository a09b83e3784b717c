"""Test setup: one app per session on a migrated database (SQLite by default,
PostgreSQL when TEST_DATABASE_URL is set, real Redis when REDIS_URL is set);
every table is emptied after each test that used the database."""

from __future__ import annotations

import contextvars
import os
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, delete, insert, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import factories  # noqa: E402

TEST_PASSWORD = factories.TEST_PASSWORD


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as in production: it never reuses
    an application context a fixture left open (nor its ``g``, where
    Flask-Login caches the current user, nor its database session)."""

    def open(self, *args, **kwargs):
        from flask import has_app_context

        from app.extensions import db

        if has_app_context():
            # A fixture's transaction would hold SQLite's write lock (every
            # transaction is BEGIN IMMEDIATE) and hide its data from the request:
            # end it, as the fixture's own request would have.
            db.session.commit()
        # A streamed answer (CSV, XLSX, open data) is read to its end and closed within
        # the request's own context, as a server does: left open, its generator would
        # keep the request's transaction (SQLite's write lock) until garbage-collected.
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


def make_test_env(instance: Path, database_url: str | None = None) -> dict[str, str]:
    env = {
        "GUICHET_ENV": "testing",
        "GUICHET_INSTANCE": str(instance),
        "DATABASE_URL": database_url or os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{instance}/test.db",
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    from flask_migrate import upgrade

    from app import create_app

    instance = tmp_path_factory.mktemp("instance")
    env = make_test_env(instance)
    if env["DATABASE_URL"].startswith("postgresql"):
        _reset_postgres(env["DATABASE_URL"])
    application = create_app(env=env, config={"WTF_CSRF_ENABLED": False})
    application.test_client_class = IsolatedClient
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        from app.extensions import db

        db.engine.dispose()


def _empty_database(application) -> None:
    from app.extensions import db, limiter
    from app.models import AuditPurgeAllowed, Base

    with application.app_context():
        db.session.remove()
        engine = db.engine
        tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name != AuditPurgeAllowed.__tablename__]
        with engine.begin() as conn:
            conn.execute(insert(AuditPurgeAllowed).values(id=1))
            if engine.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(delete(table))
            conn.execute(delete(AuditPurgeAllowed))
        limiter.reset()
        application.extensions["guichet_outbox"] = []
        if application.config.get("REDIS_URL"):
            from app.jobs import QUEUES, runner

            for name in QUEUES:
                runner().queue(name).empty()


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Empty the database after any test that used the app."""
    yield
    if "app" in request.fixturenames:
        _empty_database(request.getfixturevalue("app"))


@pytest.fixture
def session(app):
    """The app's SQLAlchemy session inside an application context."""
    from app.extensions import db

    with app.app_context():
        yield db.session
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


def run_queued_jobs(application) -> None:
    """With Redis configured, run what the RQ queues hold, through a real
    worker in this process (so the memory mail backend is visible here)."""
    if not application.config.get("REDIS_URL"):
        return
    from app.jobs import make_worker

    make_worker(application, simple=True).work(burst=True)


class Outbox(list):
    """The mail sent so far. Reading it first drains the RQ queues when Redis is
    configured, so the same tests check the in-process and the RQ paths."""

    def __init__(self, application) -> None:
        super().__init__()
        self.application = application

    def _sync(self) -> None:
        run_queued_jobs(self.application)

    def __len__(self) -> int:
        self._sync()
        return super().__len__()

    def __iter__(self):
        self._sync()
        return super().__iter__()

    def __getitem__(self, index):
        self._sync()
        return super().__getitem__(index)

    def __bool__(self) -> bool:
        return len(self) > 0


@pytest.fixture
def outbox(app):
    box = Outbox(app)
    app.extensions["guichet_outbox"] = box
    return box


@pytest.fixture
def csrf(app):
    """CSRF protection on, as in production, for the duration of a test."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def demo(app, session):
    """The demo data set, loaded through the real seeding code."""
    from app.operations.demo import seed_demo

    summary = seed_demo(session)
    session.commit()
    # The jobs the seeding queued (its mail, the minutes PDF…) run now, as they do
    # in-process without Redis: a test's own outbox then holds the test's mail only.
    run_queued_jobs(app)
    return summary
