"""防贫保险: the county's policy (insurer, coverage, trigger line), enrolment of one household
or of every covered household in one statement, claims and their payment — who may do each,
bad input refused on its field, other regions' records as 404, an audit row per write, and a
paid claim on the household's timeline and in the county's figures."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.policy import PolicyDenied
from households.models import Region
from interventions.insurance import (
    claims_paid_figures,
    insurance_claim_pay,
    insurance_claim_record,
    insurance_enrol,
    insurance_policy_save,
)
from interventions.models import InsuranceClaim, InsuranceCoverage, InsuranceEnrolment
from monitor.choices import Category, Status
from monitor.models import Case
from tests.conftest import COUNTY, OTHER_COUNTY, OTHER_VILLAGE, VILLAGE_A, VILLAGE_B, VILLAGE_C
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
YEAR = TODAY.year


def _home(village, sequence, **fields):
    household = HouseholdFactory(village_id=village, **fields)
    MemberFactory(household=household, id_number=make_id_number(sequence=sequence))
    return household


@pytest.fixture
def homes(regions):
    """Households of 大通县 and one next door: 脱贫户 and 一般农户, one monitored, one with a
    civil-affairs category, one closed."""
    return {
        "lifted_a": _home(VILLAGE_A, 500, kind="lifted"),
        "ordinary_a": _home(VILLAGE_A, 502),
        "monitored_b": _home(VILLAGE_B, 504, is_monitored=True),
        "dibao_c": _home(VILLAGE_C, 506, civil_affairs_status="dibao"),
        "lifted_c": _home(VILLAGE_C, 508, kind="lifted"),
        "closed_a": _home(VILLAGE_A, 510, kind="lifted", closed_on=TODAY),
        "elsewhere": _home(OTHER_VILLAGE, 512, kind="lifted"),
    }


def _policy(users, *, by="approver", region=COUNTY, coverage=InsuranceCoverage.ALL_RURAL, **extra):
    return insurance_policy_save(
        by=users[by],
        region=Region.objects.get(code=region),
        year=extra.pop("year", YEAR),
        insurer=extra.pop("insurer", "人保财险大通支公司"),
        coverage=coverage,
        trigger_line=extra.pop("trigger_line", Decimal("8000")),
        **extra,
    )


# --- policies --------------------------------------------------------------------------------


def test_a_region_change_counts_enrolments_under_the_policys_lock(users, regions, monkeypatch):
    """Enrolment locks the policy; the region change must lock it before it counts the
    enrolments, or an enrolment could slip in between the count and the change."""
    from django.db import connection
    from django.db.models.query import QuerySet

    policy = _policy(users, by="admin")
    events: list[str] = []
    original = QuerySet.select_for_update

    def recording(self, *args, **kwargs):
        events.append(f"lock {self.model._meta.label}")
        return original(self, *args, **kwargs)

    def statements(execute, sql, params, many, context):
        events.append(sql)
        return execute(sql, params, many, context)

    monkeypatch.setattr(QuerySet, "select_for_update", recording)
    with connection.execute_wrapper(statements):
        _policy(users, by="admin", region=OTHER_COUNTY, insurance_policy=policy)
    counted = next(i for i, e in enumerate(events) if "interventions_insuranceenrolment" in e)
    assert "lock interventions.InsurancePolicy" in events[:counted], events


def test_enrolment_reads_the_policys_region_under_its_lock(users, homes):
    """An enrolment holding a policy read before its region changed enrols as of the region
    it has now (read again under the lock), not the one it was read with."""
    stale = _policy(users)
    _policy(users, by="admin", region=OTHER_COUNTY, insurance_policy=stale)
    with pytest.raises(PolicyDenied):
        insurance_enrol(policy=stale, by=users["approver"])
    with pytest.raises(ValidationError) as caught:
        insurance_enrol(policy=stale, by=users["cadre_a"], household=homes["lifted_a"])
    assert "不在此防贫保险的投保区划内" in str(caught.value)
    assert not InsuranceEnrolment.objects.exists()


def test_the_county_keeps_its_own_policies_the_administrator_any(users, regions):
    policy = _policy(users, premium_per_person=Decimal("50"), note="县财政统一投保")
    assert (policy.region_id, policy.trigger_line, policy.premium_per_person) == (
        COUNTY,
        Decimal("8000"),
        Decimal("50"),
    )
    assert _policy(users, by="admin", region=OTHER_COUNTY).region_id == OTHER_COUNTY
    with pytest.raises(PolicyDenied) as outside:
        _policy(users, region=OTHER_COUNTY, insurer="另一家")
    assert outside.value.http_status == 404
    # Scope first: the county is not a region a cadre or a reviewer manages (404); the
    # department's account sits in the county but does not keep policies (403).
    for name, status in (("cadre_a", 404), ("reviewer_1", 404), ("department", 403)):
        with pytest.raises(PolicyDenied) as refused:
            _policy(users, by=name, insurer=name)
        assert refused.value.http_status == status
    assert AuditEvent.objects.filter(object_type="interventions.insurancepolicy").count() == 2


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"trigger_line": Decimal("0")}, "trigger_line", "大于 0"),
        ({"trigger_line": "八千"}, "trigger_line", "数字"),
        ({"trigger_line": Decimal("1.234")}, "trigger_line", "两位小数"),
        ({"insurer": "  "}, "insurer", "请填写承保机构"),
        ({"coverage": "everyone"}, "coverage", "请选择保障对象"),
        ({"year": 1999}, "year", "2000"),
        ({"premium_per_person": Decimal("-1")}, "premium_per_person", "不能为负数"),
    ],
)
def test_a_bad_policy_is_refused_on_its_field(users, regions, fields, field, words):
    with pytest.raises(ValidationError) as refused:
        _policy(users, **fields)
    assert words in refused.value.message_dict[field][0]


def test_one_policy_per_region_year_and_insurer(users, regions):
    _policy(users)
    with pytest.raises(ValidationError) as twice:
        _policy(users, trigger_line=Decimal("9000"))
    assert "已有" in twice.value.message_dict["insurer"][0]
    assert _policy(users, insurer="太平洋财险").pk


# --- enrolment -------------------------------------------------------------------------------


def _enrolled(policy) -> set:
    return set(InsuranceEnrolment.objects.filter(policy=policy).values_list("household", flat=True))


def test_enrol_all_takes_the_covered_households_of_the_users_region_once(users, homes):
    policy = _policy(users, coverage=InsuranceCoverage.LIFTED_AND_MONITORED)
    # The village cadre enrols his village; the closed household is not enrolled.
    assert insurance_enrol(policy=policy, by=users["cadre_a"]) == 1
    assert _enrolled(policy) == {homes["lifted_a"].pk}
    # The county enrols the rest of the county, once each.
    assert insurance_enrol(policy=policy, by=users["approver"]) == 2
    assert _enrolled(policy) == {
        h.pk for k, h in homes.items() if k in ("lifted_a", "monitored_b", "lifted_c")
    }
    assert insurance_enrol(policy=policy, by=users["approver"]) == 0
    enrolment = InsuranceEnrolment.objects.get(household=homes["lifted_a"])
    assert (enrolment.enrolled_on, enrolment.recorded_by) == (TODAY, users["cadre_a"])
    assert enrolment.recorded_at is not None
    enrolled_events = AuditEvent.objects.filter(object_label__startswith="防贫保险参保")
    assert enrolled_events.count() == 3


def test_each_coverage_names_its_households(users, homes):
    expected = {
        InsuranceCoverage.ALL_RURAL: {
            "lifted_a",
            "ordinary_a",
            "monitored_b",
            "dibao_c",
            "lifted_c",
        },
        InsuranceCoverage.MONITORED: {"monitored_b"},
        InsuranceCoverage.LIFTED_AND_MONITORED: {"lifted_a", "monitored_b", "lifted_c"},
        InsuranceCoverage.MARGINAL: {"dibao_c"},
    }
    for year, (coverage, names) in enumerate(expected.items(), start=2030):
        policy = _policy(users, coverage=coverage, year=year)
        insurance_enrol(policy=policy, by=users["approver"])
        assert _enrolled(policy) == {homes[name].pk for name in names}, coverage


def test_a_marginal_case_is_covered_as_marginal(users, homes):
    Case.objects.create(
        household=homes["ordinary_a"],
        category=Category.MARGINAL,
        channel="cadre_screening",
        status=Status.MONITORING,
        found_on=TODAY,
    )
    policy = _policy(users, coverage=InsuranceCoverage.MARGINAL)
    insurance_enrol(policy=policy, by=users["approver"])
    assert _enrolled(policy) == {homes["ordinary_a"].pk, homes["dibao_c"].pk}


def test_enrol_all_is_for_staff_whose_region_meets_the_policys(users, homes):
    policy = _policy(users)
    with pytest.raises(PolicyDenied) as next_door:
        insurance_enrol(policy=policy, by=users["approver_other"])
    assert next_door.value.http_status == 404
    for name in ("auditor", "admin", "department"):
        with pytest.raises(PolicyDenied) as refused:
            insurance_enrol(policy=policy, by=users[name])
        assert refused.value.http_status == 403
    assert not InsuranceEnrolment.objects.exists()


def test_enrol_one_household(users, homes):
    policy = _policy(users, coverage=InsuranceCoverage.LIFTED_AND_MONITORED)
    assert insurance_enrol(policy=policy, by=users["reviewer_1"], household=homes["lifted_a"]) == 1
    with pytest.raises(ValidationError) as again:
        insurance_enrol(policy=policy, by=users["reviewer_1"], household=homes["lifted_a"])
    assert "已参加" in again.value.message_dict["household"][0]
    with pytest.raises(ValidationError) as not_covered:
        insurance_enrol(policy=policy, by=users["cadre_a"], household=homes["ordinary_a"])
    assert "保障对象" in not_covered.value.message_dict["household"][0]
    with pytest.raises(ValidationError) as closed:
        insurance_enrol(policy=policy, by=users["cadre_a"], household=homes["closed_a"])
    assert "销户" in closed.value.message_dict["household"][0]
    with pytest.raises(ValidationError) as future:
        insurance_enrol(
            policy=policy,
            by=users["reviewer_1"],
            household=homes["monitored_b"],
            enrolled_on=TODAY + timedelta(days=1),
        )
    assert "晚于今天" in future.value.message_dict["enrolled_on"][0]
    # Another region's household: out of scope (404); one outside the policy's region: 400.
    with pytest.raises(PolicyDenied) as outside:
        insurance_enrol(policy=policy, by=users["cadre_a"], household=homes["lifted_c"])
    assert outside.value.http_status == 404
    elsewhere = _policy(users, by="admin", region=OTHER_COUNTY)
    with pytest.raises(ValidationError) as not_there:
        insurance_enrol(policy=elsewhere, by=users["cadre_a"], household=homes["lifted_a"])
    assert "投保区划" in not_there.value.message_dict["policy"][0]


# --- claims ----------------------------------------------------------------------------------


@pytest.fixture
def enrolment(users, homes):
    policy = _policy(users)
    insurance_enrol(policy=policy, by=users["cadre_a"], household=homes["lifted_a"])
    return InsuranceEnrolment.objects.get(policy=policy, household=homes["lifted_a"])


def _claim(users, enrolment, by="reviewer_1", **fields):
    data = {"claimed_on": TODAY - timedelta(days=3), "reason": "因病医疗自付后收入低于触发线"}
    return insurance_claim_record(enrolment=enrolment, by=users[by], **{**data, **fields})


def test_claims_are_recorded_and_paid_by_township_and_county(users, enrolment):
    claim = _claim(users, enrolment)
    assert claim.paid_on is None and claim.amount_paid is None
    paid = insurance_claim_pay(
        claim=claim, by=users["approver"], amount_paid=Decimal("3000.50"), paid_on=TODAY
    )
    assert (paid.amount_paid, paid.paid_on) == (Decimal("3000.50"), TODAY)
    at_once = _claim(users, enrolment, by="approver", amount_paid=Decimal("0"), paid_on=TODAY)
    assert at_once.amount_paid == Decimal("0")
    assert AuditEvent.objects.filter(object_type="interventions.insuranceclaim").count() == 3
    figures = claims_paid_figures(users["approver"], YEAR)
    assert figures == {"count": 2, "total": Decimal("3000.50")}
    assert claims_paid_figures(users["approver_other"], YEAR) == {"count": 0, "total": Decimal("0")}


def test_claims_refuse_the_wrong_people(users, enrolment):
    for name, status in (("cadre_a", 403), ("reviewer_2", 404), ("approver_other", 404)):
        with pytest.raises(PolicyDenied) as refused:
            _claim(users, enrolment, by=name)
        assert refused.value.http_status == status
    claim = _claim(users, enrolment)
    with pytest.raises(PolicyDenied) as cadre:
        insurance_claim_pay(claim=claim, by=users["cadre_a"], amount_paid=1, paid_on=TODAY)
    assert cadre.value.http_status == 403
    assert InsuranceClaim.objects.get().paid_on is None


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"claimed_on": TODAY + timedelta(days=1)}, "claimed_on", "晚于今天"),
        ({"claimed_on": TODAY.replace(year=YEAR - 1)}, "claimed_on", "保险年度"),
        ({"reason": " "}, "reason", "请填写理赔原因"),
        ({"amount_paid": Decimal("10")}, "paid_on", "同时填写"),
        ({"paid_on": TODAY}, "amount_paid", "同时填写"),
        ({"amount_paid": Decimal("-1"), "paid_on": TODAY}, "amount_paid", "不能为负数"),
    ],
)
def test_a_bad_claim_is_refused_on_its_field(users, enrolment, fields, field, words):
    with pytest.raises(ValidationError) as refused:
        _claim(users, enrolment, **fields)
    assert words in refused.value.message_dict[field][0]
    assert not InsuranceClaim.objects.exists()


def test_a_payment_is_checked_and_made_once(users, enrolment):
    claim = _claim(users, enrolment)
    cases = [
        (Decimal("-5"), TODAY, "amount_paid", "不能为负数"),
        (Decimal("5"), TODAY + timedelta(days=1), "paid_on", "晚于今天"),
        (Decimal("5"), claim.claimed_on - timedelta(days=1), "paid_on", "早于报案日期"),
        (Decimal("5"), None, "paid_on", "请填写赔付日期"),
    ]
    for amount, day, field, words in cases:
        with pytest.raises(ValidationError) as refused:
            insurance_claim_pay(
                claim=claim, by=users["reviewer_1"], amount_paid=amount, paid_on=day
            )
        assert words in refused.value.message_dict[field][0]
    insurance_claim_pay(
        claim=claim, by=users["reviewer_1"], amount_paid=Decimal("10"), paid_on=TODAY
    )
    with pytest.raises(ValidationError) as twice:
        insurance_claim_pay(
            claim=claim, by=users["approver"], amount_paid=Decimal("20"), paid_on=TODAY
        )
    assert "已于" in twice.value.message_dict["claim"][0]
    assert InsuranceClaim.objects.get().amount_paid == Decimal("10")


# --- the API ---------------------------------------------------------------------------------


def test_policies_through_the_api(api, users, homes):
    client = api("approver")
    made = client.post(
        "/api/insurance-policies/",
        {
            "region": COUNTY,
            "year": YEAR,
            "insurer": "人保财险",
            "coverage": "lifted_and_monitored",
            "trigger_line": "8000",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["trigger_line"], body["coverage_display"], body["enrolled"]) == (
        "8000.00",
        "脱贫户和监测对象",
        0,
    )
    bad = client.post(
        "/api/insurance-policies/",
        {
            "region": COUNTY,
            "year": YEAR,
            "insurer": "x",
            "coverage": "monitored",
            "trigger_line": "-3",
        },
        format="json",
    )
    assert bad.status_code == 400 and "trigger_line" in bad.json()["errors"]
    foreign = client.post(
        "/api/insurance-policies/",
        {
            "region": OTHER_COUNTY,
            "year": YEAR,
            "insurer": "x",
            "coverage": "monitored",
            "trigger_line": "1",
        },
        format="json",
    )
    assert foreign.status_code == 404
    assert api("cadre_a").post("/api/insurance-policies/", {}, format="json").status_code == 403
    pk = body["id"]
    assert (
        client.patch(
            f"/api/insurance-policies/{pk}/", {"note": "县财政"}, format="json"
        ).status_code
        == 200
    )
    enrolled = api("cadre_a").post(f"/api/insurance-policies/{pk}/enrol-all/", {}, format="json")
    assert enrolled.status_code == 200 and enrolled.json() == {"enrolled": 1}
    assert client.get(f"/api/insurance-policies/{pk}/").json()["enrolled"] == 1
    # The cadre of a village sees the county's policy that covers it; next door does not.
    assert [p["id"] for p in api("cadre_a").get("/api/insurance-policies/").json()["results"]] == [
        pk
    ]
    assert api("approver_other").get(f"/api/insurance-policies/{pk}/").status_code == 404
    assert api("approver_other").post(f"/api/insurance-policies/{pk}/enrol-all/").status_code == 404
    # A policy with enrolments keeps its region.
    moved = api("admin").patch(
        f"/api/insurance-policies/{pk}/", {"region": OTHER_COUNTY}, format="json"
    )
    assert moved.status_code == 400 and "region" in moved.json()["errors"]


def test_enrolments_and_claims_through_the_api(api, users, homes):
    policy = _policy(users)
    enrol = api("cadre_a").post(
        "/api/insurance-enrolments/",
        {"policy": policy.pk, "household": homes["lifted_a"].pk},
        format="json",
    )
    assert enrol.status_code == 201, enrol.content
    enrolment_id = enrol.json()["id"]
    outside = api("cadre_a").post(
        "/api/insurance-enrolments/",
        {"policy": policy.pk, "household": homes["lifted_c"].pk},
        format="json",
    )
    assert outside.status_code == 400 and "household" in outside.json()["errors"]
    assert api("auditor").get("/api/insurance-enrolments/").status_code == 403
    assert api("cadre_b").get("/api/insurance-enrolments/").json()["results"] == []
    claim_data = {"enrolment": enrolment_id, "claimed_on": TODAY.isoformat(), "reason": "大病"}
    assert (
        api("cadre_a").post("/api/insurance-claims/", claim_data, format="json").status_code == 403
    )
    made = api("reviewer_1").post("/api/insurance-claims/", claim_data, format="json")
    assert made.status_code == 201, made.content
    claim_id = made.json()["id"]
    assert made.json()["is_paid"] is False
    assert (
        api("reviewer_2").post("/api/insurance-claims/", claim_data, format="json").status_code
        == 400
    )  # the enrolment is not in its region: unknown there
    pay = {"amount_paid": "2000", "paid_on": TODAY.isoformat()}
    assert (
        api("reviewer_2")
        .post(f"/api/insurance-claims/{claim_id}/pay/", pay, format="json")
        .status_code
        == 404
    )
    bad = api("approver").post(
        f"/api/insurance-claims/{claim_id}/pay/",
        {"amount_paid": "-1", "paid_on": "明天"},
        format="json",
    )
    assert bad.status_code == 400 and "paid_on" in bad.json()["errors"]
    paid = api("approver").post(f"/api/insurance-claims/{claim_id}/pay/", pay, format="json")
    assert paid.status_code == 200 and paid.json()["amount_paid"] == "2000.00"
    again = api("approver").post(f"/api/insurance-claims/{claim_id}/pay/", pay, format="json")
    assert again.status_code == 400
    listed = api("reviewer_1").get("/api/insurance-claims/", {"paid": "true"}).json()["results"]
    assert [row["id"] for row in listed] == [claim_id]
    assert (
        api("reviewer_1").get("/api/insurance-claims/", {"enrolment": "9" * 30}).status_code == 400
    )


def test_a_paid_claim_shows_on_the_timeline_and_in_the_county_figures(client, users, enrolment):
    claim = _claim(users, enrolment)
    insurance_claim_pay(
        claim=claim, by=users["reviewer_1"], amount_paid=Decimal("4500"), paid_on=TODAY
    )
    client.force_login(users["cadre_a"])
    page = client.get(f"/households/{enrolment.household_id}/").content.decode()
    assert "防贫保险赔付 4,500.00 元" in page
    client.force_login(users["approver"])
    home = client.get("/").content.decode()
    assert 'id="stat-insurance"' in home and "4,500.00 元" in home
