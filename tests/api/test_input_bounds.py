"""Input the outside testers sent that was accepted and should not have been: an income period
ending in the future, negative amounts, objects where a name goes, a finding day of
0001-01-01, a 10,000-item aid plan. Each is a 400 naming the field, in Chinese."""

from datetime import date

import pytest
import time_machine

from households.models import IncomeRecord
from interventions.api.serializers import AID_PLAN_MAX_ITEMS
from tests.factories import make_id_number

pytestmark = pytest.mark.django_db

MID_YEAR = date(2026, 6, 15)


def _errors(response, status=400):
    assert response.status_code == status, response.content
    return response.json()["errors"]


def _income(client, household, **fields):
    return client.post(
        "/api/income-records/",
        {"household": household.pk, "wage_income": "12000", **fields},
        format="json",
    )


def test_this_years_income_without_a_period_end_ends_today_not_on_31_december(api, family):
    with time_machine.travel(MID_YEAR, tick=False):
        response = _income(api("cadre_a"), family, year=2026)
    assert response.status_code == 201, response.content
    # 31 December would be a future day: counted toward a clearance before the income exists.
    assert response.json()["period_end"] == "2026-06-15"
    assert IncomeRecord.objects.get(pk=response.json()["id"]).period_end == MID_YEAR


def test_a_past_years_income_without_a_period_end_is_that_years_whole(api, family):
    with time_machine.travel(MID_YEAR, tick=False):
        response = _income(api("cadre_a"), family, year=2025)
    assert response.status_code == 201, response.content
    assert response.json()["period_end"] == "2025-12-31"


def test_a_period_end_in_the_future_is_still_refused(api, family):
    with time_machine.travel(MID_YEAR, tick=False):
        response = _income(api("cadre_a"), family, year=2026, period_end="2026-12-31")
    assert "period_end" in _errors(response)


@pytest.mark.parametrize(
    "field",
    [
        "wage_income",
        "operating_income",
        "property_income",
        "transfer_income",
        "production_cost",
        "medical_expense",
        "education_expense",
    ],
)
def test_no_income_or_expense_amount_may_be_negative(api, family, field):
    # Operating income too: it is gross, its costs are production_cost (as on the page).
    response = _income(api("cadre_a"), family, year=2025, **{field: "-1.00"})
    assert _errors(response) == {field: ["金额不能为负数"]}


@pytest.mark.parametrize("name", [{"姓": "张", "名": "三"}, ["张三"], [["张三"]], None])
def test_a_members_name_must_be_text(api, family, name):
    response = api("cadre_a").post(
        "/api/members/",
        {
            "household": family.pk,
            "name": name,
            "id_number": make_id_number(sequence=880),
            "relation": "spouse",
            "labour": "ordinary",
        },
        format="json",
    )
    assert "name" in _errors(response)


@pytest.mark.parametrize("field", ["address", "civil_affairs_status"])
def test_household_text_fields_refuse_objects(api, family, field):
    response = api("cadre_a").patch(
        f"/api/households/{family.pk}/", {field: {"nested": ["list"]}}, format="json"
    )
    assert field in _errors(response)


def _file(client, household, found_on):
    return client.post(
        "/api/cases/",
        {
            "household": household.pk,
            "category": "unstable",
            "channel": "cadre_screening",
            "risk_codes": ["01"],
            "found_on": found_on,
        },
        format="json",
    )


@pytest.mark.parametrize(
    ("found_on", "reason"),
    [
        ("0001-01-01", "发现风险日期不能早于 2016-01-01（动态监测开展以前）"),
        ("2015-12-31", "发现风险日期不能早于 2016-01-01（动态监测开展以前）"),
        ("2026-06-16", "发现风险日期不能晚于今天"),
    ],
)
def test_a_finding_day_is_bounded(api, family, found_on, reason):
    with time_machine.travel(MID_YEAR, tick=False):
        response = _file(api("cadre_a"), family, found_on)
    assert _errors(response) == {"found_on": [reason]}


def test_a_finding_day_within_the_bounds_is_taken(api, family):
    with time_machine.travel(MID_YEAR, tick=False):
        response = _file(api("cadre_a"), family, "2016-01-01")
    assert response.status_code == 201, response.content


def test_an_aid_plan_of_ten_thousand_items_is_refused_before_any_is_read(
    api, draft_case, django_assert_max_num_queries
):
    items = [{"category": "industry", "description": "发展养殖"}] * 10_000
    client = api("cadre_a")
    # The cap is checked first: no lookup of 10,000 categories (a query each).
    with django_assert_max_num_queries(15):
        response = client.put(
            f"/api/cases/{draft_case.pk}/aid-plan/",
            {"summary": "一户一策", "items": items},
            format="json",
        )
    errors = _errors(response)
    assert list(errors) == ["items"]
    assert str(AID_PLAN_MAX_ITEMS) in str(errors["items"])


def test_an_aid_plan_within_the_cap_is_not_refused_for_its_length(api, draft_case):
    items = [{"category": "industry", "description": "发展养殖"}] * AID_PLAN_MAX_ITEMS
    response = api("cadre_a").put(
        f"/api/cases/{draft_case.pk}/aid-plan/",
        {"summary": "一户一策", "items": items},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert len(response.json()["items"]) == AID_PLAN_MAX_ITEMS


@pytest.mark.parametrize(
    ("user", "url", "body"),
    [
        ("admin", "/api/monitoring-lines/", {"region": "6300\x00", "year": 2026, "amount": "1"}),
        ("cadre_a", "/api/households/", {"number": "1", "village": "6301\x00", "kind": "ordinary"}),
        (
            "admin",
            "/api/region-policies/",
            {"region": "\x00", "year": 2026, "identification_days": 10},
        ),
    ],
)
def test_a_nul_character_in_a_code_looked_up_is_bad_input_not_a_server_error(
    api, regions, user, url, body
):
    # PostgreSQL refuses a NUL in a string it is asked to compare: a 500 there before.
    response = api(user).post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
