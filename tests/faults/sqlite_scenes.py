"""Scenes played in a process of their own against a real SQLite file (the demo's database),
whatever database the test suite itself runs on: pytest's SQLite is in memory, where locking
differs, and under CI the suite runs on PostgreSQL. tests/faults/test_sqlite_locking.py
starts this module and judges the JSON it prints.

    python -m tests.faults.sqlite_scenes seed        # migrate, then a case awaiting approval
    python -m tests.faults.sqlite_scenes race        # two approvals of it at the same moment
    python -m tests.faults.sqlite_scenes held        # requests while another holds the lock

The database is DATABASE_URL (sqlite:///…, set by the test).
"""

import json
import os
import sqlite3
import sys
import threading
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.choices import Role  # noqa: E402
from accounts.models import User  # noqa: E402
from households.models import MonitoringLine  # noqa: E402
from households.services import regions_load_csv  # noqa: E402
from monitor import workflow  # noqa: E402
from monitor.choices import Category, Channel, Status  # noqa: E402
from monitor.models import Case, CaseTransition  # noqa: E402
from monitor.services import case_create  # noqa: E402
from tests.conftest import DEMO_DIR, TOWNSHIP_1, VILLAGE_A  # noqa: E402

REVIEWERS = ("reviewer_1", "reviewer_1b")
APPROVE = "township_approve"


def seed() -> dict:
    from tests.factories import HouseholdFactory, MemberFactory

    call_command("migrate", verbosity=0, interactive=False)
    regions_load_csv(text=(DEMO_DIR / "regions.csv").read_text("utf-8"))
    for year in (2025, 2026):
        MonitoringLine.objects.create(region_id="630000000000", year=year, amount=Decimal(8000))
    cadre = User.objects.create_user(
        username="cadre_a", password="x", role=Role.VILLAGE_CADRE, region_id=VILLAGE_A
    )
    for name in REVIEWERS:
        User.objects.create_user(
            username=name, password="x", role=Role.TOWNSHIP_REVIEWER, region_id=TOWNSHIP_1
        )
    household = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    MemberFactory(household=household, relation="head")
    case = case_create(
        household=household,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=date(2026, 3, 2),
        by=cadre,
        today=date(2026, 3, 2),
    )
    # Reported by the village: what a township reviewer approves.
    Case.objects.filter(pk=case.pk).update(status=Status.REPORTED)
    return {"case": case.pk}


def _client(username: str) -> Client:
    """A signed-in browser session (the session lives in the database, as in the demo)."""
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.get(username=username))
    return client


def _answer(response) -> dict:
    return {
        "status": response.status_code,
        "type": response.get("Content-Type", ""),
        "retry_after": response.get("Retry-After"),
        "body": response.content.decode("utf-8", errors="replace")[:2000],
    }


def _case_state(case_id: int) -> dict:
    return {
        "case_status": Case.objects.get(pk=case_id).status,
        "transitions": CaseTransition.objects.filter(case_id=case_id).count(),
    }


def race(case_id: int) -> dict:
    """Both reviewers approve at once. The step's check is slowed so that, without a lock
    taken at the start of the transaction, both would read "reported" before either writes."""
    step = workflow.STEP_BY_ACTION[APPROVE]

    def slow_check(case, today):
        time.sleep(0.5)
        return step.check(case, today) if step.check else []

    workflow.STEP_BY_ACTION[APPROVE] = replace(step, check=slow_check)
    clients = {name: _client(name) for name in REVIEWERS}
    connection.close()  # each thread opens its own connection
    start = threading.Barrier(len(REVIEWERS))
    answers = {}

    def approve(name):
        start.wait()
        try:
            answers[name] = _answer(
                clients[name].post(
                    f"/api/cases/{case_id}/transitions/",
                    {"action": APPROVE, "comment": name},
                    content_type="application/json",
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(name,)) for name in REVIEWERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return {"answers": answers, **_case_state(case_id)}


def held(case_id: int) -> dict:
    """Another connection holds the lock longer than this process waits (the URL's timeout):
    first the write lock (readers go on, writers wait), then an exclusive one (nobody reads).
    The API is asked in debug mode, as the demo runs (its answer must not rest on handler500);
    the pages without it (in debug mode Django shows its debug page for any error)."""
    client = _client(REVIEWERS[0])
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    results = {}
    try:
        other.execute("BEGIN IMMEDIATE")
        settings.DEBUG = True
        results["api_write"] = _answer(
            client.post(
                f"/api/cases/{case_id}/transitions/",
                {"action": APPROVE, "comment": "锁"},
                content_type="application/json",
            )
        )
        settings.DEBUG = False
        # The same step from the case's page: its form's write waits and gives up.
        results["page_write"] = _answer(
            client.post(f"/cases/{case_id}/transition/", {"action": APPROVE, "comment": "锁"})
        )
        # The page reads; saving the session at the end of the request waits and gives up
        # (the test has every request save it).
        results["page_session_save"] = _answer(client.get(f"/cases/{case_id}/"))
        other.execute("ROLLBACK")
        other.execute("BEGIN EXCLUSIVE")
        connection.close()
        # Not even the session can be read.
        results["page_read"] = _answer(client.get(f"/cases/{case_id}/"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    connection.close()
    results["after"] = _answer(
        client.post(
            f"/api/cases/{case_id}/transitions/",
            {"action": APPROVE, "comment": "锁已释放"},
            content_type="application/json",
        )
    )
    return {"results": results, **_case_state(case_id)}


if __name__ == "__main__":
    scenes = {"seed": seed, "race": race, "held": held}
    outcome = scenes[sys.argv[1]](*(int(arg) for arg in sys.argv[2:]))
    print(json.dumps(outcome, ensure_ascii=False))
