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


def test_openapi_schema_generates_without_warnings(tmp_path):
    """Every endpoint documents its parameters and errors: a warning here is a gap."""
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    text = (tmp_path / "schema.yml").read_text("utf-8")
    assert "/api/cases/{id}/transitions/" in text
    assert "'409':" in text
