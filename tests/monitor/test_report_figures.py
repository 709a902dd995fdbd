"""Report figures as of a day equal hand counts, the Haidong table included (DOMAIN.md 7)."""

from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from households.models import Household, Member, Region
from interventions.models import MeasureCategory, MeasureRecord
from monitor.models import (
    Case,
    CaseAdjustment,
    CaseRisk,
    CaseTransition,
    Clue,
    Deadline,
    DispatchRound,
    SelfApplication,
    WarningBatch,
)
from monitor.models.feeds import Department
from monitor.reports.figures import region_figures
from tests.conftest import COUNTY, OTHER_VILLAGE, TOWNSHIP_1, VILLAGE_A, VILLAGE_B, VILLAGE_C

pytestmark = pytest.mark.django_db

_serial = iter(range(1, 10**7))


def _moment(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(10, 0)))


def _household(village: str, people: int, *, kind: str = "ordinary", gone=()) -> Household:
    household = Household.objects.create(
        number=f"{village}{next(_serial):06d}", village_id=village, kind=kind
    )
    _members(household, people, gone=gone)
    return household


def _members(household: Household, people: int, *, gone=()) -> None:
    """`gone`: (life status, day) for the first members, who left the register that day."""
    rows = []
    for index in range(people):
        serial = next(_serial)
        status, on = gone[index] if index < len(gone) else ("in_register", None)
        rows.append(
            Member(
                household=household,
                name=f"成员{serial}",
                id_number_encrypted="-",
                id_number_hash=f"h{serial}",
                id_number_masked="6301**********0000",
                birth_date=date(1970, 1, 1),
                sex="M",
                relation="head" if index == 0 else "child",
                labour="ordinary",
                life_status=status,
                life_status_on=on,
            )
        )
    Member.objects.bulk_create(rows)


def _trail(case: Case, actor, *steps: tuple[str, str, str, date]) -> None:
    """The case's trail as the engine writes it, on the days given."""
    for action, source, target, day in steps:
        step = CaseTransition.objects.create(
            case=case,
            action=action,
            from_status=source,
            to_status=target,
            actor=actor,
            actor_role=actor.role,
            actor_region=actor.region_id or "",
        )
        CaseTransition.objects.filter(pk=step.pk).update(at=_moment(day))
    case.status = steps[-1][2]
    case.save(update_fields=["status"])


IDENTIFY = [
    ("report", "draft", "reported"),
    ("township_approve", "reported", "township_approved"),
    ("county_approve", "township_approved", "monitoring"),
]
CLEAR = [
    ("propose_clearance", "monitoring", "clearance_proposed"),
    ("township_approve_clearance", "clearance_proposed", "clearance_township_approved"),
    ("county_approve_clearance", "clearance_township_approved", "cleared"),
]


def _case(household, category, *, found, risks=("01",), channel="cadre_screening", **fields):
    case = Case.objects.create(
        household=household,
        category=category,
        channel=channel,
        found_on=found,
        main_risk=risks[0],
        **fields,
    )
    CaseRisk.objects.bulk_create([CaseRisk(case=case, code=code) for code in risks])
    return case


def _identified(case, actor, day):
    _trail(case, actor, *[(a, s, t, day) for a, s, t in IDENTIFY])
    Case.objects.filter(pk=case.pk).update(identified_on=day)


def _cleared(case, actor, day, kind="assisted"):
    _trail(case, actor, *[(a, s, t, day) for a, s, t in CLEAR])
    Case.objects.filter(pk=case.pk).update(cleared_on=day, clearance_kind=kind)


def _measure(case, code, start):
    return MeasureRecord.objects.create(
        case=case,
        category=MeasureCategory.objects.get(code=code),
        description="措施",
        department="县乡村振兴局",
        start_on=start,
    )


def _row(rows, code):
    return next(row for row in rows if row["code"] == code)


def _hp(entry) -> tuple[int, int]:
    return entry["households"], entry["people"]


# --- hand counts on a small county --------------------------------------------------------


