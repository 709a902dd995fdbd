"""消除后跟踪 and 返贫: the follow-up period set at clearance from the local rules, the
quarterly follow-up visits (who may record them, when), the quarterly sweep, and the link of
a new case of a household cleared before to its cleared case."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AuditEvent
from households.life import member_life_status_record
from households.models import Household
from households.services import income_record_save
from monitor import tasks
from monitor.choices import Category, Channel, NotificationKind, Status, VisitKind
from monitor.deadlines import flag_missing_follow_up_visits, flag_missing_monthly_visits
from monitor.follow_up import Quarter, follow_up_end, follow_ups_for
from monitor.models import Case, MonthlyVisit, Notification, RegionPolicy
from monitor.rules import add_months
from monitor.selectors import region_counts
from monitor.services import case_create
from monitor.workflow import CASES, case_transition
from tests.conftest import COUNTY, TOWNSHIP_1, VILLAGE_A

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
ROLES = [
    "cadre_a",
    "cadre_b",
    "reviewer_1",
    "reviewer_2",
    "approver",
    "approver_other",
    "department",
    "auditor",
    "admin",
]


def clear(case: Case, by, day: date, monkeypatch) -> Case:
    """The county approves the clearance on `day`. Its preconditions (months, measures,
    income, evidence) are the clearance rules' own tests; here the step's check is set aside
    so that only what happens at clearance is looked at."""
    Case.objects.filter(pk=case.pk).update(
        status=Status.CLEARANCE_TOWNSHIP_APPROVED,
        identified_on=day - timedelta(days=200),
        clearance_kind="assisted",
    )
    step = CASES.by_action["county_approve_clearance"]
    monkeypatch.setitem(CASES.by_action, step.action, replace(step, check=None))
    return case_transition(case_id=case.pk, action=step.action, by=by, comment="同意", today=day)


@pytest.fixture
def cleared(draft_case, users, monkeypatch):
    """The family's case, cleared ten days ago: in its follow-up period today."""
    return clear(draft_case, users["approver"], TODAY - timedelta(days=10), monkeypatch)


def test_clearance_starts_the_follow_up_period_of_the_installation_default(cleared):
    day = TODAY - timedelta(days=10)
    assert cleared.status == Status.CLEARED and cleared.cleared_on == day
    # Twelve months counting the clearance day: the last day is the one before the
    # clearance day's date a year later.
    assert cleared.follow_up_until == add_months(day, 12) - timedelta(days=1)


def test_the_follow_up_period_is_n_months_exactly_its_last_day_counted(
    draft_case, users, api, monkeypatch
):
    assert follow_up_end(VILLAGE_A, date(2026, 10, 12)) == date(2027, 10, 11)
    assert follow_up_end(VILLAGE_A, date(2026, 1, 1)) == date(2026, 12, 31)
    case = clear(draft_case, users["approver"], TODAY - timedelta(days=10), monkeypatch)
    last = case.follow_up_until
    with time_machine.travel(f"{last.isoformat()} 10:00 +0800", tick=False):
        # The last day still counts: on the list, and a visit is taken.
        assert follow_ups_for(users["approver"], last).filter(pk=case.pk).exists()
        assert _visit(api("cadre_a"), case, visited_on=last.isoformat()).status_code == 201
    after = last + timedelta(days=1)
    with time_machine.travel(f"{after.isoformat()} 10:00 +0800", tick=False):
        assert not follow_ups_for(users["approver"], after).exists()
        refused = _visit(api("cadre_a"), case, visited_on=after.isoformat())
        assert refused.status_code == 400 and "跟踪期" in refused.json()["errors"]["case"][0]


def test_the_follow_up_months_are_the_regions_own_the_village_before_the_county(
    draft_case, users, monkeypatch
):
    day = date(2026, 4, 15)
    RegionPolicy.objects.create(region_id=COUNTY, year=2026, follow_up_months=6)
    assert follow_up_end(VILLAGE_A, day) == date(2026, 10, 14)
    RegionPolicy.objects.create(region_id=VILLAGE_A, year=2026, follow_up_months=24)
    assert follow_up_end(VILLAGE_A, day) == date(2028, 4, 14)
    # Another year's policy does not apply.
    assert follow_up_end(VILLAGE_A, date(2025, 4, 15)) == date(2026, 4, 14)
    case = clear(draft_case, users["approver"], day, monkeypatch)
    assert case.follow_up_until == date(2028, 4, 14)


