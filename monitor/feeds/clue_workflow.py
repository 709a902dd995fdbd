"""The clue workflow on the shared engine (monitor/engine.py): one table of steps.

A department or screening clue reaches the county first (待县级下发) and the county
dispatches it (下发) to the village; a farmer's own application waits for the township's
acceptance (受理); either way the village then verifies at home and feeds back what it found
(核实反馈), which closes the clue. Each step is taken through `CLUES.take`: the clue row is
locked, the policy asked (scope 404, state 409, role 403), the step's input checked, and the
new state written with its audit row (ClueTransition) in one transaction. Steps taken for a
whole round at once (monitor/feeds/dispatch.py) write the same audit rows, set-based.
"""

from datetime import date

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.choices import Role
from households.choices import PREFIX_LENGTH, RegionLevel
from households.models import Household
from monitor.choices import (
    CLOSED_STATUSES,
    MAX_RISK_TYPES,
    Channel,
    ClueChannel,
    ClueOutcome,
    ClueStatus,
    NotificationKind,
)
from monitor.deadlines import add_workdays, region_code_at
from monitor.engine import Machine, Step
from monitor.feeds.indicators import risk_codes_for
from monitor.models import Case, Clue, ClueTransition, DispatchRound, Notification
from monitor.regional import local_rule

CASE_CHANNEL = {
    ClueChannel.DEPARTMENT: Channel.DEPARTMENT_WARNING,
    # Screening compares departments' data held in the registry: the same channel.
    ClueChannel.DATA_SCREENING: Channel.DEPARTMENT_WARNING,
    ClueChannel.SELF_APPLICATION: Channel.SELF_APPLICATION,
}


def suggested_risk_codes(clue: Clue) -> list[str]:
    """Risk types from the evidence: the applicants' own choice first, then the
    departments' indicators."""
    chosen = list(clue.applications.values_list("risk_code", flat=True))
    indicators = clue.evidence.exclude(indicator="").values_list("indicator", flat=True)
    codes = list(dict.fromkeys(chosen + risk_codes_for(list(indicators.distinct()))))
    if len(codes) > 1 and "99" in codes:
        codes.remove("99")  # the fallback only when nothing more specific is known
    return codes[:MAX_RISK_TYPES]


def village_due_on(village_code: str, today: date) -> date:
    """The village's verification deadline for a clue that reaches it today: the local
    number of working days (RegionPolicy, else MONITOR_CLUE_VERIFICATION_WORKDAYS)."""
    return add_workdays(today, local_rule(village_code, "clue_verification_workdays", today))


# --- steps -------------------------------------------------------------------------------


def _start_village_clock(clue: Clue, today: date, ctx: dict) -> None:
    # The village's clock starts when the clue reaches it, not when the list arrived.
    clue.due_on = village_due_on(clue.village_id, today)
    clue.overdue_since = None


def _on_dispatched(clue: Clue, today: date, ctx: dict) -> None:
    _start_village_clock(clue, today, ctx)
    who = clue.household.number if clue.household_id else "农户自主申报"
    due = f"请于 {clue.due_on:%Y年%m月%d日} 前入户核实"
    if clue.relapse_of_id:
        # 返贫风险: the village hears of it now that it can act (the key is the one the
        # automatic and the whole-round dispatch use: one announcement per clue).
        key, defaults = (
            f"relapse:{clue.pk}",
            {
                "kind": NotificationKind.RELAPSE_RISK,
                "case_id": clue.relapse_of_id,
                "message": f"返贫风险：县级已下发预警线索 {who}（消除后跟踪期内的农户），{due}",
            },
        )
    else:
        key, defaults = (
            f"clue-dispatch:{clue.pk}",
            {
                "kind": NotificationKind.CLUES_DISPATCHED,
                "message": f"县级已下发预警线索 {who}，{due}",
            },
        )
    Notification.objects.get_or_create(
        key=key, defaults={"region_id": clue.village_id, "role": Role.VILLAGE_CADRE, **defaults}
    )
    if clue.source_batch_id is None:
        return
    # The last clue of its round sent down one by one: the round is dispatched too. A
    # conditional update, not a lock on the round, so it never waits on a whole-round
    # dispatch that holds this clue (that one locks the clues first, then the round).
    county = region_code_at(clue.village_id, RegionLevel.COUNTY)
    pending = Clue.objects.filter(
        source_batch_id=OuterRef("batch_id"),
        village__code__startswith=county[: PREFIX_LENGTH[RegionLevel.COUNTY]],
        status=ClueStatus.PENDING_DISPATCH,
    ).exclude(pk=clue.pk)
    DispatchRound.objects.filter(
        batch_id=clue.source_batch_id, county_id=county, dispatched_at__isnull=True
    ).exclude(Exists(pending)).update(dispatched_at=timezone.now(), dispatched_by=ctx["by"])


