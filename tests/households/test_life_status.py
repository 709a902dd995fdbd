"""成员状态 and 销户: a member leaves the register (死亡 / 户籍迁出) with a date and
evidence, audited; members who left stop counting; a household whose members are all gone
is closed with its file kept, and its open case ends 销户终止 with the reason and the trail.
And the whole natural clearance after a death, over the API."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts.choices import AuditAction, Role
from accounts.models import AuditEvent
from households.life import member_life_status_record
from households.models import Household
from households.services import income_record_save, member_create
from monitor.choices import Category, Channel, NotificationKind, Status
from monitor.models import Case, CaseRisk, CaseTransition, Deadline, Notification
from monitor.rules import can_anyone_work
from monitor.services import case_create
from tests.conftest import TOWNSHIP_1, VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 1)


def _at(day=TODAY):
    return time_machine.travel(f"{day.isoformat()} 10:00 +0800", tick=False)


def _record(member, by, **changes):
    fields = {"status": "deceased", "on": TODAY - timedelta(days=3), "evidence": "死亡证明"}
    fields.update(changes)
    return member_life_status_record(member=member, by=by, today=TODAY, **fields)


@pytest.fixture
def head(family):
    return family.members.get(name="王大山")


@pytest.fixture
def child(family):
    return family.members.get(name="王小山")


def test_a_death_is_recorded_with_its_date_and_evidence_and_audited(users, head):
    member = _record(head, users["cadre_a"])
    assert (member.life_status, member.life_status_on, member.life_status_evidence) == (
        "deceased",
        TODAY - timedelta(days=3),
        "死亡证明",
    )
    event = AuditEvent.objects.get(object_type="households.member", object_id=str(head.pk))
    assert event.action == AuditAction.UPDATE
    assert event.detail == {"life_status": "deceased", "on": "2026-05-29"}
    assert event.reason == "死亡证明"
    # The label is masked: the name and the masked number, never the full one.
    assert event.object_label == f"王大山（{head.id_number_masked}）"
    assert "*" in head.id_number_masked
    assert not Household.objects.get(pk=head.household_id).closed_on  # the child remains


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "in_register"}, "status"),
        ({"status": "emigrated"}, "status"),
        ({"on": None}, "on"),
        ({"on": TODAY + timedelta(days=1)}, "on"),
        ({"on": date(1980, 5, 16)}, "on"),  # the day before his birth (1980-05-17)
        ({"evidence": "  "}, "evidence"),
        ({"evidence": "证" * 301}, "evidence"),
    ],
)
def test_bad_input_is_refused_by_field(users, head, changes, field):
    with pytest.raises(ValidationError) as caught:
        _record(head, users["cadre_a"], **changes)
    assert field in caught.value.message_dict
    head.refresh_from_db()
    assert head.life_status == "in_register"


def test_a_member_already_gone_has_nothing_left_to_change(users, head):
    _record(head, users["cadre_a"])
    with pytest.raises(ValidationError) as caught:
        _record(head, users["reviewer_1"], status="moved_out")
    assert caught.value.message_dict["member"] == ["该成员已登记为「死亡」，不能再变更成员状态"]


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("cadre_a", 200),
        ("reviewer_1", 200),
        ("cadre_b", 404),
        ("reviewer_2", 404),
        ("approver", 403),  # the county reads the register, it does not keep it
        ("approver_other", 404),
        ("department", 403),
        ("auditor", 403),
        ("admin", 403),
    ],
)
def test_the_api_takes_it_from_whom_the_policy_allows(api, head, who, status):
    with _at():
        response = api(who).post(
            f"/api/members/{head.pk}/life-status/",
            {"status": "moved_out", "on": "2026-05-20", "evidence": "户口迁移证明 No.123"},
            format="json",
        )
    assert response.status_code == status, response.content
    if status == 200:
        body = response.json()
        assert (body["life_status"], body["life_status_display"], body["life_status_on"]) == (
            "moved_out",
            "户籍迁出",
            "2026-05-20",
        )


def test_the_api_answers_bad_input_with_400_naming_the_field(api, head):
    with _at():
        future = api("cadre_a").post(
            f"/api/members/{head.pk}/life-status/",
            {"status": "deceased", "on": "2026-07-01", "evidence": "死亡证明"},
            format="json",
        )
        missing = api("cadre_a").post(
            f"/api/members/{head.pk}/life-status/", {"status": "alive"}, format="json"
        )
    assert future.status_code == 400 and "on" in future.json()["errors"]
    assert missing.status_code == 400
    assert {"status", "on", "evidence"} <= set(missing.json()["errors"])


def test_members_who_left_no_longer_count_for_work_or_household_size(users, family, head):
    assert can_anyone_work(family)
    _record(head, users["cadre_a"])
    assert not can_anyone_work(family)  # the child cannot work
    record = income_record_save(household=family, year=2026, wage_income=Decimal("6000"))
    assert record.household_size == 1


def test_the_screening_of_dropouts_reads_only_members_in_the_register(users, family, child):
    from monitor.feeds.matching import process_batch
    from monitor.feeds.screening import screening_queue
    from monitor.models import WarningRow

    def dropouts_screened() -> bool:
        batch = screening_queue(scope_prefix=VILLAGE_A)
        process_batch(batch.pk)
        return WarningRow.objects.filter(batch=batch, indicator="义务教育阶段失学辍学").exists()

    child.schooling = "dropout"
    child.save()
    assert dropouts_screened()
    _record(child, users["cadre_a"], status="moved_out", evidence="随母迁往外省")
    assert not dropouts_screened()


@pytest.fixture
def monitoring_case(family):
    """Test setup only: the family's case in monitoring, with an open deadline."""
    case = Case.objects.create(
        household=family,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        status=Status.MONITORING,
        found_on=date(2026, 3, 2),
        identified_on=date(2026, 3, 10),
        main_risk="01",
    )
    CaseRisk.objects.create(case=case, code="01")
    Deadline.objects.create(
        case=case, step="identification", responsible_level=3, due_on=date(2026, 3, 17)
    )
    Household.objects.filter(pk=family.pk).update(is_monitored=True)
    return case


