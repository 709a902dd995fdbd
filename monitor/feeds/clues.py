"""The village's verification of a warning clue, and the township's acceptance of a
farmer's own application. Each closes the loop back to the source with an outcome."""

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import policy
from households.models import Household
from monitor.choices import (
    CLOSED_STATUSES,
    MAX_RISK_TYPES,
    Channel,
    ClueChannel,
    ClueOutcome,
    ClueStatus,
)
from monitor.deadlines import add_workdays
from monitor.feeds.indicators import risk_codes_for
from monitor.models import Case, Clue
from monitor.services import case_create
from monitor.workflow import WorkflowError

CASE_CHANNEL = {
    ClueChannel.DEPARTMENT: Channel.DEPARTMENT_WARNING,
    # Screening compares departments' data held in the registry: the same channel.
    ClueChannel.DATA_SCREENING: Channel.DEPARTMENT_WARNING,
    ClueChannel.SELF_APPLICATION: Channel.SELF_APPLICATION,
}


def _locked(clue_id: int, by) -> Clue:
    clue = Clue.objects.visible_to(by).select_for_update(of=("self",)).filter(pk=clue_id).first()
    if clue is None:
        raise WorkflowError("未找到，或不在您的管辖范围内。", 404)
    return clue


def suggested_risk_codes(clue: Clue) -> list[str]:
    """Risk types from the evidence: the applicants' own choice first, then the
    departments' indicators."""
    chosen = list(clue.applications.values_list("risk_code", flat=True))
    indicators = clue.evidence.exclude(indicator="").values_list("indicator", flat=True)
    codes = list(dict.fromkeys(chosen + risk_codes_for(list(indicators.distinct()))))
    if len(codes) > 1 and "99" in codes:
        codes.remove("99")  # the fallback only when nothing more specific is known
    return codes[:MAX_RISK_TYPES]


@transaction.atomic
def clue_verify(
    *,
    clue_id: int,
    by,
    outcome: str,
    note: str,
    category: str | None = None,
    risk_codes: list[str] | None = None,
    household=None,
    today: date | None = None,
) -> Clue:
    """核实反馈. 纳入监测 files a draft case pre-filled from the evidence; 已是监测对象 links
    the household's open case; 不符合条件 and 无法核实 close the clue with the note."""
    clue = _locked(clue_id, by)
    policy.require(by, "clue.verify", clue)
    note = (note or "").strip()
    if len(note) < 2:
        raise ValidationError({"note": "请填写核实说明"})
    if outcome not in ClueOutcome.values:
        raise ValidationError(
            {"outcome": "核实结果应为：纳入监测、不符合条件、已是监测对象或无法核实"}
        )
    today = today or timezone.localdate()
    if household is not None and clue.household is None:
        # An applicant who was not yet registered: the cadre registered the household and
        # links it here.
        if not Household.objects.visible_to(by).filter(pk=household.pk).exists():
            raise ValidationError({"household": "该农户不在您的管辖范围内"})
        clue.household = household
    if outcome == ClueOutcome.IDENTIFY:
        if clue.household is None:
            raise ValidationError({"outcome": "申报人尚未登记为农户，请先登记农户及家庭成员"})
        if not category:
            raise ValidationError({"category": "纳入监测须选择监测对象类别"})
        clue.case = case_create(
            household=clue.household,
            category=category,
            channel=CASE_CHANNEL[clue.channel],
            risk_codes=risk_codes or suggested_risk_codes(clue),
            found_on=clue.raised_on,
            by=by,
            description=note,
            today=today,
        )
    elif outcome == ClueOutcome.ALREADY_MONITORED:
        open_case = (
            Case.objects.filter(household=clue.household)
            .exclude(status__in=CLOSED_STATUSES)
            .first()
            if clue.household
            else None
        )
        if open_case is None:
            raise ValidationError({"outcome": "该户没有在办的监测案例，请选择其他核实结果"})
        clue.case = open_case
    clue.status, clue.outcome, clue.outcome_note = ClueStatus.CLOSED, outcome, note[:500]
    clue.closed_by, clue.closed_at = by, timezone.now()
    clue.save()
    return clue


@transaction.atomic
def clue_accept(*, clue_id: int, by, note: str = "") -> Clue:
    """乡镇受理: a farmer's own application goes on to the village for the home check."""
    clue = _locked(clue_id, by)
    policy.require(by, "clue.accept", clue)
    # The village's clock starts now: its home check within the configured working days.
    today = timezone.localdate()
    clue.status = ClueStatus.VERIFYING
    clue.due_on = add_workdays(today, settings.MONITOR["CLUE_VERIFICATION_WORKDAYS"])
    clue.overdue_since = None
    clue.save(update_fields=["status", "due_on", "overdue_since"])
    return clue