def _prepare_verify(clue: Clue, today: date, ctx: dict) -> None:
    """核实反馈's input, checked in the order the API has always answered it."""
    by, note, outcome = ctx["by"], ctx["comment"], ctx.get("outcome")
    if len(note) < 2:
        raise ValidationError({"note": "请填写核实说明"})
    if outcome not in ClueOutcome.values:
        raise ValidationError(
            {"outcome": "核实结果应为：纳入监测、不符合条件、已是监测对象或无法核实"}
        )
    household = ctx.get("household")
    if household is not None and clue.household is None:
        # An applicant who was not yet registered: the cadre registered the household and
        # links it here.
        if not Household.objects.visible_to(by).filter(pk=household.pk).exists():
            raise ValidationError({"household": "该农户不在您的管辖范围内"})
        clue.household = household
    if outcome == ClueOutcome.IDENTIFY:
        if clue.household is None:
            raise ValidationError({"outcome": "申报人尚未登记为农户，请先登记农户及家庭成员"})
        if not ctx.get("category"):
            raise ValidationError({"category": "纳入监测须选择监测对象类别"})
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
    clue.outcome, clue.outcome_note = outcome, note[:500]
    clue.closed_by, clue.closed_at = by, timezone.now()


def _on_verified(clue: Clue, today: date, ctx: dict) -> None:
    """纳入监测 files a draft case pre-filled from the evidence."""
    if clue.outcome != ClueOutcome.IDENTIFY:
        return
    from monitor.services import case_create

    clue.case = case_create(
        household=clue.household,
        category=ctx["category"],
        channel=CASE_CHANNEL[clue.channel],
        risk_codes=ctx.get("risk_codes") or suggested_risk_codes(clue),
        found_on=clue.raised_on,
        by=ctx["by"],
        description=ctx["comment"],
        today=today,
        # 主要风险: the one given, else the first of the risk codes (case_create decides).
        main_risk=ctx.get("main_risk"),
    )


S, R = ClueStatus, Role
CLUE_STEPS: tuple[Step, ...] = (
    Step(
        "dispatch",
        "县级下发",
        S.PENDING_DISPATCH,
        S.VERIFYING,
        R.COUNTY_APPROVER,
        effect=_on_dispatched,
    ),
    Step(
        "accept",
        "乡镇受理",
        S.PENDING_ACCEPTANCE,
        S.VERIFYING,
        R.TOWNSHIP_REVIEWER,
        effect=_start_village_clock,
    ),
    Step(
        "verify",
        "核实反馈",
        S.VERIFYING,
        S.CLOSED,
        R.VILLAGE_CADRE,
        prepare=_prepare_verify,
        effect=_on_verified,
    ),
)

# The policy's words for each step (accounts/policy.py builds the rules from CLUE_STEPS):
# who takes it, and what a clue in another state is told.
CLUE_REFUSALS = {
    "dispatch": ("预警线索由县级审定人下发", "无需下发"),
    "accept": ("农户自主申报由乡镇受理", "无需受理"),
    "verify": ("预警线索由村干部入户核实并反馈", "不能反馈核实结果"),
}

CLUES = Machine(
    model=Clue,
    transition_model=ClueTransition,
    subject="clue",
    steps=CLUE_STEPS,
    policy_prefix="clue.",
)
