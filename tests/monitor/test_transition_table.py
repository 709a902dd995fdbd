"""The transition table is the only way a case moves: everything else is refused."""

import threading
from dataclasses import replace

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.models import User
from monitor import workflow
from monitor.choices import Status
from monitor.models import Case, CaseTransition
from monitor.workflow import STEPS
from tests.conftest import TOWNSHIP_1
from tests.monitor.test_domain_workflow import DOMAIN_TABLE

pytestmark = pytest.mark.django_db

# One user of each role whose region contains the case (东关村), plus the roles that never
# act on cases.
ACTORS = ["cadre_a", "reviewer_1", "approver", "department", "auditor", "admin"]
# Allowed (state, action) pairs from the domain's table, written in test_domain_workflow.py by
# hand — not from the implementation's STEPS.
ALLOWED = {(source, action) for source, action, _, _ in DOMAIN_TABLE}


def _set_status(case: Case, status: str) -> None:
    Case.objects.filter(pk=case.pk).update(status=status)


@pytest.mark.parametrize("status", Status.values)
def test_every_transition_not_in_the_table_is_refused_for_every_role(api, draft_case, status):
    _set_status(draft_case, status)
    clients = {name: api(name) for name in ACTORS}
    for step in STEPS:
        if (status, step.action) in ALLOWED:
            continue
        for name, client in clients.items():
            response = client.post(
                f"/api/cases/{draft_case.pk}/transitions/",
                {"action": step.action, "comment": "理由充分"},
                format="json",
            )
            expected = 409 if name in ("cadre_a", "reviewer_1", "approver") else 403
            assert response.status_code == expected, (status, step.action, name)
            if expected == 409:
                assert Status(status).label in response.json()["detail"]
    assert CaseTransition.objects.count() == 0
    assert Case.objects.get(pk=draft_case.pk).status == status


ROLE_USER = {
    Role.VILLAGE_CADRE: "cadre_a",
    Role.TOWNSHIP_REVIEWER: "reviewer_1",
    Role.COUNTY_APPROVER: "approver",
}


def _ready_for_guard(case: Case, step) -> None:
    """What a guarded step's state needs beyond the status (Step.guard): a proposal to
    decide, a household that is closed."""
    from django.utils import timezone

    from households.models import Household
    from monitor.models import CaseAdjustment

    if step.action.startswith("adjustment_"):
        CaseAdjustment.objects.create(
            case=case,
            category=case.category,
            risk_codes=["01", "05"],
            main_risk="01",
            reason="走访发现意外受伤",
            proposed_by=User.objects.get(username="cadre_a"),
        )
    if step.action == "household_closed":
        Household.objects.filter(pk=case.household_id).update(closed_on=timezone.localdate())


@pytest.mark.parametrize("step", STEPS, ids=[step.action for step in STEPS])
def test_a_step_in_the_table_is_refused_to_every_other_role(api, draft_case, step):
    _set_status(draft_case, step.sources[0])
    _ready_for_guard(draft_case, step)
    for name in ACTORS:
        if name in {ROLE_USER[role] for role in step.roles}:
            continue
        response = api(name).post(
            f"/api/cases/{draft_case.pk}/transitions/",
            {"action": step.action, "comment": "理由充分"},
            format="json",
        )
        assert response.status_code == 403, (step.action, name)
    assert CaseTransition.objects.count() == 0


def test_a_return_or_rejection_needs_a_reason(api, draft_case):
    _set_status(draft_case, Status.REPORTED)
    response = api("reviewer_1").post(
        f"/api/cases/{draft_case.pk}/transitions/", {"action": "township_reject"}, format="json"
    )
    assert response.status_code == 400
    assert "须填写理由" in response.json()["detail"]


def test_an_unknown_action_is_a_400(api, draft_case):
    response = api("cadre_a").post(
        f"/api/cases/{draft_case.pk}/transitions/", {"action": "approve_everything"}, format="json"
    )
    assert response.status_code == 400
    assert "action" in response.json()["errors"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_approvals_one_wins_and_one_gets_409(draft_case, users, monkeypatch):
    second = User.objects.create_user(
        username="reviewer_1b", password="x", role=Role.TOWNSHIP_REVIEWER, region_id=TOWNSHIP_1
    )
    _set_status(draft_case, Status.REPORTED)
    start = threading.Barrier(2)

    def slow_check(case, today):
        # Hold the row for a moment after reading it: without the lock, both requests would
        # read "reported" here and both would write.
        import time

        time.sleep(0.5)
        return []

    step = workflow.STEP_BY_ACTION["township_approve"]
    monkeypatch.setitem(
        workflow.STEP_BY_ACTION, "township_approve", replace(step, check=slow_check)
    )
    results = {}

    def approve(user):
        client = APIClient()
        client.force_authenticate(user)
        start.wait()
        try:
            response = client.post(
                f"/api/cases/{draft_case.pk}/transitions/",
                {"action": "township_approve", "comment": user.username},
                format="json",
            )
            results[user.username] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (users["reviewer_1"], second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()) == [200, 409], results
    assert CaseTransition.objects.filter(case=draft_case).count() == 1
    assert Case.objects.get(pk=draft_case.pk).status == Status.TOWNSHIP_APPROVED
