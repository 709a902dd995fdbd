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
