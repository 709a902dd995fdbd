"""Writes to the registry. Views, admin, commands and tasks all come through here."""

import csv
import io
import re
from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import policy
from accounts.audit import audit_record
from accounts.choices import AuditAction
from households import pii
from households.choices import LifeStatus, RegionLevel, Relation
from households.idnumber import IdNumberError, parse_id_number
from households.life import household_closed_check
from households.models import Household, IncomeRecord, Member, MonitoringLine, Region

_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９＋－", "0123456789+-")
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")
_PHONE_DIGITS = re.compile(r"^\+?(86)?([0-9]{7,12})$")


def normalise_phone(raw: str) -> str:
    """Digits only, without +86. Mobile numbers must be 11 digits starting with 1; landlines
    (with area code) 7-12 digits. Empty stays empty."""
    text = _PHONE_SEPARATORS.sub("", (raw or "").translate(_FULL_WIDTH_DIGITS))
    if not text:
        return ""
    match = _PHONE_DIGITS.match(text)
    if not match:
        raise ValidationError("联系电话只能包含数字，应为11位手机号或带区号的固定电话")
    digits = match.group(2)
    if digits.startswith("1") and len(digits) != 11:
        raise ValidationError(f"手机号应为11位，实为{len(digits)}位")
    return digits


def region_create_or_update(*, code: str, name: str) -> tuple[Region, bool]:
    code = code.strip()
    if not re.fullmatch(r"[0-9]{12}", code):
        raise ValidationError({"code": f"区划代码应为12位数字：{code!r}"})
    parent_code = Region.parent_code_of(code)
    parent = None
    if parent_code is not None:
        parent = Region.objects.filter(code=parent_code).first()
        if parent is None:
            raise ValidationError({"code": f"上级区划 {parent_code} 不存在，请先导入上级区划"})
    region, created = Region.objects.update_or_create(
        code=code,
        defaults={"name": name.strip(), "level": Region.level_of_code(code), "parent": parent},
    )
    return region, created


def regions_load_csv(*, text: str) -> dict:
    """Load 区划代码,名称 rows. Rows are taken parents first (sorted by level) so a file in any
    order loads; a bad row is reported and skipped."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    rows = []
    for number, row in enumerate(reader, start=2):
        code = (row.get("区划代码") or row.get("code") or "").strip()
        name = (row.get("名称") or row.get("name") or "").strip()
        rows.append((number, code, name))
    rows.sort(
        key=lambda r: (
            Region.level_of_code(r[1]) if r[1].isdigit() and len(r[1]) == 12 else 9,
            r[1],
        )
    )
    created = updated = 0
    errors = []
    for number, code, name in rows:
        if not name:
            errors.append({"row": number, "reason": "名称为空"})
            continue
        try:
            with transaction.atomic():
                _, was_created = region_create_or_update(code=code, name=name)
        except ValidationError as exc:
            errors.append({"row": number, "reason": "；".join(exc.messages)})
            continue
        created += was_created
        updated += not was_created
    return {"created": created, "updated": updated, "errors": errors}


def member_prepare(
    member: Member,
    *,
    id_number: str | None = None,
    phone: str | None = None,
    today: date | None = None,
) -> None:
    """Fill a member's protected columns from plain input; raises ValidationError by field."""
    if id_number is not None:
        try:
            parsed = parse_id_number(id_number, today=today)
        except IdNumberError as exc:
            raise ValidationError({"id_number": exc.reason}) from None
        for column, value in pii.protect_id_number(parsed.value).items():
            setattr(member, column, value)
        member.birth_date, member.sex = parsed.birth_date, parsed.sex
    if phone is not None:
        try:
            normalised = normalise_phone(phone)
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from None
        for column, value in pii.protect_phone(normalised).items():
            setattr(member, column, value)


# Existence oracles (issue 11): a refusal must not tell what lies outside the user's region.
# A clash with a record the user can see is named; any other clash gets the same words,
# whether the other record sits in another county or nowhere the user could look.
ID_NUMBER_REFUSED = "该身份证号不能登记在此农户，请联系上级核实"
HOUSEHOLD_NUMBER_REFUSED = "该户编号不能使用，请联系上级核实"


