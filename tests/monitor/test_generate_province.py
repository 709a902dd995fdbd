"""manage.py generate_province: a synthetic province by COPY, checked against the rules the
application itself keeps (the workflow table, the dates its steps set, one open case per
household, protected ID numbers), then removed again.

The province is generated once for the module (3,000 households) and committed to the
test database; each test runs in its own transaction on top of it, and the module removes
the province at the end.
"""

import io
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone

from accounts.choices import Role
from accounts.models import User
from households import pii
from households.idnumber import parse_id_number
from households.models import Household, Member, Region
from households.services import household_create, member_create
from interventions.models import MeasureRecord
from monitor.choices import (
    CLOSED_STATUSES,
    AdjustmentStatus,
    Category,
    Channel,
    ClueOutcome,
    NaturalReason,
    Status,
)
from monitor.models import (
    Case,
    CaseAdjustment,
    CaseTransition,
    Clue,
    Deadline,
    Department,
    DispatchRound,
    SelfApplication,
    WarningBatch,
)
from monitor.provincegen import province_remove, sqlio
from monitor.services import case_create
from monitor.workflow import STEP_BY_ACTION
from tests.factories import make_id_number

HOUSEHOLDS = 3000
PROVINCE = "98"


def _generate(until) -> str:
    out = io.StringIO()
    call_command(
        "generate_province",
        f"--households={HOUSEHOLDS}",
        "--seed=7",
        f"--until={until:%Y-%m-%d}",
        stdout=out,
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def until():
    return timezone.localdate() - timedelta(days=3)


@pytest.fixture(scope="module")
def province(django_db_setup, django_db_blocker, until):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL is not available (set DATABASE_URL=postgres://…)")
    with django_db_blocker.unblock():
        schema = _schema()
        output = _generate(until)
        yield {"output": output, "schema": schema}
        province_remove()


def _schema() -> list[tuple]:
    """Every index and every unique or foreign-key constraint, as defined."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "UNION ALL SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype IN ('f', 'u') ORDER BY 1, 2, 3"
        )
        return cursor.fetchall()


def _cases():
    return Case.objects.filter(household__village__code__startswith=PROVINCE)


def _fingerprint() -> list[tuple]:
    return list(
        _cases()
        .order_by("household__number", "found_on")
        .values_list("household__number", "status", "category", "found_on", "main_risk")
    )


@pytest.mark.postgres
def test_counts_are_as_asked(province, db):
    households = Household.objects.filter(number__startswith=PROVINCE)
    assert households.count() == HOUSEHOLDS
    sizes = Counter(
        Member.objects.filter(household__in=households).values_list("household_id", flat=True)
    )
    assert len(sizes) == HOUSEHOLDS and set(sizes.values()) <= set(range(1, 9))
    assert 3.2 <= sum(sizes.values()) / HOUSEHOLDS <= 4.0
    assert _cases().count() == round(HOUSEHOLDS * 0.06)
    villages = Counter(households.values_list("village_id", flat=True))
    assert all(200 <= count <= 400 for count in villages.values())
    lifted = households.filter(kind="lifted").count() / HOUSEHOLDS
    assert 0.2 <= lifted <= 0.3
    assert "合计" in province["output"] and "数据库大小" in province["output"]


@pytest.mark.postgres
def test_the_tables_keep_their_indexes_and_constraints(province, db):
    # The registry is loaded without them and they are built again.
    assert _schema() == province["schema"]


@pytest.mark.postgres
def test_every_case_state_appears(province, db):
    statuses = set(_cases().values_list("status", flat=True))
    assert statuses == set(Status.values)


@pytest.mark.postgres
def test_each_trail_is_a_path_through_the_workflow_table_ending_in_the_case_status(province, db):
    trails = defaultdict(list)
    for step in CaseTransition.objects.filter(case__in=_cases()).order_by("case_id", "at", "id"):
        trails[step.case_id].append(step)
    returned = 0
    for case in _cases():
        trail = trails[case.pk]
        status = trail[0].from_status if trail else case.status
        assert status in (Status.APPLIED, Status.DRAFT), case.pk
        previous = case.created_at
        for step in trail:
            rule = STEP_BY_ACTION[step.action]
            assert step.from_status == status and status in rule.sources, (case.pk, step.action)
            assert step.to_status == (rule.target or status), (case.pk, step.action)
            assert step.at > previous, (case.pk, step.action)
            if rule.needs_reason:
                assert len(step.comment) >= 2, (case.pk, step.action)
            status, previous = step.to_status, step.at
            returned += "return" in step.action
        assert case.status == status, case.pk
    assert returned > 0


@pytest.mark.postgres
def test_case_dates_are_the_local_days_of_their_steps(province, db):
    natural = 0
    for case in _cases().prefetch_related("transitions"):
        days = defaultdict(list)
        for step in case.transitions.all():
            days[step.action].append(timezone.localdate(step.at))
        approved = days.get("county_approve")
        assert case.identified_on == (approved[-1] if approved else None), case.pk
        if case.status == Status.CLEARED:
            assert case.cleared_on == max(days["county_approve_clearance"]), case.pk
            assert case.clearance_kind and case.follow_up_until > case.cleared_on
        else:
            assert case.cleared_on is None, case.pk
        assert case.found_on <= timezone.localdate(case.created_at)
        # Where the case keeps its own copy of the village (region scope without a join).
        assert getattr(case, "village_id", case.household.village_id) == case.household.village_id
        if case.clearance_kind == "natural":
            natural += 1
            assert case.natural_reason and len(case.natural_evidence) >= 4
        if case.natural_reason == NaturalReason.MEMBER_DIED:
            member = case.natural_member
            assert member.household_id == case.household_id
            assert member.life_status == "deceased" and member.life_status_on >= case.identified_on
        if case.status in (Status.REJECTED, Status.CANCELLED, Status.TERMINATED):
            assert len(case.closed_reason) >= 2, case.pk
        if case.status == Status.TERMINATED:
            assert case.household.closed_on == max(days["household_closed"])
    assert natural > 0


@pytest.mark.postgres
def test_measures_only_on_identified_cases_from_identification_on(province, db):
    measures = MeasureRecord.objects.filter(case__in=_cases()).select_related("case")
    assert measures.count() > 0
    for measure in measures:
        assert measure.case.identified_on is not None, measure.pk
        assert measure.start_on >= measure.case.identified_on, measure.pk
    helped = set(measures.values_list("case_id", flat=True))
    cleared = _cases().filter(status=Status.CLEARED, clearance_kind="assisted")
    assert set(cleared.values_list("pk", flat=True)) <= helped


@pytest.mark.postgres
def test_one_open_case_per_household_and_relapses_follow_a_clearance(province, db):
    open_cases = Counter(
        _cases().exclude(status__in=CLOSED_STATUSES).values_list("household_id", flat=True)
    )
    assert open_cases and max(open_cases.values()) == 1
    relapses = _cases().filter(relapse_of__isnull=False).select_related("relapse_of")
    assert relapses.exists()
    for case in relapses:
        first = case.relapse_of
        assert first.household_id == case.household_id and first.status == Status.CLEARED
        assert first.cleared_on < case.found_on
        assert first.follow_up_until < timezone.localdate(case.created_at)
    for case in _cases().filter(category=Category.UNSTABLE).select_related("household"):
        assert case.household.kind == "lifted", case.pk


@pytest.mark.postgres
def test_id_numbers_are_valid_unique_and_stored_like_the_app_stores_them(province, db, until):
    members = Member.objects.filter(household__number__startswith=PROVINCE).select_related(
        "household"
    )
    numbers = set()
    for member in members:
        number = pii.decrypt(member.id_number_encrypted, field="id_number")
        parsed = parse_id_number(number, today=until)  # raises on a wrong check digit
        assert parsed.value == number
        assert member.id_number_hash == pii.id_number_hash(number)
        assert member.id_number_masked == number[:6] + "********" + number[14:]
        assert (member.birth_date, member.sex) == (parsed.birth_date, parsed.sex)
        assert number[:6] == member.household.village_id[:6]
        numbers.add(number)
    assert len(numbers) == members.count()


@pytest.mark.postgres
def test_clues_that_became_cases_are_linked_to_them(province, db):
    clues = Clue.objects.filter(village__code__startswith=PROVINCE)
    identified = clues.filter(outcome=ClueOutcome.IDENTIFY).select_related("case")
    assert identified.exists()
    for clue in identified:
        assert clue.case.household_id == clue.household_id
        assert clue.case.found_on == clue.raised_on
        assert clue.closed_at <= clue.case.created_at
    department = _cases().filter(channel=Channel.DEPARTMENT_WARNING)
    assert department.count() == identified.filter(channel="department_warning").count()
    assert clues.filter(outcome=ClueOutcome.NOT_ELIGIBLE).count() > identified.count()
    assert clues.filter(status="pending_dispatch").exists()
    assert clues.filter(status="closed", overdue_since__isnull=False).exists()
    rounds = DispatchRound.objects.filter(county__code__startswith=PROVINCE)
    assert rounds.exists() and rounds.filter(dispatched_at__isnull=True).exists()
    admitted = SelfApplication.objects.filter(clue__outcome=ClueOutcome.IDENTIFY)
    for application in admitted.select_related("clue__household"):
        head = application.clue.household.members.get(relation="head")
        assert application.id_number_hash == head.id_number_hash
        assert pii.decrypt(application.phone_encrypted, field="phone")


@pytest.mark.postgres
def test_deadlines_are_mostly_met_on_time_some_late_some_overdue(province, db):
    deadlines = Deadline.objects.filter(case__in=_cases())
    on_time = deadlines.filter(met_on__lte=F("due_on")).count()
    late = deadlines.filter(met_on__gt=F("due_on"), overdue_since__isnull=False).count()
    open_overdue = deadlines.filter(met_on__isnull=True, overdue_since__isnull=False).count()
    assert on_time > late > 0 and open_overdue > 0
    steps = set(deadlines.values_list("step", flat=True))
    assert {"identification", "village_verification"} <= steps


@pytest.mark.postgres
def test_confirmed_adjustments_keep_the_values_before_them(province, db):
    confirmed = CaseAdjustment.objects.filter(
        case__in=_cases(), status=AdjustmentStatus.CONFIRMED
    ).select_related("case")
    assert confirmed.exists()
    for adjustment in confirmed:
        case = adjustment.case
        assert set(adjustment.before) == {"category", "risk_codes", "main_risk"}
        after = (adjustment.category, sorted(adjustment.risk_codes), adjustment.main_risk)
        assert after == (case.category, sorted(case.risk_codes), case.main_risk)
        before = adjustment.before
        assert (before["category"], before["risk_codes"], before["main_risk"]) != after
        assert case.main_risk in case.risk_codes
        assert CaseTransition.objects.filter(
            case=case, action="adjustment_confirm", at=adjustment.decided_at
        ).exists()


@pytest.mark.postgres
def test_the_same_seed_gives_the_same_province(province, db, until):
    before = _fingerprint()
    province_remove()
    assert not _cases().exists()
    _generate(until)
    assert _fingerprint() == before


@pytest.mark.postgres
def test_remove_leaves_nothing_of_the_province_and_keeps_the_rest(province, db, monkeypatch):
    # Every table the way a full province goes: its constraints off while deleting.
    monkeypatch.setattr(sqlio, "BULK_ROWS", 1)
    schema = _schema()
    Region.objects.create(code="630000000000", name="青海省", level=1)
    Region.objects.create(code="630100000000", name="西宁市", level=2, parent_id="630000000000")
    Region.objects.create(code="630121000000", name="大通县", level=3, parent_id="630100000000")
    Region.objects.create(code="630121100000", name="桥头镇", level=4, parent_id="630121000000")
    Region.objects.create(code="630121100201", name="东关村", level=5, parent_id="630121100000")
    kept = household_create(number="6301211002010001", village_id="630121100201", kind="ordinary")
    member_create(
        household=kept,
        id_number=make_id_number(sequence=11),
        name="张三",
        relation="head",
        labour="ordinary",
    )
    province_remove()
    assert not Region.objects.filter(code__startswith=PROVINCE).exists()
    assert not Household.objects.filter(number__startswith=PROVINCE).exists()
    assert not Member.objects.filter(household__number__startswith=PROVINCE).exists()
    assert not _cases().exists() and not Case.objects.filter(household__isnull=True).exists()
    assert not Clue.objects.filter(village__code__startswith=PROVINCE).exists()
    assert not User.objects.filter(region__code__startswith=PROVINCE).exists()
    assert not Department.objects.filter(region__code__startswith=PROVINCE).exists()
    assert not WarningBatch.objects.filter(department__isnull=True, source="department").exists()
    assert not SelfApplication.objects.filter(village__code__startswith=PROVINCE).exists()
    assert not DispatchRound.objects.filter(county__code__startswith=PROVINCE).exists()
    assert Household.objects.filter(pk=kept.pk).exists() and kept.members.count() == 1
    assert _schema() == schema  # the constraints taken off are back, as they were


@pytest.mark.postgres
def test_the_app_creates_cases_members_and_users_after_it(province, db):
    household = (
        Household.objects.filter(number__startswith=PROVINCE, closed_on__isnull=True)
        .exclude(cases__isnull=False)
        .order_by("id")
        .first()
    )
    cadre = User.objects.get(role=Role.VILLAGE_CADRE, region_id=household.village_id)
    last_case = Case.objects.order_by("-id").first().pk
    case = case_create(
        household=household,
        category=Category.SUDDEN,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["99"],
        found_on=timezone.localdate(),
        by=cadre,
    )
    assert case.pk > last_case
    member = member_create(
        household=household,
        id_number=make_id_number(region="980101", sequence=901),
        name="新成员",
        relation="child",
        labour="none",
    )
    assert member.pk > 0
    newcomer = household_create(
        number=household.village_id + "9999", village_id=household.village_id, kind="ordinary"
    )
    assert newcomer.pk > Household.objects.exclude(pk=newcomer.pk).order_by("-id").first().pk
    User.objects.create_user(username="after-generation", role=Role.AUDITOR)
    Clue.objects.create(
        household=newcomer,
        village_id=newcomer.village_id,
        channel="department_warning",
        raised_on=timezone.localdate(),
        due_on=timezone.localdate(),
    )


@pytest.mark.postgres
def test_refuses_a_database_that_already_holds_the_province(province, db, until):
    with pytest.raises(CommandError, match="98"):
        _generate(until)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--households=0", "--households 应为正整数"),
        ("--until=2026-13-01", "--until 应为日期"),
        ("--until=2999-01-01", "--until 不能晚于今天"),
    ],
)
def test_refuses_bad_options_in_chinese(monkeypatch, option, message):
    monkeypatch.setattr(connection, "vendor", "postgresql")
    monkeypatch.setattr(
        "monitor.management.commands.generate_province.province_exists", lambda: False
    )
    with pytest.raises(CommandError, match=message):
        call_command("generate_province", option, stdout=io.StringIO())


def test_refuses_anything_but_postgresql(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("generate_province", "--households=10", stdout=io.StringIO())
