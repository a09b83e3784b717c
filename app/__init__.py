"""Application factory."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, g, has_request_context, request, session
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

from config import BASE_DIR, load_config

# The SQLite recipe: let SQLAlchemy (not pysqlite) emit BEGIN, and make it
# BEGIN IMMEDIATE so a transaction takes the write lock up front. Writers are
# serialised instead of failing halfway with "database is locked", which makes
# the conditional updates of counters and the audit chain safe on SQLite too.


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: Any) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_app(config: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Flask:
    """Build the application. ``config`` overrides values read from ``env``."""
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(BASE_DIR / "instance"),
    )
    app.config.update(load_config(env, **(config or {})))
    Path(app.config["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    register_extensions(app)
    register_i18n(app)
    register_blueprints(app)
    register_security(app)
    register_errorhandlers(app)
    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    from app import jobs, models  # noqa: F401  (models: full metadata for Alembic)
    from app.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), compare_type=True, render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    jobs.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        from app.models import User

        ident, _sep, epoch = user_id.partition(".")
        if not ident.isdigit() or not epoch.isdigit():
            return None
        user = db.session.get(User, int(ident))
        if user is None or not user.active or user.session_epoch != int(epoch):
            return None  # a session ended by logout or a new password
        return user

    @app.teardown_appcontext
    def _cleanup(exc: BaseException | None) -> None:
        db.session.remove()


def register_i18n(app: Flask) -> None:
    from app.extensions import babel
    from app import formatting

    def select_locale() -> str:
        languages = app.config["LANGUAGES"]
        if not has_request_context():  # CLI commands and jobs: the default language
            return app.config["BABEL_DEFAULT_LOCALE"]
        if current_user and current_user.is_authenticated and current_user.locale in languages:
            return current_user.locale
        chosen = session.get("lang")
        if chosen in languages:
            return chosen
        return app.config["BABEL_DEFAULT_LOCALE"]

    babel.init_app(app, locale_selector=select_locale)
    formatting.register(app)
    app.context_processor(formatting.template_context)

    @app.context_processor
    def notifications_context() -> dict[str, object]:
        from app.blueprints.notifications import unread_count

        return {"unread_notifications": unread_count}
    app.login_manager.localize_callback = formatting.translate  # type: ignore[attr-defined]
    app.login_manager.login_message = "Veuillez vous connecter pour accéder à cette page."  # type: ignore[attr-defined]
    app.login_manager.login_message_category = "info"  # type: ignore[attr-defined]


class DatabaseIdConverter(IntegerConverter):
    """``<int:…>`` in every route: a number a database integer can hold, else the URL matches nothing (404)
    instead of failing in the query (SQLite and PostgreSQL refuse larger integers)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**31 - 1,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def register_blueprints(app: Flask) -> None:
    from app.blueprints import (admin, api, applicant, auth, committee, envelopes, experts, finance, instruction, letters,
                                notifications, opendata, payments, public, reviews, undertakings, workspace)
    from app.extensions import csrf

    app.url_map.converters["int"] = DatabaseIdConverter  # before the rules are added

    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(applicant.bp)
    app.register_blueprint(instruction.bp)
    app.register_blueprint(workspace.bp)
    app.register_blueprint(experts.bp)
    app.register_blueprint(reviews.bp)
    app.register_blueprint(committee.bp)
    app.register_blueprint(finance.bp)
    app.register_blueprint(envelopes.bp)
    app.register_blueprint(undertakings.bp)
    app.register_blueprint(payments.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(opendata.bp)
    app.register_blueprint(letters.bp)
    app.register_blueprint(notifications.bp)
    # The API authenticates with bearer tokens, not cookies: no CSRF there.
    csrf.exempt(api.bp)
    app.register_blueprint(api.bp)


def register_security(app: Flask) -> None:
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    )

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.is_secure or app.config["GUICHET_ENV"] == "production":
            response.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if getattr(g, "no_store", False) or current_user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        return response


def register_errorhandlers(app: Flask) -> None:
    from flask import jsonify, render_template
    from flask_wtf.csrf import CSRFError

    from app.errors import UserFacingError
    from app.formatting import translate as _

    messages = {
        400: "Requête invalide.",
        401: "Authentification requise.",
        403: "Vous n'avez pas accès à cette page.",
        404: "Page introuvable.",
        405: "Méthode non autorisée.",
        409: "Ce dossier a été modifié entre-temps : rechargez la page et recommencez.",
        413: "Le fichier envoyé est trop volumineux.",
        422: "Les données envoyées ne sont pas valides.",
        429: "Trop de tentatives : réessayez dans quelques minutes.",
        500: "Une erreur interne est survenue ; l'équipe technique a été prévenue.",
    }

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    def render(code: int, message: str | None = None):
        text = message or _(messages.get(code, "Erreur."))
        if wants_json():
            return jsonify({"error": {"status": code, "message": text}}), code
        return render_template("error.html", code=code, message=text), code

    for code in messages:
        app.register_error_handler(code, lambda exc, code=code: render(code))

    def holds_nul(value) -> bool:
        if isinstance(value, str):
            return "\x00" in value
        if isinstance(value, dict):
            return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
        if isinstance(value, list):
            return any(holds_nul(v) for v in value)
        return False

    @app.before_request
    def refuse_nul_characters():
        """A NUL character never comes from someone typing, and PostgreSQL's text
        cannot hold one: refused at the door (400, in French) rather than failing
        in the database."""
        sent = [*request.args.lists()]
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            sent += [*request.form.lists()]
            if request.is_json and holds_nul(request.get_json(silent=True)):
                return render(400, _("Le texte envoyé contient un caractère non autorisé (caractère nul)."))
        if any(holds_nul(key) or holds_nul(values) for key, values in sent):
            return render(400, _("Le texte envoyé contient un caractère non autorisé (caractère nul)."))
        return None

    @app.errorhandler(UserFacingError)
    def user_facing(exc: UserFacingError):
        return render(exc.status, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render(400, _("Le formulaire a expiré ou n'est pas valide : rechargez la page et recommencez."))


def register_cli(app: Flask) -> None:
    from app import cli

    cli.register(app)
