"""Reads of cases. Everything starts from `Case.objects.visible_to(user)`."""

from datetime import date

from django.db.models import Exists, OuterRef, Prefetch, Subquery

from accounts.choices import ROLE_LEVEL
from households.choices import Relation
from households.models import Member
from monitor.choices import IDENTIFYING_STATUSES
from monitor.models import Case, Deadline, PublicNotice


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
            "risks", Prefetch("deadlines", queryset=Deadline.objects.order_by("due_on"))
        )
        .annotate(head_name=Subquery(heads.values("name")[:1]), is_overdue=Exists(late))
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