@pytest.fixture
def county(users):
    """Six households of 大通县 (and one outside it), each with a life written out by hand:

    A1 东关村 脱贫户 3 people: unstable, found 01-20, identified 02-10; health measure 03-01;
       adjusted to sudden on 07-01 (confirmed) — monitored.
    B1 西关村 4 people, one died 05-01: marginal, identified 01-05 (found 2025-12-20),
       industry measure 01-20, cleared (帮扶消除) 08-20.
    C1 向阳村 2 people: sudden, identified 2025-11-01, natural clearance 04-01; 返贫 case
       found 09-01, identified 09-15, no measure — monitored.
    A2 东关村 5 people: found 10-01, still being identified; village check due 10-08, not done.
    B2 西关村 2 people: found 03-01, rejected by the township 03-20.
    C2 向阳村 3 people: identified 02-01, household closed 06-01 (销户终止).
    X  多巴村 (another county) 4 people: identified 02-01 — never in 大通县's figures.
    """
    approver = users["approver"]
    made = {}
    a1 = _household(VILLAGE_A, 3, kind="lifted")
    case = _case(a1, "unstable", found=date(2026, 1, 20), risks=("01", "04"))
    _identified(case, approver, date(2026, 2, 10))
    _measure(case, "health", date(2026, 3, 1))
    adjustment = CaseAdjustment.objects.create(
        case=case,
        status="confirmed",
        category="sudden",
        risk_codes=["05"],
        main_risk="05",
        reason="意外事故",
        before={"category": "unstable", "risk_codes": ["01", "04"], "main_risk": "01"},
        proposed_by=users["cadre_a"],
        decided_by=users["reviewer_1"],
        decided_at=_moment(date(2026, 7, 1)),
    )
    Case.objects.filter(pk=case.pk).update(category="sudden", main_risk="05")
    CaseRisk.objects.filter(case=case).delete()
    CaseRisk.objects.create(case=case, code="05")
    made["a1"], made["adjustment"] = case, adjustment

    b1 = _household(VILLAGE_B, 4, gone=[("deceased", date(2026, 5, 1))])
    case = _case(b1, "marginal", found=date(2025, 12, 20), channel="department_warning")
    _identified(case, approver, date(2026, 1, 5))
    _measure(case, "industry", date(2026, 1, 20))
    _cleared(case, approver, date(2026, 8, 20))
    made["b1"] = case

    c1 = _household(VILLAGE_C, 2)
    first = _case(c1, "sudden", found=date(2025, 10, 20), risks=("05",))
    _identified(first, approver, date(2025, 11, 1))
    _cleared(first, approver, date(2026, 4, 1), kind="natural")
    again = _case(c1, "sudden", found=date(2026, 9, 1), risks=("05",), relapse_of=first)
    _identified(again, approver, date(2026, 9, 15))
    made["c1"], made["c1_again"] = first, again

    a2 = _household(VILLAGE_A, 5)
    case = _case(a2, "marginal", found=date(2026, 10, 1))
    Deadline.objects.create(
        case=case, step="village_verification", responsible_level=5, due_on=date(2026, 10, 8)
    )
    made["a2"] = case

    b2 = _household(VILLAGE_B, 2)
    case = _case(b2, "marginal", found=date(2026, 3, 1))
    _trail(
        case,
        approver,
        ("report", "draft", "reported", date(2026, 3, 10)),
        ("township_reject", "reported", "rejected", date(2026, 3, 20)),
    )
    made["b2"] = case

    c2 = _household(VILLAGE_C, 3)
    case = _case(c2, "marginal", found=date(2026, 1, 10))
    _identified(case, approver, date(2026, 2, 1))
    _trail(case, approver, ("household_closed", "monitoring", "terminated", date(2026, 6, 1)))
    made["c2"] = case

    x = _household(OTHER_VILLAGE, 4)
    case = _case(x, "marginal", found=date(2026, 1, 10))
    _identified(case, users["approver_other"], date(2026, 2, 1))
    return made


def _county(day: date) -> dict:
    return region_figures(Region.objects.get(code=COUNTY), day)


