"""Errors outside a view's own rules: unknown addresses under /api/, page numbers, and query
strings that cannot be read. Each is JSON with a Chinese `detail` saying what is wrong."""

import pytest
from django.test import Client

from tests.conftest import OTHER_VILLAGE
from tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

GENERIC_NOT_FOUND = "未找到，或不在您的管辖范围内。"


def _json(response):
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "path", ["/api/nothing-here/", "/api/cases/1/nothing/", "/api/x.y/", "/api/regions/a%0Ab/"]
)
def test_an_unknown_api_address_answers_json_in_chinese(settings, api, debug, path):
    settings.DEBUG = debug
    for client in (api("cadre_a"), Client()):
        response = client.get(path)
        assert response.status_code == 404
        assert "接口地址不存在" in _json(response)["detail"]


def test_a_post_to_an_unknown_address_is_told_so_not_refused_for_csrf(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["cadre_a"])
    response = client.post("/api/cases/1.5/home-visits/", {"visited_on": "2026-01-01"})
    assert response.status_code == 404
    assert "接口地址不存在" in _json(response)["detail"]


def test_an_address_without_its_final_slash(api):
    client = api("cadre_a")
    # A read is redirected, as Django's APPEND_SLASH did; a write is told the address.
    redirected = client.get("/api/households?kind=lifted")
    assert redirected.status_code == 301
    assert redirected["Location"] == "/api/households/?kind=lifted"
    posted = client.post("/api/households", {"number": "1"}, format="json")
    assert posted.status_code == 404
    assert _json(posted)["detail"] == "接口地址应以 / 结尾：/api/households/"


def test_a_page_past_the_end_says_so_not_out_of_region(api, regions):
    HouseholdFactory(village_id="630121100201")
    client = api("cadre_a")
    response = client.get("/api/households/", {"page": 999})
    assert response.status_code == 404
    detail = _json(response)["detail"]
    assert detail == "页码超出范围：共 1 页，请求的是第 999 页。"
    assert "管辖" not in detail


@pytest.mark.parametrize("page", ["abc", "0", "-3", "1.5"])
def test_a_malformed_page_number_is_bad_input_naming_the_parameter(api, regions, page):
    response = api("cadre_a").get("/api/households/", {"page": page})
    assert response.status_code == 400
    assert _json(response)["errors"] == {"page": ["页码应为正整数"]}


@pytest.mark.parametrize("size", ["abc", "0", "501", "-1"])
def test_a_page_size_out_of_bounds_is_refused_not_silently_replaced(api, regions, size):
    response = api("cadre_a").get("/api/households/", {"page_size": size})
    assert response.status_code == 400
    assert _json(response)["errors"] == {"page_size": ["每页条数应为 1 至 500 的整数"]}


def test_page_size_within_bounds_still_pages(api, regions):
    for _ in range(3):
        HouseholdFactory(village_id="630121100201")
    body = api("cadre_a").get("/api/households/", {"page_size": 2, "page": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 1


def test_an_object_outside_the_region_keeps_the_one_answer_for_not_found(api, regions):
    elsewhere = HouseholdFactory(village_id=OTHER_VILLAGE)
    response = api("cadre_a").get(f"/api/households/{elsewhere.pk}/")
    assert response.status_code == 404
    assert _json(response) == {"detail": GENERIC_NOT_FOUND}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/cases/?overdue=maybe", "overdue"),
        ("/api/cases/?without_measure=%F3%BB%B3%94", "without_measure"),
        ("/api/households/?is_monitored=perhaps", "is_monitored"),
        ("/api/monitoring-lines/?year=3.5", "year"),
        ("/api/region-policies/?year=1e-273", "year"),
        ("/api/regions/?retired=2", "retired"),
    ],
)
def test_a_filter_value_that_cannot_be_read_is_refused_not_ignored(api, regions, url, field):
    response = api("approver").get(url)
    assert response.status_code == 400, response.content
    assert field in _json(response)["errors"]


def test_readable_filter_values_still_filter(api, regions):
    HouseholdFactory(village_id="630121100201", is_monitored=True)
    HouseholdFactory(village_id="630121100201", is_monitored=False)
    client = api("approver")
    for value, expected in (("true", 1), ("false", 1), ("1", 1), ("", 2)):
        body = client.get("/api/households/", {"is_monitored": value}).json()
        assert body["count"] == expected, value


@pytest.mark.parametrize(
    ("url", "field"),
    [("/api/households/?q=", "q"), ("/api/members/?name=", "name")],
)
def test_search_text_is_bounded_to_100_characters(api, regions, url, field):
    client = api("cadre_a")
    # 50,000 characters made SQLite refuse the LIKE pattern: a 500 before the bound.
    response = client.get(url + "张" * 50_000)
    assert response.status_code == 400
    assert field in _json(response)["errors"]
    assert client.get(url + "张" * 100).status_code == 200
    assert client.get(url + "张" * 101).status_code == 400


def test_the_household_page_search_says_the_bound_too(users, regions):
    client = Client()
    client.force_login(users["cadre_a"])
    response = client.get("/households/", {"q": "张" * 500})
    assert response.status_code == 200
    assert "搜索内容不能超过 100 个字" in response.content.decode()


@pytest.mark.parametrize(
    ("moment", "reason"),
    [
        # PostgreSQL refuses an offset past ±15:59: a 500 there before the bound.
        ("2026-07-02T09:59:25-17:54", "时区偏移应在 ±14:00 以内"),
        ("0001-01-01T00:00:00+05:00", "时间应在 2000 年至 2100 年之间"),
        ("9999-12-31T23:59:59-05:00", "时间应在 2000 年至 2100 年之间"),
    ],
)
def test_an_audit_log_moment_the_database_cannot_compare_is_refused(api, moment, reason):
    response = api("auditor").get("/api/audit-events/", {"until": moment})
    assert response.status_code == 400
    assert _json(response)["errors"] == {"until": [reason]}
    readable = api("auditor").get("/api/audit-events/", {"since": "2026-01-01T00:00:00+08:00"})
    assert readable.status_code == 200
