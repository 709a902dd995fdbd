"""Home: each role's queue — what is waiting for me, overdue first — with the counts of my
region, a small chart, and my notifications."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import policy
from config.pages import people_page, safe_next
from interventions.insurance import claims_paid_figures
from monitor import services
from monitor.adjustments import pending_adjustments_for
from monitor.charts import bar_chart
from monitor.choices import ClueStatus, Status
from monitor.feeds.selectors import rounds_for
from monitor.models import Clue
from monitor.selectors import cases_for, monthly_flow, overdue_items_for, region_counts
from monitor.workflow import STEPS

QUEUE_SIZE = 20


def _acting_states(user) -> list[str]:
    """The states whose next step is this user's role's to take (the policy's answer),
    except 监测帮扶中, which is an ongoing state rather than a pending step, and steps open
    to any state (销户终止 follows the household, it waits in no queue)."""
    return sorted(
        {
            step.source
            for step in STEPS
            if isinstance(step.source, str)
            and step.source != Status.MONITORING
            and policy.allows(user, f"case.{step.action}")
        }
    )


def _clue_queue(user, today):
    if policy.allows(user, "clue.verify"):
        waiting = ClueStatus.VERIFYING
    elif policy.allows(user, "clue.accept"):
        waiting = ClueStatus.PENDING_ACCEPTANCE
    else:
        return None
    clues = (
        Clue.objects.visible_to(user)
        .filter(status=waiting)
        .select_related("household", "village")
        .order_by("due_on", "id")
    )
    return {"status": waiting, "count": clues.count(), "rows": list(clues[:QUEUE_SIZE])}


def _round_queue(user):
    """The county's rounds of department clues still waiting to be sent down (下发)."""
    if not policy.allows(user, "round.dispatch"):
        return None
    waiting = rounds_for(user).filter(dispatched_at__isnull=True).order_by("created_at", "id")
    rows = list(waiting[:QUEUE_SIZE])
    return {"count": len(rows) if len(rows) < QUEUE_SIZE else waiting.count(), "rows": rows}


def _adjustment_queue(user):
    """动态调整 waiting for the township's decision (one query), oldest first."""
    if not policy.allows(user, "case.adjustment_confirm"):
        return None
    return pending_adjustments_for(user, limit=QUEUE_SIZE)


@login_required
def home_page(request):
    user = request.user
    today = timezone.localdate()
    context = {"today": today}
    if policy.allows(user, "registry.read") and user.region_id:
        states = _acting_states(user)
        cases = cases_for(user, today).filter(status__in=states).order_by("-is_overdue", "found_on")
        counts = region_counts(user, today)
        flow = monthly_flow(user, today)
        context.update(
            cases=list(cases[:QUEUE_SIZE]),
            case_count=cases.count(),
            clues=_clue_queue(user, today),
            rounds=_round_queue(user),
            adjustments=_adjustment_queue(user),
            overdue=list(overdue_items_for(user, today).order_by("due_on")[:QUEUE_SIZE]),
            counts=counts,
            category_chart=bar_chart(
                [label for label, _ in counts["by_category"]],
                [("监测户数", [value for _, value in counts["by_category"]])],
            ),
            flow_chart=bar_chart(
                [month for month, _, _ in flow],
                [("新识别", [n for _, n, _ in flow]), ("风险消除", [n for _, _, n in flow])],
            ),
            notifications=list(services.notifications_for(user).filter(read_at__isnull=True)[:8]),
        )
        if policy.allows(user, "insurance.manage"):
            # 防贫保险 in the county's figures: claims paid this year (one query).
            context["insurance"] = claims_paid_figures(user, today.year)
    context["is_admin"] = policy.allows(user, "users.manage")
    context["can_manage"] = policy.allows(user, "department.manage")
    context["can_audit"] = policy.allows(user, "audit.read")
    return render(request, "home/home.html", context)


@people_page
def notifications_page(request):
    notes = services.notifications_for(request.user).select_related("case")
    page = Paginator(notes, 30).get_page(request.GET.get("page"))
    return render(request, "home/notifications.html", {"page": page})


@people_page
@require_POST
def notification_read_page(request, pk: int):
    note = get_object_or_404(services.notifications_for(request.user), pk=pk)
    services.notification_mark_read(notification=note, by=request.user)
    return redirect(safe_next(request) or "notifications-page")
