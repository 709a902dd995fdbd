"""The report API, pages and monthly reports: scope, bad input, and what is kept."""

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from accounts.models import User
from monitor.models import Case, MonthlyReport
from monitor.reports.monthly import monthly_report_generate
from monitor.tasks import generate_monthly_reports
from tests.conftest import COUNTY, OTHER_COUNTY, TOWNSHIP_1, TOWNSHIP_2, VILLAGE_A
from tests.monitor import test_report_figures as hand_counted

pytestmark = pytest.mark.django_db
county = hand_counted.county  # the hand-counted county, as a fixture here too


@pytest.fixture
def province_viewer(regions):
    return User.objects.create_user(
        username="sheng_tongji", password="x", role="statistics_viewer", region_id="630000000000"
    )


def test_figures_of_the_users_own_region_by_default(api, county):
    response = api("approver").get("/api/reports/figures/", {"as_of": "2026-11-30"})
    assert response.status_code == 200
    body = response.json()
    assert body["region"]["code"] == COUNTY
    assert (body["monitored"]["households"], body["monitored"]["people"]) == (2, 5)
    assert body["clues"]["yield"] is None
    assert {child["code"] for child in body["children"]} == {TOWNSHIP_1, TOWNSHIP_2}


@pytest.mark.parametrize(
    ("as_of", "words"),
    [
        ("2026-13-01", "格式"),
        ("yesterday", "格式"),
        ("2999-01-01", "不能晚于今天"),
        ("0001-01-01", "不能早于"),
    ],
)
def test_a_bad_day_is_a_400_that_says_why(api, regions, as_of, words):
    response = api("approver").get("/api/reports/figures/", {"as_of": as_of})
    assert response.status_code == 400
    assert words in response.json()["detail"]


@pytest.mark.parametrize(
    ("user", "region"),
    [
        ("approver", OTHER_COUNTY),  # the next county
        ("cadre_a", COUNTY),  # above the cadre's village
        ("reviewer_1", "630121101000"),  # the other township
        ("approver", "999999999999"),  # no such region
        ("approver", "63"),  # not a code
    ],
)
def test_a_region_outside_the_users_is_the_same_404_as_none(api, regions, user, region):
    response = api(user).get("/api/reports/figures/", {"region": region})
    assert response.status_code == 404
    assert response.json()["detail"] == "未找到，或不在您的管辖范围内。"


@pytest.mark.parametrize("user", ["department", "auditor", "admin"])
def test_roles_without_figures_get_403(api, regions, user):
    assert api(user).get("/api/reports/figures/").status_code == 403
    assert api(user).get("/api/reports/monthly/").status_code == 403


def test_a_province_statistics_viewer_reads_every_county_but_no_people(
    county, province_viewer, client
):
    from rest_framework.test import APIClient

    reader = APIClient()
    reader.force_authenticate(province_viewer)
    province = reader.get("/api/reports/figures/", {"as_of": "2026-11-30"}).json()
    # 大通县's cases and the other county's one monitored household.
    assert province["monitored"]["households"] == 3
    one_county = reader.get("/api/reports/figures/", {"region": COUNTY, "as_of": "2026-11-30"})
    assert one_county.status_code == 200
    assert reader.get("/api/households/").status_code == 403
    assert reader.get("/api/cases/").status_code == 403


def test_a_village_reads_its_own_figures_without_a_level_below(api, county):
    body = api("cadre_a").get("/api/reports/figures/", {"as_of": "2026-11-30"}).json()
    assert body["region"]["code"] == VILLAGE_A
    assert body["children"] == []
    assert body["identifying"] == {"households": 1, "people": 5}


def test_the_monthly_report_is_made_once_on_the_first_and_kept(api, county, province_viewer):
    result = generate_monthly_reports(today="2026-11-01")
    assert result == {"month": "2026-10-01", "reports": 2, "failed": []}  # both counties
    report = MonthlyReport.objects.get(county_id=COUNTY)
    assert report.as_of == date(2026, 10, 31)
    assert report.figures["monitored"]["households"] == 2
    # Later changes to the data do not rewrite what was reported; a second run makes nothing.
    Case.objects.filter(pk=county["a1"].pk).update(category="marginal")
    assert generate_monthly_reports(today="2026-11-02")["reports"] == 0
    report.refresh_from_db()
    assert report.figures["monitored"]["by_category"][2]["households"] == 2
    again, created = monthly_report_generate(county=report.county, month=date(2026, 10, 1))
    assert (again.pk, created) == (report.pk, False)

    listed = api("approver").get("/api/reports/monthly/").json()
    assert [row["county"] for row in listed["results"]] == [COUNTY]
    detail = api("approver").get(f"/api/reports/monthly/{report.pk}/")
    assert detail.json()["figures"]["as_of"] == "2026-10-31"
    other = MonthlyReport.objects.get(county_id=OTHER_COUNTY)
    assert api("approver").get(f"/api/reports/monthly/{other.pk}/").status_code == 404