def test_when_the_last_member_leaves_the_household_closes_and_its_case_ends(
    users, family, head, child, monitoring_case
):
    _record(head, users["cadre_a"])
    monitoring_case.refresh_from_db()
    assert monitoring_case.status == Status.MONITORING  # the child is still there
    _record(child, users["reviewer_1"], status="moved_out", evidence="户口迁往外省")
    family.refresh_from_db()
    assert (family.closed_on, family.closed_reason, family.is_monitored) == (
        TODAY,
        "全部成员死亡或户籍迁出",
        False,
    )
    assert family.file_colour == "grey"
    assert family.members.count() == 2  # the file is kept
    case = Case.objects.get(pk=monitoring_case.pk)
    assert case.status == Status.TERMINATED
    assert case.closed_reason == "全部成员死亡或户籍迁出，已销户"
    trail = CaseTransition.objects.get(case=case)
    assert (trail.action, trail.from_status, trail.to_status, trail.actor.username) == (
        "household_closed",
        "monitoring",
        "terminated",
        "reviewer_1",
    )
    assert not Deadline.objects.filter(case=case, met_on__isnull=True).exists()
    note = Notification.objects.get(kind=NotificationKind.HOUSEHOLD_CLOSED)
    assert (note.region_id, note.role, note.case_id) == (
        TOWNSHIP_1,
        Role.TOWNSHIP_REVIEWER,
        case.pk,
    )
    assert "销户终止" in note.message
    audit = AuditEvent.objects.get(object_type="households.household", object_id=str(family.pk))
    assert audit.reason == "全部成员死亡或户籍迁出"


@pytest.mark.parametrize("status", [Status.DRAFT, Status.REPORTED, Status.CLEARANCE_PROPOSED])
def test_an_open_case_in_any_state_ends_with_its_household(
    users, family, head, child, monitoring_case, status
):
    Case.objects.filter(pk=monitoring_case.pk).update(status=status)
    _record(child, users["cadre_a"])
    _record(head, users["cadre_a"])
    case = Case.objects.get(pk=monitoring_case.pk)
    assert case.status == Status.TERMINATED
    assert CaseTransition.objects.get(case=case).from_status == status


def test_a_closed_household_gets_no_new_case_member_or_income(api, users, family, head, child):
    _record(child, users["cadre_a"])
    _record(head, users["cadre_a"])
    with pytest.raises(ValidationError) as caught:
        case_create(
            household=Household.objects.get(pk=family.pk),
            category=Category.SUDDEN,
            channel=Channel.CADRE_SCREENING,
            risk_codes=["05"],
            found_on=TODAY,
            by=users["cadre_a"],
            today=TODAY,
        )
    assert "该户已销户，不能登记监测对象" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        member_create(
            household=Household.objects.get(pk=family.pk),
            id_number=make_id_number(sequence=904),
            name="新成员",
            relation="child",
            labour="none",
        )
    assert "不能登记新成员" in str(caught.value)
    with _at():
        income = api("cadre_a").post(
            "/api/income-records/",
            {"household": family.pk, "year": 2026, "wage_income": "1000"},
            format="json",
        )
        filed = api("cadre_a").post(
            "/api/cases/",
            {
                "household": family.pk,
                "category": "sudden",
                "channel": "cadre_screening",
                "risk_codes": ["05"],
                "found_on": "2026-05-30",
            },
            format="json",
        )
    assert income.status_code == 400 and "不能录入收支" in str(income.json())
    assert filed.status_code == 400 and "该户已销户" in str(filed.json())
    detail = api("cadre_a").get(f"/api/households/{family.pk}/").json()
    assert detail["closed_on"] == "2026-06-01"
    assert detail["closed_reason"] == "全部成员死亡或户籍迁出"
    assert {m["life_status"] for m in detail["members"]} == {"deceased"}


