"""The demo's two years of history (monitor/demo_history/): written with the ORM, it must
read back as if the services had written it — trails that are paths through the workflow
table, dates equal to the days of their steps, steps that met their conditions on their day —
and give the report figures something to show.

The demo is loaded once for the module, inside a transaction rolled back at the end."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from households.models import Region
from interventions.models import MeasureRecord
from monitor.choices import AdjustmentStatus, ClearanceKind, Stage, Status
from monitor.demo_history import NEWEST_FINDING_DAYS
from monitor.models import (
    Announcement,
    Case,
    CaseAdjustment,
    CaseTransition,
    ClueTransition,
    MonthlyReport,
    MonthlyVisit,
)
from monitor.reports.figures import region_figures
from monitor.reports.monthly import previous_month
from monitor.rules import clearance_problems, report_problems
from monitor.workflow import STEP_BY_ACTION

COUNTY = "630121000000"


@pytest.fixture(scope="module")
def today(django_db_setup, django_db_blocker, tmp_path_factory):
    var = tmp_path_factory.mktemp("history-var")
    with (
        override_settings(VAR_DIR=var, MEDIA_ROOT=var / "media"),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        try:
            call_command("load_demo", stdout=io.StringIO())
            yield timezone.localdate()
        finally:
            transaction.set_rollback(True)


def _history(today):
    return Case.objects.filter(found_on__lt=today - timedelta(days=NEWEST_FINDING_DAYS - 1))


def _trail(case):
    return list(CaseTransition.objects.filter(case=case).order_by("at", "id"))


def _local_day(moment):
    return timezone.localtime(moment).date()


def _day_of(case, action):
    return next(_local_day(t.at) for t in _trail(case) if t.action == action)


pytestmark = pytest.mark.django_db


def test_the_demo_has_two_years_of_cases_in_every_village_and_state(today):
    cases = _history(today)
    # The history is seeded and its days are relative to today: its counts are exact.
    assert cases.count() == 57
    assert min(cases.values_list("found_on", flat=True)) >= today - timedelta(days=731)
    assert set(cases.values_list("village_id", flat=True)) == set(
        Region.objects.filter(code__startswith="630121", level=5).values_list("code", flat=True)
    )
    statuses = list(cases.values_list("status", flat=True))
    assert (statuses.count(Status.CLEARED), statuses.count(Status.MONITORING)) == (26, 23)
    for status in (Status.TERMINATED, Status.REJECTED, Status.CANCELLED):
        assert status in statuses
    assert Status.CLEARANCE_PROPOSED in statuses or Status.CLEARANCE_TOWNSHIP_APPROVED in statuses
    natural = cases.filter(clearance_kind=ClearanceKind.NATURAL, status=Status.CLEARED)
    assert natural.count() == 4
    assert all(case.natural_reason and case.natural_evidence for case in natural)


def test_every_trail_is_a_path_through_the_workflow_ending_at_the_case_status(today):
    for case in Case.objects.all():
        trail = _trail(case)
        state = trail[0].from_status if trail else case.status
        assert state in (Status.DRAFT, Status.APPLIED), case.pk
        for row in trail:
            step = STEP_BY_ACTION[row.action]
            assert row.from_status == state and state in step.sources, (case.pk, row.action)
            assert row.to_status == (step.target or state), (case.pk, row.action)
            assert row.actor_role == row.actor.role in step.roles, (case.pk, row.action)
            # The actor's region holds the case, as the scope rules require of a step.
            assert row.actor.region_id == row.actor_region, (case.pk, row.action)
            assert case.village_id.startswith(row.actor.region.prefix), (case.pk, row.action)
            state = row.to_status
        assert state == case.status, case.pk


def test_the_steps_are_stamped_on_their_days_and_the_case_dates_are_those_days(today):
    for case in _history(today):
        days = [_local_day(t.at) for t in _trail(case)]
        assert days == sorted(days) and all(case.found_on <= day <= today for day in days)
        identified = [
            d for t, d in zip(_trail(case), days, strict=True) if t.action == "county_approve"
        ]
        assert case.identified_on == (identified[0] if identified else None), case.pk
        if case.status == Status.CLEARED:
            assert case.cleared_on == _day_of(case, "county_approve_clearance"), case.pk
            assert case.follow_up_until >= case.cleared_on
            assert Announcement.objects.filter(
                case=case, stage=Stage.CLEARANCE, announced_on=case.cleared_on
            ).exists()
        else:
            assert case.cleared_on is None, case.pk
        if identified:
            assert (identified[0] - case.found_on).days <= 20, case.pk
        if case.cleared_on:
            assert case.cleared_on >= case.identified_on + timedelta(days=182), case.pk


def test_measures_start_on_or_after_identification_and_only_for_identified_cases(today):
    measures = MeasureRecord.objects.select_related("case")
    assert measures.filter(case__in=_history(today)).count() > 40
    for measure in measures:
        assert measure.case.identified_on is not None, measure.pk
        assert measure.start_on >= measure.case.identified_on, measure.pk
    without = _history(today).filter(status=Status.MONITORING, measures__isnull=True)
    assert 1 <= without.count() <= 4


def test_every_report_met_the_report_conditions_on_its_day(today):
    for case in _history(today).exclude(status=Status.TERMINATED):
        reports = [t for t in _trail(case) if t.action == "report"]
        if reports:
            assert report_problems(case, _local_day(reports[-1].at)) == [], case.pk


def test_every_clearance_met_its_conditions_on_its_day(today):
    # A relapsed household's later income (the new finding's, below the line) is not what
    # its earlier clearance was decided on: those are left out.
    cleared = _history(today).filter(status=Status.CLEARED, relapses__isnull=True)
    assert cleared.count() == 24
    for case in cleared:
        assert clearance_problems(case, case.cleared_on) == [], case.pk


def test_relapses_follow_a_clearance_of_the_same_household_and_end_its_follow_up(today):
    relapses = _history(today).filter(relapse_of__isnull=False).select_related("relapse_of")
    assert relapses.count() == 2
    for case in relapses:
        cleared = case.relapse_of
        assert cleared.household_id == case.household_id and cleared.status == Status.CLEARED
        assert cleared.cleared_on < case.found_on and cleared.cleared_on < case.identified_on
        assert cleared.follow_up_until < timezone.localdate(case.created_at)
    in_follow_up = Case.objects.filter(status=Status.CLEARED, follow_up_until__gte=today)
    assert in_follow_up.exists()
    assert MonthlyVisit.objects.filter(case__in=in_follow_up, kind="follow_up").exists()


def test_confirmed_adjustments_chain_from_the_values_they_replaced_to_the_case(today):
    cases = Case.objects.filter(adjustments__status=AdjustmentStatus.CONFIRMED).distinct()
    assert cases.count() >= 3
    for case in cases:
        confirmed = case.adjustments.filter(status=AdjustmentStatus.CONFIRMED).order_by(
            "decided_at"
        )
        for earlier, later in zip(confirmed, list(confirmed)[1:], strict=False):
            assert later.before == {
                "category": earlier.category,
                "risk_codes": sorted(earlier.risk_codes),
                "main_risk": earlier.main_risk,
            }
        last = list(confirmed)[-1]
        assert (case.category, case.main_risk, sorted(case.risk_codes)) == (
            last.category,
            last.main_risk,
            sorted(last.risk_codes),
        )
        decided = [_local_day(t.at) for t in _trail(case) if t.action == "adjustment_confirm"]
        assert decided == [_local_day(a.decided_at) for a in confirmed]
    assert CaseAdjustment.objects.filter(case__in=cases, before__category="sudden").count() < (
        CaseAdjustment.objects.filter(case__in=cases).count()
    )


def test_clues_of_the_earlier_lists_were_dispatched_and_verified_on_their_days(today):
    for row in ClueTransition.objects.filter(clue__source_batch__batch_key__startswith="演示历史"):
        assert _local_day(row.at) >= row.clue.raised_on and _local_day(row.at) <= today
        if row.action == "verify":
            assert row.clue.closed_at == row.at and row.actor.region_id == row.clue.village_id


def test_the_county_figures_show_the_history_and_a_year_ago_differs(today):
    county = Region.objects.get(code=COUNTY)
    now = region_figures(county, today)
    assert (now["cleared"]["households"], now["monitored"]["households"]) == (24, 26)
    assert now["monitored"]["relapse"]["households"] == 2
    assert {row["code"] for row in now["cleared"]["by_kind"] if row["households"]} == {
        ClearanceKind.ASSISTED,
        ClearanceKind.NATURAL,
    }
    assert now["terminated"]["households"] == 1
    assert sum(1 for row in now["measures"]["by_category"] if row["households"]) >= 6
    # How many clues are verified by today depends on the weekday (working-day clocks).
    assert now["clues"]["verified"] > 0 and now["clues"]["identified"] == 8
    assert now["self_applications"]["admitted"] == 1
    assert now["rounds"]["total"] == 5
    a_year_ago = region_figures(county, today - timedelta(days=365))
    assert a_year_ago["cleared"]["households"] < now["cleared"]["households"]
    assert a_year_ago["ever"]["households"] < now["ever"]["households"]
    assert a_year_ago["monitored"]["relapse"]["households"] == 0
    assert a_year_ago["clues"]["verified"] < now["clues"]["verified"]


def test_last_months_report_of_the_county_is_kept(today):
    report = MonthlyReport.objects.get(county_id=COUNTY, month=previous_month(today))
    assert report.figures["cleared"]["households"] > 0
    assert report.figures["monitored"]["households"] > 0
