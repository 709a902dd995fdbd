"""County dispatch of department clues (下发批次), the clue workflow's audit rows, and what the
list tells back: the village's finding on the department's receipt, a hit on a monitored
household (its village told, the row on the case), and a hit in the follow-up period after
clearance (返贫风险).

Scenario: the county's medical-insurance list names one household in each of 东关村 (A) and
西关村 (B) of 桥头镇, 向阳村 (C) of 城关镇, and 多巴村 of the neighbouring county."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.choices import Role
from accounts.models import ApiToken, User
from monitor.choices import ClueStatus, NotificationKind, Status
from monitor.deadlines import add_workdays, mark_overdue_clues
from monitor.feeds.applications import self_application_submit
from monitor.feeds.clues import clue_accept, clue_dispatch, clue_verify
from monitor.feeds.dispatch import round_dispatch
from monitor.feeds.intake import receive_json
from monitor.feeds.matching import process_batch
from monitor.models import (
    Case,
    Clue,
    ClueTransition,
    Department,
    DispatchRound,
    Notification,
    RegionPolicy,
    WarningBatch,
)
from monitor.models.feeds import DepartmentKind
from monitor.pages.cases import CASE_WARNINGS_SHOWN
from tests.conftest import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_VILLAGE,
    TOWNSHIP_1,
    TOWNSHIP_2,
    VILLAGE_A,
    VILLAGE_B,
    VILLAGE_C,
)
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _home(village, name, sequence):
    household = HouseholdFactory(village_id=village, kind="ordinary")
    number = make_id_number(sequence=sequence)
    MemberFactory(household=household, name=name, relation="head", id_number=number)
    return household, number


@pytest.fixture
def department(regions):
    account = User.objects.create_user(username="yibao", password="x", role=Role.DEPARTMENT)
    # Province-wide (a department matches only within its own region): its lists reach both
    # counties, whose rounds and rules these tests compare.
    return Department.objects.create(
        name="县医保局",
        kind=DepartmentKind.MEDICAL_INSURANCE,
        region_id="630000000000",
        account=account,
    )


@pytest.fixture
def county_department(regions):
    """The county's own department, whose batches the county's pages show."""
    account = User.objects.create_user(username="xian_yibao", password="x", role=Role.DEPARTMENT)
    return Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=COUNTY, account=account
    )


@pytest.fixture
def homes(users):
    return {
        "a": _home(VILLAGE_A, "王大山", 700),
        "b": _home(VILLAGE_B, "李四海", 710),
        "c": _home(VILLAGE_C, "赵六安", 720),
        "other": _home(OTHER_VILLAGE, "钱七宝", 730),
    }


def _push(department, key, rows) -> WarningBatch:
    received = receive_json(department=department, batch_key=key, rows=rows)
    assert process_batch(received.batch.pk) == "done"
    return WarningBatch.objects.defer("payload").get(pk=received.batch.pk)


def _rows(homes, keys=("a", "b", "c", "other"), indicator="高额医疗自付"):
    return [{"姓名": "某", "身份证号": homes[key][1], "预警类型": indicator} for key in keys]


@pytest.fixture
def listed(department, homes):
    batch = _push(department, "2026-10", _rows(homes))
    return batch, {key: Clue.objects.get(household=home[0]) for key, home in homes.items()}


def _round(batch, county=COUNTY) -> DispatchRound:
    return DispatchRound.objects.get(batch=batch, county_id=county)


def _auto(settings, value=True):
    settings.MONITOR = {**settings.MONITOR, "CLUE_AUTO_DISPATCH": value}


# --- rounds: the clues reach the county first ------------------------------------------------


def test_department_clues_wait_for_the_county_in_one_round_per_county(listed, users, api):
    batch, clues = listed
    assert {clue.status for clue in clues.values()} == {ClueStatus.PENDING_DISPATCH}
    ours, theirs = _round(batch), _round(batch, OTHER_COUNTY)
    assert (ours.clue_count, ours.dispatched_at, ours.dispatched_by) == (3, None, None)
    assert theirs.clue_count == 1
    arrived = Notification.objects.filter(kind=NotificationKind.CLUES_ARRIVED)
    assert {(n.region_id, n.role, n.message) for n in arrived} == {
        (COUNTY, Role.COUNTY_APPROVER, "县医保局名单：3 条预警线索待下发"),
        (OTHER_COUNTY, Role.COUNTY_APPROVER, "县医保局名单：1 条预警线索待下发"),
    }
    assert not Notification.objects.filter(kind=NotificationKind.CLUES_DISPATCHED).exists()
    # The village sees the clue coming, but cannot verify it before the county sends it.
    clue = clues["a"]
    assert api("cadre_a").get(f"/api/clues/{clue.pk}/").json()["overdue"] is False
    early = api("cadre_a").post(
        f"/api/clues/{clue.pk}/verify/", {"outcome": "not_eligible", "note": "入户核实"}
    )
    assert early.status_code == 409 and "待县级下发" in early.json()["detail"]


def test_a_waiting_clue_is_never_flagged_overdue(listed):
    # The village's clock has not started: a sweep a month on flags nothing.
    assert mark_overdue_clues(TODAY + timedelta(days=30)) == {"overdue": 0, "notifications": 0}


def test_the_county_dispatches_a_whole_round(listed, users, api):
    batch, clues = listed
    ours = _round(batch)
    response = api("approver").post(f"/api/dispatch-rounds/{ours.pk}/dispatch/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["clue_count"], body["dispatched_count"], body["automatic"]) == (3, 3, False)
    assert body["dispatched_by"] == users["approver"].pk
    due = add_workdays(TODAY, 5)
    for key in ("a", "b", "c"):
        clues[key].refresh_from_db()
        assert (clues[key].status, clues[key].due_on) == (ClueStatus.VERIFYING, due)
    clues["other"].refresh_from_db()
    assert clues["other"].status == ClueStatus.PENDING_DISPATCH  # another county's round
    rows = ClueTransition.objects.filter(action="dispatch")
    assert rows.count() == 3
    assert {(r.from_status, r.to_status, r.actor_id, r.actor_region) for r in rows} == {
        (ClueStatus.PENDING_DISPATCH, ClueStatus.VERIFYING, users["approver"].pk, COUNTY)
    }
    told = Notification.objects.filter(kind=NotificationKind.CLUES_DISPATCHED)
    by_region = {n.region_id: (n.role, n.message) for n in told}
    assert set(by_region) == {VILLAGE_A, VILLAGE_B, VILLAGE_C, TOWNSHIP_1, TOWNSHIP_2}
    assert by_region[VILLAGE_A][0] == Role.VILLAGE_CADRE
    assert "1 条" in by_region[VILLAGE_A][1] and f"{due.year}年" in by_region[VILLAGE_A][1]
    assert by_region[TOWNSHIP_1] == (
        Role.TOWNSHIP_REVIEWER,
        "县级下发县医保局预警线索，本乡镇 2 条，已转各村入户核实",
    )
    # Now the village verifies.
    verified = api("cadre_a").post(
        f"/api/clues/{clues['a'].pk}/verify/", {"outcome": "not_eligible", "note": "收入稳定"}
    )
    assert verified.status_code == 200, verified.content


def test_a_round_dispatched_twice_is_409_and_nothing_is_written_twice(listed, api):
    ours = _round(listed[0])
    assert api("approver").post(f"/api/dispatch-rounds/{ours.pk}/dispatch/").status_code == 200
    again = api("approver").post(f"/api/dispatch-rounds/{ours.pk}/dispatch/")
    assert again.status_code == 409 and "不能重复下发" in again.json()["detail"]
    assert ClueTransition.objects.filter(action="dispatch").count() == 3


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("approver_other", 404),
        ("reviewer_1", 403),
        ("cadre_a", 403),
        ("department", 403),
        ("auditor", 403),
        ("admin", 403),
    ],
)
def test_only_the_county_dispatches_its_round(listed, api, name, status):
    ours = _round(listed[0])
    response = api(name).post(f"/api/dispatch-rounds/{ours.pk}/dispatch/")
    assert response.status_code == status, response.content
    assert any("\u4e00" <= c <= "\u9fff" for c in response.json()["detail"])
    ours.refresh_from_db()
    assert ours.dispatched_at is None
    assert not ClueTransition.objects.exists()


def test_the_service_refuses_in_the_same_order(listed, users):
    from accounts.policy import PolicyDenied
    from monitor.engine import WorkflowError

    ours = _round(listed[0])
    with pytest.raises(PolicyDenied) as refused:
        round_dispatch(round_id=ours.pk, by=users["reviewer_1"])
    assert refused.value.http_status == 403
    with pytest.raises(WorkflowError) as missing:
        round_dispatch(round_id=ours.pk, by=users["approver_other"])
    assert missing.value.http_status == 404
    assert round_dispatch(round_id=ours.pk, by=users["approver"]).sent == 3


def test_clue_by_clue_and_the_round_is_dispatched_with_its_last_clue(listed, users, api):
    batch, clues = listed
    assert api("reviewer_1").post(f"/api/clues/{clues['a'].pk}/dispatch/").status_code == 403
    assert api("cadre_a").post(f"/api/clues/{clues['a'].pk}/dispatch/").status_code == 403
    assert api("approver_other").post(f"/api/clues/{clues['a'].pk}/dispatch/").status_code == 404
    first = api("approver").post(f"/api/clues/{clues['a'].pk}/dispatch/")
    assert first.status_code == 200 and first.json()["status"] == "verifying"
    assert first.json()["due_on"] == add_workdays(TODAY, 5).isoformat()
    again = api("approver").post(f"/api/clues/{clues['a'].pk}/dispatch/")
    assert again.status_code == 409 and "无需下发" in again.json()["detail"]
    assert Notification.objects.filter(key=f"clue-dispatch:{clues['a'].pk}").exists()
    assert _round(batch).dispatched_at is None
    for key in ("b", "c"):
        clue_dispatch(clue_id=clues[key].pk, by=users["approver"])
    ours = _round(batch)
    assert ours.dispatched_at is not None and ours.dispatched_by == users["approver"]
    assert api("approver").post(f"/api/dispatch-rounds/{ours.pk}/dispatch/").status_code == 409
    assert ClueTransition.objects.filter(action="dispatch").count() == 3


def test_a_round_partly_sent_clue_by_clue_sends_the_rest(listed, users):
    batch, clues = listed
    clue_dispatch(clue_id=clues["a"].pk, by=users["approver"])
    sent = round_dispatch(round_id=_round(batch).pk, by=users["approver"])
    assert sent.sent == 2
    assert ClueTransition.objects.filter(action="dispatch").count() == 3
    assert Clue.objects.filter(status=ClueStatus.VERIFYING).count() == 3


# --- automatic dispatch, per county -------------------------------------------------------


def test_a_county_whose_rule_is_automatic_sends_its_clues_straight_down(department, homes, users):
    RegionPolicy.objects.create(
        region_id=COUNTY, year=TODAY.year, clue_auto_dispatch=True, clue_verification_workdays=3
    )
    batch = _push(department, "auto", _rows(homes))
    ours, theirs = _round(batch), _round(batch, OTHER_COUNTY)
    assert ours.dispatched_at is not None and ours.dispatched_by is None  # automatic
    assert theirs.dispatched_at is None
    clue_a = Clue.objects.get(household=homes["a"][0])
    assert (clue_a.status, clue_a.due_on) == (ClueStatus.VERIFYING, add_workdays(TODAY, 3))
    other = Clue.objects.get(household=homes["other"][0])
    assert (other.status, other.due_on) == (ClueStatus.PENDING_DISPATCH, add_workdays(TODAY, 5))
    told = Notification.objects.filter(kind=NotificationKind.CLUES_DISPATCHED)
    assert set(told.values_list("region_id", flat=True)) == {VILLAGE_A, VILLAGE_B, VILLAGE_C}
    arrived = Notification.objects.filter(kind=NotificationKind.CLUES_ARRIVED)
    assert list(arrived.values_list("region_id", flat=True)) == [OTHER_COUNTY]
    # Straight down: the village verifies at once.
    clue_verify(clue_id=clue_a.pk, by=users["cadre_a"], outcome="unverifiable", note="外出务工")


def test_the_installation_default_can_be_automatic_and_a_county_keep_its_hand(
    department, homes, settings
):
    _auto(settings)
    RegionPolicy.objects.create(region_id=OTHER_COUNTY, year=TODAY.year, clue_auto_dispatch=False)
    batch = _push(department, "auto-default", _rows(homes))
    assert _round(batch).dispatched_at is not None
    assert _round(batch, OTHER_COUNTY).dispatched_at is None
    statuses = dict(Clue.objects.values_list("village_id", "status"))
    assert statuses[VILLAGE_A] == ClueStatus.VERIFYING
    assert statuses[OTHER_VILLAGE] == ClueStatus.PENDING_DISPATCH


def test_a_province_rule_applies_to_each_of_its_counties(department, homes):
    RegionPolicy.objects.create(region_id="630000000000", year=TODAY.year, clue_auto_dispatch=True)
    batch = _push(department, "province", _rows(homes))
    assert DispatchRound.objects.filter(batch=batch, dispatched_at__isnull=True).count() == 0
    assert not Clue.objects.filter(status=ClueStatus.PENDING_DISPATCH).exists()


# --- rounds are counted ---------------------------------------------------------------------


def test_rounds_are_counted_with_their_progress(listed, department, homes, users, api):
    batch, clues = listed
    assert api("approver").get("/api/dispatch-rounds/summary/").json() == {
        "rounds_dispatched": 0,
        "clues_dispatched": 0,
        "rounds_waiting": 1,
        "text": "预警信息下发 0 次，线索 0 条",
    }
    round_dispatch(round_id=_round(batch).pk, by=users["approver"])
    clue_verify(
        clue_id=clues["a"].pk,
        by=users["cadre_a"],
        outcome="identify",
        note="入户核实属实",
        category="marginal",
    )
    clue_verify(clue_id=clues["b"].pk, by=users["cadre_b"], outcome="not_eligible", note="不符")
    listing = api("approver").get("/api/dispatch-rounds/").json()
    assert listing["count"] == 1  # the county's rounds only
    row = listing["results"][0]
    assert (row["county"], row["source"], row["batch_key"]) == (COUNTY, "县医保局", "2026-10")
    assert (row["clue_count"], row["dispatched_count"]) == (3, 3)
    assert (row["verified_count"], row["identified_count"]) == (2, 1)
    summary = api("approver").get("/api/dispatch-rounds/summary/").json()
    assert summary["text"] == "预警信息下发 1 次，线索 3 条"
    assert (
        api("approver").get("/api/dispatch-rounds/", {"dispatched": "false"}).json()["count"] == 0
    )
    bad = api("approver").get("/api/dispatch-rounds/", {"dispatched": "也许"})
    assert bad.status_code == 400 and "dispatched" in bad.json()["detail"]
    assert api("approver_other").get(f"/api/dispatch-rounds/{_round(batch).pk}/").status_code == 404
    for name in ("reviewer_1", "cadre_a", "department", "auditor"):
        assert api(name).get("/api/dispatch-rounds/").status_code == 403, name


def _round_list_queries(api) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        body = api("approver").get("/api/dispatch-rounds/").json()
    return len(captured), body["count"]


def test_the_round_list_runs_a_fixed_number_of_queries(department, users, api):
    few_homes = {f"h{i}": _home(VILLAGE_A, f"甲{i}", 800 + 2 * i) for i in range(3)}
    _push(department, "r1", _rows(few_homes, keys=list(few_homes)))
    few, count = _round_list_queries(api)
    assert count == 1
    for index in range(3):
        more = {f"m{i}": _home(VILLAGE_B, f"乙{i}", 900 + 40 * index + 2 * i) for i in range(4)}
        batch = _push(department, f"r{index + 2}", _rows(more, keys=list(more)))
        round_dispatch(round_id=_round(batch).pk, by=users["approver"])
    many, count = _round_list_queries(api)
    assert count == 4 and few == many


# --- the audit rows of every step ------------------------------------------------------------


def test_every_clue_step_writes_its_transition(listed, users, api):
    _, clues = listed
    clue = clues["a"]
    clue_dispatch(clue_id=clue.pk, by=users["approver"], note="请尽快核实")
    clue_verify(clue_id=clue.pk, by=users["cadre_a"], outcome="not_eligible", note="收入稳定")
    trail = api("cadre_a").get(f"/api/clues/{clue.pk}/transitions/").json()
    assert [(t["action"], t["from_status"], t["to_status"]) for t in trail] == [
        ("dispatch", "pending_dispatch", "verifying"),
        ("verify", "verifying", "closed"),
    ]
    assert [t["actor"] for t in trail] == [users["approver"].pk, users["cadre_a"].pk]
    assert [t["comment"] for t in trail] == ["请尽快核实", "收入稳定"]
    assert api("cadre_c").get(f"/api/clues/{clue.pk}/transitions/").status_code == 404
    application = self_application_submit(
        name="孙一",
        phone="13912345678",
        id_number=make_id_number(sequence=960),
        difficulty="看病花费大，家里缺劳力",
        village=VILLAGE_A,
        risk_type="01",
    )
    clue_accept(clue_id=application.clue_id, by=users["reviewer_1"])
    steps = ClueTransition.objects.filter(clue_id=application.clue_id)
    assert list(steps.values_list("action", "from_status", "to_status")) == [
        ("accept", "pending_acceptance", "verifying")
    ]
    page = Client()
    page.force_login(users["cadre_a"])
    text = page.get(f"/clues/{clue.pk}/").content.decode()
    assert "流转记录" in text and "县级下发" in text and "请尽快核实" in text


# --- the department's receipt gains the village's finding --------------------------------------


def test_the_receipt_shows_the_villages_finding_per_row(county_department, homes, users, settings):
    _auto(settings)
    monitored = _monitored_case(homes["c"][0])
    batch = _push(county_department, "finding", _rows(homes, keys=("a", "b", "c")))
    clues = {key: Clue.objects.get(household=homes[key][0]) for key in ("a", "b")}
    clue_verify(clue_id=clues["a"].pk, by=users["cadre_a"], outcome="unverifiable", note="外出")
    _, raw = ApiToken.issue(user=county_department.account, name="推送")
    client = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    single = _push(county_department, "one-row", _rows(homes, keys=("other",)))
    client.get(f"/api/feeds/batches/{single.pk}/rows/")  # the key's first use is recorded
    with CaptureQueriesContext(connection) as captured:
        client.get(f"/api/feeds/batches/{single.pk}/rows/")
    fixed = len(captured)
    with CaptureQueriesContext(connection) as captured:
        rows = client.get(f"/api/feeds/batches/{batch.pk}/rows/").json()["results"]
    assert len(captured) == fixed  # three rows, one row: the same queries
    findings = {row["row_number"]: row["finding"] for row in rows}
    assert findings == {
        1: {"code": "unverifiable", "label": "无法核实"},
        2: {"code": "", "label": ""},
        3: {"code": "already_monitored", "label": "已是监测对象"},
    }
    assert rows[2]["household_number"] == monitored.household.number
    assert "*" in rows[0]["id_number_masked"]
    clue_verify(clue_id=clues["b"].pk, by=users["cadre_b"], outcome="not_eligible", note="不符")
    with CaptureQueriesContext(connection) as captured:
        rows = client.get(f"/api/feeds/batches/{batch.pk}/rows/").json()["results"]
    assert rows[1]["finding"] == {"code": "not_eligible", "label": "不符合条件"}
    assert len(captured) == fixed
    # The county's receipt page shows it too.
    page = Client()
    page.force_login(users["approver"])
    text = page.get(f"/batches/{batch.pk}/").content.decode()
    assert "村级核实结果" in text and "无法核实" in text and "已是监测对象" in text


def _monitored_case(household) -> Case:
    return Case.objects.create(
        household=household,
        category="marginal",
        channel="cadre_screening",
        found_on=TODAY - timedelta(days=60),
        status=Status.MONITORING,
    )


# --- a hit on a household in monitoring -----------------------------------------------------


def test_a_hit_on_a_monitored_household_tells_its_village_once_and_joins_the_case(
    department, homes, users, api
):
    case = _monitored_case(homes["a"][0])
    rows = [
        {"姓名": "王大山", "身份证号": homes["a"][1], "预警类型": "高额医疗自付", "金额": "42000"},
        {"姓名": "王大山", "身份证号": homes["a"][1], "预警类型": "住院", "说明": "县医院住院"},
    ]
    batch = _push(department, "hit", rows)
    hits = Notification.objects.filter(kind=NotificationKind.WARNING_HIT)
    assert hits.count() == 1
    hit = hits.get()
    assert (hit.region_id, hit.role, hit.case_id, hit.key) == (
        VILLAGE_A,
        Role.VILLAGE_CADRE,
        case.pk,
        f"hit:{batch.pk}:{case.pk}",
    )
    assert homes["a"][0].number in hit.message and "2 条" in hit.message
    later = _push(department, "hit-2", rows[:1])
    assert hits.count() == 2 and hits.filter(key=f"hit:{later.pk}:{case.pk}").exists()
    warnings = api("cadre_a").get(f"/api/cases/{case.pk}/warnings/").json()
    assert [(w["department"], w["indicator"]) for w in warnings] == [
        ("县医保局", "高额医疗自付"),
        ("县医保局", "高额医疗自付"),
        ("县医保局", "住院"),
    ]
    assert all("*" in w["id_number_masked"] for w in warnings)
    assert homes["a"][1] not in str(warnings)
    assert api("cadre_c").get(f"/api/cases/{case.pk}/warnings/").status_code == 404
    page = Client()
    page.force_login(users["cadre_a"])
    text = page.get(f"/cases/{case.pk}/").content.decode()
    assert "部门预警信息" in text and "县医院住院" in text and "42,000.00 元" in text
    assert homes["a"][1] not in text


def test_the_case_page_shows_the_newest_warnings_and_a_link_to_all(department, homes, users, api):
    """A household on list after list: the case page shows the newest CASE_WARNINGS_SHOWN
    rows and a link to all of them; the API's warnings endpoint has every row."""
    case = _monitored_case(homes["a"][0])
    for batch in (1, 2):
        rows = [
            {"姓名": "王大山", "身份证号": homes["a"][1], "预警类型": f"批{batch}指标{n:02d}"}
            for n in range(15)
        ]
        _push(department, f"many-{batch}", rows)
    assert len(api("cadre_a").get(f"/api/cases/{case.pk}/warnings/").json()) == 30
    page = Client()
    page.force_login(users["cadre_a"])
    text = page.get(f"/cases/{case.pk}/").content.decode()
    section = text.split('id="warnings"', 1)[1].split("</section>", 1)[0]
    assert section.count("<tr><td>") == CASE_WARNINGS_SHOWN
    assert section.count("批2") == 15 and section.count("批1") == CASE_WARNINGS_SHOWN - 15
    assert "?warnings=all" in section
    whole = page.get(f"/cases/{case.pk}/?warnings=all").content.decode()
    section = whole.split('id="warnings"', 1)[1].split("</section>", 1)[0]
    assert section.count("<tr><td>") == 30 and "?warnings=all" not in section


