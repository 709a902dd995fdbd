"""农户自主申报（一键申报）: a farmer's own application from the public phone page.

Four fields — 户主姓名, 手机号, 身份证号, 困难情况 — plus village and risk type. It becomes a
warning clue that the township must accept within the village's local time limit
(self_application_accept_days: RegionPolicy, else 2 days in settings.MONITOR), or joins the
household's open clue or case. The applicant is told only a reference number: nothing about
what the registry holds — and, later, with the reference number and the phone number, where
the application stands (查询办理结果), again with nothing personal in the answer.
"""

import secrets
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from households import pii
from households.choices import LifeStatus, RegionLevel
from households.idnumber import IdNumberError, parse_id_number
from households.models import Member, Region
from households.services import normalise_phone
from monitor.choices import (
    CLOSED_STATUSES,
    RISK_TYPE_LABELS,
    ClueChannel,
    ClueOutcome,
    ClueStatus,
    Stage,
    Status,
)
from monitor.models import Case, Clue, SelfApplication
from monitor.regional import local_rule
from sheets.reading import strip_control


def _plain(value) -> str:
    """Text without control characters or lone surrogates (neither can be stored)."""
    text = strip_control(str(value or ""))
    return text.encode("utf-8", "ignore").decode("utf-8")


def _validated(name, phone, id_number, difficulty, village_code, risk_code, today):
    name, phone, id_number = _plain(name), _plain(phone), _plain(id_number)
    difficulty, village_code, risk_code = (
        _plain(difficulty),
        _plain(village_code),
        _plain(risk_code),
    )
    errors, clean = {}, {}
    clean["name"] = " ".join(str(name or "").split())
    if not 1 <= len(clean["name"]) <= 50:
        errors["name"] = "请填写户主姓名（50字以内）"
    elif not any(c.isalpha() for c in clean["name"]):
        errors["name"] = "户主姓名应为文字"
    try:
        clean["phone"] = normalise_phone(str(phone or ""))
        if len(clean["phone"]) != 11 or not clean["phone"].startswith("1"):
            errors["phone"] = "请填写11位手机号，便于村干部联系"
    except ValidationError as exc:
        errors["phone"] = exc.messages[0]
    try:
        clean["id"] = parse_id_number(str(id_number or ""), today=today).value
    except IdNumberError as exc:
        errors["id_number"] = exc.reason
    # Applicants sometimes type their numbers into the text: never keep those in plain.
    clean["difficulty"] = pii.mask_pii_in_text(difficulty.strip())
    if not 4 <= len(clean["difficulty"]) <= 1000:
        errors["difficulty"] = "请简要说明困难情况（4至1000字）"
    clean["village"] = (
        Region.objects.filter(code=village_code, level=RegionLevel.VILLAGE, retired=False).first()
        if village_code.isascii() and village_code.isdigit()
        else None
    )
    if clean["village"] is None:
        errors["village"] = "请选择所在村"
    clean["risk_code"] = risk_code
    if risk_code not in RISK_TYPE_LABELS:
        errors["risk_type"] = "请选择困难类型"
    if errors:
        raise ValidationError(errors)
    return clean


def accept_days(village_code: str, today: date | None = None) -> int:
    """乡镇受理时限 in days for an application from this village: its local rule of the year."""
    return local_rule(village_code, "self_application_accept_days", today)


def _reference(today: date) -> str:
    return f"SQ{today:%Y%m%d}{secrets.randbelow(10**6):06d}"


@transaction.atomic
def self_application_submit(
    *, name, phone, id_number, difficulty, village, risk_type, today: date | None = None
) -> SelfApplication:
    today = today or timezone.localdate()
    clean = _validated(name, phone, id_number, difficulty, village, risk_type, today)
    id_hash = pii.id_number_hash(clean["id"])
    # Someone who died or moved away, or whose household was closed, is no longer that
    # household's: the application goes to the village they chose, like a newcomer's.
    member = (
        Member.objects.filter(
            id_number_hash=id_hash,
            life_status=LifeStatus.IN_REGISTER,
            household__closed_on__isnull=True,
        )
        .select_related("household")
        .first()
    )
    household = member.household if member else None
    application = SelfApplication(
        village=household.village if household else clean["village"],
        name=clean["name"],
        difficulty=clean["difficulty"],
        risk_code=clean["risk_code"],
        reference=_reference(today),
        **pii.protect_id_number(clean["id"]),
        **pii.protect_phone(clean["phone"]),
    )
    open_case = None
    if household is not None:
        open_case = (
            Case.objects.filter(household=household).exclude(status__in=CLOSED_STATUSES).first()
        )
    if open_case is not None:
        application.case = open_case
    else:
        application.clue = _open_clue(household, application, id_hash, today)
    application.save()
    return application


def _open_clue(household, application, id_hash, today) -> Clue:
    if household is not None:
        existing = Clue.objects.open().filter(household=household).first()
    else:
        # Not in the registry: a repeat application by the same person joins the first.
        existing = (
            Clue.objects.open()
            .filter(household__isnull=True, applications__id_number_hash=id_hash)
            .first()
        )
    if existing is not None:
        return existing
    due = today + timedelta(days=accept_days(application.village_id, today))
    try:
        with transaction.atomic():
            return Clue.objects.create(
                household=household,
                village=application.village,
                channel=ClueChannel.SELF_APPLICATION,
                status=ClueStatus.PENDING_ACCEPTANCE,
                raised_on=today,
                due_on=due,
            )
    except IntegrityError:
        # A department list raised a clue for this household a moment ago: join it.
        return Clue.objects.open().get(household=household)


