from datetime import date
from decimal import Decimal

import pytest

from households.models import Household, Member
from households.services import income_record_save
from monitor.models import Case, Clue, ScreeningThreshold, WarningBatch, WarningRow
from tests.conftest import COUNTY, OTHER_VILLAGE, VILLAGE_A, VILLAGE_C
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def county(lines):
    ScreeningThreshold.objects.create(
        region_id=COUNTY, year=2025, medical_expense_over=Decimal("10000")
    )

    def home(village, sequence, **fields):
        household = HouseholdFactory(village_id=village, **fields)
        MemberFactory(household=household, id_number=make_id_number(sequence=sequence))
        return household

    poor = home(VILLAGE_A, 1000)
    income_record_save(household=poor, year=2025, wage_income=Decimal("5000"))
    sick = home(VILLAGE_A, 1002)
    income_record_save(
        household=sick, year=2025, wage_income=Decimal("50000"), medical_expense=Decimal("26000")
    )
    unsafe = home(VILLAGE_C, 1004, housing_safe=False, water_safe=False)
    child = home(VILLAGE_C, 1006)
    MemberFactory(
        household=child,
        relation="child",
        schooling="dropout",
        id_number=make_id_number(sequence=1008),
    )
    fine = home(VILLAGE_A, 1010, housing_safe=True)
    income_record_save(household=fine, year=2025, wage_income=Decimal("40000"))
    elsewhere = home(OTHER_VILLAGE, 1012, housing_safe=False)
    return {
        "poor": poor,
        "sick": sick,
        "unsafe": unsafe,
        "child": child,
        "fine": fine,
        "elsewhere": elsewhere,
    }


def test_the_rules_raise_one_clue_per_household_with_every_finding(
    api, county, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api("approver").post("/api/screening-runs/")
    assert response.status_code == 202
    batch = WarningBatch.objects.get(pk=response.json()["id"])
    assert batch.status == "done" and batch.source == "screening"
    found = {(row.household_id, row.indicator) for row in WarningRow.objects.all()}
    assert found == {
        (county["poor"].pk, "人均纯收入低于监测范围"),
        (county["sick"].pk, "合规自付医疗支出超过预警线"),
        (county["unsafe"].pk, "住房不安全"),
        (county["unsafe"].pk, "饮水不安全"),
        (county["child"].pk, "义务教育阶段失学辍学"),
    }
    clues = Clue.objects.all()
    assert {c.household_id for c in clues} == {
        county[k].pk for k in ("poor", "sick", "unsafe", "child")
    }
    assert {c.channel for c in clues} == {"data_screening"}
    # One clue per household: the unsafe household's second finding merges into its first.
    assert (batch.rows_new_clue, batch.rows_merged) == (4, 1) == (clues.count(), 1)
    # A second run merges into the open clues instead of raising new ones.
    with django_capture_on_commit_callbacks(execute=True):
        api("approver").post("/api/screening-runs/")
    assert Clue.objects.count() == 4
    assert WarningBatch.objects.order_by("-id").first().rows_merged == 5


def test_a_household_with_an_open_case_gets_the_finding_on_its_case(
    api, county, django_capture_on_commit_callbacks
):
    case = Case.objects.create(
        household=county["unsafe"],
        category="marginal",
        channel="cadre_screening",
        found_on="2026-10-01",
        status="monitoring",
    )
    with django_capture_on_commit_callbacks(execute=True):
        api("reviewer_2").post("/api/screening-runs/")
    assert set(
        WarningRow.objects.filter(household=county["unsafe"]).values_list("outcome", "case_id")
    ) == {("attached_to_case", case.pk)}
    # The township of 向阳村 screens only its own villages.
    assert not WarningRow.objects.filter(household=county["poor"]).exists()


def test_village_cadres_cannot_start_a_run(api, county):
    assert api("cadre_a").post("/api/screening-runs/").status_code == 403


def test_closed_households_and_members_gone_from_the_register_are_not_screened(
    api, county, django_capture_on_commit_callbacks
):
    # 销户: the poor, the sick and the unsafe households are closed.
    closed = [county[key].pk for key in ("poor", "sick", "unsafe")]
    Household.objects.filter(pk__in=closed).update(closed_on=date(2026, 9, 1))
    # The child out of school moved away.
    Member.objects.filter(household=county["child"], schooling="dropout").update(
        life_status="moved_out"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api("approver").post("/api/screening-runs/").status_code == 202
    assert not WarningRow.objects.exists()
    assert not Clue.objects.exists()
    # Back in the register: found again (the rules, not the data, made the difference).
    Member.objects.filter(household=county["child"]).update(life_status="in_register")
    with django_capture_on_commit_callbacks(execute=True):
        api("approver").post("/api/screening-runs/")
    assert {row.household_id for row in WarningRow.objects.all()} == {county["child"].pk}