def _visit(client, case, **fields):
    data = {"visited_on": TODAY.isoformat(), "visitors": "网格员", "findings": "生活正常"}
    return client.post(f"/api/cases/{case.pk}/follow-up-visits/", {**data, **fields}, format="json")


def test_only_the_village_cadre_of_the_household_records_a_follow_up_visit(cleared, api):
    answers = {name: _visit(api(name), cleared).status_code for name in ROLES}
    assert answers == {
        "cadre_a": 201,
        "cadre_b": 404,
        "reviewer_1": 403,
        "reviewer_2": 404,
        "approver": 403,
        "approver_other": 404,
        "department": 403,
        "auditor": 403,
        "admin": 403,
    }
    visit = MonthlyVisit.objects.get(case=cleared)
    assert visit.kind == VisitKind.FOLLOW_UP
    assert AuditEvent.objects.filter(object_type="monitor.monthlyvisit").count() == 1
    listed = api("reviewer_1").get(f"/api/cases/{cleared.pk}/follow-up-visits/").json()
    assert [row["kind"] for row in listed] == ["follow_up"]


def test_a_follow_up_visit_needs_a_cleared_case_within_its_period(cleared, api):
    Case.objects.filter(pk=cleared.pk).update(follow_up_until=TODAY - timedelta(days=1))
    response = _visit(api("cadre_a"), cleared)
    assert response.status_code == 400
    assert "跟踪期" in response.json()["errors"]["case"][0]
    Case.objects.filter(pk=cleared.pk).update(
        status=Status.MONITORING, follow_up_until=TODAY + timedelta(days=30)
    )
    response = _visit(api("cadre_a"), cleared)
    assert response.status_code == 400
    assert "风险已消除" in response.json()["errors"]["case"][0]
    assert not MonthlyVisit.objects.exists()


def test_a_follow_up_visit_has_a_day_between_clearance_and_today(cleared, api):
    client = api("cadre_a")
    future = _visit(client, cleared, visited_on=(TODAY + timedelta(days=1)).isoformat())
    assert future.status_code == 400 and "晚于今天" in future.json()["errors"]["visited_on"][0]
    early = _visit(client, cleared, visited_on=(TODAY - timedelta(days=30)).isoformat())
    assert early.status_code == 400 and "风险消除日期" in early.json()["errors"]["visited_on"][0]
    bad = _visit(client, cleared, visited_on="昨天", findings="")
    assert bad.status_code == 400 and {"visited_on", "findings"} <= set(bad.json()["errors"])


def test_a_visit_that_finds_the_risk_back_tells_village_and_township(cleared, api):
    assert _visit(api("cadre_a"), cleared, risk_changed=True).status_code == 201
    notes = Notification.objects.filter(kind=NotificationKind.RELAPSE_RISK)
    assert {(n.region_id, n.role) for n in notes} == {
        (VILLAGE_A, "village_cadre"),
        (TOWNSHIP_1, "township_reviewer"),
    }


def test_the_watch_list_shows_the_households_in_follow_up_of_the_users_region(cleared, users, api):
    _visit(api("cadre_a"), cleared)
    rows = api("approver").get("/api/follow-ups/").json()["results"]
    assert [row["case"] for row in rows] == [cleared.pk]
    row = rows[0]
    assert row["last_follow_up_on"] == TODAY.isoformat()
    assert row["visited_this_quarter"] is True
    # Visited this quarter: the next visit is due in the next quarter (if the period reaches).
    following = Quarter.of(TODAY).next()
    assert row["next_due_quarter"] == following.label
    assert row["next_due_on"] == min(following.last, cleared.follow_up_until).isoformat()
    assert api("cadre_b").get("/api/follow-ups/").json()["results"] == []
    assert api("approver_other").get("/api/follow-ups/").json()["results"] == []
    assert api("auditor").get("/api/follow-ups/").status_code == 403
    Case.objects.filter(pk=cleared.pk).update(follow_up_until=TODAY - timedelta(days=1))
    assert not follow_ups_for(users["approver"], TODAY).exists()


def _in_follow_up(case, cleared_on: date, until: date) -> None:
    Case.objects.filter(pk=case.pk).update(
        status=Status.CLEARED, cleared_on=cleared_on, follow_up_until=until
    )