# --- 查询办理结果 -------------------------------------------------------------------------


class LookupProgress(models.TextChoices):
    """Where an application stands, as the applicant is told."""

    PENDING_ACCEPTANCE = "pending_acceptance", "待乡镇受理"
    VERIFYING = "verifying", "待村级核实"
    IN_REVIEW = "in_review", "审核认定中"
    IDENTIFIED = "identified", "纳入监测"
    NOT_ELIGIBLE = "not_eligible", "不符合条件"
    ALREADY_MONITORED = "already_monitored", "已是监测对象"
    UNVERIFIABLE = "unverifiable", "无法核实"


NOT_FOUND = "未查到办理结果，请核对受理编号和手机号；如有疑问请联系村干部。"
LOOKUP_MESSAGES = {
    LookupProgress.PENDING_ACCEPTANCE: "申报已收到，正等待乡镇受理。",
    LookupProgress.VERIFYING: "乡镇已受理，村干部将入户核实，请保持手机畅通。",
    LookupProgress.IN_REVIEW: "已入户核实，正在按程序评议、公示和审核。",
    LookupProgress.IDENTIFIED: "经县级审定，已纳入防止返贫监测，村干部将与您商定帮扶措施。",
    LookupProgress.NOT_ELIGIBLE: "经核实，暂不符合纳入监测的条件；如有异议请联系村干部。",
    LookupProgress.ALREADY_MONITORED: "您家已是监测对象，村干部会跟进帮扶。",
    LookupProgress.UNVERIFIABLE: "暂时无法核实，请联系村干部。",
}
CLUE_OUTCOME_PROGRESS = {
    ClueOutcome.NOT_ELIGIBLE: LookupProgress.NOT_ELIGIBLE,
    ClueOutcome.ALREADY_MONITORED: LookupProgress.ALREADY_MONITORED,
    ClueOutcome.UNVERIFIABLE: LookupProgress.UNVERIFIABLE,
}


def _case_progress(case: Case) -> str:
    if case.identified_on is not None:
        return LookupProgress.IDENTIFIED
    if case.status in (Status.REJECTED, Status.CANCELLED, Status.TERMINATED):
        return LookupProgress.NOT_ELIGIBLE
    if case.status == Status.APPLIED:
        return LookupProgress.PENDING_ACCEPTANCE
    if case.status == Status.DRAFT:
        return LookupProgress.VERIFYING
    return LookupProgress.IN_REVIEW


def _progress(application: SelfApplication) -> tuple[str, Case | None]:
    if application.case_id is not None:
        case = application.case
        # Joined a case already in monitoring when it was sent: nothing new to decide.
        sent_on = timezone.localdate(application.submitted_at)
        if case.identified_on is not None and case.identified_on <= sent_on:
            return LookupProgress.ALREADY_MONITORED, None
        return _case_progress(case), case
    clue = application.clue
    if clue is None:
        return LookupProgress.PENDING_ACCEPTANCE, None
    if clue.status in (ClueStatus.PENDING_DISPATCH, ClueStatus.PENDING_ACCEPTANCE):
        return LookupProgress.PENDING_ACCEPTANCE, None
    if clue.status == ClueStatus.VERIFYING:
        return LookupProgress.VERIFYING, None
    if clue.outcome == ClueOutcome.IDENTIFY and clue.case is not None:
        return _case_progress(clue.case), clue.case
    return CLUE_OUTCOME_PROGRESS.get(clue.outcome, LookupProgress.IN_REVIEW), None


def self_application_lookup(*, reference: str, phone: str) -> dict | None:
    """查询办理结果: the application whose reference number and phone both match, or None —
    the same None for an unknown reference as for a wrong phone, so the answer never says
    that a reference exists. The phone is compared by its keyed hash, never decrypted."""
    reference = "".join(_plain(reference).split()).upper()
    errors = {}
    if not (reference.isascii() and reference.isalnum() and 8 <= len(reference) <= 20):
        errors["reference"] = "请填写申报时得到的受理编号"
    try:
        normalised = normalise_phone(_plain(phone))
        if len(normalised) != 11 or not normalised.startswith("1"):
            errors["phone"] = "请填写申报时填写的11位手机号"
    except ValidationError:
        errors["phone"] = "请填写申报时填写的11位手机号"
    if errors:
        raise ValidationError(errors)
    # One query on both: a wrong phone costs the same as an unknown reference.
    application = (
        SelfApplication.objects.filter(reference=reference, phone_hash=pii.phone_hash(normalised))
        .select_related("case", "clue__case")
        .first()
    )
    if application is None:
        return None
    progress, case = _progress(application)
    announced_on = None
    if progress == LookupProgress.IDENTIFIED and case is not None:
        announcement = (
            case.announcements.filter(stage=Stage.IDENTIFICATION).order_by("announced_on").first()
        )
        announced_on = announcement.announced_on if announcement else case.identified_on
    message = LOOKUP_MESSAGES[progress]
    if announced_on is not None:
        day = f"{announced_on.year}年{announced_on.month}月{announced_on.day}日"
        message = f"经县级审定，已于{day}公告纳入防止返贫监测，村干部将与您商定帮扶措施。"
    return {
        "reference": application.reference,
        "progress": progress,
        "progress_display": LookupProgress(progress).label,
        "announced_on": announced_on,
        "message": message,
    }