def _check_unique_id(member: Member, by=None) -> None:
    clash = Member.objects.filter(id_number_hash=member.id_number_hash)
    if member.pk:
        clash = clash.exclude(pk=member.pk)
    household_id = clash.values_list("household_id", flat=True).first()
    if household_id is None:
        return
    if household_id == member.household_id:
        raise ValidationError({"id_number": "该成员已登记在本户，请勿重复登记"})
    seen = Household.objects.visible_to(by).filter(pk=household_id).values("number").first()
    if seen is None:
        raise ValidationError({"id_number": ID_NUMBER_REFUSED})
    raise ValidationError(
        {
            "id_number": f"该身份证号已登记为本辖区农户（户编号 {seen['number']}）的成员，"
            "一人只能登记在一户"
        }
    )


def _check_unique_number(household: Household, by=None) -> None:
    clash = Household.objects.filter(number=household.number)
    if household.pk:
        clash = clash.exclude(pk=household.pk)
    if not clash.exists():
        return
    if by is not None and clash.visible_to(by).exists():
        raise ValidationError({"number": "该户编号已被本辖区其他农户使用"})
    raise ValidationError({"number": HOUSEHOLD_NUMBER_REFUSED})


def _check_one_head(member: Member) -> None:
    if member.relation != Relation.HEAD:
        return
    others = Member.objects.filter(household_id=member.household_id, relation=Relation.HEAD)
    if member.pk:
        others = others.exclude(pk=member.pk)
    if others.exists():
        raise ValidationError(
            {"relation": "该户已登记了户主；如需更换，请先把原户主的关系改为其他"}
        )


def _report_facts_stale(*household_ids: int) -> None:
    # The people the reports count in these households changed (monitor.reports.facts).
    from monitor.reports.facts import case_facts_mark_households

    case_facts_mark_households(household_ids)


@transaction.atomic
def member_create(
    *, household: Household, id_number: str, phone: str = "", by=None, **fields
) -> Member:
    household_closed_check(household, "登记新成员")
    member = Member(household=household, **fields)
    member_prepare(member, id_number=id_number, phone=phone)
    _check_unique_id(member, by)
    _check_one_head(member)
    member.full_clean(exclude=["id_number_encrypted", "id_number_hash"])
    _save_unique(member, "id_number", ID_NUMBER_REFUSED)
    _report_facts_stale(member.household_id)
    audit_record(actor=by, action=AuditAction.CREATE, obj=member)
    return member


@transaction.atomic
def member_update(
    *, member: Member, by=None, id_number: str | None = None, phone: str | None = None, **fields
) -> Member:
    household_before = member.household_id
    for name, value in fields.items():
        setattr(member, name, value)
    member_prepare(member, id_number=id_number, phone=phone)
    if id_number is not None:
        _check_unique_id(member, by)
    _check_one_head(member)
    member.full_clean(exclude=["id_number_encrypted", "id_number_hash"])
    _save_unique(member, "id_number", ID_NUMBER_REFUSED)
    if id_number is not None or member.household_id != household_before:
        # A new ID number is a new birth day; a member moved counts in another household.
        _report_facts_stale(household_before, member.household_id)
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=member,
        detail={
            "fields": sorted(
                [
                    *fields,
                    *(["id_number"] if id_number else []),
                    *(["phone"] if phone is not None else []),
                ]
            )
        },
    )
    return member


REVEALABLE_FIELDS = {"id_number": "身份证号", "phone": "联系电话"}


def member_reveal(*, member: Member, field: str, by, reason: str, request=None) -> str:
    """Full ID or phone number on explicit request; always writes an audit row first."""
    return protected_reveal(obj=member, field=field, by=by, reason=reason)


