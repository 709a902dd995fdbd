"""防贫保险: anti-poverty insurance where a county buys it — the policy of a region and year
(insurer, who is covered, the income line that triggers a claim), the households enrolled,
and the claims with what was paid.

Who (accounts/policy.py): the county approver keeps the policies of the own county and the
administrator any (`insurance.manage`); village, township and county staff enrol the
households of their region (`insurance.enrol`); townships and counties record claims and
their payment (`insurance.claim`). Every write asks the policy with the object it writes and
leaves an audit row.

Enrolling a whole region is one INSERT … SELECT … ON CONFLICT DO NOTHING over the households
of the policy's region inside the enrolling user's region that its coverage names, the same
SQL on PostgreSQL and SQLite: a county of a hundred thousand households is one statement,
and a second run adds only the households that were not yet enrolled.
"""

from datetime import date, datetime, time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.audit import audit_record
from accounts.choices import AuditAction
from accounts.policy import (
    out_of_scope,
    require,
)
from accounts.scope import region_prefix_of
from households.choices import HouseholdKind, RegionLevel
from households.models import Household, Region
from households.services import YEARLY_YEARS
from interventions.models import (
    InsuranceClaim,
    InsuranceCoverage,
    InsuranceEnrolment,
    InsurancePolicy,
)
from monitor.administration import managed
from monitor.choices import MONITORED_STATUSES, Category
from monitor.regional import region_chain

INSURANCE_MANAGE = "insurance.manage"
INSURANCE_ENROL = "insurance.enrol"
INSURANCE_CLAIM = "insurance.claim"
# A policy is bought by a county, sometimes by a city for its counties.
POLICY_LEVELS = (RegionLevel.CITY, RegionLevel.COUNTY)
MAX_AMOUNT = Decimal("9999999999.99")


# --- who is covered ------------------------------------------------------------------------

# 边缘易致贫人口及其他低收入人口: a civil-affairs low-income category, or a monitored
# 边缘易致贫户 case.
_MARGINAL = (
    "(h.civil_affairs_status <> '' OR EXISTS (SELECT 1 FROM monitor_case c "
    "WHERE c.household_id = h.id AND c.category = %s AND c.status IN ({marks})))"
)


def _coverage_sql(coverage: str) -> tuple[str, list]:
    """The households a coverage names, as a condition on `h` (households_household)."""
    if coverage == InsuranceCoverage.ALL_RURAL:
        return "1 = 1", []
    if coverage == InsuranceCoverage.MONITORED:
        return "h.is_monitored = %s", [True]
    if coverage == InsuranceCoverage.LIFTED_AND_MONITORED:
        return "(h.kind = %s OR h.is_monitored = %s)", [HouseholdKind.LIFTED.value, True]
    if coverage == InsuranceCoverage.MARGINAL:
        statuses = sorted(MONITORED_STATUSES)
        marks = ", ".join(["%s"] * len(statuses))
        # Only placeholders are formatted in: every value is a bound parameter.
        sql = _MARGINAL.format(marks=marks)
        return sql, [Category.MARGINAL.value, *statuses]
    raise ValueError(coverage)


# --- reads -----------------------------------------------------------------------------------


def _with_counts(queryset: QuerySet) -> QuerySet:
    return queryset.select_related("region").annotate(enrolled=Count("enrolments", distinct=True))


def insurance_policies_managed_by(user) -> QuerySet:
    """The policies a user keeps: the county approver's county, the administrator's all."""
    queryset = _with_counts(InsurancePolicy.objects.all()).order_by("-year", "region_id", "id")
    return managed(queryset, user=user, action=INSURANCE_MANAGE)


def insurance_policies_for(user) -> QuerySet:
    """The policies a user sees: those kept by the user (administration), and for staff of
    a region those that cover it (bought above it) or lie inside it."""
    managed = insurance_policies_managed_by(user)
    prefix = region_prefix_of(user)
    if prefix is None:
        return managed
    inside = Q(region__code__startswith=prefix) | Q(region_id__in=region_chain(user.region_id))
    return _with_counts(InsurancePolicy.objects.filter(inside)).order_by("-year", "region_id", "id")


def policies_covering(household: Household) -> QuerySet:
    """The policies bought for the household's village or a region above it."""
    return InsurancePolicy.objects.filter(region_id__in=region_chain(household.village_id))


def enrolments_for(user) -> QuerySet:
    return InsuranceEnrolment.objects.filter(
        household__in=Household.objects.visible_to(user)
    ).select_related("policy__region", "household__village")


