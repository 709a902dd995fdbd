import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from households.models import Household, IncomeRecord, Member
from tests.conftest import OTHER_VILLAGE, VILLAGE_A, VILLAGE_B, VILLAGE_C
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def homes(regions):
    """One household with a head in each of four villages across two townships and counties."""
    result = {}
    for key, village in (
        ("a", VILLAGE_A),
        ("b", VILLAGE_B),
        ("c", VILLAGE_C),
        ("other", OTHER_VILLAGE),
    ):
        household = HouseholdFactory(village_id=village)
        MemberFactory(
            household=household,
            name=f"户主{key}",
            id_number=make_id_number(sequence=100 + len(result) * 2),
            phone="1390000000" + str(len(result)),
        )
        result[key] = household
    return result


def _numbers(response):
    assert response.status_code == 200, response.content
    return {row["number"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    "user, visible",
    [
        ("cadre_a", {"a"}),
        ("cadre_c", {"c"}),
        ("reviewer_1", {"a", "b"}),
        ("reviewer_2", {"c"}),
        ("approver", {"a", "b", "c"}),
        ("approver_other", {"other"}),
    ],
)
def test_each_role_lists_only_the_households_of_its_region(api, homes, user, visible):
    assert _numbers(api(user).get("/api/households/")) == {homes[k].number for k in visible}


@pytest.mark.parametrize("user", ["department", "auditor", "admin"])
def test_roles_without_people_duties_are_refused(api, homes, user):
    assert api(user).get("/api/households/").status_code == 403
    assert api(user).get("/api/members/").status_code == 403


def test_anonymous_requests_are_refused(client, homes):
    assert client.get("/api/households/").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/households/{household}/",
        "/api/members/{member}/",
    ],
)
def test_objects_outside_the_region_are_404(api, homes, path):
    household = homes["c"]
    url = path.format(household=household.pk, member=household.members.get().pk)
    assert api("cadre_a").get(url).status_code == 404
    assert api("reviewer_1").get(url).status_code == 404
    assert api("approver_other").get(url).status_code == 404
    assert api("cadre_c").get(url).status_code == 200
    assert api("reviewer_2").patch(url, {}, format="json").status_code == 200
    assert api("reviewer_1").patch(url, {}, format="json").status_code == 404


def test_member_list_masks_numbers_and_shows_age_not_birth_date(api, homes):
    rows = api("cadre_a").get("/api/members/").json()["results"]
    assert len(rows) == 1
    row = rows[0]
    assert row["id_number_masked"].count("*") == 8
    assert row["phone_masked"] == "139****0000"
    assert "birth_date" not in row and "id_number" not in row and "phone" not in row
    assert isinstance(row["age"], int)


def test_household_list_query_count_does_not_grow_with_rows(api, regions):
    for index in range(30):
        household = HouseholdFactory(village_id=VILLAGE_A)
        MemberFactory(household=household, id_number=make_id_number(sequence=200 + index * 2))
    client = api("cadre_a")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/households/")
    assert response.json()["count"] == 30
    # The count and the page: head name and member count come from a subquery and an
    # aggregate inside the page query, not one query per row; the scope needs no query.
    assert len(queries) == 2, [q["sql"] for q in queries]
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/members/")
    assert len(queries) == 2


def test_search_by_id_number_name_and_household_number(api, homes):
    client = api("approver")
    member = homes["b"].members.get()
    id_number = make_id_number(sequence=102)
    assert _numbers(client.get("/api/households/", {"q": id_number})) == {homes["b"].number}
    assert _numbers(client.get("/api/households/", {"q": member.name})) == {homes["b"].number}
    assert _numbers(client.get("/api/households/", {"q": homes["c"].number[:14]})) == {
        homes["c"].number
    }
    # A person of another county is not found even by exact ID number.
    outsider = make_id_number(sequence=106)
    assert _numbers(client.get("/api/households/", {"q": outsider})) == set()


def test_a_malformed_id_number_in_search_is_a_400_with_the_reason(api, homes):
    bad = make_id_number(sequence=102)
    bad = bad[:17] + ("0" if bad[17] != "0" else "1")
    response = api("approver").get("/api/households/", {"q": bad})
    assert response.status_code == 400
    assert "校验位" in response.json()["errors"]["q"][0]


