"""消除后跟踪: the watch list after clearance, and its quarterly follow-up visits.

When the county approves a clearance the case keeps `follow_up_until`, the last day of a
period of the local number of months (RegionPolicy `follow_up_months`, default 12) that
starts on the clearance day. Until that day (inclusive) the household stays on the watch
list of its village, township and county, and the
village visits it at least once a calendar quarter (季度跟踪走访). The visits are stored with
the monthly visits (MonthlyVisit, kind `follow_up`), so the household's file keeps one list
of visits; the monthly sweep counts only the monthly ones. A quarter of the period without a
follow-up visit is flagged by `monitor.deadlines.flag_missing_follow_up_visits`.

A new case of a household cleared before is a relapse (返贫): `case_create` links it to the
cleared case (Case.relapse_of) and ends that case's follow-up period the day before the
filing (`follow_up_stop`); so does the closing of the household (销户). A closed household
is off the watch list, its visits and the sweep whatever its case says.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from accounts import policy
from accounts.audit import audit_record
from accounts.choices import AuditAction, Role
from households.choices import RegionLevel, Relation
from households.models import Member
from monitor.choices import NotificationKind, Status, VisitKind
from monitor.deadlines import region_code_at
from monitor.models import Case, MonthlyVisit, Notification
from monitor.regional import local_rule
from monitor.rules import add_months

FOLLOW_UP_VISIT = "case.follow_up_visit"


def follow_up_end(village_code: str, cleared_on: date) -> date:
    """The last day of the follow-up period of a household cleared on `cleared_on`: the
    period counts the clearance day, so N months end the day before the same day N months
    later (cleared 2026-10-12, 12 months: followed up to 2027-10-11 inclusive)."""
    months = local_rule(village_code, "follow_up_months", cleared_on)
    return add_months(cleared_on, int(months)) - timedelta(days=1)


# --- quarters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int  # 1-4

    @classmethod
    def of(cls, day: date) -> "Quarter":
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def first(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last(self) -> date:
        return add_months(self.first, 3) - timedelta(days=1)

    @property
    def key(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def label(self) -> str:
        return f"{self.year}年第{self.number}季度"

    def next(self) -> "Quarter":
        return Quarter.of(add_months(self.first, 3))

    def previous(self) -> "Quarter":
        return Quarter.of(add_months(self.first, -3))


def next_due(case, today: date) -> Quarter | None:
    """The quarter whose follow-up visit is still to be made: this one if it has none yet,
    else the next one, if the period reaches into it (None when nothing more is due).
    `case.last_follow_up_on` is the annotation of `follow_ups_for`."""
    quarter = Quarter.of(today)
    last = getattr(case, "last_follow_up_on", None)
    if last is not None and last >= quarter.first:
        quarter = quarter.next()
    if case.follow_up_until is None or quarter.first > case.follow_up_until:
        return None
    return quarter


# --- reads -----------------------------------------------------------------------------------


def in_follow_up(today: date) -> Q:
    """Cleared cases whose follow-up period runs today, of households not closed (a closed
    household is followed up by no one, whatever its case says)."""
    return Q(status=Status.CLEARED, follow_up_until__gte=today, household__closed_on__isnull=True)


def follow_ups_for(user, today: date):
    """The watch list of a user's region: cleared cases whose follow-up period runs today,
    with the head's name and the day of the last follow-up visit, soonest end first."""
    heads = Member.objects.filter(household=OuterRef("household_id"), relation=Relation.HEAD)
    return (
        Case.objects.visible_to(user)
        .filter(in_follow_up(today))
        .select_related("household__village")
        .annotate(
            head_name=Subquery(heads.values("name")[:1]),
            last_follow_up_on=Max(
                "monthly_visits__visited_on",
                filter=Q(monthly_visits__kind=VisitKind.FOLLOW_UP),
            ),
        )
        .order_by("follow_up_until", "id")
    )


def follow_up_visits_of(case: Case):
    return (
        MonthlyVisit.objects.filter(case=case, kind=VisitKind.FOLLOW_UP)
        .select_related("recorded_by")
        .order_by("-visited_on", "-id")
    )


# --- writes ----------------------------------------------------------------------------------


def follow_up_stop(*, household_id: int, last_day: date, by, reason: str) -> list[int]:
    """End early the follow-up of a household's cleared cases: their period's last day
    becomes `last_day` (never later than it was), with an audit row per case. Called in the
    transaction of the event that ends it: a new case (返贫) or the household's closing.
    Returns the ids of the cases whose period was ended."""
    cases = list(
        Case.objects.filter(
            household_id=household_id, status=Status.CLEARED, follow_up_until__gt=last_day
        ).select_related("household")
    )
    for case in cases:
        was = case.follow_up_until
        Case.objects.filter(pk=case.pk).update(follow_up_until=last_day)
        audit_record(
            actor=by,
            action=AuditAction.UPDATE,
            obj=case,
            object_label=f"消除后跟踪结束 {case.household.number}",
            reason=reason,
            detail={"follow_up_until": last_day.isoformat(), "was": was.isoformat()},
        )
    return [case.pk for case in cases]


@transaction.atomic
def follow_up_visit_record(
    *,
    case: Case,
    by,
    visited_on: date,
    visitors: str,
    findings: str,
    risk_changed: bool = False,
) -> MonthlyVisit:
    """季度跟踪走访 of a household in its follow-up period. A visit that finds the risk back
    tells the village and the township at once (返贫风险): the household may need a new
    case, which will be marked 返贫."""
    # Locked: a visit racing the end of the period (or a correction) sees one state.
    case = Case.objects.select_for_update(of=("self",)).select_related("household").get(pk=case.pk)
    policy.require(by, FOLLOW_UP_VISIT, case)
    today = timezone.localdate()
    if visited_on is None:
        raise ValidationError({"visited_on": "请填写走访日期"})
    if visited_on > today:
        raise ValidationError({"visited_on": "走访日期不能晚于今天"})
    if case.cleared_on and visited_on < case.cleared_on:
        raise ValidationError(
            {"visited_on": f"走访日期不能早于风险消除日期 {case.cleared_on:%Y-%m-%d}"}
        )
    visit = MonthlyVisit(
        case=case,
        kind=VisitKind.FOLLOW_UP,
        visited_on=visited_on,
        visitors=(visitors or "").strip(),
        findings=(findings or "").strip(),
        risk_changed=bool(risk_changed),
        recorded_by=by,
    )
    visit.full_clean(exclude=["recorded_by"])
    visit.save()
    audit_record(
        actor=by,
        action=AuditAction.CREATE,
        obj=visit,
        object_label=f"消除后跟踪走访 {case.household.number} {visited_on:%Y-%m-%d}",
        detail={"case": case.pk, "risk_changed": visit.risk_changed},
    )
    if visit.risk_changed:
        village = case.household.village_id
        text = f"{case.household.number} 消除后跟踪走访发现风险变化，请核实是否返贫"
        Notification.objects.bulk_create(
            [
                Notification(
                    region_id=region_code_at(village, level),
                    role=role,
                    case=case,
                    kind=NotificationKind.RELAPSE_RISK,
                    message=text,
                    key=f"follow-up-risk:{visit.pk}:{level}",
                )
                for level, role in (
                    (RegionLevel.VILLAGE, Role.VILLAGE_CADRE),
                    (RegionLevel.TOWNSHIP, Role.TOWNSHIP_REVIEWER),
                )
            ],
            ignore_conflicts=True,
        )
    return visit
