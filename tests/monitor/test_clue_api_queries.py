"""The clue API lists clues with their evidence and self-applications in a fixed number of
queries, however many clues there are."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.models import User
from monitor.feeds.intake import receive_json
from monitor.feeds.matching import process_batch
from monitor.feeds.selectors import LISTED_EVIDENCE
from monitor.models import Clue, Department
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

# The page of clues, their evidence (with each batch's department), their applications and
# the count: the same four queries for two clues or ten.
LIST_QUERIES = 4


def _clues(count: int, sequence: int) -> None:
    account = User.objects.create_user(
        username=f"dept{sequence}", password="x", role=Role.DEPARTMENT
    )
    department = Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=COUNTY, account=account
    )
    rows = []
    for index in range(count):
        number = make_id_number(sequence=sequence + 2 * index)
        MemberFactory(
            household=HouseholdFactory(village_id=VILLAGE_A), relation="head", id_number=number
        )
        for indicator in ("高额医疗自付", "住院"):
            rows.append({"姓名": f"户主{index}", "身份证号": number, "预警类型": indicator})
    received = receive_json(department=department, batch_key=f"k{sequence}", rows=rows)
    assert process_batch(received.batch.pk) == "done"
    assert Clue.objects.filter(source_batch=received.batch).count() == count


def _list_queries(user) -> tuple[int, dict]:
    client = APIClient()
    client.force_authenticate(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/clues/")
    assert response.status_code == 200, response.content
    return len(captured), response.json()


@pytest.mark.parametrize("count", [2, 10])
def test_the_clue_list_runs_a_fixed_number_of_queries(users, count, django_assert_num_queries):
    _clues(count, sequence=200)
    client = APIClient()
    client.force_authenticate(users["reviewer_1"])
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get("/api/clues/")
    body = response.json()
    assert body["count"] == count
    first = body["results"][0]
    assert [(e["department"], e["indicator"]) for e in first["evidence"]] == [
        ("县医保局", "高额医疗自付"),
        ("县医保局", "住院"),
    ]
    assert first["applications"] == []


def test_two_and_ten_clues_cost_the_same(users):
    _clues(2, sequence=300)
    few, _ = _list_queries(users["approver"])
    _clues(8, sequence=400)
    many, body = _list_queries(users["approver"])
    assert body["count"] == 10
    assert few == many == LIST_QUERIES


def test_the_evidence_never_loads_the_stored_upload(users):
    _clues(2, sequence=500)
    client = APIClient()
    client.force_authenticate(users["cadre_a"])
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/clues/")
    assert not any("payload" in query["sql"] for query in captured.captured_queries)


def test_a_list_carries_the_latest_evidence_and_the_count_the_clue_all(users):
    """A clue hit by list after list gathers evidence without end: the list carries its
    latest LISTED_EVIDENCE rows in list order and the count, the clue itself every row."""
    account = User.objects.create_user(username="dept_many", password="x", role=Role.DEPARTMENT)
    department = Department.objects.create(
        name="县民政局", kind=DepartmentKind.CIVIL_AFFAIRS, region_id=COUNTY, account=account
    )
    number = make_id_number(sequence=700)
    MemberFactory(
        household=HouseholdFactory(village_id=VILLAGE_A), relation="head", id_number=number
    )
    total = LISTED_EVIDENCE + 5
    rows = [{"姓名": "户主", "身份证号": number, "预警类型": f"指标{n:02d}"} for n in range(total)]
    received = receive_json(department=department, batch_key="many", rows=rows)
    assert process_batch(received.batch.pk) == "done"
    clue = Clue.objects.get(source_batch=received.batch)

    count, body = _list_queries(users["reviewer_1"])
    assert count == LIST_QUERIES
    [listed] = body["results"]
    assert listed["evidence_count"] == total
    assert [row["indicator"] for row in listed["evidence"]] == [
        f"指标{n:02d}" for n in range(total - LISTED_EVIDENCE, total)
    ]

    client = APIClient()
    client.force_authenticate(users["reviewer_1"])
    whole = client.get(f"/api/clues/{clue.pk}/").json()
    assert whole["evidence_count"] == total
    assert [row["indicator"] for row in whole["evidence"]] == [f"指标{n:02d}" for n in range(total)]
