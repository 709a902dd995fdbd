from datetime import date

import pytest
import time_machine

from interventions.models import MeasureCategory
from interventions.services import measure_record_create
from monitor.choices import Stage, Status
from monitor.deadlines import add_workdays
from monitor.models import Case, MonthlyVisit, Notification, PublicNotice
from monitor.tasks import flag_missing_monthly_visits, sweep_deadlines
from tests.conftest import COUNTY, TOWNSHIP_1, VILLAGE_A

pytestmark = pytest.mark.django_db


def test_working_days_skip_weekends_and_configured_holidays(settings):
    friday = date(2026, 4, 3)
    assert add_workdays(friday, 1) == date(2026, 4, 6)
    assert add_workdays(friday, 5) == date(2026, 4, 10)
    settings.MONITOR = {**settings.MONITOR, "HOLIDAYS": frozenset({date(2026, 4, 6)})}
    assert add_workdays(friday, 1) == date(2026, 4, 7)


def test_overdue_steps_notify_the_responsible_level_and_the_level_above(draft_case):
    # Found 2026-03-02: home check due 03-09 (5 working days), decision due 03-17.
    first = sweep_deadlines(today="2026-03-10")
    assert first["overdue"] == {"overdue": 1, "notifications": 2}
    inbox = {(n.region_id, n.role, n.kind) for n in Notification.objects.all()}
    assert inbox == {
        (VILLAGE_A, "village_cadre", "overdue"),
        (TOWNSHIP_1, "township_reviewer", "overdue_escalated"),
    }
    # Running again raises nothing new.
    assert sweep_deadlines(today="2026-03-10")["overdue"] == {"overdue": 0, "notifications": 0}
    later = sweep_deadlines(today="2026-03-18")
    assert later["overdue"]["overdue"] == 1
    assert Notification.objects.filter(region_id=COUNTY, role="county_approver").count() == 1


def test_a_home_visit_meets_the_village_deadline(api, draft_case):
    with time_machine.travel("2026-03-04 10:00 +0800", tick=False):
        api("cadre_a").post(
            f"/api/cases/{draft_case.pk}/home-visits/",
            {"visited_on": "2026-03-04", "visitors": "张", "findings": "属实"},
            format="json",
        )
    sweep_deadlines(today="2026-03-10")
    assert not Notification.objects.exists()


def test_users_see_their_own_overdue_items_and_notifications(api, draft_case):
    with time_machine.travel("2026-03-20 10:00 +0800", tick=False):
        sweep_deadlines()
        cadre_items = api("cadre_a").get("/api/overdue-items/").json()["results"]
        assert [i["step"] for i in cadre_items] == ["village_verification"]
        county_items = api("approver").get("/api/overdue-items/").json()["results"]
        assert [i["step"] for i in county_items] == ["identification"]
        assert api("cadre_b").get("/api/overdue-items/").json()["count"] == 0
        assert api("cadre_a").get("/api/cases/", {"overdue": "true"}).json()["count"] == 1
    inbox = api("cadre_a").get("/api/notifications/").json()["results"]
    assert len(inbox) == 1 and "入户核实" in inbox[0]["message"]
    read = api("cadre_a").post(f"/api/notifications/{inbox[0]['id']}/read/")
    assert read.json()["read_at"] is not None
    assert api("cadre_b").post(f"/api/notifications/{inbox[0]['id']}/read/").status_code == 404


def _in_monitoring(case, identified_on):
    Case.objects.filter(pk=case.pk).update(status=Status.MONITORING, identified_on=identified_on)


def test_monitored_households_without_a_monthly_visit_are_flagged(draft_case, users):
    _in_monitoring(draft_case, date(2026, 1, 15))
    assert flag_missing_monthly_visits(month="2026-03-01") == {"missing": 1, "notifications": 1}
    assert flag_missing_monthly_visits(month="2026-03-01") == {"missing": 1, "notifications": 0}
    MonthlyVisit.objects.create(
        case=draft_case, visited_on=date(2026, 4, 9), visitors="张", findings="稳定"
    )
    assert flag_missing_monthly_visits(month="2026-04-01")["missing"] == 0


def test_a_case_a_month_in_monitoring_without_measures_is_flagged(draft_case, users):
    _in_monitoring(draft_case, date(2026, 3, 1))
    assert sweep_deadlines(today="2026-03-20")["no_measure"]["flagged"] == 0
    assert sweep_deadlines(today="2026-04-05")["no_measure"]["flagged"] == 1
    draft_case.refresh_from_db()
    measure_record_create(
        case=draft_case,
        by=users["cadre_a"],
        category=MeasureCategory.objects.get(code="health"),
        description="医疗救助",
        department="医保局",
        start_on=date(2026, 4, 6),
    )
    Notification.objects.all().delete()
    assert sweep_deadlines(today="2026-04-07")["no_measure"]["flagged"] == 0


def test_the_notice_list_shows_names_category_and_village_only(api, draft_case):
    PublicNotice.objects.create(
        case=draft_case,
        stage=Stage.IDENTIFICATION,
        start_on=date(2026, 3, 3),
        end_on=date(2026, 3, 9),
    )
    rows = (
        api("cadre_a")
        .get("/api/cases/notice-list/", {"start": "2026-03-01", "end": "2026-03-31"})
        .json()
    )
    assert rows == [
        {
            "head_name": "王大山",
            "village_name": "东关村",
            "category_display": "脱贫不稳定户",
            "notice_stage": "identification",
            "notice_start": "2026-03-03",
            "notice_end": "2026-03-09",
        }
    ]
    assert (
        api("cadre_a")
        .get("/api/cases/notice-list/", {"start": "2026-04-01", "end": "2026-04-30"})
        .json()
        == []
    )
    bad = api("cadre_a").get("/api/cases/notice-list/", {"start": "2026-04-01", "end": "x"})
    assert bad.status_code == 400
    assert (
        api("cadre_c")
        .get("/api/cases/notice-list/", {"start": "2026-03-01", "end": "2026-03-31"})
        .json()
        == []
    )


def test_the_printable_notice_list_page_shows_no_personal_numbers(client, users, draft_case):
    PublicNotice.objects.create(
        case=draft_case,
        stage=Stage.IDENTIFICATION,
        start_on=date(2026, 3, 3),
        end_on=date(2026, 3, 9),
    )
    client.force_login(users["cadre_a"])
    page = client.get("/cases/notice-list/", {"start": "2026-03-01", "end": "2026-03-31"})
    text = page.content.decode()
    assert page.status_code == 200
    assert "王大山" in text and "东关村" in text and "拟纳入监测" in text
    assert "630121" not in text.replace("630121100201", "")
    bad = client.get("/cases/notice-list/", {"start": "2026-04-01", "end": "2026-03-01"})
    assert "截止日期不能早于起始日期" in bad.content.decode()
