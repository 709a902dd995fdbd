"""动态调整: a monitored case's category, risks and main risk change while it is in
monitoring — the village proposes with a reason, the township confirms or does not.

A proposal is a `CaseAdjustment` (at most one pending per case) holding the values it asks
for and a snapshot of the case's values before it, so the history reads back as
"before → after, who, when, why". The township's decision is a step of the case workflow
(`adjustment_confirm` / `adjustment_reject` in monitor/workflow.py): it keeps the status and
writes the trail's audit row like every other step. The proposal is checked by the filing
rules of a new case (category against the kind of household, one to five known distinct
risks, 因务工就业不稳 only with a member able to work, the main risk among them), but not
by the income test: a case in monitoring is not identified again. Deadlines and measures
belong to the case, not to its category, so nothing of them moves.
"""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status as http

from accounts import policy
from accounts.choices import Role
from households.choices import RegionLevel
from monitor.choices import (
    RISK_TYPE_LABELS,
    AdjustmentStatus,
    Category,
    NotificationKind,
    Status,
)
from monitor.deadlines import region_code_at
from monitor.engine import WorkflowError
from monitor.models import Case, CaseAdjustment, MonthlyVisit, Notification
from monitor.rules import category_problems, risk_problems

PROPOSE = "case.adjustment_propose"
REASON_MIN = 2


def snapshot(case: Case) -> dict:
    """The values an adjustment changes, as the case has them now."""
    return {
        "category": case.category,
        "risk_codes": sorted(case.risks.values_list("code", flat=True)),
        "main_risk": case.main_risk,
    }


def pending_adjustment(case: Case) -> CaseAdjustment | None:
    """The proposal waiting for the township, read once per case object (the policy asks
    for each of the two decision steps)."""
    if not hasattr(case, "_pending_adjustment") and hasattr(case, "proposed_adjustments"):
        # Prefetched with a list of cases (monitor.selectors.cases_for).
        case._pending_adjustment = next(iter(case.proposed_adjustments), None)
    if not hasattr(case, "_pending_adjustment"):
        case._pending_adjustment = (
            CaseAdjustment.objects.filter(case_id=case.pk, status=AdjustmentStatus.PROPOSED)
            .select_related("monthly_visit")
            .first()
        )
    return case._pending_adjustment


def decision_guard(case: Case) -> str | None:
    """The state of the township's decision: there must be a proposal to decide (a second
    reviewer deciding the same proposal at once finds none: a 409)."""
    if pending_adjustment(case) is None:
        return "该案例没有待乡镇确认的动态调整"
    return None


def adjustment_problems(
    case: Case, *, category: str, risk_codes: list[str], main_risk: str
) -> dict[str, list[str]]:
    """The filing rules of a new case, without the income test, by field."""
    household = case.household
    errors: dict[str, list[str]] = {}
    if category not in Category.values:
        errors["category"] = ["请选择有效的监测对象类别"]
    else:
        found = category_problems(household, category)
        if found:
            errors["category"] = found
    found = risk_problems(household, risk_codes)
    if found:
        errors["risk_codes"] = found
    if not main_risk:
        errors["main_risk"] = ["请选择主要风险类型"]
    elif main_risk not in risk_codes:
        errors["main_risk"] = ["主要风险须是所选风险类型之一"]
    return errors


def _clean_codes(risk_codes) -> list[str]:
    if not isinstance(risk_codes, list | tuple) or not all(isinstance(c, str) for c in risk_codes):
        raise ValidationError({"risk_codes": '风险类型应为代码列表，如 ["01", "07"]'})
    return [code.strip() for code in risk_codes]


def describe(values: dict) -> str:
    """类别；风险（主要风险）— one line of the history."""
    category = Category(values["category"]).label if values.get("category") else "—"
    risks = "、".join(RISK_TYPE_LABELS.get(c, c) for c in values.get("risk_codes") or []) or "—"
    main = RISK_TYPE_LABELS.get(values.get("main_risk") or "", "")
    return f"{category}；{risks}" + (f"（主要：{main}）" if main else "")


@transaction.atomic
def adjustment_propose(
    *,
    case: Case,
    by,
    category: str,
    risk_codes: list[str],
    main_risk: str,
    reason: str,
    monthly_visit: MonthlyVisit | int | None = None,
) -> CaseAdjustment:
    """村级提出动态调整. Refused: another region's case (404), a case not in monitoring
    (400), a role other than the village cadre (403), a proposal already waiting (409),
    and input that breaks the filing rules or changes nothing (400, by field)."""
    # Under the case's lock: a proposal racing the township's decision sees one or the other.
    case = Case.objects.select_for_update().select_related("household").get(pk=case.pk)
    policy.require(by, PROPOSE, case)
    if CaseAdjustment.objects.filter(case=case, status=AdjustmentStatus.PROPOSED).exists():
        raise WorkflowError(
            "该案例已有待乡镇确认的动态调整，请等乡镇确认后再提出", http.HTTP_409_CONFLICT
        )
    codes = _clean_codes(risk_codes)
    main_risk = (main_risk or "").strip()
    reason = (reason or "").strip()
    errors = adjustment_problems(case, category=category, risk_codes=codes, main_risk=main_risk)
    if len(reason) < REASON_MIN:
        errors["reason"] = ["请填写调整理由（如走访发现的新情况）"]
    elif "\x00" in reason:
        errors["reason"] = ["调整理由含有无效字符，请重新填写"]
    if isinstance(monthly_visit, int):  # an id from the API: one of this case's visits
        monthly_visit = MonthlyVisit.objects.filter(pk=monthly_visit, case=case).first()
        if monthly_visit is None:
            errors["monthly_visit"] = ["该走访记录不属于本案例"]
    elif monthly_visit is not None and monthly_visit.case_id != case.pk:
        errors["monthly_visit"] = ["该走访记录不属于本案例"]
    if errors:
        raise ValidationError(errors)
    before = snapshot(case)
    after = {"category": category, "risk_codes": sorted(codes), "main_risk": main_risk}
    if after == before:
        raise ValidationError({"__all__": "调整后的类别、风险类型和主要风险与现状相同，无需调整"})
    adjustment = CaseAdjustment(
        case=case,
        category=category,
        risk_codes=codes,
        main_risk=main_risk,
        reason=reason[:500],
        before=before,
        monthly_visit=monthly_visit,
        proposed_by=by,
    )
    try:
        with transaction.atomic():
            adjustment.save()
    except IntegrityError:
        # The partial unique index (one pending per case) as the last word.
        raise WorkflowError(
            "该案例已有待乡镇确认的动态调整，请等乡镇确认后再提出", http.HTTP_409_CONFLICT
        ) from None
    household = case.household
    Notification.objects.create(
        region_id=region_code_at(household.village_id, RegionLevel.TOWNSHIP),
        role=Role.TOWNSHIP_REVIEWER,
        case=case,
        kind=NotificationKind.ADJUSTMENT,
        message=f"{household.number} 提出动态调整（{describe(after)}），请确认"[:300],
        key=f"adjustment:{adjustment.pk}",
    )
    return adjustment