# --- a hit in the follow-up period after clearance: 返贫风险 ------------------------------------


def _cleared(household, follow_up_until):
    return Case.objects.create(
        household=household,
        category="marginal",
        channel="cadre_screening",
        found_on=TODAY - timedelta(days=400),
        status=Status.CLEARED,
        identified_on=TODAY - timedelta(days=380),
        cleared_on=TODAY - timedelta(days=60),
        follow_up_until=follow_up_until,
    )


def test_a_hit_in_the_follow_up_period_raises_a_relapse_risk_clue(department, homes, users, api):
    watched = _cleared(homes["a"][0], TODAY + timedelta(days=200))
    _cleared(homes["b"][0], TODAY - timedelta(days=1))  # follow-up over yesterday
    batch = _push(department, "relapse", _rows(homes, keys=("a", "b")))
    clue_a = Clue.objects.get(household=homes["a"][0])
    clue_b = Clue.objects.get(household=homes["b"][0])
    assert (clue_a.relapse_of_id, clue_b.relapse_of_id) == (watched.pk, None)
    # The county dispatches by hand: it hears how many are 返贫风险; the village, which
    # cannot act on the clue yet, hears nothing until the county sends it down.
    arrived = Notification.objects.get(kind=NotificationKind.CLUES_ARRIVED)
    assert (
        arrived.message
        == "县医保局名单：2 条预警线索待下发（其中返贫风险 1 条：消除后跟踪期内的农户）"
    )
    assert not Notification.objects.filter(kind=NotificationKind.RELAPSE_RISK).exists()
    round_dispatch(round_id=_round(batch).pk, by=users["approver"])
    risk = Notification.objects.get(kind=NotificationKind.RELAPSE_RISK)
    assert (risk.region_id, risk.role, risk.case_id) == (VILLAGE_A, Role.VILLAGE_CADRE, watched.pk)
    assert homes["a"][0].number in risk.message and "县级已下发" in risk.message
    assert risk.message.startswith("返贫风险")
    body = api("cadre_a").get(f"/api/clues/{clue_a.pk}/").json()
    assert (body["relapse_of"], body["relapse_risk"]) == (watched.pk, "返贫风险")
    assert api("cadre_b").get(f"/api/clues/{clue_b.pk}/").json()["relapse_risk"] == ""
    page = Client()
    page.force_login(users["cadre_a"])
    text = page.get(f"/clues/{clue_a.pk}/").content.decode()
    assert "返贫风险" in text and f'href="/cases/{watched.pk}/"' in text


