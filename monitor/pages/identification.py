"""Pages of identification as the counties do it: the township's or county's own home visit
on the case page (乡镇/县级入户核实), the county's spot-check draw from its review page
(县级抽查), and the self-applicant's lookup of the result on the public page (查询办理结果).
The cross-check (信息比对) is a step of the case page's guided evidence (monitor/pages/
cases.py). Each POST calls one service; each form is shown as the policy allows."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from accounts import policy
from config.errors import DomainError
from config.pages import call_service, people_page
from config.ratelimit import allow, client_ip
from monitor.choices import VisitLevel
from monitor.feeds.applications import NOT_FOUND, self_application_lookup
from monitor.forms import HomeVisitForm
from monitor.identification import (
    OFFICIAL_VISIT,
    SPOT_CHECK_DRAW,
    official_visit_record,
    spot_check_draw,
)

LOOKUP_LIMIT_PER_HOUR = 10


def identification_context(user, case, bound: dict) -> dict:
    """What the case page shows of these steps: the township and county visits (and the
    form when this user may record one now), and the county's announcements."""
    can_visit = policy.allows(user, OFFICIAL_VISIT, case)
    visits = case.homevisits.exclude(level=VisitLevel.VILLAGE).select_related("recorded_by")
    return {
        "official_visits": list(visits.order_by("visited_on", "id")),
        "official_visit_form": bound.get("official_visit")
        or (HomeVisitForm(prefix="official") if can_visit else None),
        "announcements": list(case.announcements.order_by("announced_on", "id")),
    }


@people_page
@require_POST
def case_official_visit_page(request, pk: int):
    from monitor.pages.cases import _case, _render_case

    case = _case(request.user, pk)
    form = HomeVisitForm(request.POST, prefix="official")
    if form.is_valid():
        # The stage follows the case's state (monitor/identification.py).
        visit = call_service(
            form, official_visit_record, case=case, by=request.user, **form.cleaned_data
        )
        if visit is not None:
            messages.success(request, f"已登记{visit.get_level_display()}入户核实。")
            return redirect("case-page", case.pk)
    return _render_case(request, _case(request.user, pk), {"official_visit": form}, status=400)


@people_page
@require_POST
def spot_check_draw_page(request):
    decision = policy.decide(request.user, SPOT_CHECK_DRAW)
    if not decision:
        raise PermissionDenied(decision.reason)
    try:
        result = spot_check_draw(by=request.user)
    except (DomainError, ValidationError, PermissionDenied) as exc:
        messages.error(request, getattr(exc, "message", None) or str(exc))
        return redirect("review-page")
    messages.success(
        request,
        f"县级抽查：待审定 {result['candidates']} 户，按 {result['percent']}% 抽中 "
        f"{result['drawn']} 户，已标记“抽查”，审定前须登记县级入户核实。",
    )
    return redirect("review-page")


@csrf_protect
def self_application_lookup_page(request):
    """查询办理结果 on the public page: reference number and phone; the answer is where the
    application stands and nothing personal. A wrong pair reads like an unknown number."""
    context = {"values": {}, "errors": {}, "answer": None}
    if request.method == "POST":
        values = {key: request.POST.get(key, "") for key in ("reference", "phone")}
        context["values"] = values
        if not allow(
            f"apply-lookup:{client_ip(request)}", limit=LOOKUP_LIMIT_PER_HOUR, seconds=3600
        ):
            context["errors"] = {"form": "查询过于频繁，请一小时后再试，或直接联系村干部。"}
            return render(request, "monitor/apply_lookup.html", context, status=429)
        try:
            answer = self_application_lookup(**values)
        except ValidationError as exc:
            context["errors"] = {
                field: "；".join(messages) for field, messages in exc.message_dict.items()
            }
            return render(request, "monitor/apply_lookup.html", context, status=400)
        if answer is None:
            context["errors"] = {"form": NOT_FOUND}
        context["answer"] = answer
    return render(request, "monitor/apply_lookup.html", context)
