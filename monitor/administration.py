"""Administration of the feeds and screening: departments (行业部门) with their machine
accounts and API keys, and the screening thresholds (筛查阈值) by region and year.

Who: county approvers inside their own county, the administrator anywhere
(accounts/policy.py, actions `department.manage` and `threshold.manage`). Every write asks
the policy with the object it writes — for a new one, the unsaved instance — so the region
is checked before anything is stored. The reads here give the records a user manages; the
monitoring lines (监测范围) are written by households.services and read here for the pages.

An API key is shown once, to the person who issued it: only its hash is stored, and neither
the key nor anything derived from it beyond the stored prefix goes into the audit log.

双人复核 (accounts/services.py): a department's machine account an administrator creates,
and a key an administrator issues, do not work on his word alone — the county approver of
the department's region, or another administrator, confirms them. What the county approver
does for his own county's departments takes effect at once.
"""

from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from accounts import policy, services
from accounts.audit import acting, audit_record
from accounts.choices import AuditAction, Role
from accounts.models import ApiToken, User
from households.choices import RegionLevel
from households.models import MonitoringLine, Region
from households.services import (
    MONITORING_LINE_MANAGE,
    yearly_amount_check,
    yearly_record_save,
)
from monitor.models import Department, ScreeningThreshold
from monitor.models.feeds import DepartmentKind

DEPARTMENT_MANAGE = "department.manage"
THRESHOLD_MANAGE = "threshold.manage"

# The levels a page offers in its region select: departments sit at a city or county;
# thresholds and lines are set by a province, a city or a county.
DEPARTMENT_LEVELS = (RegionLevel.CITY, RegionLevel.COUNTY)
YEARLY_LEVELS = (RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY)


# --- reads -------------------------------------------------------------------------------


def _managed_prefix(user, action: str) -> str | None:
    """The code prefix of the records this user manages: "" for all of them, None for
    none (the policy's scope of the action, for the roles that take it)."""
    if not policy.allows(user, action):
        return None
    return policy.scope_prefix(user, action)


def managed(queryset: QuerySet, *, user, action: str, field: str = "region__code") -> QuerySet:
    """The rows of a region-bound queryset this user may manage (deny by default)."""
    prefix = _managed_prefix(user, action)
    if prefix is None:
        return queryset.none()
    if prefix == "":
        return queryset
    return queryset.filter(**{f"{field}__startswith": prefix})


def regions_managed_by(user, *, action: str, levels) -> QuerySet:
    """The regions a page offers in its select: of those levels, inside the user's scope."""
    regions = Region.objects.filter(level__in=list(levels), retired=False).order_by("code")
    return managed(regions, user=user, action=action, field="code")


def departments_managed_by(user) -> QuerySet:
    """Departments with their number of active keys and the last time any key was used,
    in one query however many departments there are."""
    live = Q(account__api_tokens__revoked_at__isnull=True)
    queryset = Department.objects.select_related("region", "account").annotate(
        active_keys=Count(
            "account__api_tokens",
            filter=live & Q(account__api_tokens__confirmed_at__isnull=False),
        ),
        keys_awaiting_confirmation=Count(
            "account__api_tokens",
            filter=live & Q(account__api_tokens__confirmed_at__isnull=True),
        ),
        keys_last_used_at=Max("account__api_tokens__last_used_at"),
    )
    return managed(queryset, user=user, action=DEPARTMENT_MANAGE).order_by("region_id", "name")


def thresholds_managed_by(user) -> QuerySet:
    queryset = ScreeningThreshold.objects.select_related("region")
    return managed(queryset, user=user, action=THRESHOLD_MANAGE).order_by("-year", "region_id")


def monitoring_lines_managed_by(user) -> QuerySet:
    queryset = MonitoringLine.objects.select_related("region")
    return managed(queryset, user=user, action=MONITORING_LINE_MANAGE).order_by(
        "-year", "region_id"
    )


# --- departments -------------------------------------------------------------------------


