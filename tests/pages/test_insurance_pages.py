"""防贫保险 pages: the county's policies under 管理 (list, new, edit, enrol all), and on the
household page its enrolments and claims with the forms to enrol, claim and pay — each
offered to whom the policy allows, errors beside their fields, other regions as 404."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from households.models import Region
from interventions.insurance import insurance_enrol, insurance_policy_save
from interventions.models import InsuranceClaim, InsuranceEnrolment, InsurancePolicy
from tests.conftest import COUNTY, OTHER_COUNTY, VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _as(client, users, name):
    client.force_login(users[name])
    return client


@pytest.fixture
def household(regions):
    home = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    MemberFactory(household=home, name="赵大成", id_number=make_id_number(sequence=620))
    return home


@pytest.fixture
def county_policy(users, household):
    return insurance_policy_save(
        by=users["approver"],
        region=Region.objects.get(code=COUNTY),
        year=TODAY.year,
        insurer="人保财险大通支公司",
        coverage="lifted_and_monitored",
        trigger_line=Decimal("8000"),
    )


def test_the_county_keeps_its_policies_on_the_administration_pages(client, users, household):
    _as(client, users, "approver")
    home = client.get("/manage/").content.decode()
    assert "防贫保险" in home and "本地时限与规则" in home
    assert client.get("/manage/insurance/").status_code == 200
    bad = client.post(
        "/manage/insurance/",
        {"region": COUNTY, "year": TODAY.year, "insurer": "", "coverage": "", "trigger_line": "0"},
    )
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "请填写承保机构" in text and "请选择保障对象" in text
    made = client.post(
        "/manage/insurance/",
        {
            "region": COUNTY,
            "year": TODAY.year,
            "insurer": "人保财险",
            "coverage": "lifted_and_monitored",
            "trigger_line": "0",
        },
    )
    assert made.status_code == 400 and "理赔触发线必须大于 0 元" in made.content.decode()
    made = client.post(
        "/manage/insurance/",
        {
            "region": COUNTY,
            "year": TODAY.year,
            "insurer": "人保财险",
            "coverage": "lifted_and_monitored",
            "trigger_line": "8000",
            "premium_per_person": "50",
        },
    )
    assert made.status_code == 302
    policy = InsurancePolicy.objects.get()
    page = client.get(f"/manage/insurance/{policy.pk}/").content.decode()
    assert "全部参保" in page and "人保财险" in page
    enrolled = client.post(f"/manage/insurance/{policy.pk}/enrol/", {"enrolled_on": ""})
    assert enrolled.status_code == 302
    assert InsuranceEnrolment.objects.filter(policy=policy).count() == 1
    followed = client.get(f"/manage/insurance/{policy.pk}/").content.decode()
    assert 'id="enrolled">1<' in followed
    edited = client.post(
        f"/manage/insurance/{policy.pk}/",
        {
            "region": COUNTY,
            "year": TODAY.year,
            "insurer": "人保财险",
            "coverage": "lifted_and_monitored",
            "trigger_line": "8500",
        },
    )
    assert edited.status_code == 302
    policy.refresh_from_db()
    assert policy.trigger_line == Decimal("8500")
    future = client.post(
        f"/manage/insurance/{policy.pk}/enrol/",
        {"enrolled_on": (TODAY + timedelta(days=2)).isoformat()},
    )
    assert future.status_code == 400 and "参保日期不能晚于今天" in future.content.decode()


def test_the_administration_pages_are_the_countys_and_the_administrators(
    client, users, county_policy
):
    url = f"/manage/insurance/{county_policy.pk}/"
    assert _as(client, users, "approver_other").get(url).status_code == 404
    assert _as(client, users, "cadre_a").get("/manage/insurance/").status_code == 403
    admin_page = _as(client, users, "admin").get(url)
    assert admin_page.status_code == 200
    # The administrator keeps policies anywhere but enrols nobody (no people scope).
    assert "全部参保" not in admin_page.content.decode()
    assert client.post(f"{url}enrol/").status_code == 403
    other = insurance_policy_save(
        by=users["admin"],
        region=Region.objects.get(code=OTHER_COUNTY),
        year=TODAY.year,
        insurer="湟中承保",
        coverage="all_rural",
        trigger_line=Decimal("8000"),
    )
    regions = _as(client, users, "approver").get("/manage/insurance/").content.decode()
    assert f'<option value="{OTHER_COUNTY}"' not in regions and "湟中承保" not in regions
    assert client.get(f"/manage/insurance/{other.pk}/").status_code == 404


def test_the_household_page_shows_enrolment_and_claims_and_the_forms_for_each_role(
    client, users, household, county_policy
):
    page = _as(client, users, "cadre_a").get(f"/households/{household.pk}/").content.decode()
    assert "未参加防贫保险" in page
    assert "登记参保" in page and "登记理赔" not in page
    enrol = client.post(
        f"/households/{household.pk}/insurance/enrol/",
        {"enrol-policy": county_policy.pk, "enrol-enrolled_on": ""},
    )
    assert enrol.status_code == 302
    page = client.get(f"/households/{household.pk}/").content.decode()
    assert "人保财险大通支公司" in page and "登记理赔" not in page
    assert "参加防贫保险" in page  # on the timeline
    assert client.get(f"/households/{household.pk}/insurance/claims/").status_code == 403
    reviewer = _as(client, users, "reviewer_1")
    page = reviewer.get(f"/households/{household.pk}/").content.decode()
    assert "登记理赔" in page
    enrolment = InsuranceEnrolment.objects.get()
    bad = reviewer.post(
        f"/households/{household.pk}/insurance/claims/",
        {
            "claim-enrolment": enrolment.pk,
            "claim-claimed_on": (TODAY + timedelta(days=1)).isoformat(),
            "claim-reason": "",
        },
    )
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "报案日期不能晚于今天" in text or "此项必填" in text
    half = reviewer.post(
        f"/households/{household.pk}/insurance/claims/",
        {
            "claim-enrolment": enrolment.pk,
            "claim-claimed_on": TODAY.isoformat(),
            "claim-reason": "户主住院",
            "claim-amount_paid": "3000",
        },
    )
    assert half.status_code == 400 and "同时填写" in half.content.decode()
    made = reviewer.post(
        f"/households/{household.pk}/insurance/claims/",
        {
            "claim-enrolment": enrolment.pk,
            "claim-claimed_on": TODAY.isoformat(),
            "claim-reason": "户主住院，医疗自付后收入低于触发线",
        },
    )
    assert made.status_code == 302
    claim = InsuranceClaim.objects.get()
    page = reviewer.get(f"/households/{household.pk}/").content.decode()
    assert f"/insurance-claims/{claim.pk}/pay/" in page
    cadre_view = _as(client, users, "cadre_a").get(f"/households/{household.pk}/")
    assert f"/insurance-claims/{claim.pk}/pay/" not in cadre_view.content.decode()
    assert client.get(f"/insurance-claims/{claim.pk}/pay/").status_code == 403
    assert (
        _as(client, users, "reviewer_2").get(f"/insurance-claims/{claim.pk}/pay/").status_code
        == 404
    )
    approver = _as(client, users, "approver")
    wrong = approver.post(
        f"/insurance-claims/{claim.pk}/pay/", {"amount_paid": "-5", "paid_on": TODAY.isoformat()}
    )
    assert wrong.status_code == 400 and "赔付金额不能为负数" in wrong.content.decode()
    paid = approver.post(
        f"/insurance-claims/{claim.pk}/pay/", {"amount_paid": "3200", "paid_on": TODAY.isoformat()}
    )
    assert paid.status_code == 302
    page = approver.get(f"/households/{household.pk}/").content.decode()
    assert "防贫保险赔付 3,200.00 元" in page and "3,200.00 元" in page
    again = approver.get(f"/insurance-claims/{claim.pk}/pay/")
    assert "该理赔已于" in again.content.decode()
    home = approver.get("/").content.decode()
    assert "防贫保险今年赔付" in home and "3,200.00 元" in home


def test_household_pages_of_another_region_are_404(client, users, household, county_policy):
    insurance_enrol(policy=county_policy, by=users["approver"], household=household)
    for name in ("cadre_b", "reviewer_2", "approver_other"):
        _as(client, users, name)
        assert client.get(f"/households/{household.pk}/insurance/enrol/").status_code == 404
        assert client.get(f"/households/{household.pk}/insurance/claims/").status_code == 404
    _as(client, users, "auditor")
    assert client.get(f"/households/{household.pk}/insurance/enrol/").status_code == 403
