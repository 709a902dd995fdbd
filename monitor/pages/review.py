"""Review queues: the township's and the county's cases awaiting their decision, and the
county's approval of several cases at once — each still through the one transition
service, each result shown."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import policy
from config.errors import DomainError
from config.pages import people_page
from monitor.adjustments import pending_adjustments_for
from monitor.selectors import cases_for
from monitor.workflow import STEP_BY_ACTION, STEPS, case_transition

# The steps that pass a case on or decide it, one per state a reviewer acts on (乡镇受理 of a
# paper application included); the bulk form offers these (returns, rejections and
# declines need a reason per case, so one at a time).
APPROVALS = {
    step.source: step
    for step in STEPS
    if step.action == "accept" or step.action.endswith(("approve", "approve_clearance"))
}
MAX_BATCH = 200
MAX_ID_DIGITS = 18  # below 2**63, the largest primary key


def _review_states(user) -> list:
    """The states in which this user's role takes an approval step (the policy's answer)."""
    return [
        state for state, step in APPROVALS.items() if policy.allows(user, f"case.{step.action}")
    ]


def _pending_adjustments(user) -> list | None:
    """动态调整 waiting for this user's decision (the township's), oldest first; None for
    a role that does not decide them."""
    if not policy.allows(user, "case.adjustment_confirm"):
        return None
    return pending_adjustments_for(user)


@people_page
def review_page(request):
    states = _review_states(request.user)
    if not states:
        raise PermissionDenied("审核由乡镇审核人和县级审定人办理")
    today = timezone.localdate()
    cases = list(
        cases_for(request.user, today)
        .filter(status__in=states)
        .order_by("-is_overdue", "found_on", "id")[:500]
    )
    groups = [
        {
            "state": state,
            "step": APPROVALS[state],
            "cases": [case for case in cases if case.status == state],
        }
        for state in states
    ]
    return render(
        request,
        "cases/review.html",
        {
            "groups": groups,
            "today": today,
            "results": request.session.pop("review_results", None),
            # 县级抽查: offered to whom the policy lets draw (the share is said on drawing).
            "can_draw_spot_check": policy.allows(request.user, "case.spot_check_draw"),
            "adjustments": _pending_adjustments(request.user),
        },
    )


@people_page
@require_POST
def review_batch_page(request):
    action = request.POST.get("action", "")
    step = STEP_BY_ACTION.get(action)
    if step is None or step.source not in APPROVALS or APPROVALS[step.source] != step:
        messages.error(request, "请选择要办理的审核操作")
        return redirect("review-page")
    # Ids as the form sends them: ASCII digits (str.isdigit() is also true for "²", which
    # int() refuses: a 500) and no longer than a primary key can be (SQLite cannot even
    # compare a larger number with one: OverflowError, a 500).
    ids = [
        int(value)
        for value in request.POST.getlist("cases")
        if value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS
    ][:MAX_BATCH]
    if not ids:
        messages.error(request, "请至少勾选一户")
        return redirect("review-page")
    comment = (request.POST.get("comment") or "").strip()[:500]
    names = {
        case.pk: f"{case.head_name or ''} {case.household.number}".strip()
        for case in cases_for(request.user, timezone.localdate()).filter(pk__in=ids)
    }
    results = []
    for case_id in ids:
        try:
            case = case_transition(case_id=case_id, action=action, by=request.user, comment=comment)
            results.append(
                {
                    "case": case_id,
                    "name": names.get(case_id, ""),
                    "ok": True,
                    "text": case.get_status_display(),
                }
            )
        except (DomainError, ValidationError, PermissionDenied) as exc:
            text = (
                getattr(exc, "message", None) or "；".join(getattr(exc, "messages", [])) or str(exc)
            )
            results.append(
                {"case": case_id, "name": names.get(case_id, ""), "ok": False, "text": text}
            )
    passed = sum(1 for result in results if result["ok"])
    messages.success(
        request, f"{step.label}：{passed} 户办理成功，{len(results) - passed} 户未办理。"
    )
    request.session["review_results"] = results
    return redirect("review-page")
