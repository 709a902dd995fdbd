"""A department's list against the registry: matched only within the department's own region,
receipted without internal ids, counted exactly (issue 11, items 2 and 3), and audited."""

from datetime import date

import pytest
from rest_framework.test import APIClient

from accounts.choices import AuditAction, Role
from accounts.models import ApiToken, AuditEvent, User
from households.models import Household
from monitor.choices import Status
from monitor.feeds.matching import department_scope
from monitor.models import (
    Case,
    Clue,
    Department,
    DispatchRound,
    Notification,
    WarningBatch,
    WarningRow,
)
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, OTHER_COUNTY, OTHER_VILLAGE, VILLAGE_A, VILLAGE_B
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

PROVINCE = "630000000000"
# What a receipt row may say: the row as the department sent it, the outcome and its reason,
# the village's finding and, when matched, the 户编号 — no clue, case or household id.
RECEIPT_ROW_FIELDS = {
    "row_number",
    "name",
    "id_number_masked",
    "indicator",
    "amount",
    "occurred_on",
    "outcome",
    "outcome_display",
    "reason",
    "household_number",
    "finding",
}


def _department(region_id, username):
    account = User.objects.create_user(username=username, role=Role.DEPARTMENT)
    department = Department.objects.create(
        name=f"医保局{username}",
        kind=DepartmentKind.MEDICAL_INSURANCE,
        region_id=region_id,
        account=account,
    )
    _, raw = ApiToken.issue(user=account, name="推送")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return department, client


def _member(village, sequence, household=None, **fields):
    """A member (a new household's head unless one is given) and their ID number."""
    household = household or HouseholdFactory(village_id=village)
    number = make_id_number(region=village[:6], sequence=sequence)
    relation = "head" if not household.members.exists() else "spouse"
    MemberFactory(household=household, relation=relation, id_number=number, **fields)
    return household, number


def _push(client, key, numbers, capture, indicators=None):
    rows = [
        {"姓名": "某", "身份证号": number, "预警类型": (indicators or {}).get(i, "高额医疗自付")}
        for i, number in enumerate(numbers, 1)
    ]
    with capture(execute=True):
        response = client.post(
            "/api/feeds/batches/", {"batch_key": key, "rows": rows}, format="json"
        )
    assert response.status_code == 202, response.content
    batch = WarningBatch.objects.defer("payload").get(pk=response.json()["id"])
    assert batch.status == "done", batch.error
    return batch


def _receipt(client, batch):
    response = client.get(f"/api/feeds/batches/{batch.pk}/rows/", {"page_size": 100})
    assert response.status_code == 200
    return response, {row["row_number"]: row for row in response.json()["results"]}


def test_a_county_department_finds_no_one_registered_in_another_county(
    regions, django_capture_on_commit_callbacks
):
    _, client = _department(COUNTY, "county_dept")
    ours, ours_number = _member(VILLAGE_A, 700)
    theirs, theirs_number = _member(OTHER_VILLAGE, 730)
    # Next door, in monitoring: the incident answered attached_to_case with its case id.
    monitored, monitored_number = _member(OTHER_VILLAGE, 740)
    case = Case.objects.create(
        household=monitored,
        category="marginal",
        channel="cadre_screening",
        found_on=date(2026, 10, 1),
        status=Status.MONITORING,
    )
    # Next door and gone from the register: no "died or moved out" hint either.
    _, deceased_number = _member(OTHER_VILLAGE, 750, life_status="deceased")
    closed, closed_number = _member(OTHER_VILLAGE, 760)
    Household.objects.filter(pk=closed.pk).update(closed_on=date(2026, 1, 5))
    unknown_number = make_id_number(region="630122", sequence=990)  # nobody has it

    numbers = [
        ours_number,
        theirs_number,
        monitored_number,
        deceased_number,
        closed_number,
        unknown_number,
    ]
    batch = _push(client, "scope-1", numbers, django_capture_on_commit_callbacks)

    response, rows = _receipt(client, batch)
    assert {number: row["outcome"] for number, row in rows.items()} == {
        1: "new_clue",
        2: "not_found",
        3: "not_found",
        4: "not_found",
        5: "not_found",
        6: "not_found",
    }
    unknown = rows[6]
    for number in (2, 3, 4, 5):
        # Word for word an unknown person's answer: nothing says the person exists elsewhere.
        assert (rows[number]["reason"], rows[number]["household_number"]) == (
            unknown["reason"],
            None,
        )
        assert rows[number]["finding"] == unknown["finding"]
    assert rows[1]["household_number"] == ours.number
    assert all(set(row) == RECEIPT_ROW_FIELDS for row in rows.values())
    text = response.content.decode()
    for household in (theirs, monitored, closed):
        assert household.number not in text

    # Nothing was raised, linked or announced next door.
    assert list(Clue.objects.values_list("household_id", flat=True)) == [ours.pk]
    assert not WarningRow.objects.filter(batch=batch, row_number__in=[2, 3, 4, 5]).exclude(
        household=None, clue=None, case=None
    )
    assert not WarningRow.objects.filter(case=case).exists()
    assert list(DispatchRound.objects.values_list("county_id", flat=True)) == [COUNTY]
    assert not Notification.objects.filter(region__code__startswith=OTHER_COUNTY[:6]).exists()
    summary = client.get(f"/api/feeds/batches/{batch.pk}/").json()
    assert (summary["rows_new_clue"], summary["rows_not_found"], summary["rows_attached"]) == (
        1,
        5,
        0,
    )


