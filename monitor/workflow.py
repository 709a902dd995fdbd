"""The case workflow: one table of allowed transitions and one entry point that takes them.

Identification: 待乡镇受理 → 村级核实中 → 村级上报 → 乡镇审核 → 纳入监测 (县级审定);
clearance: 监测帮扶中 → 风险消除待审核 → 乡镇已审核 → 风险已消除. Township and county can
return a case to the level below with a reason, or refuse it (不予纳入) with a reason.
While in monitoring the township decides the village's 动态调整 (the status stays, the trail
records it); 销户终止 ends the open case of a household none of whose members is left.

`case_transition()` checks the actor's role and region, locks the case row, re-reads its
status under the lock (so of two reviewers acting at once exactly one wins, the other gets a
409), checks the step's preconditions, and writes the new state and the audit row together.
"""

from datetime import date

from rest_framework import status as http

from accounts.choices import Role
from households.models import Household
from monitor.choices import OPEN_STATUSES, ClearanceKind, DeadlineStep, Stage, Status
from monitor.engine import Machine, Step, WorkflowError
from monitor.models import Case, CaseTransition, Deadline

__all__ = ["STEPS", "Step", "WorkflowError", "allowed_actions", "case_transition"]


def _check_report(case: Case, today: date) -> list[str]:
    from monitor.rules import report_problems

    return report_problems(case, today)


def _check_clearance(case: Case, today: date) -> list[str]:
    from monitor.rules import clearance_problems

    return clearance_problems(case, today)


def _on_accept(case: Case, today: date, data: dict) -> None:
    _meet(case, DeadlineStep.TOWNSHIP_ACCEPTANCE, today)


def _on_identified(case: Case, today: date, data: dict) -> None:
    case.identified_on = today
    _meet(case, DeadlineStep.IDENTIFICATION, today)
    Household.objects.filter(pk=case.household_id).update(is_monitored=True)


def _on_closed(case: Case, today: date, data: dict) -> None:
    case.closed_reason = data["comment"][:300]
    Deadline.objects.filter(case=case, met_on__isnull=True).update(met_on=today)


def _prepare_clearance(case: Case, today: date, data: dict) -> None:
    from monitor.rules import natural_clearance_input

    kind = data.get("clearance_kind")
    if kind not in ClearanceKind.values:
        raise WorkflowError("请选择风险消除方式：帮扶消除或自然消除", http.HTTP_400_BAD_REQUEST)
    case.clearance_kind = kind
    # 自然消除 brings why the risk went away and its evidence (checked as bad input by
    # field here; the checks read them again at each approval).
    reason, evidence, member = ("", "", None)
    if kind == ClearanceKind.NATURAL:
        reason, evidence, member = natural_clearance_input(
            case,
            reason=data.get("natural_reason"),
            evidence=data.get("natural_evidence"),
            member_id=data.get("natural_member_id"),
        )
    case.natural_reason, case.natural_evidence, case.natural_member = reason, evidence, member


def _on_clearance_returned(case: Case, today: date, data: dict) -> None:
    case.clearance_kind = ""
    case.natural_reason, case.natural_evidence, case.natural_member = "", "", None


def _adjustment_pending(case: Case) -> str | None:
    from monitor.adjustments import decision_guard

    return decision_guard(case)


def _check_adjustment(case: Case, today: date) -> list[str]:
    from monitor.adjustments import confirm_check

    return confirm_check(case, today)


def _on_adjustment_confirmed(case: Case, today: date, data: dict) -> None:
    from monitor.adjustments import on_confirmed

    on_confirmed(case, today, data)


def _on_adjustment_rejected(case: Case, today: date, data: dict) -> None:
    from monitor.adjustments import on_rejected

    on_rejected(case, today, data)


def _household_is_closed(case: Case) -> str | None:
    # Taken by the member status service when the last member leaves the register (in its
    # transaction); asked for by hand, only for a household that is closed.
    if case.household.closed_on is None:
        return "该户尚未销户（仍有在册成员），不能办理「销户终止」"
    return None


def _on_household_closed(case: Case, today: date, data: dict) -> None:
    from monitor.adjustments import on_household_closed

    _on_closed(case, today, data)
    on_household_closed(case, today, data)


def _on_cleared(case: Case, today: date, data: dict) -> None:
    from monitor.follow_up import follow_up_end

    case.cleared_on = today
    # 消除后跟踪: the household stays on the watch list for the local number of months.
    case.follow_up_until = follow_up_end(case.household.village_id, today)
    Household.objects.filter(pk=case.household_id).update(is_monitored=False)


def _check_spot_check(case: Case, today: date) -> list[str]:
    from monitor.identification import spot_check_problems

    return spot_check_problems(case)


def _announcing(effect, stage: str):
    """The county's decision, then its 公告 with notifications to village and township
    (monitor/identification.py): the step's own effect is kept as it is."""

    def effect_and_announce(case: Case, today: date, data: dict) -> None:
        from monitor.identification import announce

        effect(case, today, data)
        announce(case=case, stage=stage, today=today, by=data["by"])

    return effect_and_announce


def _meet(case: Case, step: str, today: date) -> None:
    Deadline.objects.filter(case=case, step=step, met_on__isnull=True).update(met_on=today)