def test_figures_at_the_end_of_november_equal_the_hand_count(county):
    figures = _county(date(2026, 11, 30))
    # Monitored: A1 (3 people, now sudden) and C1's second case (2 people).
    assert _hp(figures["monitored"]) == (2, 5)
    assert [_hp(row) for row in figures["monitored"]["by_category"]] == [(0, 0), (0, 0), (2, 5)]
    assert _hp(figures["monitored"]["relapse"]) == (1, 2)
    assert [(r["code"], r["households"]) for r in figures["monitored"]["by_main_risk"]] == [
        ("05", 2)
    ]
    assert _hp(_row(figures["monitored"]["by_channel"], "cadre_screening")) == (2, 5)
    # Ever identified: A1, B1, C1 (once), C2 = 4 households; B1 has 3 people left.
    assert _hp(figures["ever"]) == (4, 3 + 3 + 2 + 3)
    # Cleared: B1 only — C1 was cleared, then returned to monitoring.
    assert _hp(figures["cleared"]) == (1, 3)
    assert _hp(_row(figures["cleared"]["by_kind"], "assisted")) == (1, 3)
    assert _hp(figures["terminated"]) == (1, 3)
    assert figures["ever"]["households"] == (
        figures["cleared"]["households"]
        + figures["monitored"]["households"]
        + figures["terminated"]["households"]
    )
    assert figures["clearance_rate"] == {"households": 0.25, "people": round(3 / 11, 4)}
    assert _hp(figures["new"]["month"]) == (0, 0)
    # This year: A1, B1, C1 again, C2.
    assert _hp(figures["new"]["year"]) == (4, 3 + 3 + 2 + 3)
    assert _hp(figures["new"]["relapse_year"]) == (1, 2)
    assert _hp(figures["identifying"]) == (1, 5)
    measures = {row["code"]: row["households"] for row in figures["measures"]["by_category"]}
    assert measures["health"] == 1 and measures["industry"] == 1 and sum(measures.values()) == 2
    assert _hp(figures["measures"]["monitored_without"]) == (1, 2)
    assert figures["measures"]["all_monitored_have_measure"] is False
    # Days from finding to identification this year: 21, 16, 14, 22.
    assert figures["identification_days"] == {"cases": 4, "average": 18.2, "p90": 22}
    village_late = next(row for row in figures["overdue"]["by_level"] if row["level"] == 5)
    assert village_late["count"] == 1


def test_figures_as_of_an_earlier_day_read_the_trail_not_todays_statuses(county):
    figures = _county(date(2026, 6, 30))
    # A1 (unstable, before its adjustment), B1 (not yet cleared; one member died 05-01):
    # monitored. C1 cleared 04-01, its second case not found yet. C2 closed 06-01.
    assert _hp(figures["monitored"]) == (2, 3 + 3)
    assert [_hp(row) for row in figures["monitored"]["by_category"]] == [(1, 3), (1, 3), (0, 0)]
    assert {r["code"] for r in figures["monitored"]["by_risk"]} == {"01", "04"}
    assert _hp(figures["cleared"]) == (1, 2)
    assert _hp(_row(figures["cleared"]["by_kind"], "natural")) == (1, 2)
    assert _hp(figures["terminated"]) == (1, 3)
    assert figures["identifying"]["households"] == 0
    # The village check of A2 was not yet due (A2 not even found).
    assert all(row["count"] == 0 for row in figures["overdue"]["by_level"])


def test_before_a_member_died_the_household_counts_them(county):
    assert _county(date(2026, 4, 30))["monitored"]["people"] == 3 + 4 + 3
    assert _county(date(2026, 5, 1))["monitored"]["people"] == 3 + 3 + 3