# --- the township's decision: effects of the workflow steps ----------------------------


def confirm_check(case: Case, today: date) -> list[str]:
    """The proposal against the household as it is now (members may have changed since)."""
    adjustment = pending_adjustment(case)
    if adjustment is None:
        return ["该案例没有待乡镇确认的动态调整"]
    errors = adjustment_problems(
        case,
        category=adjustment.category,
        risk_codes=list(adjustment.risk_codes),
        main_risk=adjustment.main_risk,
    )
    return [problem for problems in errors.values() for problem in problems]


def on_confirmed(case: Case, today: date, data: dict) -> None:
    """Apply the proposal to the case and record the decision."""
    from monitor.services import _set_risks

    adjustment = _decide(case, data, AdjustmentStatus.CONFIRMED)
    case.category = adjustment.category
    case.main_risk = adjustment.main_risk
    _set_risks(case, list(adjustment.risk_codes))
    _tell_village(case, adjustment, "乡镇已确认动态调整：" + describe(_after(adjustment)))


def on_rejected(case: Case, today: date, data: dict) -> None:
    adjustment = _decide(case, data, AdjustmentStatus.REJECTED)
    _tell_village(case, adjustment, f"乡镇未予确认动态调整：{adjustment.decision_note}")


def on_household_closed(case: Case, today: date, data: dict) -> None:
    """销户终止: a proposal still waiting is decided with the case — not confirmed, with the
    closing as the reason and the closing user as the decider — so no township queue keeps
    a proposal on a case that has left monitoring."""
    CaseAdjustment.objects.filter(case_id=case.pk, status=AdjustmentStatus.PROPOSED).update(
        status=AdjustmentStatus.REJECTED,
        decided_by=data["by"],
        decided_at=timezone.now(),
        decision_note=f"销户终止：{data.get('comment', '')}"[:500],
    )
    case._pending_adjustment = None


def _after(adjustment: CaseAdjustment) -> dict:
    return {
        "category": adjustment.category,
        "risk_codes": adjustment.risk_codes,
        "main_risk": adjustment.main_risk,
    }


def _decide(case: Case, data: dict, outcome: str) -> CaseAdjustment:
    adjustment = pending_adjustment(case)
    if adjustment is None:  # the guard and the check have said so already
        raise WorkflowError("该案例没有待乡镇确认的动态调整", http.HTTP_409_CONFLICT)
    adjustment.status = outcome
    adjustment.decided_by = data["by"]
    adjustment.decided_at = timezone.now()
    adjustment.decision_note = data.get("comment", "")[:500]
    adjustment.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    case._pending_adjustment = None
    return adjustment


def _tell_village(case: Case, adjustment: CaseAdjustment, text: str) -> None:
    household = case.household
    Notification.objects.create(
        region_id=household.village_id,
        role=Role.VILLAGE_CADRE,
        case=case,
        kind=NotificationKind.ADJUSTMENT,
        message=f"{household.number} {text}"[:300],
        key=f"adjustment-decided:{adjustment.pk}",
    )


# --- reads ---------------------------------------------------------------------------------


def adjustments_of(case: Case):
    """A case's adjustments, newest first, with who proposed and who decided."""
    return CaseAdjustment.objects.filter(case=case).select_related(
        "proposed_by", "decided_by", "monthly_visit"
    )


def history_rows(case: Case) -> list[dict]:
    """The history for a page: before → after, who, when, why, and the decision."""
    return [
        {
            "adjustment": adjustment,
            "before": describe(adjustment.before),
            "after": describe(_after(adjustment)),
        }
        for adjustment in adjustments_of(case)
    ]


def pending_adjustments_for(user, limit: int = 200) -> list[dict]:
    """The proposals waiting in the user's region, oldest first, each with its before and
    after (one query: the case, household, village and proposer joined)."""
    rows = (
        CaseAdjustment.objects.filter(
            status=AdjustmentStatus.PROPOSED,
            # Only cases still in monitoring: the township can decide nothing else (a
            # proposal left on a case that moved on is not its work).
            case__in=Case.objects.visible_to(user).filter(status=Status.MONITORING),
        )
        .select_related("case__household__village", "proposed_by")
        .order_by("proposed_at", "id")[:limit]
    )
    return [
        {"adjustment": row, "before": describe(row.before), "after": describe(_after(row))}
        for row in rows
    ]