def claims_for(user) -> QuerySet:
    return InsuranceClaim.objects.filter(
        enrolment__household__in=Household.objects.visible_to(user)
    ).select_related("enrolment__policy", "enrolment__household__village")


def claims_paid_figures(user, year: int) -> dict:
    """Claims paid in a year in the user's region: how many and how much (one query)."""
    figures = (
        claims_for(user)
        .filter(paid_on__year=year)
        .aggregate(count=Count("pk"), total=Sum("amount_paid"))
    )
    figures["total"] = figures["total"] or Decimal("0")
    return figures


def household_insurance(household: Household) -> dict:
    """A household's enrolments with their claims (two queries), for its page."""
    enrolments = list(
        InsuranceEnrolment.objects.filter(household=household)
        .select_related("policy__region")
        .order_by("-policy__year", "id")
    )
    claims = list(
        InsuranceClaim.objects.filter(enrolment__household=household)
        .select_related("enrolment__policy")
        .order_by("-claimed_on", "-id")
    )
    return {"enrolments": enrolments, "claims": claims}


def insurance_timeline(insurance: dict) -> list[dict]:
    """The household timeline's events of insurance — each enrolment, claim and payment —
    from household_insurance()'s answer, which the page has read for its own block."""
    events = []
    for enrolment in insurance["enrolments"]:
        events.append(
            {
                "when": enrolment.recorded_at,
                "kind": "insurance",
                "text": f"参加防贫保险：{enrolment.policy.year}年 {enrolment.policy.insurer}",
                "case": None,
                "clue": None,
            }
        )
    for claim in insurance["claims"]:
        events.append(
            {
                "when": claim.recorded_at,
                "kind": "insurance",
                "text": f"防贫保险报案（{claim.claimed_on:%Y-%m-%d}）：{claim.reason}",
                "case": None,
                "clue": None,
            }
        )
        if claim.paid_on is not None:
            events.append(
                {
                    # A payment has a day, not a moment: shown at the end of that day's events.
                    "when": timezone.make_aware(datetime.combine(claim.paid_on, time(23, 59))),
                    "kind": "insurance",
                    "text": f"防贫保险赔付 {claim.amount_paid:,.2f} 元"
                    f"（{claim.enrolment.policy.insurer}）",
                    "case": None,
                    "clue": None,
                }
            )
    return events


# --- policies --------------------------------------------------------------------------------


def _text(value: str, field: str, what: str, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: f"请填写{what}"})
    if len(value) > limit:
        raise ValidationError({field: f"{what}不超过{limit}个字"})
    if "\x00" in value:
        raise ValidationError({field: f"{what}含有无效字符"})
    return value


def _amount(value, field: str, what: str, *, positive: bool) -> Decimal:
    if value is None or value == "":
        raise ValidationError({field: f"请填写{what}"})
    try:
        amount = Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        raise ValidationError({field: f"{what}应为数字（元）"}) from None
    if not amount.is_finite():
        raise ValidationError({field: f"{what}应为数字（元）"})
    if positive and amount <= 0:
        raise ValidationError({field: f"{what}必须大于 0 元"})
    if amount < 0:
        raise ValidationError({field: f"{what}不能为负数"})
    if amount > MAX_AMOUNT or amount.as_tuple().exponent < -2:
        raise ValidationError({field: f"{what}数额过大或超过两位小数"})
    return amount


