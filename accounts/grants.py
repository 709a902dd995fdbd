"""Grants waiting for a second person (双人复核), as the 待复核授权 page lists and confirms
them.

Three kinds wait (accounts/services.py, monitor/administration.py):
- a department's machine account an administrator created, and
- a key an administrator issued for one: the county approver of the department's county,
  or another administrator, confirms them;
- any other account an administrator created or granted a role, region, reactivation or
  password: another administrator confirms it.

Each list holds only what the user may confirm the kind of (the policy's
`department.manage` scope, `users.manage`); what the user asked for himself is listed too,
marked, since the services refuse it. Confirming goes through the services, which check the
policy and the second person again and write the audit events."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts import policy, services
from accounts.models import ApiToken, User

DEPARTMENT_ACCOUNT = "department_account"
DEPARTMENT_KEY = "department_key"
ACCOUNT = "account"
KINDS = (DEPARTMENT_ACCOUNT, DEPARTMENT_KEY, ACCOUNT)


def _administration():
    # monitor depends on accounts, not the other way round: imported when used.
    from monitor import administration

    return administration


def may_confirm_any(user) -> bool:
    return policy.allows(user, _administration().DEPARTMENT_MANAGE) or policy.allows(
        user, services.USERS_MANAGE
    )


def _departments(user) -> QuerySet:
    return _administration().departments_managed_by(user)


def department_accounts_waiting(user) -> QuerySet:
    return (
        _departments(user)
        .filter(account__grant_requested_by__isnull=False)
        .select_related("account__grant_requested_by")
        .order_by("account__grant_requested_at", "pk")
    )


def department_keys_waiting(user) -> QuerySet:
    return (
        ApiToken.objects.awaiting_confirmation()
        .filter(user__department_record__in=_departments(user))
        .select_related("user__department_record__region", "issued_by")
        .order_by("created_at", "pk")
    )


def accounts_waiting(user) -> QuerySet:
    """Accounts other than departments' (those are listed with their department)."""
    if not policy.allows(user, services.USERS_MANAGE):
        return User.objects.none()
    return (
        User.objects.filter(grant_requested_by__isnull=False, department_record__isnull=True)
        .select_related("region", "grant_requested_by")
        .order_by("grant_requested_at", "pk")
    )


@dataclass(frozen=True)
class Waiting:
    department_accounts: list
    department_keys: list
    accounts: list

    @property
    def count(self) -> int:
        return len(self.department_accounts) + len(self.department_keys) + len(self.accounts)


def waiting_for(user) -> Waiting:
    return Waiting(
        department_accounts=list(department_accounts_waiting(user)),
        department_keys=list(department_keys_waiting(user)),
        accounts=list(accounts_waiting(user)),
    )


def grant_confirm(*, by, kind: str, pk: int, request=None) -> str:
    """Confirm one waiting grant the user may confirm; returns what was confirmed, for the
    page's message. Something outside the user's lists is a 404, as everywhere."""
    if kind == DEPARTMENT_ACCOUNT:
        department = department_accounts_waiting(by).filter(pk=pk).first()
        if department is None:
            raise Http404("没有这项待复核的授权")
        _administration().department_account_confirm(by=by, department=department)
        return f"行业部门「{department.name}」的接口账号 {department.account.username}"
    if kind == DEPARTMENT_KEY:
        token = department_keys_waiting(by).filter(pk=pk).first()
        if token is None:
            raise Http404("没有这项待复核的授权")
        department = token.user.department_record
        _administration().department_key_confirm(by=by, department=department, token=token)
        return f"「{department.name}」的接口密钥 {token.prefix}…（{token.name}）"
    if kind == ACCOUNT:
        if not policy.allows(by, services.USERS_MANAGE):
            raise PermissionDenied("只有系统管理员可以复核账号授权。")
        account = accounts_waiting(by).filter(pk=pk).first()
        if account is None:
            raise Http404("没有这项待复核的授权")
        services.account_confirm(by=by, account=account, request=request)
        return f"账号 {account.get_username()}"
    raise Http404("没有这项待复核的授权")
