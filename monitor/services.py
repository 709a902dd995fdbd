"""Writes to cases and their records. Workflow steps go through monitor.workflow."""

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import policy
from accounts.choices import Role
from households.models import Household
from monitor.choices import Channel, DeadlineStep, NotificationKind, Stage, Status
from monitor.deadlines import deadlines_open, deadlines_reschedule
from monitor.follow_up import follow_up_stop
from monitor.models import (
    Appraisal,
    Case,
    CaseRisk,
    Consent,
    Deadline,
    HomeVisit,
    MonthlyVisit,
    Notification,
    PublicNotice,
)
from monitor.rules import filing_problems

# The policy action of each stage's evidence (which states take it: accounts/policy.py).
EVIDENCE_ACTION = {
    Stage.IDENTIFICATION: "case.evidence.identification",
    Stage.CLEARANCE: "case.evidence.clearance",
}
# Home visits by these roles are 乡镇/县级入户核实 (policy action case.official_visit).
OFFICIAL_VISITORS = frozenset({Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER})
MAX_SCAN_BYTES = 10 * 1024 * 1024
SCAN_TYPES = {b"%PDF": "pdf", b"\xff\xd8\xff": "jpg", b"\x89PNG": "png"}


def _main_risk(given: str | None, codes: list[str], errors: dict, current: str = "") -> str:
    """主要风险: one of the case's risk codes — the one given, else the current one while it
    is still among them, else the first. A given one outside the codes is bad input."""
    if given:
        if given not in codes:
            errors["main_risk"] = "主要风险须是本案例所选的风险类型之一"
        return given
    if current and current in codes:
        return current
    return codes[0] if codes else ""


def _set_risks(case: Case, codes: list[str]) -> None:
    CaseRisk.objects.filter(case=case).exclude(code__in=codes).delete()
    existing = set(CaseRisk.objects.filter(case=case).values_list("code", flat=True))
    CaseRisk.objects.bulk_create([CaseRisk(case=case, code=c) for c in codes if c not in existing])


@transaction.atomic
def case_create(
    *,
    household: Household,
    category: str,
    channel: str,
    risk_codes: list[str],
    found_on: date,
    by,
    description: str = "",
    green_channel: bool = False,
    awaiting_acceptance: bool = False,
    today: date | None = None,
    main_risk: str | None = None,
) -> Case:
    """File a case (线索登记). It starts with the village's verification; a paper
    self-application entered for the township to accept first (`awaiting_acceptance`)
    starts waiting for it. (Applications from the public page become clues, which the
    township accepts before the village files a case from them.)"""
    if by is not None:
        policy.require(by, "case.file", household)
    today = today or timezone.localdate()
    problems = filing_problems(
        household=household,
        category=category,
        risk_codes=risk_codes,
        found_on=found_on,
        today=today,
    )
    errors = {"__all__": problems} if problems else {}
    main_risk = _main_risk(main_risk, risk_codes, errors)
    if errors:
        raise ValidationError(errors)
    if awaiting_acceptance and channel != Channel.SELF_APPLICATION:
        raise ValidationError({"channel": "只有农户自主申报需要乡镇受理"})
    initial = Status.APPLIED if awaiting_acceptance else Status.DRAFT
    # 返贫: a household cleared before that has a case again, whatever the channel.
    relapse_of = (
        Case.objects.filter(household=household, status=Status.CLEARED)
        .order_by("-cleared_on", "-id")
        .first()
    )
    case = Case(
        household=household,
        category=category,
        channel=channel,
        status=initial,
        found_on=found_on,
        description=description,
        green_channel=green_channel,
        main_risk=main_risk,
        created_by=by,
        relapse_of=relapse_of,
    )
    case.full_clean(exclude=["created_by"])
    try:
        with transaction.atomic():
            case.save()
    except IntegrityError:
        # Two cadres filing for one household at once: the partial unique index decides.
        raise ValidationError({"household": "该户已有未办结的监测案例（一户只能有一个）"}) from None
    _set_risks(case, risk_codes)
    deadlines_open(case)
    if relapse_of is not None:
        # 返贫: the household is back in the identification procedure, so its follow-up
        # after clearance ends. The last day is the day before the filing, not before the
        # finding: the finding day may lie before the clearance or be corrected later,
        # while the filing is the fixed day the household left the watch list.
        follow_up_stop(
            household_id=household.pk,
            last_day=today - timedelta(days=1),
            by=by,
            reason=f"返贫：{household.number} 已重新登记监测对象（案例 {case.pk}）",
        )
    return case


