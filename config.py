"""Configuration read from the environment.

Every setting comes from an environment variable through a small helper that
fails loudly: a bad value stops the start with a message naming the variable
and what was expected (``ConfigError``). ``load_config()`` returns a plain
dict handed to ``app.config``.

Profiles (``GUICHET_ENV``): ``development`` (default, what ``make run`` uses),
``production`` and ``testing``.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

BASE_DIR = Path(__file__).resolve().parent
PROFILES = ("development", "production", "testing")
LOCALES = ("fr", "en")


class ConfigError(RuntimeError):
    """A configuration value is missing or invalid; the message says which."""


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _str(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _percent(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value > 100:
        raise ConfigError(f"{name} must be at most 100, got {value}")
    return value


def _int_list(env: Mapping[str, str], name: str, default: str) -> tuple[int, ...]:
    raw = _str(env, name, default) or ""
    try:
        values = {int(part) for part in raw.split(",") if part.strip()}
    except ValueError:
        raise ConfigError(f"{name} must be whole numbers separated by commas, got {raw!r}") from None
    if any(v < 1 for v in values):
        raise ConfigError(f"{name} values must be at least 1, got {raw!r}")
    return tuple(sorted(values, reverse=True))


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _str(env, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _database_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _str(env, name, default)
    assert raw is not None
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            f"{name} is not a database URL: {raw!r} "
            "(expected e.g. postgresql+psycopg://user:pass@host/db or sqlite:///path)"
        ) from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"{name} must point to SQLite or PostgreSQL, got {backend!r}")
    if backend == "postgresql" and url.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _redis_url(env: Mapping[str, str], name: str) -> str | None:
    raw = _str(env, name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ConfigError(f"{name} must be a redis:// URL, got {raw!r}")
    return raw


def _company_registry(env: Mapping[str, str], name: str) -> str:
    raw = _str(env, name, "offline")
    assert raw is not None
    if raw != "offline" and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", raw):
        raise ConfigError(f"{name} must be 'offline' or 'package.module:factory', got {raw!r}")
    return raw


def _siret(env: Mapping[str, str], name: str, default: str) -> str:
    from stdnum.fr import siret

    raw = _str(env, name, default) or ""
    if not siret.is_valid(raw):
        raise ConfigError(f"{name} must be a valid 14-digit SIRET, got {raw!r}")
    return siret.compact(raw)


def _secret_key(env: Mapping[str, str], profile: str, instance: Path) -> str:
    key = _str(env, "SECRET_KEY")
    if key:
        if profile == "production" and len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
        return key
    if profile == "production":
        raise ConfigError("SECRET_KEY is required in production (GUICHET_ENV=production)")
    if profile == "testing":
        return "testing-secret-key-not-for-production"
    key_file = instance / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Build the configuration dict from ``env`` (default: ``os.environ``)."""
    env = dict(os.environ if env is None else env)
    profile = _str(env, "GUICHET_ENV", "development")
    if profile not in PROFILES:
        raise ConfigError(f"GUICHET_ENV must be one of {', '.join(PROFILES)}, got {profile!r}")
    instance = Path(_str(env, "GUICHET_INSTANCE", str(BASE_DIR / "instance")) or "")
    production = profile == "production"

    default_db = f"sqlite:///{instance / 'guichet.db'}"
    uploads = Path(_str(env, "UPLOAD_FOLDER", str(instance / "uploads")) or "")
    if not uploads.is_absolute():
        raise ConfigError(f"UPLOAD_FOLDER must be an absolute path, got {str(uploads)!r}")

    default_locale = _str(env, "DEFAULT_LOCALE", "fr")
    if default_locale not in LOCALES:
        raise ConfigError(f"DEFAULT_LOCALE must be one of {', '.join(LOCALES)}")

    mail_server = _str(env, "MAIL_SERVER")
    config: dict[str, Any] = {
        "GUICHET_ENV": profile,
        "TESTING": profile == "testing",
        "DEBUG": False,
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": _secret_key(env, profile, instance),
        "SQLALCHEMY_DATABASE_URI": _database_url(env, "DATABASE_URL", default_db),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": _redis_url(env, "REDIS_URL"),
        # in-process jobs: run synchronously right after the commit (tests) or in a thread.
        "JOBS_EAGER": _bool(env, "JOBS_EAGER", profile == "testing"),
        "UPLOAD_FOLDER": str(uploads),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_UPLOAD_MB", 25, minimum=1) * 1024 * 1024,
        # Antivirus (clamd): a unix socket, or a host and port; neither means no scanning.
        "CLAMAV_SOCKET": _str(env, "CLAMAV_SOCKET"),
        "CLAMAV_HOST": _str(env, "CLAMAV_HOST"),
        "CLAMAV_PORT": _int(env, "CLAMAV_PORT", 3310, minimum=1),
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": _int(env, "MAIL_PORT", 25, minimum=1),
        "MAIL_USERNAME": _str(env, "MAIL_USERNAME"),
        "MAIL_PASSWORD": _str(env, "MAIL_PASSWORD"),
        "MAIL_USE_TLS": _bool(env, "MAIL_USE_TLS", False),
        "MAIL_SENDER": _str(env, "MAIL_SENDER", "Guichet Région Grand Est <noreply@guichet.test>"),
        "MAIL_BACKEND": _str(env, "MAIL_BACKEND", "smtp" if mail_server else ("memory" if profile == "testing" else "log")),
        "BABEL_DEFAULT_LOCALE": default_locale,
        "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        "BABEL_TRANSLATION_DIRECTORIES": str(BASE_DIR / "translations"),
        "LANGUAGES": LOCALES,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "SERVER_NAME": _str(env, "SERVER_NAME"),
        "WTF_CSRF_ENABLED": _bool(env, "WTF_CSRF_ENABLED", True),
        "RATELIMIT_ENABLED": _bool(env, "RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": _str(env, "RATELIMIT_STORAGE_URI", _redis_url(env, "REDIS_URL") or "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_RATE_LIMIT": _str(env, "LOGIN_RATE_LIMIT", "5 per 5 minutes"),
        "LOGIN_IP_RATE_LIMIT": _str(env, "LOGIN_IP_RATE_LIMIT", "30 per 5 minutes"),
        "API_TOKEN_DAYS": _int(env, "API_TOKEN_DAYS", 30, minimum=1),
        "EMAIL_TOKEN_MAX_AGE": _int(env, "EMAIL_TOKEN_HOURS", 48, minimum=1) * 3600,
        # scrypt everywhere; the test profile trades strength for speed.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000" if profile == "testing" else "scrypt",
        "PASSWORD_MIN_LENGTH": _int(env, "PASSWORD_MIN_LENGTH", 12, minimum=8),
        "DRAFT_REMINDER_DAYS": _int_list(env, "DRAFT_REMINDER_DAYS", "7,1"),
        "DUE_REMINDER_DAYS": _int(env, "DUE_REMINDER_DAYS", 2, minimum=0),
        # Experts are reminded this many days before their due date, then once when late.
        "EXPERT_REMINDER_DAYS": _int(env, "EXPERT_REMINDER_DAYS", 3, minimum=0),
        # Lapse (caducité), DOMAIN.md §4: no start of the work within this many
        # months of the decision, or no completion within that many.
        "LAPSE_START_MONTHS": _int(env, "LAPSE_START_MONTHS", 24, minimum=1),
        "LAPSE_COMPLETION_MONTHS": _int(env, "LAPSE_COMPLETION_MONTHS", 48, minimum=1),
        # Payment schedule (DOMAIN.md §4), in percent of the committed aid:
        # advance (with a bank guarantee), advance + interim payments
        # cumulated (past PAYMENT_LONG_PROJECT_MONTHS of work).
        "PAYMENT_ADVANCE_PERCENT": _percent(env, "PAYMENT_ADVANCE_PERCENT", 30),
        "PAYMENT_ADVANCE_GUARANTEED_PERCENT": _percent(env, "PAYMENT_ADVANCE_GUARANTEED_PERCENT", 60),
        "PAYMENT_INTERIM_CAP_PERCENT": _percent(env, "PAYMENT_INTERIM_CAP_PERCENT", 80),
        "PAYMENT_INTERIM_CAP_LONG_PERCENT": _percent(env, "PAYMENT_INTERIM_CAP_LONG_PERCENT", 90),
        "PAYMENT_LONG_PROJECT_MONTHS": _int(env, "PAYMENT_LONG_PROJECT_MONTHS", 48, minimum=1),
        "TICK_INTERVAL_SECONDS": _int(env, "TICK_INTERVAL_SECONDS", 300, minimum=10),
        "WEBHOOK_URL": _str(env, "WEBHOOK_URL"),
        "DOCUMENTS_FOLDER": str(instance / "documents"),
        # An agreement is mandatory above 23,000 € (DOMAIN.md §5).
        "AGREEMENT_THRESHOLD_CENTS": _int(env, "AGREEMENT_THRESHOLD_EUROS", 23_000, minimum=0) * 100,
        # Background exports (ZIP of decision letters): where, and how long they are kept.
        "EXPORTS_FOLDER": str(instance / "exports"),
        "EXPORT_RETENTION_HOURS": _int(env, "EXPORT_RETENTION_HOURS", 24, minimum=1),
        # An export still queued or running after this many minutes lost its worker: the tick
        # reports it failed (and frees its selection) so that it can be retried.
        "EXPORT_STALL_MINUTES": _int(env, "EXPORT_STALL_MINUTES", 60, minimum=5),
        # Daily digest of notifications for the staff who chose it: sent by the
        # first tick at or after this hour (Europe/Paris).
        "DIGEST_HOUR": _int(env, "DIGEST_HOUR", 7, minimum=0),
        "PDF_FONT_DIR": _str(env, "PDF_FONT_DIR", "/usr/share/fonts/truetype/dejavu"),
        "PAGE_SIZE": _int(env, "PAGE_SIZE", 50, minimum=5),
        # Company-registry lookup by SIRET: "offline" (bundled file) or "package.module:factory".
        "COMPANY_REGISTRY": _company_registry(env, "COMPANY_REGISTRY"),
        # Open data (SCDL « subventions »): the attributing authority and the
        # amount above which a grant's agreement data are published (23,000 €).
        "SCDL_ATTRIBUTING_NAME": _str(env, "SCDL_ATTRIBUTING_NAME", "Région Grand Est"),
        "SCDL_ATTRIBUTING_SIRET": _siret(env, "SCDL_ATTRIBUTING_SIRET", "20005226400013"),
        "SCDL_THRESHOLD_CENTS": _int(env, "SCDL_THRESHOLD_EUROS", 23_000) * 100,
    }
    config.update(overrides)
    return config