def test_a_relapse_clue_sent_down_on_its_own_tells_its_village_then(department, homes, users):
    watched = _cleared(homes["a"][0], TODAY + timedelta(days=200))
    _push(department, "relapse-one", _rows(homes, keys=("a", "b")))
    arrived = Notification.objects.get(kind=NotificationKind.CLUES_ARRIVED)
    assert "返贫风险 1 条" in arrived.message
    clue_a = Clue.objects.get(household=homes["a"][0])
    assert not Notification.objects.filter(region_id=VILLAGE_A).exists()
    clue_dispatch(clue_id=clue_a.pk, by=users["approver"])
    told = Notification.objects.get(region_id=VILLAGE_A)
    assert (told.kind, told.case_id, told.key) == (
        NotificationKind.RELAPSE_RISK,
        watched.pk,
        f"relapse:{clue_a.pk}",
    )
    assert told.message.startswith("返贫风险") and homes["a"][0].number in told.message
    # A plain clue sent down on its own: the plain message.
    clue_b = Clue.objects.get(household=homes["b"][0])
    clue_dispatch(clue_id=clue_b.pk, by=users["approver"])
    plain = Notification.objects.get(region_id=VILLAGE_B)
    assert plain.kind == NotificationKind.CLUES_DISPATCHED and "返贫风险" not in plain.message