def test_a_township_cannot_close_a_household_by_hand(api, monitoring_case):
    response = api("reviewer_1").post(
        f"/api/cases/{monitoring_case.pk}/transitions/",
        {"action": "household_closed", "comment": "已销户"},
        format="json",
    )
    assert response.status_code == 409
    assert "该户尚未销户" in response.json()["detail"]


def test_a_natural_clearance_after_a_death_end_to_end(api, lines):
    """Marked deceased → 自然消除 proposed with the evidence → township → county → cleared,
    every step on the trail; no measure, no income, only the procedure and the evidence."""
    household = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    sick = MemberFactory(household=household, name="赵老汉", relation="head", labour="lost")
    MemberFactory(
        household=household,
        name="赵大婶",
        relation="spouse",
        labour="ordinary",
        id_number=make_id_number(sequence=630, male=False),
    )
    case = Case.objects.create(
        household=household,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        status=Status.MONITORING,
        found_on=date(2026, 1, 5),
        identified_on=date(2026, 1, 15),
        main_risk="01",
    )
    CaseRisk.objects.create(case=case, code="01")
    cadre, township, county = api("cadre_a"), api("reviewer_1"), api("approver")
    base = f"/api/cases/{case.pk}"
    with _at(date(2026, 4, 1)):
        died = cadre.post(
            f"/api/members/{sick.pk}/life-status/",
            {"status": "deceased", "on": "2026-03-20", "evidence": "县医院死亡医学证明"},
            format="json",
        )
        assert died.status_code == 200, died.content
        for path, data in (
            (
                "home-visits",
                {"visited_on": "2026-03-25", "visitors": "村书记", "findings": "已去世"},
            ),
            ("appraisals", {"held_on": "2026-03-26", "result": "passed"}),
            ("notices", {"start_on": "2026-03-27", "end_on": "2026-03-31"}),
        ):
            recorded = cadre.post(f"{base}/{path}/", {"stage": "clearance", **data}, format="json")
            assert recorded.status_code == 201, recorded.content
        proposed = cadre.post(
            f"{base}/transitions/",
            {
                "action": "propose_clearance",
                "clearance_kind": "natural",
                "natural_reason": "member_died",
                "natural_member_id": sick.pk,
                "natural_evidence": "县医院死亡医学证明（2026年3月20日）",
                "comment": "致险成员去世，风险自然消除",
            },
            format="json",
        )
        assert proposed.status_code == 200, proposed.content
        assert (
            township.post(
                f"{base}/transitions/", {"action": "township_approve_clearance"}, format="json"
            ).status_code
            == 200
        )
        cleared = county.post(
            f"{base}/transitions/",
            {"action": "county_approve_clearance", "comment": "同意"},
            format="json",
        )
    assert cleared.status_code == 200, cleared.content
    body = cleared.json()
    assert (body["status"], body["clearance_kind"]) == ("cleared", "natural")
    case.refresh_from_db()
    assert (case.natural_reason, case.natural_member_id) == ("member_died", sick.pk)
    assert [t.action for t in case.transitions.all()] == [
        "propose_clearance",
        "township_approve_clearance",
        "county_approve_clearance",
    ]
    # Not the household's end: the spouse is still in the register.
    assert Household.objects.get(pk=household.pk).closed_on is None


def _locks(monkeypatch) -> list[str]:
    """The models whose rows are locked (select_for_update), in the order asked: SQLite
    ignores the locks, so the order is read where they are asked for."""
    from django.db.models.query import QuerySet

    asked: list[str] = []
    original = QuerySet.select_for_update

    def recording(self, *args, **kwargs):
        asked.append(self.model._meta.label)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "select_for_update", recording)
    return asked


def test_the_case_is_locked_before_the_household(users, head, child, monitoring_case, monkeypatch):
    """The county's approvals lock the case, then write the household: the member status
    takes the same order, or the two could deadlock on PostgreSQL."""
    asked = _locks(monkeypatch)
    _record(child, users["cadre_a"])
    first = list(asked)
    asked.clear()
    _record(head, users["cadre_a"])  # the last one: the household closes, the case ends
    assert Case.objects.get(pk=monitoring_case.pk).status == Status.TERMINATED
    for locks in (first, asked):
        assert locks[:2] == ["monitor.Case", "households.Household"], locks