def protected_reveal(*, obj, field: str, by, reason: str) -> str:
    """The same rule for any record holding `id_number_encrypted` / `phone_encrypted`
    (members, self-applications): a role that needs it, a reason, an audit row first."""
    if field not in REVEALABLE_FIELDS:
        raise ValidationError({"field": "只能查看身份证号或联系电话"})
    # Members are judged with their region; a self-application through its clue, which
    # the view has already looked up in scope.
    is_member = obj._meta.label == "households.Member"
    decision = policy.decide(by, "member.reveal", obj if is_member else None)
    if not decision:
        raise PermissionDenied(decision.reason)
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise ValidationError({"reason": "请填写查看事由（如：入户核实需核对证件）"})
    audit_record(
        actor=by, action=AuditAction.REVEAL_PII, obj=obj, reason=reason, detail={"field": field}
    )
    column = obj.id_number_encrypted if field == "id_number" else obj.phone_encrypted
    return pii.decrypt(column, field=field) if column else ""


def _save_unique(obj, field: str, refusal: str) -> None:
    """Save; the same number stored by someone else at this moment is refused in the words
    that tell nothing about where it was stored."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ValidationError({field: refusal}) from None


def _household_clean(household: Household, by) -> None:
    # The number's own shape and village first, then whether it is free: a number that
    # could never be this household's is refused as such, whoever else holds it.
    household.full_clean(validate_unique=False)
    _check_village(household)
    _check_unique_number(household, by)


def household_create(*, by=None, **fields) -> Household:
    household = Household(**fields)
    _household_clean(household, by)
    _save_unique(household, "number", HOUSEHOLD_NUMBER_REFUSED)
    audit_record(actor=by, action=AuditAction.CREATE, obj=household)
    return household


def household_update(*, household: Household, by=None, **fields) -> Household:
    for name, value in fields.items():
        setattr(household, name, value)
    _household_clean(household, by)
    _save_unique(household, "number", HOUSEHOLD_NUMBER_REFUSED)
    if "village" in fields or "village_id" in fields:
        # Cases keep their household's village for region scope (monitor.models.Case).
        from monitor.models import Case

        Case.objects.filter(household=household).update(
            village_id=household.village_id, updated_at=timezone.now()
        )
    audit_record(
        actor=by, action=AuditAction.UPDATE, obj=household, detail={"fields": sorted(fields)}
    )
    return household


HOUSEHOLD_NUMBER = re.compile(r"^[0-9]{13,24}$")


def household_number_problem(number: str, village_code: str) -> str | None:
    """户编号 = the village's 12-digit code + a serial: plain ASCII digits, 13-24 long."""
    if not HOUSEHOLD_NUMBER.match(number):
        return "户编号应为13至24位数字（村代码+户序号）"
    if not number.startswith(village_code):
        return "户编号应以所在村的12位区划代码开头"
    return None


def _check_village(household: Household) -> None:
    if household.village.level != RegionLevel.VILLAGE:
        raise ValidationError({"village": "农户所在区划必须是村级"})
    problem = household_number_problem(household.number, household.village_id)
    if problem:
        raise ValidationError({"number": problem})


INCOME_AMOUNT_FIELDS = (
    "wage_income",
    "operating_income",
    "property_income",
    "transfer_income",
    "production_cost",
    "medical_expense",
    "education_expense",
)


def income_record_save(
    *,
    household: Household,
    year: int,
    by=None,
    period_end: date | None = None,
    household_size: int | None = None,
    note: str = "",
    **amounts: Decimal,
) -> IncomeRecord:
    """Create or replace the record for one 12-month period. Household size defaults to the
    number of members in the register."""
    if by is not None:
        policy.require(by, "household.edit", household)
    household_closed_check(household, "录入收支")
    # Without an end, the year's: 31 December of a past year, today for the current one — a
    # period ending in the future would count toward clearance before it happened.
    period_end = period_end or min(date(year, 12, 31), timezone.localdate())
    if household_size is None:
        # Those who live there: a member who died or moved out is no longer counted.
        household_size = household.members.filter(life_status=LifeStatus.IN_REGISTER).count()
    if household_size < 1:
        raise ValidationError({"household_size": "家庭人口至少为1人（请先登记家庭成员）"})
    record = IncomeRecord.objects.filter(household=household, period_end=period_end).first()
    record = record or IncomeRecord(household=household, period_end=period_end)
    record.year, record.household_size = year, household_size
    unknown = set(amounts) - set(INCOME_AMOUNT_FIELDS)
    if unknown:
        raise ValidationError({name: "未知的收支项目" for name in unknown})
    # A record is replaced whole: an amount left out of the new figures is zero, not stale.
    for name in INCOME_AMOUNT_FIELDS:
        setattr(record, name, amounts.get(name, Decimal(0)))
    record.note = note
    record.compute()
    record.full_clean()
    record.save()
    audit_record(actor=by, action=AuditAction.UPDATE, obj=record)
    return record


