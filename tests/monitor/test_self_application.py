import pytest
from rest_framework.test import APIClient

from households.models import Member
from households.pii import decrypt
from monitor.choices import ClueStatus
from monitor.models import Case, Clue, SelfApplication
from tests.conftest import VILLAGE_A, VILLAGE_B
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def head(regions):
    household = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    return MemberFactory(
        household=household, name="马福海", relation="head", id_number=make_id_number(sequence=960)
    )


def _apply(client, id_number, **overrides):
    data = {
        "name": "马福海",
        "phone": "13912345678",
        "id_number": id_number,
        "difficulty": "妻子患病住院，医疗费用高",
        "village": VILLAGE_A,
        "risk_type": "01",
    }
    data.update(overrides)
    return client.post("/api/self-applications/", data, format="json")


def test_an_application_becomes_a_clue_the_township_accepts_and_the_village_verifies(head, api):
    response = _apply(APIClient(), make_id_number(sequence=960).lower())
    assert response.status_code == 201, response.content
    assert response.json()["reference"].startswith("SQ")
    assert "2 日内受理" in response.json()["message"]
    clue = Clue.objects.get()
    assert (clue.household_id, clue.status, clue.channel) == (
        head.household_id,
        ClueStatus.PENDING_ACCEPTANCE,
        "self_application",
    )
    application = SelfApplication.objects.get()
    assert application.phone_masked == "139****5678"
    assert decrypt(application.id_number_encrypted, field="id_number") == make_id_number(
        sequence=960
    )
    assert (
        api("cadre_a")
        .post(
            f"/api/clues/{clue.pk}/verify/",
            {"outcome": "not_eligible", "note": "未受理"},
            format="json",
        )
        .status_code
        == 409
    )
    accepted = api("reviewer_1").post(f"/api/clues/{clue.pk}/accept/")
    assert accepted.status_code == 200 and accepted.json()["status"] == "verifying"
    verified = api("cadre_a").post(
        f"/api/clues/{clue.pk}/verify/",
        {"outcome": "identify", "note": "入户核实属实", "category": "unstable"},
        format="json",
    )
    assert verified.status_code == 200, verified.content
    case = Case.objects.get()
    assert (case.channel, case.risk_codes) == ("self_application", ["01"])


def test_bad_fields_are_named_in_chinese(regions):
    response = _apply(APIClient(), "123", phone="12", village="999999999999", difficulty="")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"phone", "id_number", "village", "difficulty"}


def test_an_applicant_already_in_monitoring_joins_the_case(head, users):
    case = Case.objects.create(
        household=head.household,
        category="unstable",
        channel="cadre_screening",
        found_on="2026-10-01",
        status="monitoring",
    )
    assert _apply(APIClient(), make_id_number(sequence=960)).status_code == 201
    assert SelfApplication.objects.get().case == case
    assert not Clue.objects.exists()


@pytest.mark.parametrize("gone", ["moved_out", "household_closed"])
def test_someone_no_longer_in_a_households_register_applies_as_a_newcomer(head, gone):
    """A member who moved away (or whose household was closed) is not that household's any
    more: the application is not put on the old household's file."""
    if gone == "moved_out":
        Member.objects.filter(pk=head.pk).update(life_status="moved_out")
    else:
        head.household.__class__.objects.filter(pk=head.household_id).update(closed_on="2026-10-01")
    assert _apply(APIClient(), make_id_number(sequence=960), village=VILLAGE_B).status_code == 201
    clue = Clue.objects.get()
    assert clue.household is None and clue.village_id == VILLAGE_B


def test_an_unregistered_applicant_gets_a_clue_in_the_chosen_village_once(regions):
    outsider = make_id_number(region="630121", sequence=970)
    assert _apply(APIClient(), outsider).status_code == 201
    assert _apply(APIClient(), outsider, difficulty="又补充了情况说明").status_code == 201
    clue = Clue.objects.get()
    assert clue.household is None and clue.village_id == VILLAGE_A
    assert clue.applications.count() == 2
    assert not Member.objects.exists()


def test_the_public_page_works_without_login_and_is_rate_limited(client, regions):
    page = client.get("/apply/", {"village": VILLAGE_A})
    assert page.status_code == 200
    assert "一键申报" in page.content.decode() and "东关村" in page.content.decode()
    form = {
        "name": "张三",
        "phone": "13800138000",
        "id_number": make_id_number(sequence=980),
        "difficulty": "房屋被洪水冲毁",
        "village": VILLAGE_A,
        "risk_type": "0201",
    }
    done = client.post("/apply/", form)
    assert done.status_code == 200 and "受理编号" in done.content.decode()
    bad = client.post("/apply/", {**form, "id_number": "6.30121E+17"})
    assert bad.status_code == 400 and "Excel" in bad.content.decode()
    for _ in range(10):
        last = client.post("/apply/", form)
    assert last.status_code == 429 and "提交过于频繁" in last.content.decode()


