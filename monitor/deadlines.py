"""Deadlines of the identification procedure and the daily sweep that flags overdue steps.

Clocks (the village's local rules of the year, monitor/regional.py; by default
settings.MONITOR): the township accepts a self-application within 2 days; the village
verifies at home within 5 working days of the finding; the county decides within 15 days of
the finding, the notice included. Working days skip weekends and configured holidays
(adjusted working weekends, 调休, are not modelled). The sweeps flag overdue steps, missing
monthly visits, cases without aid, and households in follow-up after clearance (消除后跟踪)
without their quarterly visit.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction

from accounts.choices import Role
from households.choices import PREFIX_LENGTH, RegionLevel
from monitor.choices import (
    IDENTIFYING_STATUSES,
    MONITORED_STATUSES,
    Channel,
    ClueStatus,
    DeadlineStep,
    NotificationKind,
    Status,
    VisitKind,
)
from monitor.models import Case, Deadline, MonthlyVisit, Notification
from monitor.regional import local_rules

ROLE_OF_LEVEL = {
    RegionLevel.VILLAGE: Role.VILLAGE_CADRE,
    RegionLevel.TOWNSHIP: Role.TOWNSHIP_REVIEWER,
    RegionLevel.COUNTY: Role.COUNTY_APPROVER,
}


def add_workdays(start: date, days: int) -> date:
    holidays = settings.MONITOR["HOLIDAYS"]
    day = start
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            days -= 1
    return day


def deadlines_open(case: Case) -> None:
    """Create the clocks of a newly filed case: the local rules of its village for the year
    of the finding (a county that shortened its clocks has them here), else the defaults."""
    found = case.found_on
    rules = local_rules(case.household.village_id, found.year)
    rows = [
        Deadline(
            case=case,
            step=DeadlineStep.VILLAGE_VERIFICATION,
            responsible_level=RegionLevel.VILLAGE,
            due_on=add_workdays(found, rules["village_verification_workdays"]),
        ),
        Deadline(
            case=case,
            step=DeadlineStep.IDENTIFICATION,
            responsible_level=RegionLevel.COUNTY,
            due_on=found + timedelta(days=rules["identification_days"]),
        ),
    ]
    if case.channel == Channel.SELF_APPLICATION and case.status == Status.APPLIED:
        rows.append(
            Deadline(
                case=case,
                step=DeadlineStep.TOWNSHIP_ACCEPTANCE,
                responsible_level=RegionLevel.TOWNSHIP,
                due_on=found + timedelta(days=rules["self_application_accept_days"]),
            )
        )
    # A step already on record (met before a reschedule) is kept as it is.
    Deadline.objects.bulk_create(rows, ignore_conflicts=True)


def deadlines_reschedule(case: Case) -> None:
    """The finding day was corrected: the open clocks count from the corrected day; steps
    already met keep their record."""
    Deadline.objects.filter(case=case, met_on__isnull=True).delete()
    deadlines_open(case)


def region_code_at(village_code: str, level: int) -> str:
    return village_code[: PREFIX_LENGTH[RegionLevel(level)]].ljust(12, "0")


def _notify(rows: list[Notification]) -> int:
    """Insert notifications; the unique `key` makes a second sweep a no-op."""
    before = Notification.objects.filter(key__in=[row.key for row in rows]).count()
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows) - before


def mark_overdue(today: date) -> dict:
    """Flag deadlines past due, and tell the responsible level and the level above."""
    with transaction.atomic():
        overdue = list(
            Deadline.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                met_on__isnull=True,
                overdue_since__isnull=True,
                due_on__lt=today,
                case__status__in=IDENTIFYING_STATUSES,
            )
            .select_related("case__household")
        )
        notes = []
        for deadline in overdue:
            village = deadline.case.household.village_id
            number = deadline.case.household.number
            label = deadline.get_step_display()
            level = RegionLevel(deadline.responsible_level)
            text = f"{number}「{label}」已超期（应于 {deadline.due_on:%Y-%m-%d} 前办结）"
            notes.append(
                Notification(
                    region_id=region_code_at(village, level),
                    role=ROLE_OF_LEVEL[level],
                    case=deadline.case,
                    kind=NotificationKind.OVERDUE,
                    message=text,
                    key=f"overdue:{deadline.pk}",
                )
            )
            if level > RegionLevel.COUNTY:  # escalate to the level above
                upper = RegionLevel(level - 1)
                notes.append(
                    Notification(
                        region_id=region_code_at(village, upper),
                        role=ROLE_OF_LEVEL[upper],
                        case=deadline.case,
                        kind=NotificationKind.OVERDUE_ESCALATED,
                        message="下级" + text,
                        key=f"overdue-up:{deadline.pk}",
                    )
                )
        Deadline.objects.filter(pk__in=[d.pk for d in overdue]).update(overdue_since=today)
        raised = _notify(notes)
    return {"overdue": len(overdue), "notifications": raised}


def mark_overdue_clues(today: date) -> dict:
    """A warning clue not verified by its day (or a self-application not accepted) is
    flagged to the responsible level and escalated to the one above, once."""
    from monitor.models import Clue

    with transaction.atomic():
        late = list(
            Clue.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(overdue_since__isnull=True, due_on__lt=today)
            # Waiting for the county's dispatch: the village's clock has not started.
            .exclude(status__in=(ClueStatus.CLOSED, ClueStatus.PENDING_DISPATCH))
            .select_related("household")
        )
        notes = []
        for clue in late:
            village = clue.village_id
            who = clue.household.number if clue.household else "农户自主申报"
            if clue.status == ClueStatus.PENDING_ACCEPTANCE:
                level, upper, step = RegionLevel.TOWNSHIP, RegionLevel.COUNTY, "乡镇受理"
            else:
                level, upper, step = RegionLevel.VILLAGE, RegionLevel.TOWNSHIP, "入户核实"
            text = f"预警线索 {who}「{step}」已超期（应于 {clue.due_on:%Y-%m-%d} 前办结）"
            notes.append(
                Notification(
                    region_id=region_code_at(village, level),
                    role=ROLE_OF_LEVEL[level],
                    kind=NotificationKind.OVERDUE,
                    message=text,
                    # The step is in the key: late for acceptance and later for the home
                    # check is reported both times.
                    key=f"clue-overdue:{clue.pk}:{clue.status}",
                )
            )
            notes.append(
                Notification(
                    region_id=region_code_at(village, upper),
                    role=ROLE_OF_LEVEL[upper],
                    kind=NotificationKind.OVERDUE_ESCALATED,
                    message="下级" + text,
                    key=f"clue-overdue-up:{clue.pk}:{clue.status}",
                )
            )
        Clue.objects.filter(pk__in=[c.pk for c in late]).update(overdue_since=today)
        raised = _notify(notes)
    return {"overdue": len(late), "notifications": raised}


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    next_first = (first + timedelta(days=32)).replace(day=1)
    return first, next_first - timedelta(days=1)


def flag_missing_monthly_visits(month: date) -> dict:
    """月排查: every case in monitoring for the whole of `month` needs a visit in it."""
    first, last = month_bounds(month)
    # Only monthly visits: a follow-up visit after clearance (kind follow_up) is not one.
    visited = MonthlyVisit.objects.filter(
        kind=VisitKind.MONTHLY, visited_on__range=(first, last)
    ).values("case_id")
    missing = (
        # Identified on the 1st: in monitoring the whole month, so visited in it too.
        Case.objects.filter(status__in=MONITORED_STATUSES, identified_on__lte=first)
        .exclude(pk__in=visited)
        .select_related("household")
    )
    notes = [
        Notification(
            region_id=case.household.village_id,
            role=Role.VILLAGE_CADRE,
            case=case,
            kind=NotificationKind.MISSING_MONTHLY_VISIT,
            message=f"{case.household.number} {first:%Y年%m月}未登记月排查走访",
            key=f"visit:{case.pk}:{first:%Y%m}",
        )
        for case in missing.iterator(chunk_size=2000)
    ]
    return {"missing": len(notes), "notifications": _notify(notes)}


def flag_cases_without_measures(today: date) -> dict:
    """A case over the configured days in monitoring with no measure recorded is flagged to
    the village and the township."""
    limit = today - timedelta(days=settings.MONITOR["NO_MEASURE_FLAG_DAYS"])
    cases = Case.objects.filter(
        status=Status.MONITORING, identified_on__lt=limit, measures__isnull=True
    ).select_related("household")
    notes = []
    for case in cases.iterator(chunk_size=2000):
        text = f"{case.household.number} 纳入监测已超过一个月，尚未落实帮扶措施"
        notes += _village_and_township(
            case, NotificationKind.NO_MEASURE, text, text, f"no-measure:{case.pk}"
        )
    return {"flagged": len(notes) // 2, "notifications": _notify(notes)}


def _village_and_township(case: Case, kind: str, text: str, upper_text: str, key: str):
    """The pair of notices a sweep raises about a case: to its village, and to the township
    above it (`key` with "-up" for the township's, so each is raised once)."""
    village = case.household.village_id
    head, _, tail = key.partition(":")
    return [
        Notification(
            region_id=village,
            role=Role.VILLAGE_CADRE,
            case=case,
            kind=kind,
            message=text,
            key=key,
        ),
        Notification(
            region_id=region_code_at(village, RegionLevel.TOWNSHIP),
            role=Role.TOWNSHIP_REVIEWER,
            case=case,
            kind=kind,
            message=upper_text,
            key=f"{head}-up:{tail}",
        ),
    ]


def flag_missing_follow_up_visits(quarter_day: date) -> dict:
    """消除后跟踪: every case in its follow-up period for the whole quarter of `quarter_day`
    (cleared by the quarter's first day, followed up to its last) needs a follow-up visit
    in it. The village is told, and the township above it; each once per case and quarter."""
    from monitor.follow_up import Quarter, in_follow_up

    quarter = Quarter.of(quarter_day)
    visited = MonthlyVisit.objects.filter(
        kind=VisitKind.FOLLOW_UP, visited_on__range=(quarter.first, quarter.last)
    ).values("case_id")
    missing = (
        # Followed up to the quarter's last day (a closed household is not), cleared by its
        # first.
        Case.objects.filter(in_follow_up(quarter.last), cleared_on__lte=quarter.first)
        .exclude(pk__in=visited)
        .select_related("household")
    )
    notes = []
    for case in missing.iterator(chunk_size=2000):
        text = f"{case.household.number} {quarter.label}未登记消除后跟踪走访"
        notes += _village_and_township(
            case,
            NotificationKind.MISSING_FOLLOW_UP_VISIT,
            text,
            "下级" + text,
            f"follow-up:{case.pk}:{quarter.key}",
        )
    return {"missing": len(notes) // 2, "notifications": _notify(notes)}