def test_a_province_department_matches_in_every_county_of_its_province(
    regions, django_capture_on_commit_callbacks
):
    county_department, _ = _department(COUNTY, "county_dept")
    _, client = _department(PROVINCE, "province_dept")
    ours, ours_number = _member(VILLAGE_A, 700)
    theirs, theirs_number = _member(OTHER_VILLAGE, 730)

    batch = _push(client, "p-1", [ours_number, theirs_number], django_capture_on_commit_callbacks)

    _, rows = _receipt(client, batch)
    assert [(row["outcome"], row["household_number"]) for row in rows.values()] == [
        ("new_clue", ours.number),
        ("new_clue", theirs.number),
    ]
    assert set(Clue.objects.values_list("household_id", flat=True)) == {ours.pk, theirs.pk}
    # Every village on record lies in the province: nothing to exclude, no extra join.
    assert department_scope(batch) is None
    county_batch = WarningBatch(source="department", department=county_department)
    assert department_scope(county_batch) == COUNTY[:6]


def test_two_members_of_one_household_raise_one_clue_and_the_second_row_is_merged(
    regions, django_capture_on_commit_callbacks
):
    _, client = _department(COUNTY, "county_dept")
    home, head = _member(VILLAGE_A, 700)
    _, spouse = _member(VILLAGE_A, 702, household=home)
    other, neighbour = _member(VILLAGE_B, 710)

    batch = _push(
        client,
        "family",
        # The head twice more: under another indicator (merged), and again (a duplicate).
        [head, neighbour, spouse, head, head],
        django_capture_on_commit_callbacks,
        indicators={4: "新纳入低保"},
    )

    _, rows = _receipt(client, batch)
    assert [(row["outcome"], row["household_number"]) for row in rows.values()] == [
        ("new_clue", home.number),
        ("new_clue", other.number),
        ("merged", home.number),
        ("merged", home.number),
        ("duplicate", None),
    ]
    clues = Clue.objects.filter(source_batch=batch)
    assert clues.count() == 2
    clue = clues.get(household=home)
    assert list(
        WarningRow.objects.filter(batch=batch, household=home)
        .order_by("row_number")
        .values_list("row_number", "clue_id")
    ) == [(1, clue.pk), (3, clue.pk), (4, clue.pk)]
    batch.refresh_from_db()
    counts = (
        batch.rows_total,
        batch.rows_new_clue,
        batch.rows_merged,
        batch.rows_duplicate,
        batch.rows_not_found,
    )
    assert counts == (5, 2, 2, 1, 0)
    assert DispatchRound.objects.get(batch=batch).clue_count == batch.rows_new_clue == 2


def test_a_department_push_is_an_audit_event_and_a_repeat_says_so(
    regions, django_capture_on_commit_callbacks
):
    department, client = _department(COUNTY, "county_dept")
    _, number = _member(VILLAGE_A, 700)
    rows = [{"姓名": "某", "身份证号": number, "预警类型": "高额医疗自付"}]
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(
            "/api/feeds/batches/",
            {"batch_key": f"单{number}", "rows": rows},
            format="json",
            REMOTE_ADDR="10.1.2.3",
        )
        again = client.post(
            "/api/feeds/batches/", {"batch_key": f"单{number}", "rows": rows}, format="json"
        )
    refused = client.post(
        "/api/feeds/batches/", {"batch_key": f"单{number}", "rows": rows * 2}, format="json"
    )
    assert (first.status_code, again.status_code, refused.status_code) == (202, 200, 422)
    events = AuditEvent.objects.filter(action=AuditAction.IMPORT).order_by("id")
    assert [
        (e.actor_id, e.object_type, e.object_id, e.detail["repeat"], e.detail["source"])
        for e in events
    ] == [
        (
            department.account_id,
            "monitor.warningbatch",
            str(first.json()["id"]),
            False,
            "department_push",
        ),
        (
            department.account_id,
            "monitor.warningbatch",
            str(first.json()["id"]),
            True,
            "department_push",
        ),
    ]
    assert events[0].ip == "10.1.2.3"
    # The department's own batch key carried an ID number: the audit log has it masked.
    assert number not in events[0].object_label and number[-4:] in events[0].object_label