@transaction.atomic
def insurance_policy_save(
    *,
    by,
    region: Region,
    year: int,
    insurer: str,
    coverage: str,
    trigger_line,
    premium_per_person=None,
    note: str = "",
    insurance_policy: InsurancePolicy | None = None,
) -> InsurancePolicy:
    """Create a policy, or change one (`insurance_policy`): both its old and its new region
    must be the user's to manage. A policy with enrolments keeps its region (its households
    were enrolled as of that region)."""
    if insurance_policy is not None:
        require(by, INSURANCE_MANAGE, insurance_policy)
        # Locked and read again before its enrolments are counted: an enrolment (which
        # locks the policy too) cannot slip in between the count and the region change.
        insurance_policy = (
            InsurancePolicy.objects.select_for_update().filter(pk=insurance_policy.pk).first()
        )
        if insurance_policy is None:
            raise out_of_scope()
        require(by, INSURANCE_MANAGE, insurance_policy)
    if region is None:
        raise ValidationError({"region": "请选择投保区划"})
    record = InsurancePolicy(
        pk=insurance_policy.pk if insurance_policy is not None else None,
        region=region,
        year=year,
        insurer=(insurer or "").strip(),
        coverage=coverage,
        trigger_line=Decimal("1"),
        note=(note or "").strip(),
    )
    if insurance_policy is not None:
        record.created_at = insurance_policy.created_at
    require(by, INSURANCE_MANAGE, record)
    errors = {}
    if year is None or not YEARLY_YEARS[0] <= year <= YEARLY_YEARS[1]:
        errors["year"] = f"年度应在 {YEARLY_YEARS[0]} 至 {YEARLY_YEARS[1]} 之间"
    if coverage not in InsuranceCoverage.values:
        errors["coverage"] = "请选择保障对象"
    for field, check in (
        ("insurer", lambda: _text(insurer, "insurer", "承保机构", 100)),
        ("note", lambda: _text(note, "note", "说明", 300, required=False)),
        (
            "trigger_line",
            lambda: _amount(trigger_line, "trigger_line", "理赔触发线", positive=True),
        ),
    ):
        try:
            setattr(record, field, check())
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if premium_per_person not in (None, ""):
        try:
            record.premium_per_person = _amount(
                premium_per_person, "premium_per_person", "保费", positive=False
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    if (
        insurance_policy is not None
        and region.pk != insurance_policy.region_id
        and insurance_policy.enrolments.exists()
    ):
        raise ValidationError({"region": "该保险已有参保农户，不能更改投保区划"})
    clash = InsurancePolicy.objects.filter(region=region, year=year, insurer=record.insurer)
    if record.pk:
        clash = clash.exclude(pk=record.pk)
    duplicate = ValidationError(
        {"insurer": f"{region.name} {year} 年度已有「{record.insurer}」承保的防贫保险"}
    )
    if clash.exists():
        raise duplicate
    record.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        raise duplicate from None
    audit_record(
        actor=by,
        action=AuditAction.CREATE if insurance_policy is None else AuditAction.UPDATE,
        obj=record,
        object_label=f"防贫保险 {region.name} {year} {record.insurer}",
        detail={
            "region": region.pk,
            "year": year,
            "coverage": coverage,
            "trigger_line": str(record.trigger_line),
        },
    )
    return record


# --- enrolment -------------------------------------------------------------------------------

_ENROL = """INSERT INTO {table} (policy_id, household_id, enrolled_on, recorded_by_id,
        recorded_at)
    SELECT %s, h.id, %s, %s, %s FROM households_household h
    WHERE h.village_id LIKE %s AND h.closed_on IS NULL AND {condition} {one}
    ON CONFLICT (policy_id, household_id) DO NOTHING"""


@transaction.atomic
def insurance_enrol(
    *,
    policy: InsurancePolicy,
    by,
    household: Household | None = None,
    enrolled_on: date | None = None,
) -> int:
    """参保: enrol one household (`household`), or every household of the policy's region
    inside the user's region that its coverage names. Returns how many were enrolled now
    (households already enrolled are left as they are)."""
    insurance = policy
    if insurance is None:
        raise ValidationError({"policy": "请选择防贫保险"})
    today = timezone.localdate()
    enrolled_on = enrolled_on or today
    require(by, INSURANCE_ENROL, household)  # without a household: enrolling all
    # Locked and read again before its region is used: two people enrolling at once insert
    # each household once either way (the unique constraint), and a change of the policy's
    # region (insurance_policy_save, which locks it too) is seen whole or not at all.
    insurance = InsurancePolicy.objects.select_for_update().filter(pk=insurance.pk).first()
    if insurance is None:
        raise out_of_scope()
    if household is not None:
        if not household.village_id.startswith(Region.prefix_of_code(insurance.region_id)):
            raise ValidationError({"policy": "该户不在此防贫保险的投保区划内"})
        if household.closed_on is not None:
            raise ValidationError({"household": "该户已销户，不能参保"})
        prefix = household.village_id
    else:
        prefix = region_prefix_of(by)
        insured = Region.prefix_of_code(insurance.region_id)
        # Neither region inside the other: the policy is not the user's to enrol.
        if prefix is None or not (prefix.startswith(insured) or insured.startswith(prefix)):
            raise out_of_scope()
        prefix = max(prefix, insured, key=len)
    if enrolled_on > today:
        raise ValidationError({"enrolled_on": "参保日期不能晚于今天"})
    condition, params = _coverage_sql(insurance.coverage)
    one, one_params = ("AND h.id = %s", [household.pk]) if household is not None else ("", [])
    sql = _ENROL.format(table=InsuranceEnrolment._meta.db_table, condition=condition, one=one)
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [insurance.pk, enrolled_on, by.pk, timezone.now(), prefix + "%", *params, *one_params],
        )
        added = max(cursor.rowcount, 0)
    if household is not None and added == 0:
        if InsuranceEnrolment.objects.filter(policy=insurance, household=household).exists():
            raise ValidationError({"household": "该户已参加此防贫保险"})
        raise ValidationError(
            {"household": f"该户不属于此保险的保障对象（{insurance.get_coverage_display()}）"}
        )
    audit_record(
        actor=by,
        action=AuditAction.CREATE,
        obj=insurance,
        object_label=(
            f"防贫保险参保 {insurance.year} {insurance.insurer}："
            + (household.number if household is not None else f"{prefix} 范围内 {added} 户")
        ),
        detail={
            "policy": insurance.pk,
            "enrolled": added,
            "household": household.pk if household is not None else None,
            "scope": prefix,
        },
    )
    return added