def test_one_level_down_splits_the_county_by_township_and_adds_up(county):
    figures = _county(date(2026, 11, 30))
    children = {row["code"]: row for row in figures["children"]}
    qiaotou, chengguan = children[TOWNSHIP_1], children["630121101000"]
    assert _hp(qiaotou["monitored"]) == (1, 3)
    assert _hp(chengguan["monitored"]) == (1, 2)
    assert _hp(qiaotou["cleared"]) == (1, 3)
    for key in ("monitored", "ever", "cleared"):
        assert (
            sum(row[key]["households"] for row in figures["children"]) == figures[key]["households"]
        )
    township = region_figures(Region.objects.get(code=TOWNSHIP_1), date(2026, 11, 30))
    villages = {row["code"]: row for row in township["children"]}
    assert _hp(villages[VILLAGE_A]["monitored"]) == (1, 3)
    assert _hp(villages[VILLAGE_B]["cleared"]) == (1, 3)
    village = region_figures(Region.objects.get(code=VILLAGE_A), date(2026, 11, 30))
    assert village["children"] == [] and _hp(village["identifying"]) == (1, 5)


def test_department_rounds_clues_and_self_applications_are_counted_as_of_the_day(county, users):
    department = Department.objects.create(
        name="县医保局", kind="medical", region_id=COUNTY, account=users["department"]
    )
    batch = WarningBatch.objects.create(
        department=department, batch_key="2026-09", content_sha256="0" * 64, file_format="csv"
    )
    DispatchRound.objects.create(
        county_id=COUNTY, batch=batch, clue_count=3, dispatched_at=_moment(date(2026, 9, 5))
    )
    households = [county["a1"].household, county["b1"].household, county["a2"].household]
    outcomes = [("identify", county["a2"]), ("not_eligible", None), ("", None)]
    for household, (outcome, case) in zip(households, outcomes, strict=True):
        Clue.objects.create(
            household=household,
            village_id=household.village_id,
            channel="department_warning",
            status="closed" if outcome else "verifying",
            raised_on=date(2026, 9, 5),
            due_on=date(2026, 9, 12),
            outcome=outcome,
            closed_at=_moment(date(2026, 9, 10)) if outcome else None,
            case=case,
            source_batch=batch,
        )
    SelfApplication.objects.create(
        case=county["c1_again"],
        village_id=VILLAGE_C,
        name="申请人",
        id_number_encrypted="-",
        id_number_hash="x",
        id_number_masked="6301**********0000",
        phone_encrypted="-",
        phone_masked="138****0000",
        difficulty="生病",
        risk_code="01",
        reference="SA1",
    )
    figures = _county(date(2026, 11, 30))
    assert figures["rounds"] == {"total": 1, "year": 1}
    clues = figures["clues"]
    assert (clues["raised"], clues["verified"], clues["identified"]) == (3, 2, 1)
    assert clues["yield"] == 0.5
    # The open clue was due 09-12 and is not fed back.
    assert figures["overdue"]["clues"] == 1
    assert figures["self_applications"] == {"submitted": 1, "admitted": 1}
    before = _county(date(2026, 9, 4))
    assert before["rounds"]["total"] == 0 and before["clues"]["raised"] == 0


# --- the Haidong table, from case-level data ------------------------------------------------

HAIDONG = {
    # category: households, people, of which cleared: households, people
    "unstable": (1181, 4123, 819, 3003),
    "marginal": (3175, 12256, 2201, 8927),
    "sudden": (3782, 15102, 2622, 10999),
}
HAIDONG_MEASURES = {
    "industry": 4885,
    "employment": 3518,
    "finance": 593,
    "public_job": 1281,
    "housing": 881,
    "water": 333,
    "health": 6895,
    "compulsory_edu": 396,
    "education": 1630,
    "social_security": 5829,
    "social_aid": 563,
    "infrastructure": 507,
}


