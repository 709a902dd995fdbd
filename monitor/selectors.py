"""Reads of cases. Everything starts from `Case.objects.visible_to(user)`."""

from datetime import date

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import TruncMonth

from accounts.choices import ROLE_LEVEL
from households.choices import Relation
from households.models import Member
from monitor.choices import (
    IDENTIFYING_STATUSES,
    MONITORED_STATUSES,
    AdjustmentStatus,
    Category,
    Status,
)
from monitor.follow_up import in_follow_up
from monitor.models import (
    Announcement,
    Appraisal,
    Case,
    CaseAdjustment,
    CaseTransition,
    Clue,
    Consent,
    CrossCheck,
    Deadline,
    PublicNotice,
    WarningRow,
)
from monitor.rules import add_months
from monitor.workflow import STEP_BY_ACTION


def overdue_deadlines(today: date):
    return Deadline.objects.filter(
        met_on__isnull=True, due_on__lt=today, case__status__in=IDENTIFYING_STATUSES
    )


def cases_for(user, today: date):
    heads = Member.objects.filter(household=OuterRef("household_id"), relation=Relation.HEAD)
    late = overdue_deadlines(today).filter(case=OuterRef("pk"))
    return (
        Case.objects.visible_to(user)
        .select_related("household__village")
        .prefetch_related(
            "risks",
            Prefetch("deadlines", queryset=Deadline.objects.order_by("due_on")),
        )
        .annotate(head_name=Subquery(heads.values("name")[:1]), is_overdue=Exists(late))
    )


def with_pending_adjustments(cases):
    """For lists that show each case's possible steps: the policy's guard of the
    adjustment steps reads the pending proposal of every case in monitoring
    (monitor.adjustments.pending_adjustment) — one query for the page, not one a case."""
    return cases.prefetch_related(
        Prefetch(
            "adjustments",
            queryset=CaseAdjustment.objects.filter(status=AdjustmentStatus.PROPOSED).select_related(
                "monthly_visit"
            ),
            to_attr="proposed_adjustments",
        )
    )


def overdue_items_for(user, today: date):
    """The overdue steps the user's own level answers for, inside their region."""
    level = ROLE_LEVEL.get(getattr(user, "role", None))
    if level is None:
        return Deadline.objects.none()
    visible = Case.objects.visible_to(user)
    return (
        overdue_deadlines(today)
        .filter(responsible_level=level, case__in=visible)
        .select_related("case__household__village")
    )


def notice_list(user, start: date, end: date):
    """公示名单: cases whose notice runs within [start, end] — names, category and village only."""
    notices = PublicNotice.objects.filter(case=OuterRef("pk"), start_on__lte=end, end_on__gte=start)
    heads = Member.objects.filter(household=OuterRef("household_id"), relation=Relation.HEAD)
    return (
        Case.objects.visible_to(user)
        .filter(Exists(notices))
        .select_related("household__village")
        .annotate(
            head_name=Subquery(heads.values("name")[:1]),
            notice_stage=Subquery(notices.values("stage")[:1]),
            notice_start=Subquery(notices.values("start_on")[:1]),
            notice_end=Subquery(notices.values("end_on")[:1]),
        )
        .order_by("household__village_id", "household__number")
    )