def test_a_relapse_clue_sent_straight_down_tells_its_village_at_once(department, homes):
    RegionPolicy.objects.create(region_id=COUNTY, year=TODAY.year, clue_auto_dispatch=True)
    watched = _cleared(homes["a"][0], TODAY + timedelta(days=200))
    _push(department, "relapse-auto", _rows(homes, keys=("a", "b")))
    risk = Notification.objects.get(kind=NotificationKind.RELAPSE_RISK)
    assert (risk.region_id, risk.case_id) == (VILLAGE_A, watched.pk)
    assert not Notification.objects.filter(kind=NotificationKind.CLUES_ARRIVED).exists()


# --- pages --------------------------------------------------------------------------------


def _page(users, name) -> Client:
    client = Client()
    client.force_login(users[name])
    return client


def test_the_county_sends_a_round_from_its_pages(listed, users):
    batch, clues = listed
    ours = _round(batch)
    county = _page(users, "approver")
    listing = county.get("/rounds/").content.decode()
    assert (
        "预警信息下发 0 次，线索 0 条" in listing and "2026-10" in listing and "待下发" in listing
    )
    page = county.get(f"/rounds/{ours.pk}/").content.decode()
    assert "整批下发（3 条待下发）" in page and clues["a"].household.number in page
    assert clues["other"].household.number not in page
    assert f'action="/clues/{clues["a"].pk}/dispatch/"' in page
    sent = county.post(f"/rounds/{ours.pk}/dispatch/")
    assert sent.status_code == 302 and sent["Location"] == f"/rounds/{ours.pk}/"
    again = county.post(f"/rounds/{ours.pk}/dispatch/")
    assert again.status_code == 400 and "不能重复下发" in again.content.decode()
    assert "预警信息下发 1 次，线索 3 条" in county.get("/rounds/").content.decode()
    assert _page(users, "approver_other").get(f"/rounds/{ours.pk}/").status_code == 404
    assert _page(users, "approver_other").post(f"/rounds/{ours.pk}/dispatch/").status_code == 404
    for name in ("reviewer_1", "cadre_a"):
        assert _page(users, name).get("/rounds/").status_code == 403
        assert _page(users, name).post(f"/rounds/{ours.pk}/dispatch/").status_code == 403