def test_the_sweep_flags_a_quarter_without_a_follow_up_visit_once(draft_case, users):
    _in_follow_up(draft_case, date(2026, 1, 15), date(2027, 1, 15))
    # Cleared in the middle of the first quarter: not followed up for the whole of it.
    assert flag_missing_follow_up_visits(date(2026, 2, 1)) == {"missing": 0, "notifications": 0}
    assert flag_missing_follow_up_visits(date(2026, 5, 1)) == {"missing": 1, "notifications": 2}
    notes = Notification.objects.filter(kind=NotificationKind.MISSING_FOLLOW_UP_VISIT)
    assert {(n.region_id, n.role) for n in notes} == {
        (VILLAGE_A, "village_cadre"),
        (TOWNSHIP_1, "township_reviewer"),
    }
    assert all("2026年第2季度" in n.message for n in notes)
    # Once per quarter: a second sweep of the same quarter raises nothing new.
    assert flag_missing_follow_up_visits(date(2026, 6, 30))["notifications"] == 0
    # A follow-up visit in the quarter answers it; a monthly visit does not.
    MonthlyVisit.objects.create(
        case=draft_case, kind=VisitKind.MONTHLY, visited_on=date(2026, 8, 1), visitors="网格员"
    )
    assert flag_missing_follow_up_visits(date(2026, 8, 1))["missing"] == 1
    MonthlyVisit.objects.create(
        case=draft_case,
        kind=VisitKind.FOLLOW_UP,
        visited_on=date(2026, 11, 3),
        visitors="网格员",
        findings="收入稳定",
    )
    assert flag_missing_follow_up_visits(date(2026, 11, 3))["missing"] == 0
    # The period ends inside the first quarter of 2027: not a whole quarter, not flagged.
    assert flag_missing_follow_up_visits(date(2027, 2, 1))["missing"] == 0


def test_the_monthly_sweep_does_not_count_a_follow_up_visit(draft_case):
    Case.objects.filter(pk=draft_case.pk).update(
        status=Status.MONITORING, identified_on=date(2026, 6, 1)
    )
    MonthlyVisit.objects.create(
        case=draft_case, kind=VisitKind.FOLLOW_UP, visited_on=date(2026, 9, 5), visitors="村干部"
    )
    assert flag_missing_monthly_visits(date(2026, 9, 1))["missing"] == 1


def test_the_task_looks_at_the_quarter_before_today_by_default(draft_case):
    previous = Quarter.of(TODAY).previous()
    _in_follow_up(draft_case, previous.first - timedelta(days=1), TODAY + timedelta(days=90))
    assert tasks.flag_missing_follow_up_visits() == {"missing": 1, "notifications": 2}
    assert tasks.flag_missing_follow_up_visits(previous.first.isoformat())["notifications"] == 0


def test_quarters():
    quarter = Quarter.of(date(2026, 11, 29))
    assert (quarter.first, quarter.last, quarter.key) == (
        date(2026, 10, 1),
        date(2026, 12, 31),
        "2026Q4",
    )
    assert quarter.next() == Quarter(2027, 1) and quarter.previous() == Quarter(2026, 3)
    assert Quarter.of(date(2026, 3, 31)).last == date(2026, 3, 31)


# --- 返贫 ------------------------------------------------------------------------------------


def _new_case(family, users, **extra):
    income_record_save(
        household=family,
        year=TODAY.year,
        period_end=TODAY - timedelta(days=1),
        wage_income=Decimal("9000"),
    )
    return case_create(
        household=family,
        category=Category.SUDDEN,
        channel=Channel.DEPARTMENT_WARNING,
        risk_codes=["01"],
        found_on=TODAY,
        by=users["cadre_a"],
        **extra,
    )


def test_a_new_case_of_a_household_cleared_before_is_a_relapse(cleared, family, users, api):
    case = _new_case(family, users)
    assert case.relapse_of_id == cleared.pk and case.is_relapse
    data = api("approver").get(f"/api/cases/{case.pk}/").json()
    assert data["relapse_of"] == cleared.pk and data["is_relapse"] is True
    assert api("approver").get(f"/api/cases/{cleared.pk}/").json()["is_relapse"] is False
    relapses = api("approver").get("/api/cases/", {"is_relapse": "true"}).json()["results"]
    assert [row["id"] for row in relapses] == [case.pk]
    others = api("approver").get("/api/cases/", {"is_relapse": "false"}).json()["results"]
    assert [row["id"] for row in others] == [cleared.pk]