def _spread(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def test_the_haidong_table_is_reproduced_from_case_level_data(users):
    """8,138 households (31,481 people) in five years; 5,642 cleared (22,929 people);
    households per measure category. Built case by case, counted back by the report."""
    approver = users["approver"]
    villages = [VILLAGE_A, VILLAGE_B, VILLAGE_C]
    identified, cleared_day = date(2022, 6, 1), date(2024, 6, 1)
    plan = []  # (category, people, cleared)
    for category, (households, people, cleared, cleared_people) in HAIDONG.items():
        plan += [(category, n, True) for n in _spread(cleared_people, cleared)]
        plan += [
            (category, n, False) for n in _spread(people - cleared_people, households - cleared)
        ]
    homes = Household.objects.bulk_create(
        [
            Household(
                number=f"HD{index:06d}",
                village_id=villages[index % 3],
                kind="lifted" if category == "unstable" else "ordinary",
            )
            for index, (category, _, _) in enumerate(plan)
        ]
    )
    members = []
    for home, (_, people, _) in zip(homes, plan, strict=True):
        for index in range(people):
            serial = len(members)
            members.append(
                Member(
                    household=home,
                    name=f"成员{serial}",
                    id_number_encrypted="-",
                    id_number_hash=f"hd{serial}",
                    id_number_masked="6302**********0000",
                    birth_date=date(1970, 1, 1),
                    sex="F",
                    relation="head" if index == 0 else "child",
                    labour="ordinary",
                )
            )
    Member.objects.bulk_create(members, batch_size=5000)
    cases = Case.objects.bulk_create(
        [
            Case(
                household=home,
                village_id=home.village_id,
                category=category,
                channel="cadre_screening",
                status="cleared" if cleared else "monitoring",
                found_on=identified - timedelta(days=10),
                identified_on=identified,
                cleared_on=cleared_day if cleared else None,
                clearance_kind="assisted" if cleared else "",
            )
            for home, (category, _, cleared) in zip(homes, plan, strict=True)
        ],
        batch_size=2000,
    )
    steps = [
        CaseTransition(
            case=case,
            action=action,
            from_status=source,
            to_status=target,
            actor=approver,
            actor_role="county_approver",
            actor_region=COUNTY,
        )
        for case, (_, _, cleared) in zip(cases, plan, strict=True)
        for action, source, target in (IDENTIFY + (CLEAR if cleared else []))
    ]
    CaseTransition.objects.bulk_create(steps, batch_size=5000)
    CaseTransition.objects.filter(action__in=[a for a, _, _ in IDENTIFY]).update(
        at=_moment(identified)
    )
    CaseTransition.objects.filter(action__in=[a for a, _, _ in CLEAR]).update(
        at=_moment(cleared_day)
    )
    categories = {c.code: c for c in MeasureCategory.objects.all()}
    measures = []
    for offset, (code, households) in enumerate(HAIDONG_MEASURES.items()):
        start = offset * 677  # each category from its own place in the list, wrapping round
        for index in range(households):
            measures.append(
                MeasureRecord(
                    case=cases[(start + index) % len(cases)],
                    category=categories[code],
                    description="措施",
                    department="部门",
                    start_on=identified + timedelta(days=20),
                )
            )
    MeasureRecord.objects.bulk_create(measures, batch_size=5000)

    figures = _county(date(2025, 12, 31))

    assert _hp(figures["ever"]) == (8138, 31481)
    assert {row["code"]: _hp(row) for row in figures["ever"]["by_category"]} == {
        "unstable": (1181, 4123),
        "marginal": (3175, 12256),
        "sudden": (3782, 15102),
    }
    assert _hp(figures["cleared"]) == (5642, 22929)
    assert _hp(figures["remaining"]) == (8138 - 5642, 31481 - 22929)
    assert {row["code"]: row["households"] for row in figures["measures"]["by_category"]} == (
        HAIDONG_MEASURES
    )
    assert figures["clearance_rate"] == {"households": 0.6933, "people": 0.7283}
    # Before the clearances, every one of them was still monitored.
    earlier = _county(date(2024, 5, 31))
    assert _hp(earlier["monitored"]) == (8138, 31481)
    assert earlier["cleared"]["households"] == 0


def test_a_case_walked_through_the_api_is_read_from_its_real_trail(api, users, family):
    from tests.monitor.test_domain_workflow import D0, Walker, _household

    walk = Walker(api)
    case_id = walk.identified(_household(911))
    day = D0 + timedelta(days=6)
    before, on = _county(day - timedelta(days=1)), _county(day)
    assert (before["identifying"]["households"], before["monitored"]["households"]) == (1, 0)
    assert (on["identifying"]["households"], on["monitored"]["households"]) == (0, 1)
    assert on["new"]["month"]["households"] == 1
    assert Case.objects.get(pk=case_id).identified_on == day
