"""Configuration from the environment: defaults, and a clear stop on bad values."""

from __future__ import annotations

import pytest

from config import ConfigError, load_config


def base_env(tmp_path, **extra):
    env = {"GUICHET_INSTANCE": str(tmp_path)}
    env.update(extra)
    return env


def test_defaults_are_a_sqlite_file_under_instance_and_in_process_jobs(tmp_path):
    config = load_config(base_env(tmp_path))
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'guichet.db'}"
    assert config["REDIS_URL"] is None
    assert config["UPLOAD_FOLDER"] == str(tmp_path / "uploads")
    assert config["MAIL_BACKEND"] == "log"
    assert config["BABEL_DEFAULT_LOCALE"] == "fr"
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_SECURE"] is False


def test_secret_key_is_generated_once_into_instance_and_reused(tmp_path):
    first = load_config(base_env(tmp_path))["SECRET_KEY"]
    assert (tmp_path / "secret_key").read_text().strip() == first
    assert len(first) >= 32
    assert load_config(base_env(tmp_path))["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        load_config(base_env(tmp_path, GUICHET_ENV="production"))
    with pytest.raises(ConfigError, match="at least 32"):
        load_config(base_env(tmp_path, GUICHET_ENV="production", SECRET_KEY="short"))
    config = load_config(base_env(tmp_path, GUICHET_ENV="production", SECRET_KEY="x" * 40))
    assert config["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "secret_key").exists()


def test_postgresql_url_gets_the_psycopg_driver(tmp_path):
    config = load_config(base_env(tmp_path, DATABASE_URL="postgresql://u:p@db.internal:5432/guichet"))
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.internal:5432/guichet"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DATABASE_URL", "not a url", "DATABASE_URL is not a database URL"),
        ("DATABASE_URL", "mysql://u@h/db", "SQLite or PostgreSQL"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL must be a redis:// URL"),
        ("MAIL_PORT", "twenty-five", "MAIL_PORT must be a whole number"),
        ("MAIL_USE_TLS", "maybe", "MAIL_USE_TLS must be true or false"),
        ("MAX_UPLOAD_MB", "0", "MAX_UPLOAD_MB must be at least 1"),
        ("UPLOAD_FOLDER", "relative/uploads", "UPLOAD_FOLDER must be an absolute path"),
        ("GUICHET_ENV", "staging", "GUICHET_ENV must be one of"),
        ("DEFAULT_LOCALE", "de", "DEFAULT_LOCALE must be one of"),
    ],
)
def test_bad_values_stop_with_a_message_naming_the_variable(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(base_env(tmp_path, **{name: value}))


def test_redis_url_switches_jobs_and_rate_limit_storage_to_redis(tmp_path):
    config = load_config(base_env(tmp_path, REDIS_URL="redis://127.0.0.1:6379/2"))
    assert config["REDIS_URL"] == "redis://127.0.0.1:6379/2"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/2"


def test_the_app_refuses_to_start_on_bad_configuration(tmp_path):
    from app import create_app

    with pytest.raises(ConfigError, match="MAIL_PORT"):
        create_app(env=base_env(tmp_path, MAIL_PORT="abc"))