def test_a_household_never_cleared_has_no_relapse(family, users, draft_case):
    Case.objects.filter(pk=draft_case.pk).update(status=Status.CANCELLED)
    assert _new_case(family, users).relapse_of_id is None


def test_the_relapse_links_the_latest_cleared_case(family, users, monkeypatch):
    first = _new_case(family, users)
    first = clear(first, users["approver"], TODAY - timedelta(days=300), monkeypatch)
    second = _new_case(family, users)
    assert second.relapse_of_id == first.pk
    second = clear(second, users["approver"], TODAY - timedelta(days=5), monkeypatch)
    third = _new_case(family, users)
    assert third.relapse_of_id == second.pk


def test_relapses_are_counted_apart_on_the_home_page(cleared, family, users, client):
    case = _new_case(family, users)
    Case.objects.filter(pk=case.pk).update(status=Status.MONITORING, identified_on=TODAY)
    client.force_login(users["approver"])
    page = client.get("/").content.decode()
    assert 'id="stat-relapse"><div class="value">1</div>' in page
    assert "其中返贫" in page


# --- the scenario, through the pages and the API ------------------------------------------


def test_a_household_cleared_followed_up_and_back_in_monitoring_is_a_relapse(
    cleared, family, users, client, api
):
    """A household cleared ten days ago is on its village's watch list; the cadre records
    the quarter's follow-up visit on the case page; a risk comes back, a new case is filed,
    and it is marked 返贫 with the link to the cleared case, on its page and in the list."""
    client.force_login(users["cadre_a"])
    watch = client.get("/follow-ups/").content.decode()
    assert f"/cases/{cleared.pk}/" in watch and "本季度待走访" in watch
    page = client.get(f"/cases/{cleared.pk}/").content.decode()
    assert "消除后跟踪" in page and f"/cases/{cleared.pk}/follow-up-visits/" in page
    bad = client.post(
        f"/cases/{cleared.pk}/follow-up-visits/",
        {"follow_up-visited_on": (TODAY + timedelta(days=1)).isoformat()},
    )
    assert bad.status_code == 400 and "此项必填" in bad.content.decode()
    visited = client.post(
        f"/cases/{cleared.pk}/follow-up-visits/",
        {
            "follow_up-visited_on": TODAY.isoformat(),
            "follow_up-visitors": "村支书、网格员",
            "follow_up-findings": "户主旧病复发住院，医疗支出大",
            "follow_up-risk_changed": "on",
        },
    )
    assert visited.status_code == 302
    assert MonthlyVisit.objects.get(case=cleared).kind == VisitKind.FOLLOW_UP
    watch = client.get("/follow-ups/").content.decode()
    assert "本季度待走访" not in watch
    household = client.get(f"/households/{family.pk}/").content.decode()
    assert "消除后跟踪：户主旧病复发" in household
    # The township hears of the risk; the reviewer's page offers no visit form.
    assert Notification.objects.filter(
        kind=NotificationKind.RELAPSE_RISK, region_id=TOWNSHIP_1
    ).exists()
    client.force_login(users["reviewer_1"])
    assert "登记跟踪走访" not in client.get(f"/cases/{cleared.pk}/").content.decode()

    income_record_save(
        household=family,
        year=TODAY.year,
        period_end=TODAY - timedelta(days=1),
        wage_income=Decimal("9000"),
    )
    filed = api("cadre_a").post(
        "/api/cases/",
        {
            "household": family.pk,
            "category": "sudden",
            "channel": "cadre_screening",
            "risk_codes": ["01"],
            "found_on": TODAY.isoformat(),
            "description": "旧病复发住院",
        },
        format="json",
    )
    assert filed.status_code == 201, filed.content
    assert filed.json()["relapse_of"] == cleared.pk and filed.json()["is_relapse"]
    new = filed.json()["id"]
    client.force_login(users["cadre_a"])
    page = client.get(f"/cases/{new}/").content.decode()
    assert 'id="relapse-badge"' in page and f'href="/cases/{cleared.pk}/"' in page
    listing = client.get("/cases/").content.decode()
    assert "返贫" in listing and f'href="/cases/{cleared.pk}/" title="返贫' in listing
    # The cleared case's follow-up ended with the filing (the day before is its last day);
    # the new one counts as a relapse once monitored.
    assert Case.objects.get(pk=cleared.pk).follow_up_until == TODAY - timedelta(days=1)
    assert f"/cases/{cleared.pk}/" not in client.get("/follow-ups/").content.decode()
    Case.objects.filter(pk=new).update(status=Status.MONITORING, identified_on=TODAY)
    client.force_login(users["approver"])
    assert 'id="stat-relapse"><div class="value">1<' in client.get("/").content.decode()


