"""农户自主申报（一键申报）: a farmer's own application from the public phone page.

Four fields — 户主姓名, 手机号, 身份证号, 困难情况 — plus village and risk type. It becomes a
warning clue that the township must accept within 2 days (settings.MONITOR), or joins the
household's open clue or case. The applicant is told only a reference number: nothing about
what the registry holds.
"""

import secrets
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from households import pii
from households.choices import RegionLevel
from households.idnumber import IdNumberError, parse_id_number
from households.models import Member, Region
from households.services import normalise_phone
from households.tabular import strip_control
from monitor.choices import CLOSED_STATUSES, RISK_TYPE_LABELS, ClueChannel, ClueStatus
from monitor.models import Case, Clue, SelfApplication


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


def _reference(today: date) -> str:
    return f"SQ{today:%Y%m%d}{secrets.randbelow(10**6):06d}"


@transaction.atomic
def self_application_submit(
    *, name, phone, id_number, difficulty, village, risk_type, today: date | None = None
) -> SelfApplication:
    today = today or timezone.localdate()
    clean = _validated(name, phone, id_number, difficulty, village, risk_type, today)
    id_hash = pii.id_number_hash(clean["id"])
    member = Member.objects.filter(id_number_hash=id_hash).select_related("household").first()
    household = member.household if member else None
    application = SelfApplication(
        village=household.village if household else clean["village"],
        name=clean["name"],
        difficulty=clean["difficulty"],
        risk_code=clean["risk_code"],
        reference=_reference(today),
        **pii.protect_id_number(clean["id"]),
        **{k: v for k, v in pii.protect_phone(clean["phone"]).items() if k != "phone_hash"},
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
    due = today + timedelta(days=settings.MONITOR["SELF_APPLICATION_ACCEPT_DAYS"])
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