def monitoring_line_for(*, village_code: str, year: int) -> MonitoringLine | None:
    """The line of the most specific region (longest prefix) that covers the village."""
    candidates = [(village_code[:length].ljust(12, "0")) for length in (12, 9, 6, 4, 2)]
    lines = {
        line.region_id: line
        for line in MonitoringLine.objects.filter(year=year, region_id__in=candidates)
    }
    for code in candidates:
        if code in lines:
            return lines[code]
    return None


# --- monitoring lines (监测范围) and other amounts set by region and year -------------------
# Kept by county approvers for their own county and by the administrator anywhere
# (accounts/policy.py, `monitoring_line.manage`); the screening thresholds of
# monitor/administration.py share the checks below.

YEARLY_YEARS = (2000, 2100)
MONITORING_LINE_MANAGE = "monitoring_line.manage"


def yearly_amount_check(*, year: int | None, amount: Decimal | None, field: str, what: str) -> None:
    """The year and amount of a record set by region and year, with the messages a person
    reads beside each field."""
    errors = {}
    if year is None or not YEARLY_YEARS[0] <= year <= YEARLY_YEARS[1]:
        errors["year"] = f"年度应在 {YEARLY_YEARS[0]} 至 {YEARLY_YEARS[1]} 之间"
    if amount is None or amount <= 0:
        errors[field] = f"{what}必须大于 0 元"
    if errors:
        raise ValidationError(errors)


def yearly_record_save(record, *, what: str) -> None:
    """Save a record unique by (region, year), the clash reported on the year in Chinese.
    The query answers the common case; the constraint answers two people saving the same
    region and year at once (the savepoint keeps the caller's transaction usable)."""
    duplicate = ValidationError(
        {"year": f"{record.region.name} {record.year} 年度已有{what}，请修改原有记录"}
    )
    clash = type(record)._default_manager.filter(region_id=record.region_id, year=record.year)
    if record.pk:
        clash = clash.exclude(pk=record.pk)
    if clash.exists():
        raise duplicate
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        raise duplicate from None


@transaction.atomic
def monitoring_line_save(
    *,
    by,
    region: Region,
    year: int,
    amount: Decimal,
    source: str = "",
    line: MonitoringLine | None = None,
) -> MonitoringLine:
    """Create a line, or change one (`line`): both its old and its new region must be the
    user's to manage. The saved line is returned; the `line` passed in is left as it was."""
    if line is not None:
        policy.require(by, MONITORING_LINE_MANAGE, line)
    if region is None:
        raise ValidationError({"region": "请选择适用区划"})
    record = MonitoringLine(
        pk=line.pk if line is not None else None,
        region=region,
        year=year,
        amount=amount,
        source=(source or "").strip(),
    )
    policy.require(by, MONITORING_LINE_MANAGE, record)
    yearly_amount_check(year=year, amount=amount, field="amount", what="监测标准")
    record.full_clean(validate_unique=False, validate_constraints=False)
    yearly_record_save(record, what="监测范围")
    audit_record(
        actor=by,
        action=AuditAction.CREATE if line is None else AuditAction.UPDATE,
        obj=record,
        detail={"region": region.pk, "year": year, "amount": str(record.amount)},
    )
    return record


@transaction.atomic
def monitoring_line_delete(*, by, line: MonitoringLine) -> None:
    policy.require(by, MONITORING_LINE_MANAGE, line)
    label, pk = str(line), line.pk
    detail = {"region": line.region_id, "year": line.year, "amount": str(line.amount)}
    line.delete()
    audit_record(
        actor=by,
        action=AuditAction.DELETE,
        object_type=MonitoringLine._meta.label_lower,
        object_id=str(pk),
        object_label=label,
        detail=detail,
    )
