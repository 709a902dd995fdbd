"""The report facts follow their sources: a change the update times do not show is marked,
and a mark made while a row is being built is not lost."""

from datetime import date, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from households.models import Member, Region
from households.services import member_create, member_update
from interventions.models import MeasureRecord
from monitor.models import Case, CaseFact, CaseFactMeasure
from monitor.reports import facts
from monitor.reports.facts import case_facts_mark_households, case_facts_refresh
from monitor.reports.figures import region_figures
from tests.conftest import COUNTY
from tests.factories import HouseholdFactory, make_id_number
from tests.monitor import test_report_figures as hand_counted

pytestmark = pytest.mark.django_db
county = hand_counted.county  # the hand-counted county, as a fixture here too
DAY = date(2026, 11, 30)


def _monitored_people() -> int:
    return region_figures(Region.objects.get(code=COUNTY), DAY)["monitored"]["people"]


def test_a_member_registered_later_counts_at_the_next_report(county, users):
    before = _monitored_people()
    member_create(
        household=county["a1"].household,
        id_number=make_id_number(birth=date(1990, 1, 1), sequence=880),
        name="新成员",
        relation="spouse",
        labour="ordinary",
        by=users["cadre_a"],
    )
    assert _monitored_people() == before + 1


def test_a_member_moved_to_another_household_counts_there(county, users):
    before = _monitored_people()
    elsewhere = HouseholdFactory(village_id=county["a1"].household.village_id)
    member = Member.objects.create(
        household=elsewhere,
        name="迁入者",
        id_number_encrypted="-",
        id_number_hash="moved",
        id_number_masked="6301**********0000",
        birth_date=date(1980, 1, 1),
        sex="M",
        relation="child",
        labour="ordinary",
    )
    assert _monitored_people() == before
    member_update(member=member, household=county["a1"].household, by=users["cadre_a"])
    assert _monitored_people() == before + 1


def test_a_mark_made_while_the_row_is_built_is_not_lost(county):
    case_facts_refresh()
    household_id = county["a1"].household_id
    real_people = facts._people

    def people_then_a_member_changes(household_ids):
        read = real_people(household_ids)
        # The member service marks the household after the build read its members.
        case_facts_mark_households([household_id])
        return read

    CaseFact.objects.filter(household_id=household_id).update(
        stale_since=timezone.now() - timedelta(minutes=1)
    )
    with mock.patch.object(facts, "_people", people_then_a_member_changes):
        case_facts_refresh()
    assert CaseFact.objects.get(case=county["a1"]).stale_since is not None
    assert case_facts_refresh() >= 1
    assert CaseFact.objects.get(case=county["a1"]).stale_since is None


def test_member_create_writes_nothing_when_its_audit_row_fails(county, users):
    household = county["a1"].household
    count = household.members.count()
    with (
        mock.patch("households.services.audit_record", side_effect=RuntimeError("down")),
        pytest.raises(RuntimeError),
    ):
        member_create(
            household=household,
            id_number=make_id_number(birth=date(1991, 2, 3), sequence=882),
            name="未落库",
            relation="child",
            labour="ordinary",
            by=users["cadre_a"],
        )
    assert household.members.count() == count


def test_members_imported_later_count_at_the_next_report(county, users):
    from households.importing import registry_import

    before = _monitored_people()
    household = county["a1"].household
    number = make_id_number(birth=date(1995, 6, 1), sequence=884)
    data = (
        "户编号,姓名,身份证号,与户主关系,劳动技能\n"
        f"{household.number},导入成员,{number},子女,普通劳动力\n"
    ).encode()
    record = registry_import(
        data=data, filename="members.csv", by=users["cadre_a"], scope_prefix="630121100201"
    )
    assert record.rows_created == 1, record.errors
    assert _monitored_people() == before + 1


def test_a_later_case_of_the_household_moves_its_count_at_the_next_refresh(county, users):
    """B1 was cleared 08-20; a 返贫 case identified 11-10 makes it monitored again. The
    earlier case's row is rebuilt with the new one (it is no longer the household's latest),
    though nothing about that earlier case changed."""
    before = region_figures(Region.objects.get(code=COUNTY), DAY)
    # Written an hour ago, so that only what changes now is found by its update time.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Case.objects.update(updated_at=an_hour_ago)
    MeasureRecord.objects.update(updated_at=an_hour_ago)
    first = county["b1"]
    again = hand_counted._case(
        first.household, "marginal", found=date(2026, 11, 1), relapse_of=first
    )
    hand_counted._identified(again, users["approver"], date(2026, 11, 10))
    after = region_figures(Region.objects.get(code=COUNTY), DAY)
    assert after["monitored"]["households"] == before["monitored"]["households"] + 1
    assert after["cleared"]["households"] == before["cleared"]["households"] - 1
    assert after["ever"]["households"] == before["ever"]["households"]
    assert after["new"]["relapse_month"] == {"households": 1, "people": 3}
    assert CaseFact.objects.get(case=first).superseded_on == date(2026, 11, 10)
    # As of the day before, the household still counts by its cleared case.
    earlier = region_figures(Region.objects.get(code=COUNTY), date(2026, 11, 9))
    assert earlier["cleared"]["households"] == before["cleared"]["households"]


def test_a_household_with_a_measure_on_two_cases_counts_once_per_category(county):
    """C1 had a health measure on its first case and has one again on its 返贫 case: one
    household with a health measure, counted from the first case's start."""
    hand_counted._measure(county["c1"], "health", date(2025, 12, 1))
    hand_counted._measure(county["c1_again"], "health", date(2026, 10, 1))

    def health_households(day):
        figures = region_figures(Region.objects.get(code=COUNTY), day)
        return next(r for r in figures["measures"]["by_category"] if r["code"] == "health")

    # A1 (from 03-01) and C1 (from 2025-12-01).
    assert health_households(DAY)["households"] == 2
    assert health_households(date(2026, 2, 28))["households"] == 1
    assert health_households(date(2025, 11, 30))["households"] == 0
    counted = CaseFactMeasure.objects.filter(
        fact__household_id=county["c1"].household_id, household_counted_on__isnull=False
    )
    assert [(row.fact_id, row.household_counted_on) for row in counted] == [
        (county["c1"].pk, date(2025, 12, 1))
    ]
