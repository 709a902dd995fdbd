import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, parse_database_url
from tests.conftest import REPO


def test_database_urls_parse():
    pg = parse_database_url("postgres://u:p%40ss@db.local:6543/fanpin?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "u",
        "p@ss",
        "db.local",
        "6543",
        "fanpin",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert parse_database_url("sqlite:////srv/fanpin/x.db")["NAME"] == "/srv/fanpin/x.db"


def test_a_sqlite_database_url_waits_for_the_lock_taken_at_begin():
    # A sqlite:/// URL once lost the default file's busy timeout: concurrent writers then
    # failed at once with "database is locked" (issue 11, item 6).
    sqlite = parse_database_url("sqlite:////srv/fanpin/x.db")
    assert sqlite["OPTIONS"] == {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    tuned = parse_database_url("sqlite:////srv/fanpin/x.db?timeout=2.5")
    assert tuned["NAME"] == "/srv/fanpin/x.db"
    assert tuned["OPTIONS"] == {"timeout": 2.5, "transaction_mode": "IMMEDIATE"}
    for bad in ("soon", "0", "-1", "601"):
        with pytest.raises(ImproperlyConfigured, match="timeout"):
            parse_database_url(f"sqlite:////srv/fanpin/x.db?timeout={bad}")


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host:port/db", "postgres://host/"])
def test_malformed_database_urls_fail_loudly(url):
    with pytest.raises(ImproperlyConfigured):
        parse_database_url(url)


def test_malformed_booleans_and_integers_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    monkeypatch.setenv("X_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")
    with pytest.raises(ImproperlyConfigured, match="X_NUMBER"):
        env_int("X_NUMBER", 1)


def _manage_check(**env):
    base = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_process_refuses_to_start_without_keys_or_with_bad_values(tmp_path):
    keys = {
        "DJANGO_SECRET_KEY": "x" * 50,
        "PII_ENCRYPTION_KEY": "QUFB" * 11,
        "PII_HMAC_KEY": "QUFB" * 11,
        "DJANGO_VAR_DIR": str(tmp_path),
    }
    missing = _manage_check(
        DJANGO_VAR_DIR=str(tmp_path), DJANGO_SECRET_KEY="", PII_ENCRYPTION_KEY="", PII_HMAC_KEY=""
    )
    assert missing.returncode != 0 and "DJANGO_SECRET_KEY" in missing.stderr
    short_key = _manage_check(**keys)  # 33 bytes, not 32
    assert short_key.returncode != 0 and "32 bytes" in short_key.stderr
    good = {
        **keys,
        "PII_ENCRYPTION_KEY": "QUFB" * 10 + "QUE=",
        "PII_HMAC_KEY": "QUFB" * 10 + "QUE=",
    }
    assert _manage_check(**good).returncode == 0, _manage_check(**good).stderr
    bad_debug = _manage_check(**good, DJANGO_DEBUG="perhaps")
    assert bad_debug.returncode != 0 and "DJANGO_DEBUG" in bad_debug.stderr


# --- production settings: `check --deploy` clean, and what it guards -------------------------


def _production_env(tmp_path, **overrides) -> dict:
    """The environment of a production process: fresh keys, no debug, a host name, Redis;
    nothing inherited from the shell that runs the tests (a sourced demo.env, say)."""
    from config.keygen import generate

    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PII_", "LOGIN_", "PASSWORD_", "MONITOR_"))
        and key not in {"PYTEST_VERSION", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    return {
        **inherited,
        **generate(),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "fanpin.example.gov.cn",
        "DJANGO_VAR_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:6379/0",  # only named: `check` does not connect
        **overrides,
    }


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = _manage(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout + result.stderr


def test_check_deploy_flags_each_weakened_control(tmp_path):
    env = _production_env(
        tmp_path,
        DJANGO_SECOND_FACTOR="0",
        DJANGO_SESSION_AGE="28800",
        PASSWORD_MAX_AGE_DAYS="0",
        DJANGO_SECURE_COOKIES="0",
    )
    del env["REDIS_URL"]
    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for check_id in (
        "fanpin.W001",  # second factor off
        "fanpin.W002",  # passwords never expire
        "fanpin.W003",  # sessions outlive 30 idle minutes
        "fanpin.W004",  # lockout counted per process
        "security.W012",  # session cookie not Secure
        "security.W016",  # CSRF cookie not Secure
        "security.W004",  # no HSTS
        "security.W008",  # no redirect to HTTPS
    ):
        assert check_id in output, check_id


def test_production_cookies_are_secure_httponly_and_samesite(tmp_path):
    script = (
        "from django.conf import settings as s; print(repr(("
        "s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_HTTPONLY, s.CSRF_COOKIE_SAMESITE, "
        "s.SESSION_COOKIE_AGE, s.SESSION_TOUCH_SECONDS, s.SECURE_HSTS_SECONDS >= 31536000, "
        "s.SECURE_SSL_REDIRECT, s.SECOND_FACTOR_REQUIRED, s.PASSWORD_MAX_AGE_DAYS)))"
    )
    result = _manage(_production_env(tmp_path), "shell", "--no-imports", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(
        (True, True, "Lax", True, True, "Lax", 1800, 60, True, True, True, 90)
    )
    # The demo (debug) relaxes what plain HTTP on 127.0.0.1 needs, and the second factor.
    demo = _manage(
        _production_env(tmp_path, DJANGO_DEBUG="1"), "shell", "--no-imports", "-c", script
    )
    assert demo.stdout.strip() == repr(
        (False, True, "Lax", False, True, "Lax", 1800, 60, False, False, False, 90)
    )
    # Each is a setting of its own.
    tuned = _production_env(
        tmp_path, PASSWORD_MAX_AGE_DAYS="60", DJANGO_SESSION_AGE="900", DJANGO_SECOND_FACTOR="1"
    )
    assert _manage(tuned, "shell", "--no-imports", "-c", script).stdout.strip() == repr(
        (True, True, "Lax", True, True, "Lax", 900, 60, True, True, True, 60)
    )


def test_the_default_database_and_redis_have_their_timeouts(tmp_path):
    """No DATABASE_URL: the SQLite file under var/ waits for the lock like a sqlite:/// URL.
    REDIS_URL: the cache and the broker give up on a silent Redis within seconds."""
    script = (
        "from django.conf import settings as s; print(repr(("
        "s.DATABASES['default']['OPTIONS'], s.CACHES['default']['OPTIONS'], "
        "s.CELERY_BROKER_TRANSPORT_OPTIONS)))"
    )
    result = _manage(_production_env(tmp_path), "shell", "--no-imports", "-c", script)
    assert result.returncode == 0, result.stderr
    redis_timeouts = {"socket_connect_timeout": 2, "socket_timeout": 2}
    assert result.stdout.strip() == repr(
        ({"timeout": 20, "transaction_mode": "IMMEDIATE"}, redis_timeouts, redis_timeouts)
    )