def test_the_countys_clue_inbox_lists_the_clues_waiting_and_sends_one(listed, users):
    clues = listed[1]
    county = _page(users, "approver")
    inbox = county.get("/clues/").content.decode()
    assert "待下发的预警线索" in inbox
    for key in ("a", "b", "c"):
        assert clues[key].household.number in inbox
    assert inbox.count(">下发</button>") == 3 and "下发后起算" in inbox
    sent = county.post(f"/clues/{clues['a'].pk}/dispatch/", {"next": "/clues/"})
    assert sent.status_code == 302 and sent["Location"] == "/clues/"
    clues["a"].refresh_from_db()
    assert clues["a"].status == ClueStatus.VERIFYING
    assert clues["a"].household.number not in county.get("/clues/").content.decode()
    again = county.post(f"/clues/{clues['a'].pk}/dispatch/")
    assert again.status_code == 400 and "无需下发" in again.content.decode()
    # Villages and townships are offered no dispatch and refused it.
    village = _page(users, "cadre_a")
    assert "下发到村" not in village.get(f"/clues/{clues['a'].pk}/").content.decode()
    refused = _page(users, "reviewer_1").post(f"/clues/{clues['b'].pk}/dispatch/")
    assert refused.status_code == 400 and "县级审定人下发" in refused.content.decode()
    assert (
        _page(users, "approver_other").post(f"/clues/{clues['b'].pk}/dispatch/").status_code == 404
    )


