"""The case workflow as DOMAIN.md sections 6 and 9 describe it, written here by hand and
not read from the implementation's STEPS: the implementation must have exactly these
steps, and every one of them — declines, withdrawals, rejections, returns, clearance
returns, adjustments and the closure of a household — is taken to success at least once
through the API by the role the domain names."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from households.models import Household
from households.services import income_record_save
from monitor.models import Case, CaseTransition
from monitor.services import case_create
from monitor.workflow import STEPS
from tests.conftest import VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number
from tests.monitor.test_case_walkthrough import _record_procedure

pytestmark = pytest.mark.django_db

V, T, C = "village_cadre", "township_reviewer", "county_approver"
OPEN = (
    "applied",
    "draft",
    "reported",
    "township_approved",
    "monitoring",
    "clearance_proposed",
    "clearance_township_approved",
)
# (from, action, to, who) — section 6 (identification), 9 (clearance), the 动态调整
# (village proposes, township confirms; the status stays) and 销户 (any open case ends).
DOMAIN_TABLE = {
    ("applied", "accept", "draft", frozenset({T})),  # the township accepts an application
    ("applied", "decline", "rejected", frozenset({T})),
    ("draft", "withdraw", "cancelled", frozenset({V})),
    ("draft", "report", "reported", frozenset({V})),
    ("reported", "township_approve", "township_approved", frozenset({T})),
    ("reported", "township_return", "draft", frozenset({T})),
    ("reported", "township_reject", "rejected", frozenset({T})),
    ("township_approved", "county_approve", "monitoring", frozenset({C})),
    ("township_approved", "county_return", "reported", frozenset({C})),
    ("township_approved", "county_reject", "rejected", frozenset({C})),
    ("monitoring", "propose_clearance", "clearance_proposed", frozenset({V})),
    (
        "clearance_proposed",
        "township_approve_clearance",
        "clearance_township_approved",
        frozenset({T}),
    ),
    ("clearance_proposed", "township_return_clearance", "monitoring", frozenset({T})),
    ("clearance_township_approved", "county_approve_clearance", "cleared", frozenset({C})),
    (
        "clearance_township_approved",
        "county_return_clearance",
        "clearance_proposed",
        frozenset({C}),
    ),
    ("monitoring", "adjustment_confirm", "monitoring", frozenset({T})),
    ("monitoring", "adjustment_reject", "monitoring", frozenset({T})),
} | {(source, "household_closed", "terminated", frozenset({V, T})) for source in OPEN}
NEEDS_REASON = {
    "decline",
    "withdraw",
    "township_return",
    "township_reject",
    "county_return",
    "county_reject",
    "township_return_clearance",
    "county_return_clearance",
    "adjustment_reject",
    "household_closed",
}
D0 = date(2026, 3, 2)  # a Monday


def _at(day: date):
    return time_machine.travel(f"{day.isoformat()} 10:00 +0800", tick=False)


def test_the_implementation_has_exactly_the_domains_steps():
    implemented = {
        (source, step.action, step.target or source, step.roles)
        for step in STEPS
        for source in step.sources
    }
    assert implemented == DOMAIN_TABLE
    assert {step.action for step in STEPS if step.needs_reason} == NEEDS_REASON


def _household(sequence: int) -> Household:
    """A 脱贫户 in 东关村 with a working head, income under the line in the 12 months
    before the finding."""
    household = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    MemberFactory(
        household=household,
        name=f"李{sequence}",
        relation="head",
        labour="ordinary",
        id_number=make_id_number(sequence=sequence),
    )
    income_record_save(
        household=household,
        year=2025,
        period_end=date(2025, 12, 31),
        wage_income=Decimal("5000"),
    )
    return household


class Walker:
    """Takes steps through the API as the role the domain names, and asserts each one."""

    def __init__(self, api):
        self.clients = {V: api("cadre_a"), T: api("reviewer_1"), C: api("approver")}
        self.who = {action: roles for _, action, _, roles in DOMAIN_TABLE}

    def step(self, case_id: int, action: str, to: str, **extra) -> dict:
        role = sorted(self.who[action])[0]
        if action in NEEDS_REASON:
            extra.setdefault("comment", "理由：经核实")
        response = self.clients[role].post(
            f"/api/cases/{case_id}/transitions/", {"action": action, **extra}, format="json"
        )
        assert response.status_code == 200, (action, response.json())
        assert response.json()["status"] == to, action
        return response.json()

    def file(self, household: Household, **fields) -> int:
        response = self.clients[V].post(
            "/api/cases/",
            {
                "household": household.pk,
                "category": "unstable",
                "channel": "cadre_screening",
                "risk_codes": ["01"],
                "found_on": D0,
                **fields,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json()["id"]

    def identified(self, household: Household, **fields) -> int:
        """Filed on D0, reported on D0 + 6, approved by both levels the same day."""
        case_id = self.reported(household, **fields)
        with _at(D0 + timedelta(days=6)):
            self.step(case_id, "township_approve", "township_approved")
            self.step(case_id, "county_approve", "monitoring")
        return case_id

    def reported(self, household: Household, **fields) -> int:
        """Filed on D0, procedure recorded, reported once the notice has run (D0 + 6)."""
        with _at(D0):
            case_id = self.file(household, **fields)
            _record_procedure(self.clients[V], case_id, "identification", D0, D0 + timedelta(1))
        with _at(D0 + timedelta(days=6)):
            self.step(case_id, "report", "reported")
        return case_id


def test_every_step_of_the_domain_succeeds_through_the_api(api, users, family):
    walk = Walker(api)

    # A farmer's paper application, entered for the township to accept — or to decline.
    with _at(D0):
        declined = case_create(
            household=_household(901),
            category="unstable",
            channel="self_application",
            risk_codes=["01"],
            found_on=D0,
            by=users["cadre_a"],
            awaiting_acceptance=True,
        )
        walk.step(declined.pk, "decline", "rejected")
        withdrawn = walk.file(_household(903))
        walk.step(withdrawn, "withdraw", "cancelled")

    refused_by_township = walk.reported(_household(905))
    with _at(D0 + timedelta(days=6)):
        walk.step(refused_by_township, "township_reject", "rejected")
    refused_by_county = walk.reported(_household(907))
    with _at(D0 + timedelta(days=6)):
        walk.step(refused_by_county, "township_approve", "township_approved")
        walk.step(refused_by_county, "county_reject", "rejected")

    # The long life: accepted, returned by both levels, identified, adjusted twice, a
    # clearance returned by both levels, cleared.
    with _at(D0):
        applied = case_create(
            household=family,
            category="unstable",
            channel="self_application",
            risk_codes=["01"],
            found_on=D0,
            by=users["reviewer_1"],
            awaiting_acceptance=True,
        )
        case_id = applied.pk
        walk.step(case_id, "accept", "draft")
        _record_procedure(walk.clients[V], case_id, "identification", D0, D0 + timedelta(1))
    with _at(D0 + timedelta(days=6)):
        walk.step(case_id, "report", "reported")
        walk.step(case_id, "township_return", "draft")
        walk.step(case_id, "report", "reported")
        walk.step(case_id, "township_approve", "township_approved")
        walk.step(case_id, "county_return", "reported")
        walk.step(case_id, "township_approve", "township_approved")
        walk.step(case_id, "county_approve", "monitoring")
        for decision, to_category in (
            ("adjustment_reject", "unstable"),
            ("adjustment_confirm", "sudden"),
        ):
            proposal = walk.clients[V].post(
                f"/api/cases/{case_id}/adjustments/",
                {
                    "category": "sudden",
                    "risk_codes": ["01", "05"],
                    "main_risk": "05",
                    "reason": "户主务工受伤，医疗支出大",
                },
                format="json",
            )
            assert proposal.status_code == 201, proposal.content
            walk.step(case_id, decision, "monitoring")
            assert Case.objects.get(pk=case_id).category == to_category
        for category in ("industry", "health"):
            measure = walk.clients[V].post(
                f"/api/cases/{case_id}/measures/",
                {
                    "category": category,
                    "description": "帮扶",
                    "department": "县农业农村局",
                    "start_on": (D0 + timedelta(days=6)).isoformat(),
                    "amount": "3000",
                },
                format="json",
            )
            assert measure.status_code == 201, measure.content

    with _at(date(2026, 10, 12)):
        for period_end in (date(2026, 3, 31), date(2026, 9, 30)):
            income_record_save(
                household=family, year=2026, period_end=period_end, wage_income=Decimal("30000")
            )
        Household.objects.filter(pk=family.pk).update(housing_safe=True, water_safe=True)
        family.members.update(medical_insurance=True)
        _record_procedure(
            walk.clients[V], case_id, "clearance", date(2026, 9, 28), date(2026, 10, 1)
        )
        assisted = {"clearance_kind": "assisted"}
        walk.step(case_id, "propose_clearance", "clearance_proposed", **assisted)
        walk.step(case_id, "township_return_clearance", "monitoring")
        walk.step(case_id, "propose_clearance", "clearance_proposed", **assisted)
        walk.step(case_id, "township_approve_clearance", "clearance_township_approved")
        walk.step(case_id, "county_return_clearance", "clearance_proposed")
        walk.step(case_id, "township_approve_clearance", "clearance_township_approved")
        walk.step(case_id, "county_approve_clearance", "cleared")

    # 销户: the only member of a household with an open case dies; the case ends with it.
    closing = _household(909)
    with _at(D0):
        open_case = walk.file(closing)
        head = closing.members.get()
        died = walk.clients[V].post(
            f"/api/members/{head.pk}/life-status/",
            {"status": "deceased", "on": D0.isoformat(), "evidence": "死亡医学证明 2026-0301"},
            format="json",
        )
        assert died.status_code == 200, died.content
    assert Case.objects.get(pk=open_case).status == "terminated"
    assert Household.objects.get(pk=closing.pk).closed_on == D0

    taken = set(CaseTransition.objects.values_list("from_status", "action", "to_status"))
    every_action = {action for _, action, _, _ in DOMAIN_TABLE}
    assert {action for _, action, _ in taken} == every_action
    for source, action, target in taken:
        assert any((source, action, target) == (s, a, t) for s, a, t, _ in DOMAIN_TABLE), (
            source,
            action,
            target,
        )
