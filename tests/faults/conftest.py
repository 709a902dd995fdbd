"""Fixtures of the fault tests: the pytest database as a URL the project's own processes can
use, the registry of the samples, and a department with its key."""

import json
import uuid

import pytest
from django.db import connection
from django.test import Client

from accounts.choices import Role
from accounts.models import ApiToken, User
from households.importing import registry_import
from monitor.models import Department
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, sample_path


def shared_database_url() -> str:
    """The test database, for gunicorn and the worker (the tests commit: transaction=True)."""
    s = connection.settings_dict
    return (
        f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )


@pytest.fixture
def queue() -> str:
    """A queue of the test's own: no message of another run is ever picked up."""
    return f"faults-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def registry(regions):
    for name in ("registry_households.csv", "registry_members.csv"):
        registry_import(data=sample_path(name).read_bytes(), filename=name, scope_prefix=None)


@pytest.fixture
def civil_key(registry) -> str:
    account = User.objects.create_user(username="minzheng", password="x", role=Role.DEPARTMENT)
    Department.objects.create(
        name="县民政局", kind=DepartmentKind.CIVIL_AFFAIRS, region_id=COUNTY, account=account
    )
    return ApiToken.issue(user=account, name="推送")[1]


def session_of(user) -> dict:
    """Headers of a signed-in browser: the session cookie (sessions live in the database,
    so gunicorn reads it) and a CSRF secret sent both as cookie and header."""
    client = Client()
    client.force_login(user)
    secret = uuid.uuid4().hex
    return {
        "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={secret}",
        "X-CSRFToken": secret,
    }


def education_rows() -> list[dict]:
    return json.loads(sample_path("warnings_education.json").read_text("utf-8"))
