"""本地时限与规则 (RegionPolicy): data per region and year with the installation setting as
default, kept by the county approver (own county) and the administrator (anywhere), through
the API and the 管理 pages; the clocks of a newly filed case read them; the screening rules
read the households' civil-affairs category."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from households.models import Region
from households.services import income_record_save
from monitor.choices import Category, Channel, DeadlineStep
from monitor.deadlines import add_workdays
from monitor.models import Clue, RegionPolicy, WarningRow
from monitor.regional import local_rules, local_rules_explained, region_policy_save
from monitor.services import case_create
from tests.conftest import COUNTY, OTHER_COUNTY, TOWNSHIP_1, VILLAGE_A, VILLAGE_C
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

FOUND = date(2026, 3, 2)  # a Monday
ROLES = [
    "cadre_a",
    "reviewer_1",
    "approver",
    "approver_other",
    "department",
    "auditor",
    "admin",
]


def _due(case) -> dict:
    return {d.step: d.due_on for d in case.deadlines.all()}


def _file(household, users, **extra):
    return case_create(
        household=household,
        category=Category.SUDDEN,
        channel=extra.pop("channel", Channel.CADRE_SCREENING),
        risk_codes=["05"],
        found_on=FOUND,
        by=users[extra.pop("by", "cadre_a")],
        today=FOUND,
        **extra,
    )


def test_a_case_runs_on_the_default_clocks_where_no_region_sets_its_own(family, users):
    due = _due(_file(family, users))
    assert due[DeadlineStep.IDENTIFICATION] == FOUND + timedelta(days=15)
    assert due[DeadlineStep.VILLAGE_VERIFICATION] == add_workdays(FOUND, 5)


def test_a_county_that_shortens_its_clocks_has_them_on_its_new_cases(family, users, regions):
    region_policy_save(
        by=users["approver"],
        region=regions[COUNTY],
        year=2026,
        identification_days=10,
        village_verification_workdays=3,
        self_application_accept_days=1,
        source="大通县乡村振兴局〔2026〕3号",
    )
    due = _due(_file(family, users))
    assert due[DeadlineStep.IDENTIFICATION] == FOUND + timedelta(days=10)
    assert due[DeadlineStep.VILLAGE_VERIFICATION] == add_workdays(FOUND, 3)
    applied = HouseholdFactory(village_id=VILLAGE_A)
    MemberFactory(household=applied, id_number=make_id_number(sequence=880))
    paper = _file(
        applied,
        users,
        by="reviewer_1",
        channel=Channel.SELF_APPLICATION,
        awaiting_acceptance=True,
    )
    assert _due(paper)[DeadlineStep.TOWNSHIP_ACCEPTANCE] == FOUND + timedelta(days=1)
    # Another county, or another year, keeps the defaults.
    assert local_rules(VILLAGE_C, 2026)["identification_days"] == 10  # the same county
    assert local_rules("630122100201", 2026)["identification_days"] == 15
    assert local_rules(VILLAGE_A, 2025)["identification_days"] == 15


def test_the_values_in_force_say_where_each_comes_from(users, regions):
    region_policy_save(by=users["admin"], region=regions[COUNTY], year=2026, identification_days=12)
    region_policy_save(
        by=users["approver"],
        region=regions[TOWNSHIP_1],
        year=2026,
        identification_days=9,
        follow_up_months=18,
    )
    rows = {row["field"]: row for row in local_rules_explained(VILLAGE_A, 2026)}
    assert rows["identification_days"]["value"] == 9
    assert rows["identification_days"]["source_region"] == TOWNSHIP_1
    assert rows["follow_up_months"]["shown"] == "18 个月"
    assert rows["clearance_min_months"]["is_default"] is True
    assert rows["clearance_min_months"]["source_text"] == "系统默认（安装设置）"
    village_c = {row["field"]: row for row in local_rules_explained(VILLAGE_C, 2026)}
    assert village_c["identification_days"]["value"] == 12
    assert village_c["identification_days"]["source_name"] == regions[COUNTY].name


def _post(client, **fields):
    data = {"region": COUNTY, "year": 2026, "identification_days": 12, **fields}
    return client.post("/api/region-policies/", data, format="json")


def test_the_county_keeps_its_own_rules_and_the_administrator_any(api):
    answers = {name: _post(api(name), year=2030 + i).status_code for i, name in enumerate(ROLES)}
    assert answers == {
        "cadre_a": 403,
        "reviewer_1": 403,
        "approver": 201,
        "approver_other": 404,
        "department": 403,
        "auditor": 403,
        "admin": 201,
    }
    assert AuditEvent.objects.filter(object_type="monitor.regionpolicy").count() == 2
    # Reads are for everyone signed in (policy, not people data).
    assert len(api("cadre_a").get("/api/region-policies/").json()["results"]) == 2


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("identification_days", 0, "1 至 60"),
        ("identification_days", 61, "1 至 60"),
        ("self_application_accept_days", -1, "1 至 60"),
        ("village_verification_workdays", 31, "1 至 30"),
        ("clue_verification_workdays", 0, "1 至 30"),
        ("clearance_min_months", 61, "1 至 60"),
        ("follow_up_months", 0, "1 至 60"),
        ("spot_check_percent", 101, "0 至 100"),
        ("identification_days", "十五", "整数"),
        ("clue_auto_dispatch", "也许", ""),
    ],
)
def test_a_value_out_of_its_range_is_refused_on_its_field(api, field, value, words):
    response = _post(api("approver"), **{field: value})
    assert response.status_code == 400, response.content
    message = response.json()["errors"][field][0]
    assert words in message
    assert not RegionPolicy.objects.exists()


def test_empty_values_fall_back_and_a_policy_of_nothing_is_refused(api):
    response = _post(api("approver"), identification_days=None, spot_check_percent=0)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["identification_days"] is None and body["spot_check_percent"] == 0
    empty = _post(api("approver"), year=2027, identification_days=None)
    assert empty.status_code == 400 and "至少填写一项" in str(empty.json())


def test_one_policy_per_region_and_year(api):
    assert _post(api("approver")).status_code == 201
    again = _post(api("approver"), identification_days=10)
    assert again.status_code == 400 and "已有本地时限与规则" in again.json()["errors"]["year"][0]


def test_change_and_delete_through_the_api_inside_the_region_only(api, users, regions):
    record = region_policy_save(
        by=users["admin"], region=regions[OTHER_COUNTY], year=2026, follow_up_months=6
    )
    own = region_policy_save(
        by=users["admin"], region=regions[COUNTY], year=2026, follow_up_months=6
    )
    client = api("approver")
    assert (
        client.patch(
            f"/api/region-policies/{record.pk}/", {"follow_up_months": 9}, format="json"
        ).status_code
        == 404
    )
    changed = client.patch(f"/api/region-policies/{own.pk}/", {"identification_days": 14})
    assert changed.status_code == 200, changed.content
    own.refresh_from_db()
    assert (own.identification_days, own.follow_up_months) == (14, 6)
    # Moving it to a region outside the county is refused as out of scope.
    moved = client.patch(f"/api/region-policies/{own.pk}/", {"region": OTHER_COUNTY}, format="json")
    assert moved.status_code == 404
    assert client.delete(f"/api/region-policies/{record.pk}/").status_code == 404
    assert client.delete(f"/api/region-policies/{own.pk}/").status_code == 204
    assert not RegionPolicy.objects.filter(pk=own.pk).exists()
    assert AuditEvent.objects.filter(object_type="monitor.regionpolicy", action="delete").exists()


def test_the_effective_values_through_the_api(api, users, regions):
    region_policy_save(
        by=users["approver"], region=regions[COUNTY], year=2026, clue_auto_dispatch=True
    )
    rows = api("cadre_a").get(
        "/api/region-policies/effective/", {"region": VILLAGE_A, "year": 2026}
    )
    assert rows.status_code == 200
    by_field = {row["field"]: row for row in rows.json()}
    assert by_field["clue_auto_dispatch"]["value"] is True
    assert by_field["clue_auto_dispatch"]["source_region"] == COUNTY
    assert by_field["identification_days"]["is_default"] is True
    bad = api("cadre_a").get("/api/region-policies/effective/", {"region": "63"})
    assert bad.status_code == 400 and "region" in bad.json()["errors"]
    unknown = api("cadre_a").get("/api/region-policies/effective/", {"region": "999999999999"})
    assert unknown.status_code == 400


# --- the 管理 pages ---------------------------------------------------------------------------


def test_the_pages_keep_the_rules_and_show_where_each_value_comes_from(client, users):
    client.force_login(users["approver"])
    listing = client.get("/manage/local-rules/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "系统默认（安装设置）" in page and "生效的时限与规则" in page
    bad = client.post(
        "/manage/local-rules/",
        {"region": COUNTY, "year": 2026, "identification_days": 90, "clue_auto_dispatch": ""},
    )
    assert bad.status_code == 400
    assert "识别认定时限应在 1 至 60 天之间" in bad.content.decode()
    made = client.post(
        "/manage/local-rules/",
        {
            "region": COUNTY,
            "year": 2026,
            "identification_days": 10,
            "clue_auto_dispatch": "True",
            "source": "县文件",
        },
    )
    assert made.status_code == 302
    record = RegionPolicy.objects.get()
    assert (record.identification_days, record.clue_auto_dispatch) == (10, True)
    assert record.village_verification_workdays is None
    detail = client.get(f"/manage/local-rules/{record.pk}/").content.decode()
    assert f"{Region.objects.get(code=COUNTY).name} 2026 年度设定" in detail
    effective = client.get("/manage/local-rules/", {"region": VILLAGE_A, "year": 2026})
    assert "10 天" in effective.content.decode()
    foreign = client.get("/manage/local-rules/", {"region": OTHER_COUNTY})
    assert "不在您的管辖范围内" in foreign.content.decode()
    assert client.post(f"/manage/local-rules/{record.pk}/delete/").status_code == 302
    assert not RegionPolicy.objects.exists()
    client.force_login(users["approver_other"])
    assert client.get("/manage/").status_code == 200
    client.force_login(users["cadre_a"])
    assert client.get("/manage/local-rules/").status_code == 403


# --- the screening rules read the civil-affairs category ---------------------------------------


@pytest.mark.usefixtures("eager_celery")
def test_screening_raises_a_clue_for_civil_affairs_households_not_in_monitoring(
    api, lines, django_capture_on_commit_callbacks
):
    def home(sequence, **fields):
        household = HouseholdFactory(village_id=VILLAGE_A, **fields)
        MemberFactory(household=household, id_number=make_id_number(sequence=sequence))
        income_record_save(household=household, year=2025, wage_income=Decimal("60000"))
        return household

    dibao = home(900, civil_affairs_status="dibao")
    edge = home(902, civil_affairs_status="dibao_edge")
    monitored = home(904, civil_affairs_status="tekun", is_monitored=True)
    ordinary = home(906)
    with django_capture_on_commit_callbacks(execute=True):
        assert api("approver").post("/api/screening-runs/").status_code == 202
    found = {(row.household_id, row.indicator) for row in WarningRow.objects.all()}
    assert found == {
        (dibao.pk, "民政低收入人口：低保（未纳入监测）"),
        (edge.pk, "民政低收入人口：低保边缘（未纳入监测）"),
    }
    assert {clue.household_id for clue in Clue.objects.all()} == {dibao.pk, edge.pk}
    assert monitored.pk not in {row.household_id for row in WarningRow.objects.all()}
    assert ordinary.pk not in {row.household_id for row in WarningRow.objects.all()}


def test_the_household_page_shows_the_civil_affairs_category(client, users):
    household = HouseholdFactory(village_id=VILLAGE_A, civil_affairs_status="rigid_expense")
    MemberFactory(household=household, id_number=make_id_number(sequence=910))
    client.force_login(users["cadre_a"])
    assert "刚性支出困难" in client.get(f"/households/{household.pk}/").content.decode()


# --- the clue rules are the county's ----------------------------------------------------------


@pytest.mark.parametrize("region", [TOWNSHIP_1, VILLAGE_A])
@pytest.mark.parametrize(
    ("field", "value"), [("clue_auto_dispatch", True), ("clue_verification_workdays", 3)]
)
def test_the_clue_rules_are_refused_below_the_county(api, region, field, value):
    response = _post(api("admin"), region=region, **{field: value})
    assert response.status_code == 400, response.content
    assert response.json()["errors"][field] == ["预警线索的下发方式和核实时限由县级设定"]
    assert not RegionPolicy.objects.exists()
    # Its other clocks a township keeps.
    assert _post(api("approver"), region=TOWNSHIP_1).status_code == 201
    assert _post(api("approver"), year=2027, **{field: value}).status_code == 201


def test_the_page_refuses_the_clue_rules_of_a_township_on_the_field(client, users):
    client.force_login(users["approver"])
    refused = client.post(
        "/manage/local-rules/",
        {"region": TOWNSHIP_1, "year": 2026, "clue_auto_dispatch": "True"},
    )
    assert refused.status_code == 400
    assert "预警线索的下发方式和核实时限由县级设定" in refused.content.decode()
    assert not RegionPolicy.objects.exists()
    assert "仅县级及以上设定" in client.get("/manage/local-rules/").content.decode()


def test_the_values_in_force_read_the_clue_rules_from_the_county_up(users, regions):
    # Stored before such values were refused: shown as they are applied, i.e. not at all.
    RegionPolicy.objects.create(
        region_id=TOWNSHIP_1, year=2026, clue_auto_dispatch=True, clue_verification_workdays=2
    )
    RegionPolicy.objects.create(region_id=COUNTY, year=2026, clue_verification_workdays=4)
    rows = {row["field"]: row for row in local_rules_explained(VILLAGE_A, 2026)}
    assert rows["clue_auto_dispatch"]["is_default"] is True
    assert (
        rows["clue_verification_workdays"]["value"],
        rows["clue_verification_workdays"]["source_region"],
    ) == (4, COUNTY)
    values = local_rules(VILLAGE_A, 2026)
    assert (values["clue_auto_dispatch"], values["clue_verification_workdays"]) == (False, 4)