def test_the_monthly_excel_holds_the_figures_and_no_formula(api, county):
    generate_monthly_reports(today="2026-12-01")
    report = MonthlyReport.objects.get(county_id=COUNTY)
    response = api("approver").get(f"/api/reports/monthly/{report.pk}/xlsx/")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    summary = {row[0]: row[1:] for row in book["汇总"].iter_rows(values_only=True)}
    assert summary["监测对象（截止日）"] == (2, 5)
    assert summary["累计识别"] == (4, 11)
    children = list(book["下级区划"].iter_rows(values_only=True))
    assert children[1][0] == TOWNSHIP_1 and book["下级区划"]["A2"].data_type == "s"
    assert all(cell.data_type != "f" for sheet in book for row in sheet.iter_rows() for cell in row)


def test_the_report_page_drills_down_and_states_its_definitions(client, users, county):
    client.force_login(users["approver"])
    page = client.get(f"/reports/{COUNTY}/", {"as_of": "2026-11-30"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="/reports/{TOWNSHIP_1}/?as_of=2026-11-30"' in html
    assert "风险消除率 = " in html and "<svg" in html
    township = client.get(f"/reports/{TOWNSHIP_1}/", {"as_of": "2026-11-30"})
    assert township.status_code == 200
    assert f'href="/reports/{VILLAGE_A}/?as_of=2026-11-30"' in township.content.decode()
    assert client.get(f"/reports/{OTHER_COUNTY}/").status_code == 404
    bad = client.get(f"/reports/{COUNTY}/", {"as_of": "2026-02-30"})
    assert bad.status_code == 400 and "格式" in bad.content.decode()
    assert client.get("/reports/").url == f"/reports/{COUNTY}/"


def test_the_monthly_pages_show_the_kept_report(client, users, county):
    generate_monthly_reports(today="2026-12-01")
    report = MonthlyReport.objects.get(county_id=COUNTY)
    client.force_login(users["approver"])
    listing = client.get("/reports/monthly/").content.decode()
    assert f"/reports/monthly/{report.pk}/" in listing
    page = client.get(f"/reports/monthly/{report.pk}/")
    assert page.status_code == 200 and "2026年11月" in page.content.decode()
    xlsx = client.get(f"/reports/monthly/{report.pk}/xlsx/")
    assert xlsx.status_code == 200
    assert "attachment" in xlsx["Content-Disposition"]
    client.force_login(users["approver_other"])
    assert client.get(f"/reports/monthly/{report.pk}/").status_code == 404


def test_a_report_kept_before_a_figure_existed_still_opens(api, client, users, county):
    generate_monthly_reports(today="2026-12-01")
    report = MonthlyReport.objects.get(county_id=COUNTY)
    older = dict(report.figures)
    for later_figure in ("self_applications", "identification_days", "flow"):
        older.pop(later_figure)
    MonthlyReport.objects.filter(pk=report.pk).update(figures=older)
    reader = api("approver")
    assert reader.get(f"/api/reports/monthly/{report.pk}/").status_code == 200
    assert reader.get(f"/api/reports/monthly/{report.pk}/xlsx/").status_code == 200
    client.force_login(users["approver"])
    assert client.get(f"/reports/monthly/{report.pk}/").status_code == 200


def test_a_retired_county_with_households_still_gets_its_report(county):
    from households.models import Region

    Region.objects.filter(code=OTHER_COUNTY).update(retired=True)
    generate_monthly_reports(today="2026-12-01")
    assert MonthlyReport.objects.filter(county_id=OTHER_COUNTY).exists()


def test_one_county_failing_does_not_stop_the_others(county, monkeypatch):
    from monitor.reports import monthly

    real = monthly.region_figures

    def fails_for_datong(region, day, **kwargs):
        if region.code == COUNTY:
            raise RuntimeError("boom")
        return real(region, day, **kwargs)

    monkeypatch.setattr(monthly, "region_figures", fails_for_datong)
    result = generate_monthly_reports(today="2026-12-01")
    assert result["failed"] == [COUNTY]
    assert MonthlyReport.objects.filter(county_id=OTHER_COUNTY).exists()
    monkeypatch.setattr(monthly, "region_figures", real)
    assert generate_monthly_reports(today="2026-12-02")["reports"] == 1


@pytest.mark.parametrize("as_of", ["20260101", "2026-W01-1", "2026-1-1"])
def test_only_a_plain_yyyy_mm_dd_day_is_read(api, regions, as_of):
    response = api("approver").get("/api/reports/figures/", {"as_of": as_of})
    assert response.status_code == 400 and "YYYY-MM-DD" in response.json()["detail"]


def test_the_schema_documents_the_monthly_list_and_its_errors(client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    listing = schema["paths"]["/api/reports/monthly/"]["get"]["responses"]
    assert {"200", "401", "403", "404"} <= set(listing)
    figures = schema["paths"]["/api/reports/figures/"]["get"]["responses"]
    assert {"200", "400", "401", "403", "404"} <= set(figures)
