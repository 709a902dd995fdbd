"""Identification as the counties do it (DOMAIN.md section 6), beyond the village's four
records: the cross-check against the negative list (信息比对), home visits by township and
county staff (乡村两级入户, 县级复核), the county's random spot check of reported cases
(县级抽查) and the announcement after the county's decision (公告).

Writes check the policy first (accounts/policy.py); the workflow (monitor/workflow.py) calls
`spot_check_problems` before the county approves and `announce` when it has approved.
"""

import math
import secrets
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import policy
from accounts.audit import audit_record
from accounts.choices import AuditAction, Role
from households.choices import RegionLevel
from monitor.choices import CrossCheckResult, NotificationKind, Stage, Status, VisitLevel
from monitor.deadlines import region_code_at
from monitor.models import (
    Announcement,
    Case,
    CrossCheck,
    CrossCheckFinding,
    CrossCheckItem,
    HomeVisit,
    Notification,
)
from monitor.regional import local_rule
from monitor.services import _evidence_case

OFFICIAL_VISIT = "case.official_visit"
SPOT_CHECK_DRAW = "case.spot_check_draw"
ITEM_MANAGE = "cross_check_item.manage"
# The level a visit is recorded at, from the recorder's role (never from input).
VISIT_LEVEL = {
    Role.VILLAGE_CADRE: VisitLevel.VILLAGE,
    Role.TOWNSHIP_REVIEWER: VisitLevel.TOWNSHIP,
    Role.COUNTY_APPROVER: VisitLevel.COUNTY,
}
# Reported cases, before the county's decision: the spot check's population, and the
# states whose official visits belong to identification (later ones: to clearance).
UNDER_REVIEW = (Status.REPORTED, Status.TOWNSHIP_APPROVED)
NOTE_REQUIRED = {
    CrossCheckResult.FOUND: "发现",
    CrossCheckResult.UNAVAILABLE: "无法比对",
}
SPOT_CHECK_UNMET = "本案例为县级抽查对象，须先登记县级入户核实"


# --- 信息比对 ----------------------------------------------------------------------------


def _finding_rows(findings, items: dict, known: dict) -> tuple[list[CrossCheckFinding], list]:
    """One finding per active item: every problem named with its item."""
    rows, errors, seen = [], [], set()
    for entry in findings or []:
        if not isinstance(entry, dict):
            errors.append("每项比对结果应包含比对事项、结果和情况说明")
            continue
        given = entry.get("item")
        code = given.code if isinstance(given, CrossCheckItem) else str(given or "").strip()
        item = items.get(code)
        if item is None:
            if code in known:
                errors.append(f"比对事项「{known[code].name}」已停用，无需填写")
            else:
                errors.append(f"未知的比对事项：{code or '（空）'}")
            continue
        if code in seen:
            errors.append(f"比对事项「{item.name}」重复填写")
            continue
        seen.add(code)
        result = str(entry.get("result") or "")
        note = str(entry.get("note") or "").strip()
        if result not in CrossCheckResult.values:
            errors.append(f"比对事项「{item.name}」的比对结果应为：未发现、发现或无法比对")
            continue
        if result in NOTE_REQUIRED and not note:
            errors.append(f"比对事项「{item.name}」为「{NOTE_REQUIRED[result]}」时须填写情况说明")
            continue
        if len(note) > 300:
            errors.append(f"比对事项「{item.name}」的情况说明不能超过300字")
            continue
        rows.append(CrossCheckFinding(item=item, result=result, note=note))
    missing = [item.name for code, item in items.items() if code not in seen]
    if missing:
        errors.append("缺少以下比对事项的结果：" + "、".join(missing))
    return rows, errors


@transaction.atomic
def cross_check_record(
    *,
    case: Case,
    by,
    checked_on: date,
    findings,
    note: str = "",
    stage: str = Stage.IDENTIFICATION,
) -> CrossCheck:
    """信息比对: the household checked against every item of the negative list now in use,
    one finding each (未发现 / 发现 / 无法比对; the last two with a note). `findings` is a
    list of {"item": code, "result": …, "note": …}."""
    if stage != Stage.IDENTIFICATION:
        raise ValidationError({"stage": "信息比对在识别认定阶段登记"})
    case = _evidence_case(case, stage, by, {"checked_on": checked_on})
    known = {item.code: item for item in CrossCheckItem.objects.all()}
    items = {code: item for code, item in known.items() if item.active}
    rows, errors = _finding_rows(findings, items, known)
    if errors:
        raise ValidationError({"findings": errors})
    record = CrossCheck(
        case=case, stage=stage, recorded_by=by, checked_on=checked_on, note=(note or "").strip()
    )
    record.full_clean(exclude=["recorded_by"])
    record.save()
    for row in rows:
        row.check_record = record
    CrossCheckFinding.objects.bulk_create(rows)
    return record


@transaction.atomic
def cross_check_item_save(*, by, item: CrossCheckItem | None = None, **fields) -> CrossCheckItem:
    """The negative list is data: the administrator adds items, renames, reorders or stops
    using them (an item in use on records is never deleted). Audited."""
    policy.require(by, ITEM_MANAGE)
    creating = item is None
    item = item or CrossCheckItem()
    if not creating and "code" in fields and fields["code"] != item.code:
        raise ValidationError({"code": "比对事项代码创建后不能修改"})
    for name, value in fields.items():
        setattr(item, name, value)
    item.full_clean()
    item.save()
    audit_record(
        actor=by,
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        obj=item,
        detail={"fields": sorted(fields)},
    )
    return item