# --- the end of the period: a relapse, the household's closing ----------------------------


def test_a_relapse_ends_the_follow_up_of_the_cleared_case_the_day_before_the_filing(
    cleared, family, users, api
):
    was = cleared.follow_up_until
    case = _new_case(family, users)
    assert case.relapse_of_id == cleared.pk
    ended = Case.objects.get(pk=cleared.pk)
    assert ended.follow_up_until == TODAY - timedelta(days=1) < was
    assert not follow_ups_for(users["approver"], TODAY).exists()
    assert api("approver").get("/api/follow-ups/").json()["results"] == []
    refused = _visit(api("cadre_a"), cleared)
    assert refused.status_code == 400 and "跟踪期" in refused.json()["errors"]["case"][0]
    # The sweep of this quarter does not ask for a visit of a period that ended.
    assert flag_missing_follow_up_visits(Quarter.of(TODAY).next().first)["missing"] == 0
    event = AuditEvent.objects.get(object_type="monitor.case", object_id=str(cleared.pk))
    assert event.actor == users["cadre_a"] and event.reason.startswith("返贫")
    assert event.detail == {
        "follow_up_until": (TODAY - timedelta(days=1)).isoformat(),
        "was": was.isoformat(),
    }


def test_a_period_already_over_is_not_moved_by_a_relapse(cleared, family, users):
    Case.objects.filter(pk=cleared.pk).update(follow_up_until=TODAY - timedelta(days=5))
    _new_case(family, users)
    assert Case.objects.get(pk=cleared.pk).follow_up_until == TODAY - timedelta(days=5)
    assert not AuditEvent.objects.filter(object_type="monitor.case").exists()


def test_closing_the_household_ends_its_follow_up(cleared, family, users, api):
    for member in family.members.all():
        member_life_status_record(
            member=member,
            by=users["cadre_a"],
            status="moved_out",
            on=TODAY,
            evidence="户口迁往外省",
        )
    family.refresh_from_db()
    assert family.closed_on == TODAY
    assert Case.objects.get(pk=cleared.pk).follow_up_until == TODAY - timedelta(days=1)
    note = Notification.objects.get(kind=NotificationKind.HOUSEHOLD_CLOSED)
    assert "消除后跟踪随之结束" in note.message
    assert not follow_ups_for(users["approver"], TODAY).exists()
    assert _visit(api("cadre_a"), cleared).status_code == 400


def test_a_closed_household_is_off_the_watch_list_whatever_its_case_says(
    cleared, family, users, api, client
):
    """A household closed while its case still keeps a running period (a closing from
    before the period was ended with it): no list, no visit, no sweep, no count."""
    assert region_counts(users["approver"], TODAY)["follow_up"] == 1
    Household.objects.filter(pk=family.pk).update(closed_on=TODAY, closed_reason="销户")
    assert Case.objects.get(pk=cleared.pk).follow_up_until > TODAY
    assert not follow_ups_for(users["approver"], TODAY).exists()
    assert api("cadre_a").get("/api/follow-ups/").json()["results"] == []
    refused = _visit(api("cadre_a"), cleared)
    assert refused.status_code == 400 and "已销户" in refused.json()["errors"]["case"][0]
    assert flag_missing_follow_up_visits(Quarter.of(TODAY).next().first)["missing"] == 0
    assert region_counts(users["approver"], TODAY)["follow_up"] == 0
    client.force_login(users["cadre_a"])
    assert "登记跟踪走访" not in client.get(f"/cases/{cleared.pk}/").content.decode()


def test_the_schema_documents_the_watch_lists_refusals(api):
    paths = api("cadre_a").get("/api/schema/", {"format": "json"}).json()["paths"]
    assert {"200", "403"} <= set(paths["/api/follow-ups/"]["get"]["responses"])
    assert {"200", "403", "404"} <= set(paths["/api/follow-ups/{id}/"]["get"]["responses"])