def _page_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured)


def test_the_round_pages_run_a_fixed_number_of_queries(department, users):
    county = _page(users, "approver")
    small = {f"h{i}": _home(VILLAGE_A, f"甲{i}", 800 + 2 * i) for i in range(2)}
    first = _round(_push(department, "q1", _rows(small, keys=list(small))))
    county.get("/rounds/")  # caches (content types …)
    few = (_page_queries(county, "/rounds/"), _page_queries(county, f"/rounds/{first.pk}/"))
    big = {f"m{i}": _home(VILLAGE_B, f"乙{i}", 900 + 2 * i) for i in range(8)}
    large = _round(_push(department, "q2", _rows(big, keys=list(big))))
    _push(department, "q3", _rows(big, keys=list(big), indicator="住院"))  # more evidence
    for index in range(2):
        extra = {f"x{i}": _home(VILLAGE_C, f"丙{i}", 1000 + 20 * index + 2 * i) for i in range(2)}
        _push(department, f"q{index + 4}", _rows(extra, keys=list(extra)))
    round_dispatch(round_id=large.pk, by=users["approver"])
    many = (
        _page_queries(county, "/rounds/"),
        _page_queries(county, f"/rounds/{large.pk}/"),
    )
    assert DispatchRound.objects.count() == 4
    assert few == many


