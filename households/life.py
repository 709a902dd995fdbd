"""成员状态 and 销户: a member leaves the register (死亡 / 户籍迁出, with the day and the
evidence), and a household none of whose members is left in it is closed.

A member who left stays on file (the household's history reads back) but stops counting
for everything that asks who lives there: labour for the clearance and filing rules,
schooling and insurance for 两不愁三保障, the size of a new income record, the dropout
screening. When the last member leaves, the household is closed (销户): its file is kept,
it is no longer monitored, nothing new is filed on it, and its open case ends as 销户终止
through the case workflow, by the same user in the same transaction, with the trail's
audit row. The township is told.
"""

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import policy
from accounts.audit import audit_record
from accounts.choices import AuditAction, Role
from households.choices import LifeStatus, RegionLevel
from households.models import Household, Member

ACTION = "member.life_status"
CLOSED_REASON = "全部成员死亡或户籍迁出"
GONE = (LifeStatus.DECEASED, LifeStatus.MOVED_OUT)
EVIDENCE_MIN, EVIDENCE_MAX = 2, 300


@transaction.atomic
def member_life_status_record(
    *, member: Member, by, status: str, on: date | None, evidence: str, today: date | None = None
) -> Member:
    """成员状态变更. Refused: another region's member (404), a member already gone from
    the register (400), a role other than the village cadre and the township reviewer
    (403), and bad input by field (status, on, evidence)."""
    from monitor.choices import OPEN_STATUSES
    from monitor.choices import Status as CaseStatus
    from monitor.models import Case

    today = today or timezone.localdate()
    # Lock order, case before household: the county's approvals lock the case and then
    # write the household (is_monitored), so taking the household first here could
    # deadlock with them on PostgreSQL. The case rows this transaction may write are
    # locked first: the open case (销户终止) and the cleared ones (their follow-up ends).
    list(
        Case.objects.select_for_update()
        .filter(household_id=member.household_id, status__in=[*OPEN_STATUSES, CaseStatus.CLEARED])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # Then the household's row: two members leaving at once are counted one after the
    # other, so the second sees the first gone and the household closes exactly once.
    Household.objects.select_for_update().filter(pk=member.household_id).first()
    member = Member.objects.select_for_update().select_related("household").get(pk=member.pk)
    policy.require(by, ACTION, member)
    errors = {}
    if status not in GONE:
        errors["status"] = "请选择成员状态：死亡或户籍迁出"
    if on is None:
        errors["on"] = "请填写状态变更日期"
    elif on > today:
        errors["on"] = "状态变更日期不能晚于今天"
    elif on < member.birth_date:
        errors["on"] = f"状态变更日期不能早于该成员的出生日期 {member.birth_date:%Y-%m-%d}"
    evidence = (evidence or "").strip()
    if len(evidence) < EVIDENCE_MIN:
        errors["evidence"] = "请填写依据（如死亡证明、火化证明、户口迁移证明）"
    elif len(evidence) > EVIDENCE_MAX or "\x00" in evidence:
        errors["evidence"] = f"依据不超过 {EVIDENCE_MAX} 个字"
    if errors:
        raise ValidationError(errors)
    member.life_status, member.life_status_on, member.life_status_evidence = status, on, evidence
    member.save(
        update_fields=["life_status", "life_status_on", "life_status_evidence", "updated_at"]
    )
    # The label is the member's name with the masked ID number (Member.__str__).
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=member,
        reason=evidence,
        detail={"life_status": status, "on": on.isoformat()},
    )
    household = member.household
    _report_facts_stale(household.pk)
    if not household.members.filter(life_status=LifeStatus.IN_REGISTER).exists():
        household_close(household=household, by=by, today=today)
    return member


def _report_facts_stale(household_id: int) -> None:
    # The people counted in the reports as of each day changed (monitor.reports.facts).
    from monitor.reports.facts import case_facts_mark_households

    case_facts_mark_households([household_id])


def household_close(*, household: Household, by, today: date) -> Household:
    """销户: the file kept, monitoring ended, the open case (any open state) 销户终止."""
    from monitor.choices import NotificationKind
    from monitor.deadlines import region_code_at
    from monitor.follow_up import follow_up_stop
    from monitor.models import Case, Notification
    from monitor.workflow import case_transition

    household.closed_on = today
    household.closed_reason = CLOSED_REASON
    household.is_monitored = False
    household.save(update_fields=["closed_on", "closed_reason", "is_monitored", "updated_at"])
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=household,
        reason=CLOSED_REASON,
        detail={"closed_on": today.isoformat()},
    )
    case = Case.objects.open().filter(household=household).first()
    text = f"{household.number} {CLOSED_REASON}，已于 {today:%Y-%m-%d} 销户"
    if case is not None:
        case = case_transition(
            case_id=case.pk,
            action="household_closed",
            by=by,
            comment=f"{CLOSED_REASON}，已销户",
            today=today,
        )
        text += f"；其监测案例已{case.get_status_display()}"
    # 消除后跟踪 ends with the household: nobody is left to visit. The last day is the day
    # before the closing, like a relapse's (monitor/services.py case_create).
    if follow_up_stop(
        household_id=household.pk,
        last_day=today - timedelta(days=1),
        by=by,
        reason=f"{CLOSED_REASON}，已销户",
    ):
        text += "；消除后跟踪随之结束"
    Notification.objects.create(
        region_id=region_code_at(household.village_id, RegionLevel.TOWNSHIP),
        role=Role.TOWNSHIP_REVIEWER,
        case=case,
        kind=NotificationKind.HOUSEHOLD_CLOSED,
        message=text[:300],
        key=f"household-closed:{household.pk}",
    )
    return household


def household_closed_check(household: Household, what: str) -> None:
    """Nothing new on a closed household's file (members, income)."""
    if household.closed_on is not None:
        raise ValidationError(
            {"household": f"该户已于 {household.closed_on:%Y-%m-%d} 销户，不能{what}"}
        )
