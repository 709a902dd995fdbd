"""消除后跟踪 pages: the watch list of cleared households still followed up (village,
township, county), and the quarterly follow-up visit recorded on the case page.

The list reads `follow_ups_for(user)` (the region scope), the form posts to one service
(`follow_up_visit_record`), and the case page shows the form exactly when the policy allows
`case.follow_up_visit` (a village cadre, a cleared case within its period)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import policy
from config.pages import call_service, people_page
from monitor.follow_up import (
    FOLLOW_UP_VISIT,
    Quarter,
    follow_up_visit_record,
    follow_up_visits_of,
    follow_ups_for,
    next_due,
)
from monitor.forms import ChineseModelForm
from monitor.models import MonthlyVisit

PAGE_SIZE = 30


class FollowUpVisitForm(ChineseModelForm):
    class Meta:
        model = MonthlyVisit
        fields = ["visited_on", "visitors", "findings", "risk_changed"]
        labels = {"risk_changed": "发现风险有变化（可能返贫）"}


def follow_up_context(case, user, bound: dict) -> dict:
    """The case page's block of the follow-up period: its visits, the next quarter due and
    the form (for whom the policy allows it). Nothing for a case never cleared."""
    if case.follow_up_until is None:
        return {}
    today = timezone.localdate()
    visits = list(follow_up_visits_of(case)[:12])
    case.last_follow_up_on = visits[0].visited_on if visits else None
    form = bound.get("follow_up_visit")
    if form is None and policy.allows(user, FOLLOW_UP_VISIT, case):
        form = FollowUpVisitForm(prefix="follow_up", initial={"visited_on": today})
    # A closed household's follow-up has ended, whatever day its case keeps.
    running = case.follow_up_until >= today and case.household.closed_on is None
    return {
        "follow_up": {
            "until": case.follow_up_until,
            "running": running,
            "visits": visits,
            "next_due": next_due(case, today) if running else None,
            "form": form,
        }
    }


@people_page
def follow_up_list_page(request):
    today = timezone.localdate()
    cases = follow_ups_for(request.user, today)
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    quarter = Quarter.of(today)
    for case in page:
        case.next_due = next_due(case, today)
        case.visited_this_quarter = (
            case.last_follow_up_on is not None and case.last_follow_up_on >= quarter.first
        )
    return render(
        request,
        "cases/follow_up_list.html",
        {"page": page, "today": today, "quarter": quarter},
    )


@people_page
@require_POST
def case_follow_up_visit_page(request, pk: int):
    from monitor.pages.cases import _case, _render_case

    case = _case(request.user, pk)
    form = FollowUpVisitForm(request.POST, prefix="follow_up")
    if form.is_valid():
        visit = call_service(
            form, follow_up_visit_record, case=case, by=request.user, **form.cleaned_data
        )
        if visit is not None:
            messages.success(request, "已登记消除后跟踪走访。")
            return redirect("case-page", case.pk)
    return _render_case(request, case, {"follow_up_visit": form}, status=400)