def test_creating_a_member_with_a_malformed_id_number_is_a_400_naming_the_field(api, homes):
    response = api("cadre_a").post(
        "/api/members/",
        {
            "household": homes["a"].pk,
            "name": "新成员",
            "id_number": "630121198702300011",
            "relation": "child",
            "labour": "none",
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert "id_number" in body["errors"]
    assert "出生日期" in body["errors"]["id_number"][0]
    assert Member.objects.count() == 4


def test_a_cadre_registers_a_member_and_the_number_is_stored_protected(api, homes):
    id_number = make_id_number(sequence=300, male=False)
    response = api("cadre_a").post(
        "/api/members/",
        {
            "household": homes["a"].pk,
            "name": "新成员",
            "id_number": id_number.lower(),
            "relation": "child",
            "labour": "none",
            "phone": "139 1234 5678",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    member = Member.objects.get(pk=response.json()["id"])
    assert member.sex == "F"
    assert member.phone_masked == "139****5678"
    assert id_number not in member.id_number_encrypted
    again = api("cadre_a").post(
        "/api/members/",
        {
            "household": homes["a"].pk,
            "name": "重复",
            "id_number": id_number,
            "relation": "child",
            "labour": "none",
        },
        format="json",
    )
    assert again.status_code == 400
    assert "已登记" in again.json()["errors"]["id_number"][0]


def test_a_cadre_cannot_add_a_member_to_a_household_outside_the_village(api, homes):
    response = api("cadre_a").post(
        "/api/members/",
        {
            "household": homes["c"].pk,
            "name": "越权",
            "id_number": make_id_number(sequence=302),
            "relation": "child",
            "labour": "none",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "household" in response.json()["errors"]


def test_county_approvers_read_but_do_not_edit_the_register(api, homes):
    url = f"/api/households/{homes['a'].pk}/"
    assert api("approver").patch(url, {"address": "x"}, format="json").status_code == 403


def test_registering_a_household_checks_village_and_number(api, regions):
    client = api("cadre_a")
    created = client.post(
        "/api/households/",
        {
            "number": f"{VILLAGE_A}09999",
            "village": VILLAGE_A,
            "kind": "lifted",
            "address": "一社1号",
            "housing_safe": True,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["file_colour"] == "blue"
    wrong_prefix = client.post(
        "/api/households/",
        {"number": f"{VILLAGE_B}09999", "village": VILLAGE_A, "kind": "lifted"},
        format="json",
    )
    assert wrong_prefix.status_code == 400
    assert "number" in wrong_prefix.json()["errors"]
    other_village = client.post(
        "/api/households/",
        {"number": f"{VILLAGE_B}09999", "village": VILLAGE_B, "kind": "lifted"},
        format="json",
    )
    assert other_village.status_code == 400
    assert "village" in other_village.json()["errors"]
    assert Household.objects.count() == 1


def test_revealing_a_full_number_needs_a_reason_and_writes_an_audit_row(api, homes):
    member = homes["a"].members.get()
    url = f"/api/members/{member.pk}/reveal/"
    client = api("cadre_a")
    assert client.post(url, {"field": "id_number", "reason": ""}, format="json").status_code == 400
    response = client.post(url, {"field": "id_number", "reason": "入户核实核对证件"}, format="json")
    assert response.status_code == 200
    assert response.json()["value"] == make_id_number(sequence=100)
    phone = client.post(url, {"field": "phone", "reason": "联系户主"}, format="json")
    assert phone.json()["value"] == "13900000000"
    events = AuditEvent.objects.filter(action="reveal_pii").order_by("id")
    assert [(e.actor_name, e.object_id, e.reason, e.detail["field"]) for e in events] == [
        ("cadre_a", str(member.pk), "入户核实核对证件", "id_number"),
        ("cadre_a", str(member.pk), "联系户主", "phone"),
    ]
    assert (
        api("cadre_c")
        .post(url, {"field": "id_number", "reason": "查看"}, format="json")
        .status_code
        == 404
    )
    assert (
        api("auditor")
        .post(url, {"field": "id_number", "reason": "查看"}, format="json")
        .status_code
        == 403
    )


def test_income_record_computes_per_capita_net_income(api, homes):
    household = homes["a"]
    MemberFactory(household=household, relation="spouse", id_number=make_id_number(sequence=400))
    response = api("cadre_a").post(
        "/api/income-records/",
        {
            "household": household.pk,
            "year": 2025,
            "wage_income": "12000",
            "operating_income": "3000.50",
            "transfer_income": "1000",
            "production_cost": "2000",
            "medical_expense": "5000",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["household_size"] == 2
    assert body["net_income"] == "14000.50"
    assert body["per_capita_net_income"] == "7000.25"
    assert body["per_capita_after_rigid"] == "4500.25"
    # The same period again replaces the record rather than adding a second one.
    again = api("cadre_a").post(
        "/api/income-records/",
        {"household": household.pk, "year": 2025, "wage_income": "20000"},
        format="json",
    )
    assert again.status_code == 201
    assert IncomeRecord.objects.get().per_capita_net_income == 10000


def test_registry_upload_reports_rows_and_refuses_unreadable_files(api, regions):
    client = api("cadre_a")
    content = (
        f"户编号,村代码,户类型\n{VILLAGE_A}00001,{VILLAGE_A},一般农户\n"
        f"{VILLAGE_A}00002,{VILLAGE_A},贫困户\n"
    ).encode("gbk")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/api/registry-imports/upload/",
        {"file": SimpleUploadedFile("户.csv", content)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rows_created"], body["rows_rejected"]) == (1, 1)
    assert body["errors"][0]["row"] == 3 and body["errors"][0]["field"] == "户类型"
    legacy = client.post(
        "/api/registry-imports/upload/",
        {"file": SimpleUploadedFile("x.xls", b"\xd0\xcf\x11\xe0" + b"0" * 100)},
        format="multipart",
    )
    assert legacy.status_code == 400
    assert ".xls" in legacy.json()["detail"]
    chunked = client.post(
        "/api/registry-imports/upload/",
        {"file": SimpleUploadedFile("户.csv", content)},
        format="multipart",
        CONTENT_LENGTH="",
    )
    assert chunked.status_code == 411
    assert client.get("/api/registry-imports/").json()["count"] == 1


def test_openapi_schema_and_docs_are_served(client, users):
    client.force_login(users["cadre_a"])
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/households/" in schema.content
    assert "身份证号".encode() in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_a_full_household_number_is_found_not_mistaken_for_an_id(api, homes):
    client = api("approver")
    number = homes["b"].number  # 17 digits, as the demo's
    assert _numbers(client.get("/api/households/", {"q": number})) == {number}
    # The village code part finds the village's households.
    assert _numbers(client.get("/api/households/", {"q": number[:12]})) == {number}
    # An 18-digit string that is no household number is still an ID number search.
    assert client.get("/api/households/", {"q": number + "0"}).status_code == 400