S, R = Status, Role
STEPS: tuple[Step, ...] = (
    Step("accept", "乡镇受理", S.APPLIED, S.DRAFT, R.TOWNSHIP_REVIEWER, effect=_on_accept),
    Step(
        "decline",
        "不予受理",
        S.APPLIED,
        S.REJECTED,
        R.TOWNSHIP_REVIEWER,
        needs_reason=True,
        effect=_on_closed,
    ),
    Step(
        "withdraw",
        "撤销",
        S.DRAFT,
        S.CANCELLED,
        R.VILLAGE_CADRE,
        needs_reason=True,
        effect=_on_closed,
    ),
    Step("report", "村级上报", S.DRAFT, S.REPORTED, R.VILLAGE_CADRE, check=_check_report),
    Step("township_approve", "乡镇审核通过", S.REPORTED, S.TOWNSHIP_APPROVED, R.TOWNSHIP_REVIEWER),
    Step(
        "township_return", "乡镇退回", S.REPORTED, S.DRAFT, R.TOWNSHIP_REVIEWER, needs_reason=True
    ),
    Step(
        "township_reject",
        "乡镇不予纳入",
        S.REPORTED,
        S.REJECTED,
        R.TOWNSHIP_REVIEWER,
        needs_reason=True,
        effect=_on_closed,
    ),
    Step(
        "county_approve",
        "县级审定纳入监测",
        S.TOWNSHIP_APPROVED,
        S.MONITORING,
        R.COUNTY_APPROVER,
        check=_check_spot_check,
        effect=_announcing(_on_identified, Stage.IDENTIFICATION),
    ),
    Step(
        "county_return",
        "县级退回",
        S.TOWNSHIP_APPROVED,
        S.REPORTED,
        R.COUNTY_APPROVER,
        needs_reason=True,
    ),
    Step(
        "county_reject",
        "县级不予纳入",
        S.TOWNSHIP_APPROVED,
        S.REJECTED,
        R.COUNTY_APPROVER,
        needs_reason=True,
        effect=_on_closed,
    ),
    Step(
        "propose_clearance",
        "村级提出风险消除",
        S.MONITORING,
        S.CLEARANCE_PROPOSED,
        R.VILLAGE_CADRE,
        prepare=_prepare_clearance,
        check=_check_clearance,
    ),
    Step(
        "township_approve_clearance",
        "乡镇审核风险消除",
        S.CLEARANCE_PROPOSED,
        S.CLEARANCE_TOWNSHIP_APPROVED,
        R.TOWNSHIP_REVIEWER,
        # Approvals check again: measures or income may have changed since the proposal.
        check=_check_clearance,
    ),
    Step(
        "township_return_clearance",
        "乡镇退回风险消除",
        S.CLEARANCE_PROPOSED,
        S.MONITORING,
        R.TOWNSHIP_REVIEWER,
        needs_reason=True,
        effect=_on_clearance_returned,
    ),
    Step(
        "county_approve_clearance",
        "县级审定风险消除",
        S.CLEARANCE_TOWNSHIP_APPROVED,
        S.CLEARED,
        R.COUNTY_APPROVER,
        check=_check_clearance,
        effect=_announcing(_on_cleared, Stage.CLEARANCE),
    ),
    Step(
        "county_return_clearance",
        "县级退回风险消除",
        S.CLEARANCE_TOWNSHIP_APPROVED,
        S.CLEARANCE_PROPOSED,
        R.COUNTY_APPROVER,
        needs_reason=True,
    ),
    # 动态调整: the township decides the village's proposal (monitor/adjustments.py); the
    # status stays, the trail records the decision.
    Step(
        "adjustment_confirm",
        "乡镇确认动态调整",
        S.MONITORING,
        None,
        R.TOWNSHIP_REVIEWER,
        guard=_adjustment_pending,
        check=_check_adjustment,
        effect=_on_adjustment_confirmed,
    ),
    Step(
        "adjustment_reject",
        "乡镇不予确认动态调整",
        S.MONITORING,
        None,
        R.TOWNSHIP_REVIEWER,
        needs_reason=True,
        guard=_adjustment_pending,
        effect=_on_adjustment_rejected,
    ),
    # 销户: every member died or moved out (households.life); the open case ends with it.
    Step(
        "household_closed",
        "销户终止",
        OPEN_STATUSES,
        S.TERMINATED,
        frozenset({R.VILLAGE_CADRE, R.TOWNSHIP_REVIEWER}),
        needs_reason=True,
        guard=_household_is_closed,
        effect=_on_household_closed,
    ),
)
ACTION_CHOICES = [(step.action, step.label) for step in STEPS]

# The stage whose evidence a step's preconditions read.
STAGE_OF_STATUS = {
    S.APPLIED: Stage.IDENTIFICATION,
    S.DRAFT: Stage.IDENTIFICATION,
    S.REPORTED: Stage.IDENTIFICATION,
    S.TOWNSHIP_APPROVED: Stage.IDENTIFICATION,
    S.MONITORING: Stage.CLEARANCE,
    S.CLEARANCE_PROPOSED: Stage.CLEARANCE,
    S.CLEARANCE_TOWNSHIP_APPROVED: Stage.CLEARANCE,
}


CASES = Machine(
    model=Case,
    transition_model=CaseTransition,
    subject="case",
    steps=STEPS,
    policy_prefix="case.",
)
# The engine's own lookup (one dict: a test that swaps a step swaps it for the engine too).
STEP_BY_ACTION = CASES.by_action


def allowed_actions(case: Case, user) -> list[Step]:
    """Steps this user could take now (for buttons and the API's `actions` field)."""
    return CASES.allowed(case, user)


def case_transition(
    *, case_id: int, action: str, by, comment: str = "", today: date | None = None, **data
) -> Case:
    return CASES.take(obj_id=case_id, action=action, by=by, comment=comment, today=today, **data)