# --- 乡村两级入户 / 县级复核 --------------------------------------------------------------


def official_visit_stage(status: str) -> str:
    """The stage a township or county visit belongs to: identification while the case is
    reported and under review, clearance once it is monitored."""
    return Stage.IDENTIFICATION if status in UNDER_REVIEW else Stage.CLEARANCE


@transaction.atomic
def official_visit_record(*, case: Case, by, stage: str | None = None, **fields) -> HomeVisit:
    """乡镇/县级入户核实: a home visit by township or county staff, at their level. The stage
    follows the case's state; a stage given that does not is refused."""
    # The state read under the lock decides the stage (a step racing this visit waits).
    locked = Case.objects.select_for_update().get(pk=case.pk)
    expected = official_visit_stage(locked.status)
    locked = _evidence_case(
        locked, expected, by, {"visited_on": fields.get("visited_on")}, action=OFFICIAL_VISIT
    )
    if stage and stage != expected:
        raise ValidationError(
            {
                "stage": f"案例当前为「{locked.get_status_display()}」，乡镇/县级入户核实应登记在"
                f"「{Stage(expected).label}」阶段（stage={expected}）"
            }
        )
    visit = HomeVisit(
        case=locked, stage=expected, recorded_by=by, level=VISIT_LEVEL[by.role], **fields
    )
    visit.full_clean(exclude=["recorded_by"])
    visit.save()
    return visit


# --- 县级抽查 ----------------------------------------------------------------------------


@transaction.atomic
def spot_check_draw(*, by, today: date | None = None) -> dict:
    """县级抽查: among the county's reported cases not drawn before, draw at random the
    county's share (RegionPolicy.spot_check_percent, rounded up). A drawn case needs a
    county-level home visit before the county approves it (monitor/workflow.py)."""
    policy.require(by, SPOT_CHECK_DRAW)
    today = today or timezone.localdate()
    county = by.region_id
    percent = int(local_rule(county, "spot_check_percent", today))
    # Locked: two draws at once would otherwise both sample the same cases.
    candidates = list(
        Case.objects.visible_to(by)
        .filter(status__in=UNDER_REVIEW, spot_check_drawn_at__isnull=True)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    wanted = math.ceil(len(candidates) * percent / 100)
    drawn = sorted(secrets.SystemRandom().sample(candidates, wanted))
    Case.objects.filter(pk__in=drawn).update(spot_check_drawn_at=timezone.now())
    notes = [
        Notification(
            region_id=region_code_at(case.household.village_id, RegionLevel.COUNTY),
            role=Role.COUNTY_APPROVER,
            case=case,
            kind=NotificationKind.SPOT_CHECK,
            message=f"{case.household.number} 抽中县级抽查：审定前须登记县级入户核实",
            key=f"spot-check:{case.pk}",
        )
        for case in Case.objects.filter(pk__in=drawn).select_related("household")
    ]
    Notification.objects.bulk_create(notes, ignore_conflicts=True)
    result = {
        "percent": percent,
        "candidates": len(candidates),
        "drawn": len(drawn),
        "case_ids": drawn,
    }
    audit_record(
        actor=by,
        action=AuditAction.SPOT_CHECK_DRAW,
        object_type="households.region",
        object_id=county or "",
        object_label=f"县级抽查 {county}",
        detail=result,
    )
    return result


def spot_check_problems(case: Case) -> list[str]:
    """A case drawn for the spot check is approved only after a county-level home visit."""
    if case.spot_check_drawn_at is None:
        return []
    visited = HomeVisit.objects.filter(
        case=case, stage=Stage.IDENTIFICATION, level=VisitLevel.COUNTY
    ).exists()
    return [] if visited else [SPOT_CHECK_UNMET]


# --- 公告 --------------------------------------------------------------------------------

ANNOUNCED = {
    Stage.IDENTIFICATION: "经县级审定，纳入防止返贫监测对象",
    Stage.CLEARANCE: "经县级审定，标注风险消除",
}


def announce(*, case: Case, stage: str, today: date, by) -> Announcement:
    """公告 of the county's decision, and a notification to the village and the township.
    The text names the village, the household number and the category only — never an ID
    number, phone, bank account or health status."""
    household = case.household
    village = household.village
    place = f"{village.parent.name if village.parent_id else ''}{village.name}"
    text = f"{place} 户编号 {household.number}（{case.get_category_display()}）{ANNOUNCED[stage]}。"
    announcement = Announcement.objects.create(
        case=case, stage=stage, announced_on=today, text=text[:300], announced_by=by
    )
    message = f"{household.number} {ANNOUNCED[stage]}（{today:%Y-%m-%d} 公告）"
    Notification.objects.bulk_create(
        [
            Notification(
                region_id=household.village_id,
                role=Role.VILLAGE_CADRE,
                case=case,
                kind=NotificationKind.ANNOUNCED,
                message=message,
                key=f"announced:{announcement.pk}:village",
            ),
            Notification(
                region_id=region_code_at(household.village_id, RegionLevel.TOWNSHIP),
                role=Role.TOWNSHIP_REVIEWER,
                case=case,
                kind=NotificationKind.ANNOUNCED,
                message=message,
                key=f"announced:{announcement.pk}:township",
            ),
        ],
        ignore_conflicts=True,
    )
    return announcement


def announcements_for(user):
    """公告 of the cases in the user's region."""
    return Announcement.objects.filter(case__in=Case.objects.visible_to(user)).select_related(
        "case__household__village", "announced_by"
    )