def test_the_countys_home_lists_the_rounds_waiting_to_be_sent_down(listed, users):
    batch, _ = listed
    page = Client()
    page.force_login(users["approver"])
    home = page.get("/").content.decode()
    assert "待下发的预警线索批次（1）" in home
    assert f"/rounds/{_round(batch).pk}/" in home
    round_dispatch(round_id=_round(batch).pk, by=users["approver"])
    assert "待下发的预警线索批次（0）" in page.get("/").content.decode()
    for name in ("cadre_a", "reviewer_1"):
        other = Client()
        other.force_login(users[name])
        assert "待下发的预警线索批次" not in other.get("/").content.decode()


# --- review fixes ---------------------------------------------------------------------------


def test_a_list_naming_someone_gone_or_a_closed_household_raises_nothing(department, homes):
    from households.models import Household, Member

    gone_head = Member.objects.get(household=homes["a"][0])
    Member.objects.filter(pk=gone_head.pk).update(life_status="deceased", life_status_on=TODAY)
    # A household with a member still in the register: the one who moved away is not found,
    # the one still there is.
    spouse = make_id_number(sequence=711, male=False)
    MemberFactory(household=homes["b"][0], name="李妻", relation="spouse", id_number=spouse)
    Member.objects.filter(household=homes["b"][0], relation="head").update(life_status="moved_out")
    Household.objects.filter(pk=homes["c"][0].pk).update(closed_on=TODAY)
    rows = [*_rows(homes, keys=("a", "b", "c")), {"姓名": "李妻", "身份证号": spouse}]
    batch = _push(department, "gone", rows)
    outcomes = {
        row.row_number: (row.outcome, row.reason, row.household_id, row.clue_id)
        for row in batch.rows.all()
    }
    assert outcomes[1] == ("not_found", "该成员已登记为死亡或户籍迁出，不在册", None, None)
    assert outcomes[2] == ("not_found", "该成员已登记为死亡或户籍迁出，不在册", None, None)
    assert outcomes[3] == ("not_found", "该户已销户", None, None)
    assert outcomes[4][0] == "new_clue" and outcomes[4][2] == homes["b"][0].pk
    assert (batch.rows_not_found, batch.rows_new_clue) == (3, 1)
    assert list(Clue.objects.values_list("household_id", flat=True)) == [homes["b"][0].pk]


def _case(household, status, **fields):
    return Case.objects.create(
        household=household,
        category="marginal",
        channel="cadre_screening",
        found_on=TODAY - timedelta(days=10),
        status=status,
        **fields,
    )


def test_the_receipt_says_already_monitored_only_once_the_case_is_in_monitoring(
    department, homes, api
):
    identifying = _case(homes["a"][0], Status.REPORTED)
    monitored = _case(homes["b"][0], Status.CLEARANCE_PROPOSED, identified_on=TODAY)
    batch = _push(department, "identifying", _rows(homes, keys=("a", "b")))
    _, raw = ApiToken.issue(user=department.account, name="推送")
    client = Client(HTTP_AUTHORIZATION=f"Token {raw}")

    def findings():
        rows = client.get(f"/api/feeds/batches/{batch.pk}/rows/").json()["results"]
        # The receipt names the 户编号 only; the test maps it back to the case.
        cases = {case.household.number: case.pk for case in (identifying, monitored)}
        return {cases[row["household_number"]]: row["finding"]["code"] for row in rows}

    assert findings() == {identifying.pk: "", monitored.pk: "already_monitored"}
    Case.objects.filter(pk=identifying.pk).update(status=Status.MONITORING, identified_on=TODAY)
    assert findings()[identifying.pk] == "already_monitored"
    # Identified, monitored, and since cleared: it was a monitored household.
    Case.objects.filter(pk=identifying.pk).update(status=Status.CLEARED)
    assert findings()[identifying.pk] == "already_monitored"
    # Decided the other way: 不予纳入.
    Case.objects.filter(pk=identifying.pk).update(status=Status.REJECTED, identified_on=None)
    assert findings()[identifying.pk] == "not_eligible"