def test_the_rate_limit_ignores_a_forged_forwarded_for_header(regions):
    client = APIClient()
    codes = [
        client.post(
            "/api/self-applications/",
            {
                "name": "张三",
                "phone": "13800138000",
                "id_number": make_id_number(sequence=1100 + 2 * i),
                "difficulty": "房屋受损严重",
                "village": VILLAGE_A,
                "risk_type": "0201",
            },
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{i}",
        ).status_code
        for i in range(12)
    ]
    assert codes[:10] == [201] * 10 and codes[10:] == [429, 429]


def test_staff_see_the_application_and_reveal_the_phone_with_an_audit_row(head, api):
    from accounts.models import AuditEvent

    _apply(APIClient(), make_id_number(sequence=960))
    clue = Clue.objects.get()
    shown = api("reviewer_1").get(f"/api/clues/{clue.pk}/").json()["applications"]
    assert [(a["name"], a["phone_masked"], a["risk_label"]) for a in shown] == [
        ("马福海", "139****5678", "因病")
    ]
    reveal = api("reviewer_1").post(
        f"/api/clues/{clue.pk}/reveal-applicant/",
        {"application": shown[0]["id"], "field": "phone", "reason": "电话联系申报人"},
        format="json",
    )
    assert reveal.json()["value"] == "13912345678"
    assert AuditEvent.objects.filter(action="reveal_pii", reason="电话联系申报人").count() == 1
    assert (
        api("cadre_c")
        .post(
            f"/api/clues/{clue.pk}/reveal-applicant/",
            {"application": shown[0]["id"], "field": "phone", "reason": "看看"},
            format="json",
        )
        .status_code
        == 404
    )


def test_late_acceptance_and_a_later_late_home_check_are_both_reported(head, api):
    from datetime import timedelta

    from monitor.models import Notification
    from monitor.tasks import sweep_deadlines

    _apply(APIClient(), make_id_number(sequence=960))
    clue = Clue.objects.get()
    sweep_deadlines(today=(clue.due_on + timedelta(days=1)).isoformat())
    assert Notification.objects.filter(role="township_reviewer").count() == 1
    api("reviewer_1").post(f"/api/clues/{clue.pk}/accept/")
    clue.refresh_from_db()
    sweep_deadlines(today=(clue.due_on + timedelta(days=1)).isoformat())
    assert Notification.objects.filter(role="village_cadre").count() == 1
    assert Notification.objects.count() == 4


def test_a_case_filed_from_an_accepted_application_starts_with_the_village(head, api):
    _apply(APIClient(), make_id_number(sequence=960))
    clue = Clue.objects.get()
    api("reviewer_1").post(f"/api/clues/{clue.pk}/accept/")
    api("cadre_a").post(
        f"/api/clues/{clue.pk}/verify/",
        {"outcome": "identify", "note": "属实", "category": "unstable"},
        format="json",
    )
    case = Case.objects.get()
    assert case.status == "draft"
    assert not case.deadlines.filter(step="township_acceptance").exists()


def test_the_acceptance_clock_is_the_villages_local_rule(head, client):
    from datetime import timedelta

    from django.utils import timezone

    from monitor.models import RegionPolicy
    from tests.conftest import COUNTY, OTHER_VILLAGE, VILLAGE_C

    today = timezone.localdate()
    RegionPolicy.objects.create(region_id=COUNTY, year=today.year, self_application_accept_days=5)
    response = _apply(APIClient(), make_id_number(sequence=960))
    assert response.status_code == 201
    assert "5 日内受理" in response.json()["message"]
    assert Clue.objects.get().due_on == today + timedelta(days=5)
    # The public page says the village's limit too; another county keeps the default.
    form = {
        "name": "张三",
        "phone": "13800138000",
        "id_number": make_id_number(sequence=980),
        "difficulty": "房屋被洪水冲毁",
        "village": VILLAGE_C,
        "risk_type": "0201",
    }
    assert "乡镇将在 5 日内受理" in client.post("/apply/", form).content.decode()
    elsewhere = _apply(
        APIClient(), make_id_number(sequence=990), village=OTHER_VILLAGE, name="钱七宝"
    )
    assert elsewhere.status_code == 201, elsewhere.content
    assert "2 日内受理" in elsewhere.json()["message"]
