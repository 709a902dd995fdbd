"""Project-wide checks that belong in every test run."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail("models changed without a migration:\n" + out.getvalue())


def test_system_checks_pass():
    call_command("check")
