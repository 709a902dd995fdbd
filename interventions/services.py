"""Writes to aid plans and measure records."""

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import policy
from interventions.models import AidPlan, MeasureCategory, MeasureRecord, PlannedMeasure
from monitor.choices import CLOSED_STATUSES, IDENTIFYING_STATUSES, MONITORED_STATUSES
from monitor.models import Case


def measures_allowed(case: Case) -> bool:
    """Aid is recorded once a case is in monitoring; on the green channel (绿色通道) from the
    day it is filed, while the procedure still runs."""
    if case.status in MONITORED_STATUSES:
        return True
    return case.green_channel and case.status in IDENTIFYING_STATUSES


def _check_beneficiaries(case: Case, beneficiaries) -> None:
    stray = [m for m in beneficiaries if m.household_id != case.household_id]
    if stray:
        raise ValidationError({"beneficiaries": "受益成员须是本户家庭成员"})


@transaction.atomic
def measure_record_create(*, case: Case, by, beneficiaries=(), **fields) -> MeasureRecord:
    # Under the lock: a transition racing this measure sees one state or the other.
    case = Case.objects.select_for_update().get(pk=case.pk)
    policy.require(by, "case.measure", case)
    start = fields.get("start_on")
    if start is not None and start < case.found_on:
        raise ValidationError(
            {"start_on": f"开始日期不能早于发现风险日期 {case.found_on:%Y-%m-%d}"}
        )
    _check_beneficiaries(case, beneficiaries)
    category = fields.get("category")
    if isinstance(category, MeasureCategory) and not category.active:
        raise ValidationError({"category": "该措施类别已停用"})
    record = MeasureRecord(case=case, recorded_by=by, **fields)
    if record.end_on and record.end_on < record.start_on:
        raise ValidationError({"end_on": "结束日期不能早于开始日期"})
    record.full_clean(exclude=["recorded_by"])
    record.save()
    record.beneficiaries.set(beneficiaries)
    return record


@transaction.atomic
def measure_record_update(
    *, record: MeasureRecord, by, beneficiaries=None, **fields
) -> MeasureRecord:
    """Progress of a measure (status, end date, amount, text). Its category is what it is:
    a wrong one is stopped and a new measure recorded, so the history stays true. Once the
    case is closed only status and end date still change (loans and jobs run to their end)."""
    case = Case.objects.select_for_update().get(pk=record.case_id)
    policy.require(by, "measure.edit", record)
    if "category" in fields and fields["category"] != record.category:
        raise ValidationError(
            {"category": "措施类别不能修改；如登记有误，请将其标为已终止并重新登记"}
        )
    if case.status in CLOSED_STATUSES and set(fields) - {"status", "end_on"}:
        raise ValidationError({"case": "案例已办结，只能更新措施的状态和结束日期"})
    for name, value in fields.items():
        setattr(record, name, value)
    if record.end_on and record.end_on < record.start_on:
        raise ValidationError({"end_on": "结束日期不能早于开始日期"})
    record.full_clean(exclude=["recorded_by"])
    record.save()
    if beneficiaries is not None:
        _check_beneficiaries(record.case, beneficiaries)
        record.beneficiaries.set(beneficiaries)
    return record


@transaction.atomic
def aid_plan_save(
    *,
    case: Case,
    by,
    summary: str = "",
    responsible_person: str = "",
    items: list[dict] | None = None,
) -> AidPlan:
    """一户一策: create or replace the plan of a case (items replaced as a whole)."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    policy.require(by, "case.aid_plan", case)
    plan, _ = AidPlan.objects.get_or_create(case=case, defaults={"created_by": by})
    plan.summary, plan.responsible_person = summary, responsible_person
    plan.save()
    if items is not None:
        plan.items.all().delete()
        PlannedMeasure.objects.bulk_create(
            [
                PlannedMeasure(
                    plan=plan, category=item["category"], description=item["description"]
                )
                for item in items
            ]
        )
    return plan


MEASURE_CATEGORY_MANAGE = "measure_category.manage"


@transaction.atomic
def measure_categories_set(*, by, developmental: set[str], covers_illness: set[str]) -> list[str]:
    """Which categories are developmental (开发式: a household that can work needs one
    before clearance) and which count as cover of an illness risk (因病: 健康帮扶, 综合保障 —
    not 社会帮扶). Data the administrator keeps; each change is audited. Returns the codes
    of the categories that changed."""
    from accounts.audit import audit_record
    from accounts.choices import AuditAction

    policy.require(by, MEASURE_CATEGORY_MANAGE)
    categories = list(MeasureCategory.objects.select_for_update().order_by("sort_order", "code"))
    unknown = (set(developmental) | set(covers_illness)) - {c.code for c in categories}
    if unknown:
        raise ValidationError({"categories": "未知的措施类别：" + "、".join(sorted(unknown))})
    changed = []
    for category in categories:
        before = {
            "developmental": category.developmental,
            "covers_illness": category.covers_illness,
        }
        after = {
            "developmental": category.code in developmental,
            "covers_illness": category.code in covers_illness,
        }
        if after == before:
            continue
        category.developmental = after["developmental"]
        category.covers_illness = after["covers_illness"]
        category.save(update_fields=["developmental", "covers_illness"])
        audit_record(
            actor=by,
            action=AuditAction.UPDATE,
            obj=category,
            detail={"before": before, "after": after},
        )
        changed.append(category.code)
    return changed
