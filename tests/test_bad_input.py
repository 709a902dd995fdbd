"""Bad input anywhere is answered with a 4xx and a Chinese message, never a 500."""

import pytest

pytestmark = pytest.mark.django_db
HUGE = "9" * 25


@pytest.mark.parametrize(
    "url",
    [
        f"/api/members/?household={HUGE}",
        f"/api/income-records/?household={HUGE}",
        f"/api/measures/?case={HUGE}",
        f"/api/cases/?household={HUGE}",
        f"/api/monitoring-lines/?year={HUGE}",
        f"/api/households/?village={HUGE}",
        f"/api/members/{HUGE}/",
        f"/api/cases/{HUGE}/",
        f"/api/households/{HUGE}/",
        f"/api/measures/{HUGE}/",
        "/api/households/?page=abc",
        "/api/cases/?risk_type=zz",
        "/api/cases/?region=123",
        "/api/cases/?overdue=maybe",
        "/api/households/?region=999",
    ],
)
def test_odd_query_strings_never_give_a_500(api, url):
    response = api("approver").get(url)
    assert response.status_code < 500, (url, response.status_code)


def test_monitoring_lines_refuse_non_positive_amounts(api, regions):
    response = api("admin").post(
        "/api/monitoring-lines/",
        {"region": "630000000000", "year": 2026, "amount": "0"},
        format="json",
    )
    assert response.status_code == 400
    assert "amount" in response.json()["errors"]


def test_income_records_refuse_periods_outside_the_year_and_absurd_sizes(api, regions):
    from tests.factories import HouseholdFactory

    household = HouseholdFactory(village_id="630121100201")
    client = api("cadre_a")
    wrong_period = client.post(
        "/api/income-records/",
        {"household": household.pk, "year": 2024, "period_end": "1800-01-01", "household_size": 3},
        format="json",
    )
    assert wrong_period.status_code == 400 and "period_end" in wrong_period.json()["errors"]
    huge = client.post(
        "/api/income-records/",
        {"household": household.pk, "year": 2024, "household_size": 100000},
        format="json",
    )
    assert huge.status_code == 400 and "household_size" in huge.json()["errors"]
    overflow = client.post(
        "/api/income-records/",
        {"household": household.pk, "year": 2024, "household_size": 2, "wage_income": "9999999999"},
        format="json",
    )
    assert overflow.status_code == 400 and "wage_income" in overflow.json()["errors"]


def test_a_household_number_must_be_plain_digits_of_sensible_length(api, regions):
    client = api("cadre_a")
    for number in ("630121100201abc", "630121100201" + "1" * 20, "630121100201١٢٣"):
        response = client.post(
            "/api/households/",
            {"number": number, "village": "630121100201", "kind": "ordinary"},
            format="json",
        )
        assert response.status_code == 400, number
        assert "number" in response.json()["errors"]


def test_a_disability_level_without_disability_is_explained(api, regions):
    from tests.factories import HouseholdFactory, make_id_number

    household = HouseholdFactory(village_id="630121100201")
    response = api("cadre_a").post(
        "/api/members/",
        {
            "household": household.pk,
            "name": "张三",
            "id_number": make_id_number(sequence=900),
            "relation": "head",
            "labour": "ordinary",
            "health": "healthy",
            "disability_level": 2,
        },
        format="json",
    )
    assert response.status_code == 400
    assert "残疾" in str(response.json())