def test_automatic_dispatch_leaves_a_system_row_in_each_clues_trail(department, homes, users, api):
    RegionPolicy.objects.create(region_id=COUNTY, year=TODAY.year, clue_auto_dispatch=True)
    _push(department, "auto-trail", _rows(homes))
    auto = ClueTransition.objects.filter(action="dispatch")
    assert auto.count() == 3  # the other county's clue waits for its county
    assert {
        (r.clue.village_id[:6], r.from_status, r.to_status, r.actor_id, r.actor_role, r.comment)
        for r in auto.select_related("clue")
    } == {
        (COUNTY[:6], "pending_dispatch", "verifying", None, "system", "按本县规则自动下发"),
    }
    clue = Clue.objects.get(household=homes["a"][0])
    trail = api("cadre_a").get(f"/api/clues/{clue.pk}/transitions/").json()
    assert [(t["action"], t["actor"], t["actor_name"]) for t in trail] == [
        ("dispatch", None, "系统（自动下发）")
    ]
    clue_verify(clue_id=clue.pk, by=users["cadre_a"], outcome="unverifiable", note="外出务工")
    page = Client()
    page.force_login(users["cadre_a"])
    text = page.get(f"/clues/{clue.pk}/").content.decode()
    assert "系统（自动下发）" in text and "按本县规则自动下发" in text
    schema = api("cadre_a").get("/api/schema/", {"format": "json"}).json()
    actor = schema["components"]["schemas"]["ClueTransition"]["properties"]["actor"]
    assert actor.get("nullable") is True


def test_clue_rules_of_a_township_or_village_do_not_move_the_countys_clock(
    department, homes, users
):
    # Stored before such values were refused: never read.
    RegionPolicy.objects.create(
        region_id=TOWNSHIP_1, year=TODAY.year, clue_verification_workdays=2, clue_auto_dispatch=True
    )
    RegionPolicy.objects.create(region_id=VILLAGE_C, year=TODAY.year, clue_verification_workdays=1)
    RegionPolicy.objects.create(region_id=COUNTY, year=TODAY.year, clue_verification_workdays=4)
    batch = _push(department, "county-clock", _rows(homes))
    assert not Clue.objects.filter(status=ClueStatus.VERIFYING).exists()  # by hand
    clue_c = Clue.objects.get(household=homes["c"][0])
    clue_dispatch(clue_id=clue_c.pk, by=users["approver"])
    round_dispatch(round_id=_round(batch).pk, by=users["approver"])
    due = add_workdays(TODAY, 4)
    assert set(
        Clue.objects.filter(village__code__startswith=COUNTY[:6]).values_list("due_on", flat=True)
    ) == {due}


def test_a_round_sent_twice_names_the_local_time_it_was_sent(listed, users):
    from accounts.policy import PolicyDenied

    ours = _round(listed[0])
    round_dispatch(round_id=ours.pk, by=users["approver"])
    ours.refresh_from_db()
    with pytest.raises(PolicyDenied) as refused:
        round_dispatch(round_id=ours.pk, by=users["approver"])
    local = timezone.localtime(ours.dispatched_at)
    assert f"该批次已于 {local:%Y-%m-%d %H:%M} 下发" in str(refused.value)


def test_the_village_chooses_the_main_risk_when_it_identifies(listed, users, api):
    ours = _round(listed[0])
    round_dispatch(round_id=ours.pk, by=users["approver"])
    clue = listed[1]["a"]
    url = f"/api/clues/{clue.pk}/verify/"
    data = {"outcome": "identify", "note": "入户核实属实", "category": "sudden"}
    client = api("cadre_a")
    outside = client.post(
        url, {**data, "risk_codes": ["01", "05"], "main_risk": "02"}, format="json"
    )
    assert outside.status_code == 400 and "主要风险" in outside.json()["errors"]["main_risk"][0]
    bogus = client.post(url, {**data, "main_risk": "zz"}, format="json")
    assert bogus.status_code == 400 and "main_risk" in bogus.json()["errors"]
    # Against the suggested codes (高额医疗自付: 因病), the service's refusal on the field.
    suggested = client.post(url, {**data, "main_risk": "05"}, format="json")
    assert suggested.status_code == 400 and "main_risk" in suggested.json()["errors"]
    assert not Case.objects.exists()
    done = client.post(url, {**data, "risk_codes": ["01", "05"], "main_risk": "05"}, format="json")
    assert done.status_code == 200, done.content
    case = Case.objects.get()
    assert (case.risk_codes, case.main_risk) == (["01", "05"], "05")
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "main_risk" in schema["components"]["schemas"]["VerifyRequest"]["properties"]