def household_timeline(
    household, *, cases, home_visits, monthly_visits, measures, latest=None
) -> list[dict]:
    """Everything that happened to one household, newest first: department warnings and
    screening hits, clues and their outcomes, every workflow step of its cases, evidence,
    monthly visits and aid measures. A fixed number of queries, whatever the history.

    The cases, home and monthly visits and measures are the household page's own, read once
    for its blocks and this line alike. With `latest`, only the newest `latest` events: the two
    kinds that grow without end — department warnings (a household on every month's list)
    and steps (a case sent back and forth) — are read newest first and cut at `latest`
    each, which leaves the newest `latest` of the whole unchanged."""

    events: list[dict] = []

    def add(when, kind: str, text: str, case_id=None, clue_id=None):
        events.append({"when": when, "kind": kind, "text": text, "case": case_id, "clue": clue_id})

    rows = (
        WarningRow.objects.filter(household=household)
        .select_related("batch__department")
        .only(
            "indicator",
            "amount",
            "occurred_on",
            "clue_id",
            "batch__received_at",
            "batch__source",
            "batch__department__name",
        )
    )
    if latest is not None:
        rows = rows.order_by("-batch__received_at", "-id")[:latest]
    for row in rows:
        source = row.batch.department.name if row.batch.department else "数据筛查"
        amount = f"，金额 {row.amount:,.2f} 元" if row.amount is not None else ""
        add(
            row.batch.received_at,
            "warning",
            f"{source}预警：{row.indicator or '—'}{amount}",
            clue_id=row.clue_id,
        )
    for clue in Clue.objects.filter(household=household):
        add(
            clue.created_at,
            "clue",
            f"生成预警线索（{clue.get_channel_display()}）",
            clue_id=clue.pk,
        )
        if clue.closed_at:
            add(
                clue.closed_at,
                "clue",
                f"线索核实反馈：{clue.get_outcome_display()}",
                clue_id=clue.pk,
                case_id=clue.case_id,
            )
    for case in cases:
        add(
            case.created_at,
            "case",
            f"登记监测对象（{case.get_category_display()}）",
            case_id=case.pk,
        )
    steps = (
        CaseTransition.objects.filter(case__in=cases)
        .select_related("actor")
        # A case walked back and forth has many steps: only what the line shows.
        .only("action", "at", "comment", "case_id", "actor__first_name", "actor__username")
    )
    if latest is not None:
        steps = steps.order_by("-at", "-id")[:latest]
    for step in steps:
        label = STEP_BY_ACTION[step.action].label if step.action in STEP_BY_ACTION else step.action
        who = step.actor.first_name or step.actor.username
        comment = f"：{step.comment}" if step.comment else ""
        add(step.at, "step", f"{label}（{who}）{comment}", case_id=step.case_id)
    for label, day, records in (
        ("入户核实", "visited_on", home_visits),
        ("承诺授权", "signed_on", Consent.objects.filter(case__in=cases)),
        ("信息比对", "checked_on", CrossCheck.objects.filter(case__in=cases)),
        ("民主评议", "held_on", Appraisal.objects.filter(case__in=cases)),
        ("公示", "start_on", PublicNotice.objects.filter(case__in=cases)),
    ):
        for record in records:
            add(
                record.recorded_at,
                "evidence",
                f"{record.get_stage_display()}：{label}（{getattr(record, day):%Y-%m-%d}）",
                case_id=record.case_id,
            )
    for announcement in Announcement.objects.filter(case__in=cases):
        add(
            announcement.created_at,
            "step",
            f"公告（{announcement.announced_on:%Y-%m-%d}）：{announcement.text}",
            case_id=announcement.case_id,
        )
    for visit in monthly_visits:
        add(
            visit.recorded_at,
            "visit",
            f"{visit.get_kind_display()}（{visit.visited_on:%Y-%m-%d}）",
            case_id=visit.case_id,
        )
    for measure in measures:
        add(
            measure.recorded_at,
            "measure",
            f"帮扶措施：{measure.category.name} · {measure.description}",
            case_id=measure.case_id,
        )
    events.sort(key=lambda event: event["when"], reverse=True)
    return events if latest is None else events[:latest]


def region_counts(user, today: date) -> dict:
    """The figures of a user's region on the home page, in one query: monitored households
    by category, cases being identified, cleared, overdue; relapses (返贫: monitored cases
    of households cleared before, counted apart) and households in follow-up after
    clearance (消除后跟踪)."""
    cases = Case.objects.visible_to(user)
    late = overdue_deadlines(today).filter(case=OuterRef("pk"))
    figures = cases.annotate(late=Exists(late)).aggregate(
        monitored=Count("pk", filter=Q(status__in=MONITORED_STATUSES)),
        identifying=Count("pk", filter=Q(status__in=IDENTIFYING_STATUSES)),
        cleared=Count("pk", filter=Q(status=Status.CLEARED)),
        overdue=Count("pk", filter=Q(late=True)),
        relapse=Count("pk", filter=Q(status__in=MONITORED_STATUSES, relapse_of__isnull=False)),
        # The watch list's own condition (closed households are off it).
        follow_up=Count("pk", filter=in_follow_up(today)),
        **{
            f"category_{category}": Count(
                "pk", filter=Q(status__in=MONITORED_STATUSES, category=category)
            )
            for category in Category.values
        },
    )
    figures["by_category"] = [
        (label, figures[f"category_{value}"]) for value, label in Category.choices
    ]
    return figures


def monthly_flow(user, today: date, months: int = 12) -> list[tuple[str, int, int]]:
    """New identifications and clearances per month for the last `months` months."""
    first = add_months(today.replace(day=1), -(months - 1))
    cases = Case.objects.visible_to(user)

    def per_month(field: str) -> dict:
        rows = (
            cases.filter(**{f"{field}__gte": first})
            .annotate(month=TruncMonth(field))
            .values("month")
            .annotate(n=Count("pk"))
        )
        return {(row["month"].year, row["month"].month): row["n"] for row in rows}

    new, cleared = per_month("identified_on"), per_month("cleared_on")
    flow = []
    for offset in range(months):
        day = add_months(first, offset)
        key = (day.year, day.month)
        flow.append((f"{day.month}月", new.get(key, 0), cleared.get(key, 0)))
    return flow
