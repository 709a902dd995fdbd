"""Shared scenario: the demo county (two townships, three villages each) plus a neighbouring
county, one user per role and level, and helpers for tests that need real services."""

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.models import User
from households.models import MonitoringLine, Region
from households.services import income_record_save, regions_load_csv
from monitor.choices import Category, Channel
from monitor.services import case_create

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / "households" / "fixtures" / "demo"
# The team's shared samples live beside the repository; the demo keeps a copy of the two
# registry files so a clone without shared/ still runs the demo.
SHARED_SAMPLES = REPO.parent / "shared" / "samples"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Property tests judge results, not speed: Hypothesis's per-example deadline turned a slow
# first example (a cold cache on a busy machine) into a failure. Speed is benchmarked.
hypothesis_settings.register_profile("project", deadline=None)
hypothesis_settings.load_profile("project")

VILLAGE_A = "630121100201"  # 桥头镇 东关村
VILLAGE_B = "630121100202"  # 桥头镇 西关村 (same township as A)
VILLAGE_C = "630121101201"  # 城关镇 向阳村 (other township)
TOWNSHIP_1 = "630121100000"
TOWNSHIP_2 = "630121101000"
COUNTY = "630121000000"
OTHER_COUNTY = "630122000000"
OTHER_TOWNSHIP = "630122100000"
OTHER_VILLAGE = "630122100201"


def sample_path(name: str) -> Path:
    """The team's shared sample first; a clone without shared/ beside it uses the copies in
    the repository (households/fixtures/demo, tests/samples)."""
    for folder in (SHARED_SAMPLES, DEMO_DIR, REPO / "tests" / "samples"):
        if (folder / name).exists():
            return folder / name
    message = f"sample {name} not found in {SHARED_SAMPLES}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_service(name: str, available: bool, how: str) -> None:
    """Skip with a message locally; under CI=true a missing service is a failure."""
    if available:
        return
    message = f"{name} is not available ({how})"
    if IN_CI:
        pytest.fail(message + " — CI must run against the real service")
    pytest.skip(message)


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        require_service(
            "PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL=postgres://…"
        )
    if item.get_closest_marker("redis"):
        require_service("Redis", bool(os.environ.get("REDIS_URL")), "set REDIS_URL=redis://…")


@pytest.fixture
def regions(db):
    text = (DEMO_DIR / "regions.csv").read_text("utf-8")
    text += f"{OTHER_TOWNSHIP},多巴镇\n{OTHER_VILLAGE},多巴村\n"
    result = regions_load_csv(text=text)
    assert result["errors"] == []
    return {region.code: region for region in Region.objects.all()}


def _user(username, role, region_code):
    return User.objects.create_user(
        username=username,
        password="pw-" + username,
        role=role,
        region_id=region_code,
        first_name=username,
    )


@pytest.fixture
def users(regions):
    return {
        "cadre_a": _user("cadre_a", Role.VILLAGE_CADRE, VILLAGE_A),
        "cadre_b": _user("cadre_b", Role.VILLAGE_CADRE, VILLAGE_B),
        "cadre_c": _user("cadre_c", Role.VILLAGE_CADRE, VILLAGE_C),
        "reviewer_1": _user("reviewer_1", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
        "reviewer_2": _user("reviewer_2", Role.TOWNSHIP_REVIEWER, TOWNSHIP_2),
        "approver": _user("approver", Role.COUNTY_APPROVER, COUNTY),
        "approver_other": _user("approver_other", Role.COUNTY_APPROVER, OTHER_COUNTY),
        "department": _user("department", Role.DEPARTMENT, COUNTY),
        "auditor": _user("auditor", Role.AUDITOR, None),
        "admin": _user("admin", Role.ADMIN, None),
    }


@pytest.fixture
def api(users):
    """api("cadre_a") → an APIClient signed in as that scenario user."""

    def client_for(name: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(users[name])
        return client

    return client_for


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded scans go to a temporary folder, not the working tree."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Login failure counts live in the cache (Redis under CI, db 15): start each test clean."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def eager_celery():
    """Run tasks in-process even when REDIS_URL names a broker (as under CI): for tests of
    what a task does, not of the queue. The real-worker tests do not use this."""
    from config import celery_app

    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


# --- a family and its case, shared by the case, page and browser tests ------------------

# A PDF header is all the consent check reads; the scan itself is the household's paper.
PDF = b"%PDF-1.4\n% signed consent scan\n"


@pytest.fixture
def lines(regions):
    for year, amount in ((2025, "7800"), (2026, "8000")):
        MonitoringLine.objects.create(region_id="630000000000", year=year, amount=Decimal(amount))


@pytest.fixture
def family(lines):
    """A 脱贫户 in 东关村: a working head and a child; 2025 income under the line."""
    from tests.factories import HouseholdFactory, MemberFactory, make_id_number

    household = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    MemberFactory(
        household=household,
        name="王大山",
        relation="head",
        labour="ordinary",
        id_number=make_id_number(sequence=700),
    )
    MemberFactory(
        household=household,
        name="王小山",
        relation="child",
        labour="none",
        id_number=make_id_number(birth=date(2015, 3, 1), sequence=702),
    )
    income_record_save(household=household, year=2025, wage_income=Decimal("10000"))
    return household


@pytest.fixture
def draft_case(family, users):
    return case_create(
        household=family,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=date(2026, 3, 2),
        by=users["cadre_a"],
        today=date(2026, 3, 2),
    )