def _clean_name(name: str, field: str, what: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({field: f"请填写{what}"})
    if len(name) > 100:
        raise ValidationError({field: f"{what}不超过100个字"})
    return name


def _account_username(kind: str) -> str:
    stem = f"dept-{kind.replace('_', '-')}-"
    number = User.objects.filter(username__startswith=stem).count() + 1
    while User.objects.filter(username=f"{stem}{number}").exists():
        number += 1
    return f"{stem}{number}"


def _create_account(department: Department, by) -> User:
    """The department's machine account: no password (it signs in only with its keys).
    Two departments created at once may pick the same name; the loser takes the next.
    Made by an administrator, it is inactive until a second person confirms it."""
    held = _needs_second_person(by)
    for _attempt in range(5):
        account = User(
            username=_account_username(department.kind),
            role=Role.DEPARTMENT,
            region=department.region,
            first_name=department.name[:150],
            is_active=not held,
            grant_requested_by=by if held else None,
            grant_requested_at=timezone.now() if held else None,
        )
        account.set_unusable_password()
        try:
            with transaction.atomic(), acting(by):
                account.save()
        except IntegrityError:
            continue
        if held:
            audit_record(
                actor=by,
                action=AuditAction.GRANT_REQUESTED,
                obj=account,
                object_label=account.username,
                detail={"grants": ["create"], "role": account.role, "region": account.region_id},
            )
        return account
    raise ValidationError({NON_FIELD_ERRORS: "生成接口账号失败，请重试"})


def _needs_second_person(by) -> bool:
    # The administrator works on no county's data: what he grants a county's department
    # waits for the county (or another administrator).
    return policy.allows(by, services.USERS_MANAGE)


@transaction.atomic
def department_create(*, by, name: str, kind: str, region: Region) -> Department:
    if region is None:
        raise ValidationError({"region": "请选择辖区"})
    department = Department(name=(name or "").strip(), kind=kind, region=region)
    policy.require(by, DEPARTMENT_MANAGE, department)
    department.name = _clean_name(name, "name", "部门名称")
    if kind not in DepartmentKind.values:
        raise ValidationError({"kind": "请选择部门类型"})
    department.full_clean(exclude=["account"])
    department.account = _create_account(department, by)
    department.save()
    audit_record(
        actor=by,
        action=AuditAction.CREATE,
        obj=department,
        detail={"region": region.pk, "kind": kind, "account": department.account.username},
    )
    return department


@transaction.atomic
def department_update(*, by, department: Department, name: str, active: bool) -> Department:
    policy.require(by, DEPARTMENT_MANAGE, department)
    name = _clean_name(name, "name", "部门名称")
    changed = sorted(
        field
        for field, value in (("name", name), ("active", active))
        if getattr(department, field) != value
    )
    if not changed:
        return department
    department.name, department.active = name, active
    department.full_clean(exclude=["account"])
    department.save(update_fields=["name", "active"])
    if "name" in changed:
        User.objects.filter(pk=department.account_id).update(first_name=name[:150])
    audit_record(actor=by, action=AuditAction.UPDATE, obj=department, detail={"fields": changed})
    return department


def _key_label(department: Department, token: ApiToken) -> str:
    return f"{department.name}：{token.prefix}…（{token.name}）"


@transaction.atomic
def department_key_issue(*, by, department: Department, name: str) -> tuple[ApiToken, str]:
    """Issue a key for the department's account; returns the token and the raw key, which
    the caller shows once and never stores. A key an administrator issues works once the
    county approver or another administrator confirms it (`department_key_confirm`)."""
    policy.require(by, DEPARTMENT_MANAGE, department)
    name = _clean_name(name, "name", "密钥用途")
    if not department.active:
        raise ValidationError({NON_FIELD_ERRORS: "该部门已停用，请先启用再签发接口密钥"})
    confirmed = not _needs_second_person(by)
    token, raw = ApiToken.issue(user=department.account, name=name, by=by, confirmed=confirmed)
    audit_record(
        actor=by,
        action=AuditAction.TOKEN_ISSUED,
        obj=token,
        object_label=_key_label(department, token),
        detail={
            "department": department.pk,
            "account": department.account.username,
            "awaiting_confirmation": not confirmed,
        },
    )
    return token, raw


@transaction.atomic
def department_key_confirm(*, by, department: Department, token: ApiToken) -> ApiToken:
    """The second person confirms a key an administrator issued: from now on it works."""
    policy.require(by, DEPARTMENT_MANAGE, department)
    token = ApiToken.objects.select_for_update().filter(pk=token.pk).first()
    if token is None or token.user_id != department.account_id:
        raise policy.out_of_scope()
    if token.revoked_at is not None:
        raise ValidationError({NON_FIELD_ERRORS: "该密钥已吊销"})
    if token.confirmed_at is not None:
        raise ValidationError({NON_FIELD_ERRORS: "该密钥已复核启用"})
    if token.issued_by_id == by.pk:
        raise ValidationError({NON_FIELD_ERRORS: "密钥须由签发人以外的另一人复核启用"})
    token.confirmed_at = timezone.now()
    token.save(update_fields=["confirmed_at"])
    audit_record(
        actor=by,
        action=AuditAction.TOKEN_CONFIRMED,
        obj=token,
        object_label=_key_label(department, token),
        detail={
            "department": department.pk,
            "account": department.account.username,
            "issued_by": token.issued_by.username if token.issued_by else "",
        },
    )
    return token


@transaction.atomic
def department_account_confirm(*, by, department: Department) -> User:
    """The second person confirms the machine account an administrator created."""
    policy.require(by, DEPARTMENT_MANAGE, department)
    account = User.objects.select_for_update().get(pk=department.account_id)
    services.grant_confirm_by_other(by=by, account=account)
    return account


@transaction.atomic
def department_key_revoke(*, by, department: Department, token: ApiToken) -> ApiToken:
    policy.require(by, DEPARTMENT_MANAGE, department)
    # Locked and re-read: of two people revoking at once, one revokes, one is told.
    token = ApiToken.objects.select_for_update().filter(pk=token.pk).first()
    if token is None or token.user_id != department.account_id:
        raise policy.out_of_scope()
    if token.revoked_at is not None:
        raise ValidationError({NON_FIELD_ERRORS: "该密钥已吊销"})
    token.revoke()
    audit_record(
        actor=by,
        action=AuditAction.TOKEN_REVOKED,
        obj=token,
        object_label=_key_label(department, token),
        detail={"department": department.pk, "account": department.account.username},
    )
    return token


# --- screening thresholds ----------------------------------------------------------------


@transaction.atomic
def threshold_save(
    *,
    by,
    region: Region,
    year: int,
    medical_expense_over: Decimal,
    threshold: ScreeningThreshold | None = None,
) -> ScreeningThreshold:
    """Create a threshold, or change one (`threshold`): both its old and its new region
    must be the user's to manage. The saved threshold is returned; the one passed in is
    left as it was."""
    if threshold is not None:
        policy.require(by, THRESHOLD_MANAGE, threshold)
    if region is None:
        raise ValidationError({"region": "请选择适用区划"})
    record = ScreeningThreshold(
        pk=threshold.pk if threshold is not None else None,
        region=region,
        year=year,
        medical_expense_over=medical_expense_over,
    )
    policy.require(by, THRESHOLD_MANAGE, record)
    yearly_amount_check(
        year=year, amount=medical_expense_over, field="medical_expense_over", what="预警线"
    )
    record.full_clean(validate_unique=False, validate_constraints=False)
    yearly_record_save(record, what="筛查阈值")
    audit_record(
        actor=by,
        action=AuditAction.CREATE if threshold is None else AuditAction.UPDATE,
        obj=record,
        object_label=f"筛查阈值 {region.name} {year}",
        detail={"region": region.pk, "year": year, "amount": str(record.medical_expense_over)},
    )
    return record


@transaction.atomic
def threshold_delete(*, by, threshold: ScreeningThreshold) -> None:
    policy.require(by, THRESHOLD_MANAGE, threshold)
    pk = threshold.pk
    label = f"筛查阈值 {threshold.region.name} {threshold.year}"
    detail = {
        "region": threshold.region_id,
        "year": threshold.year,
        "amount": str(threshold.medical_expense_over),
    }
    threshold.delete()
    audit_record(
        actor=by,
        action=AuditAction.DELETE,
        object_type=ScreeningThreshold._meta.label_lower,
        object_id=str(pk),
        object_label=label,
        detail=detail,
    )