# --- claims ----------------------------------------------------------------------------------


def _paid_day(paid_on: date | None, claimed_on: date) -> date:
    if paid_on is None:
        raise ValidationError({"paid_on": "请填写赔付日期"})
    if paid_on > timezone.localdate():
        raise ValidationError({"paid_on": "赔付日期不能晚于今天"})
    if paid_on < claimed_on:
        raise ValidationError({"paid_on": f"赔付日期不能早于报案日期 {claimed_on:%Y-%m-%d}"})
    return paid_on


@transaction.atomic
def insurance_claim_record(
    *,
    enrolment: InsuranceEnrolment,
    by,
    claimed_on: date,
    reason: str,
    amount_paid=None,
    paid_on: date | None = None,
) -> InsuranceClaim:
    """理赔报案 on a household's enrolment; paid at once when the amount and day are given
    (both or neither)."""
    enrolment = InsuranceEnrolment.objects.select_related("policy", "household").get(
        pk=enrolment.pk
    )
    require(by, INSURANCE_CLAIM, enrolment.household)
    if claimed_on is None:
        raise ValidationError({"claimed_on": "请填写报案日期"})
    if claimed_on > timezone.localdate():
        raise ValidationError({"claimed_on": "报案日期不能晚于今天"})
    if claimed_on.year < enrolment.policy.year:
        raise ValidationError(
            {"claimed_on": f"报案日期不能早于保险年度（{enrolment.policy.year}年）"}
        )
    reason = _text(reason, "reason", "理赔原因", 300)
    claim = InsuranceClaim(
        enrolment=enrolment, claimed_on=claimed_on, reason=reason, recorded_by=by
    )
    has_amount, has_day = amount_paid not in (None, ""), paid_on is not None
    if has_amount != has_day:
        field = "paid_on" if has_amount else "amount_paid"
        raise ValidationError({field: "赔付金额和赔付日期须同时填写（未赔付的两项都不填）"})
    if has_amount:
        claim.amount_paid = _amount(amount_paid, "amount_paid", "赔付金额", positive=False)
        claim.paid_on = _paid_day(paid_on, claimed_on)
    claim.full_clean(exclude=["recorded_by"])
    claim.save()
    audit_record(
        actor=by,
        action=AuditAction.CREATE,
        obj=claim,
        object_label=f"防贫保险理赔 {enrolment.household.number} {claimed_on:%Y-%m-%d}",
        detail={
            "policy": enrolment.policy_id,
            "household": enrolment.household_id,
            "amount_paid": str(claim.amount_paid) if claim.amount_paid is not None else None,
        },
    )
    return claim


@transaction.atomic
def insurance_claim_pay(
    *, claim: InsuranceClaim, by, amount_paid, paid_on: date | None
) -> InsuranceClaim:
    """赔付: the amount paid on a claim and the day. Paid once; a second payment is refused."""
    # Locked and re-read: of two people recording the payment at once, one records it.
    claim = (
        InsuranceClaim.objects.select_for_update(of=("self",))
        .select_related("enrolment__household", "enrolment__policy")
        .get(pk=claim.pk)
    )
    require(by, INSURANCE_CLAIM, claim.enrolment.household)
    if claim.paid_on is not None:
        raise ValidationError({"claim": f"该理赔已于 {claim.paid_on:%Y-%m-%d} 赔付"})
    claim.amount_paid = _amount(amount_paid, "amount_paid", "赔付金额", positive=False)
    claim.paid_on = _paid_day(paid_on, claim.claimed_on)
    claim.full_clean(exclude=["recorded_by"])
    claim.save(update_fields=["amount_paid", "paid_on"])
    audit_record(
        actor=by,
        action=AuditAction.UPDATE,
        obj=claim,
        object_label=f"防贫保险赔付 {claim.enrolment.household.number} {claim.paid_on:%Y-%m-%d}",
        detail={"amount_paid": str(claim.amount_paid), "paid_on": claim.paid_on.isoformat()},
    )
    return claim