@transaction.atomic
def case_update(
    *, case: Case, by, today: date | None = None, risk_codes=None, main_risk=None, **fields
) -> Case:
    """Edit the facts of a case while the village still holds it."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    previous_found_on = case.found_on
    policy.require(by, "case.edit", case)
    for name, value in fields.items():
        setattr(case, name, value)
    codes = (
        risk_codes if risk_codes is not None else list(case.risks.values_list("code", flat=True))
    )
    problems = [
        p
        for p in filing_problems(
            household=case.household,
            category=case.category,
            risk_codes=codes,
            found_on=case.found_on,
            today=today or timezone.localdate(),
        )
        if not p.startswith("该户已有未办结")
    ]
    errors = {"__all__": problems} if problems else {}
    case.main_risk = _main_risk(main_risk, codes, errors, current=case.main_risk)
    if errors:
        raise ValidationError(errors)
    found_changed = "found_on" in fields and case.found_on != previous_found_on
    case.full_clean(exclude=["created_by"])
    case.save()
    _set_risks(case, codes)
    if found_changed:
        deadlines_reschedule(case)
    return case


def _evidence_case(
    case: Case, stage: str, by, dates: dict[str, date], action: str | None = None
) -> Case:
    """Lock the case and check it takes this evidence now: the right state (read under the
    lock, so a report racing this record sees one or the other), and dates no later than
    today and not before the stage began (the finding; for clearance, identification)."""
    # Views look cases up in scope already; the policy checks scope again (so a command or
    # task acting for a user cannot reach past that user's region), then the state under
    # the lock and the role.
    case = Case.objects.select_for_update().get(pk=case.pk)
    policy.require(by, action or EVIDENCE_ACTION[stage], case)
    earliest = case.identified_on if stage == Stage.CLEARANCE else case.found_on
    today = timezone.localdate()
    for field, day in dates.items():
        if day is None:
            continue
        # A notice may be recorded when it is put up, before its days have run.
        if field not in ("start_on", "end_on") and day > today:
            raise ValidationError({field: "日期不能晚于今天"})
        if earliest and day < earliest:
            raise ValidationError(
                {
                    field: f"日期不能早于{'纳入监测' if stage == Stage.CLEARANCE else '发现风险'}"
                    f"日期 {earliest:%Y-%m-%d}"
                }
            )
    return case


@transaction.atomic
def home_visit_record(*, case: Case, by, stage: str = Stage.IDENTIFICATION, **fields) -> HomeVisit:
    if getattr(by, "role", None) in OFFICIAL_VISITORS:
        # 乡村两级入户 / 县级复核: township and county staff, under their own rule.
        from monitor.identification import official_visit_record

        return official_visit_record(case=case, by=by, stage=stage, **fields)
    case = _evidence_case(case, stage, by, {"visited_on": fields.get("visited_on")})
    visit = HomeVisit(case=case, stage=stage, recorded_by=by, **fields)
    visit.full_clean(exclude=["recorded_by"])
    visit.save()
    if stage == Stage.IDENTIFICATION:
        Deadline.objects.filter(
            case=case, step=DeadlineStep.VILLAGE_VERIFICATION, met_on__isnull=True
        ).update(met_on=visit.visited_on)
    return visit


def _scan_kind(upload) -> str:
    if upload.size > MAX_SCAN_BYTES:
        raise ValidationError({"scan": "扫描件不能超过 10 MB"})
    head = upload.read(8)
    upload.seek(0)
    for magic, kind in SCAN_TYPES.items():
        if head.startswith(magic):
            return kind
    raise ValidationError({"scan": "扫描件须为 PDF、JPG 或 PNG 文件"})


@transaction.atomic
def consent_record(
    *, case: Case, by, signed_on: date, scan, stage: str = Stage.IDENTIFICATION
) -> Consent:
    case = _evidence_case(case, stage, by, {"signed_on": signed_on})
    kind = _scan_kind(scan)
    scan.name = f"consent.{kind}"
    consent = Consent(case=case, stage=stage, recorded_by=by, signed_on=signed_on, scan=scan)
    consent.full_clean(exclude=["recorded_by"])
    consent.save()
    return consent


@transaction.atomic
def appraisal_record(*, case: Case, by, stage: str = Stage.IDENTIFICATION, **fields) -> Appraisal:
    case = _evidence_case(case, stage, by, {"held_on": fields.get("held_on")})
    appraisal = Appraisal(case=case, stage=stage, recorded_by=by, **fields)
    appraisal.full_clean(exclude=["recorded_by"])
    appraisal.save()
    return appraisal


@transaction.atomic
def notice_record(*, case: Case, by, stage: str = Stage.IDENTIFICATION, **fields) -> PublicNotice:
    case = _evidence_case(
        case, stage, by, {"start_on": fields.get("start_on"), "end_on": fields.get("end_on")}
    )
    notice = PublicNotice(case=case, stage=stage, recorded_by=by, **fields)
    if notice.end_on < notice.start_on:
        raise ValidationError({"end_on": "公示结束日期不能早于开始日期"})
    notice.full_clean(exclude=["recorded_by"])
    notice.save()
    return notice


@transaction.atomic
def monthly_visit_record(*, case: Case, by, **fields) -> MonthlyVisit:
    policy.require(by, "case.monthly_visit", case)
    visit = MonthlyVisit(case=case, recorded_by=by, **fields)
    if visit.visited_on > timezone.localdate():
        raise ValidationError({"visited_on": "走访日期不能晚于今天"})
    visit.full_clean(exclude=["recorded_by"])
    visit.save()
    if visit.risk_changed and case.status == Status.MONITORING:
        # A risk change found at the door is the start of a 动态调整: the cadre is asked to
        # propose it, and the notification opens the proposal prefilled with this visit.
        # (During a clearance's review the township's return is the way back.)
        Notification.objects.create(
            region_id=case.household.village_id,
            role=Role.VILLAGE_CADRE,
            case=case,
            kind=NotificationKind.RISK_CHANGE,
            message=f"{case.household.number} 走访发现风险变化，请提出动态调整",
            key=f"{RISK_CHANGE_KEY}{visit.pk}",
        )
    return visit


# The key of a visit's risk-change notification; Notification.link reads the visit back.
RISK_CHANGE_KEY = "risk-change:"


def notifications_for(user):
    """A user's inbox: messages to their role in their own region."""
    if not user.is_authenticated or user.region_id is None:
        return Notification.objects.none()
    return Notification.objects.filter(region_id=user.region_id, role=user.role)


def notification_mark_read(*, notification: Notification, by) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification
