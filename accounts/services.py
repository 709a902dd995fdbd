"""Accounts: who may grant what, and the second person (双人复核, 三权分立).

The administrator manages accounts but never works on people's data, reads the audit log
or approves cases, and must not be able to give himself any of that. So:

- No one changes their own role, region, activation or back-office rights.
- Whatever an administrator grants — a new account, a role or a region, an activation,
  back-office rights, a password set for someone else, an API key — does not take effect
  on his word alone: the account (or the key) waits, inactive, until a second person
  confirms it. The second person is another administrator; for a department's machine
  account or key, also the county approver of the department's region (monitor/
  administration.py), who answers for that county's data. The one who asked can never
  confirm, nor can the account itself.
- Taking rights away (deactivating an account, revoking a key) takes effect at once.
- A password set for someone else (a new account's, a reset) is known to the one who set
  it: its owner must change it at his next sign-in before anything else opens.

Every change is an audit event (accounts.models.User.save writes them, whoever saves);
the request and the confirmation are events of their own.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import policy
from accounts.audit import acting, acting_now, audit_record
from accounts.choices import AuditAction
from accounts.models import ACCOUNT_FIELDS, User

USERS_MANAGE = "users.manage"
SELF_FIELDS = {
    "role": "角色",
    "region_id": "所属区划",
    "is_active": "启用状态",
    "is_staff": "后台登录权限",
    "is_superuser": "超级用户权限",
}
OWN_ACCOUNT = "不能修改本人账号的{what}，须由另一名系统管理员办理"
OWN_REQUEST = "该账号的授权由您提交，须由另一名系统管理员复核后启用"


def _before(account: User) -> dict | None:
    if account.pk is None or account._state.adding:
        return None
    return User.objects.filter(pk=account.pk).values(*ACCOUNT_FIELDS).first()


def _field_name(field: str) -> str:
    return "region" if field == "region_id" else field


def account_check(*, by, account: User) -> None:
    """Refuse what no one may do, before anything is saved (forms call this to show the
    refusal beside the field): a change of one's own rights, or the confirmation of a
    grant one asked for oneself."""
    before = _before(account)
    if before is None:
        return
    if account.pk == by.pk:
        changed = [field for field in SELF_FIELDS if before[field] != getattr(account, field)]
        if changed:
            raise ValidationError(
                {
                    _field_name(field): OWN_ACCOUNT.format(what=SELF_FIELDS[field])
                    for field in changed
                }
            )
    if _is_confirmation(before, account) and account.grant_requested_by_id == by.pk:
        raise ValidationError({"is_active": OWN_REQUEST})


def _grants(before: dict | None, account: User) -> list[str]:
    """What this save would grant (empty: it only takes away or changes nothing of rights)."""
    if before is None:
        return ["create"]
    grants = [name for name in ("role", "region_id") if before[name] != getattr(account, name)]
    grants += [
        name
        for name in ("is_staff", "is_superuser", "is_active")
        if getattr(account, name) and not before[name]
    ]
    return grants


def _is_confirmation(before: dict | None, account: User) -> bool:
    """Activating an account that waits for a second person, changing nothing else."""
    return (
        before is not None
        and account.grant_requested_by_id is not None
        and _grants(before, account) == ["is_active"]
    )


def _hold(account: User, by, grants: list[str], request=None) -> None:
    account.is_active = False
    account.grant_requested_by = by
    account.grant_requested_at = timezone.now()
    account.save()
    audit_record(
        actor=by,
        action=AuditAction.GRANT_REQUESTED,
        obj=account,
        object_label=account.get_username(),
        detail={"grants": grants, "role": account.role, "region": account.region_id},
        request=request,
    )


def _confirm(account: User, by, request=None) -> None:
    requested_by = account.grant_requested_by
    account.is_active = True
    account.grant_requested_by = None
    account.grant_requested_at = None
    account.save()
    audit_record(
        actor=by,
        action=AuditAction.GRANT_CONFIRMED,
        obj=account,
        object_label=account.get_username(),
        detail={
            "requested_by": requested_by.get_username() if requested_by else "",
            "role": account.role,
            "region": account.region_id,
        },
        request=request,
    )


def _mark_password_origin(*, by, account: User) -> None:
    """Called where a password was just given to the account (set_password, not saved yet):
    the account's own password is his; one someone else set must be changed at sign-in."""
    if account._password is None or not account.has_usable_password():
        return
    account.password_change_required = account.pk is None or account.pk != by.pk


@transaction.atomic
def account_save(*, by, account: User, request=None) -> str:
    """Save an administrator's change to an account (the admin site's forms come here).
    Returns "saved", "pending" (waits for a second administrator) or "confirmed"."""
    policy.require(by, USERS_MANAGE)
    account_check(by=by, account=account)
    before = _before(account)
    _mark_password_origin(by=by, account=account)
    with acting(by, request):
        if _is_confirmation(before, account):
            _confirm(account, by, request)
            return "confirmed"
        grants = _grants(before, account)
        if grants:
            _hold(account, by, grants, request)
            return "pending"
        account.save()
        return "saved"


@transaction.atomic
def account_password_set(*, by, account: User, request=None) -> str:
    """Save a password an administrator set (the account carries it: `set_password` or
    `set_unusable_password` was called). For his own account it takes effect; anyone
    else's waits for a second administrator, or he could sign in as anyone whose password
    he sets, and once confirmed its owner must replace it at his next sign-in. Disabling
    password sign-in takes a right away: at once."""
    policy.require(by, USERS_MANAGE)
    _mark_password_origin(by=by, account=account)
    with acting(by, request):
        if account.pk == by.pk or not account.has_usable_password():
            account.save()
            return "saved"
        _hold(account, by, ["password"], request)
        return "pending"


@transaction.atomic
def account_confirm(*, by, account: User, request=None) -> None:
    """The second administrator confirms what another asked for an account."""
    policy.require(by, USERS_MANAGE)
    account = User.objects.select_for_update().get(pk=account.pk)
    if account.grant_requested_by_id is None:
        raise ValidationError({"is_active": "该账号没有待复核的授权"})
    if by.pk in (account.grant_requested_by_id, account.pk):
        raise ValidationError({"is_active": OWN_REQUEST})
    with acting(by, request):
        _confirm(account, by, request)


@transaction.atomic
def account_deactivate(*, by, account: User, request=None) -> None:
    """Taking rights away needs no second person; one's own account is not one's to stop."""
    policy.require(by, USERS_MANAGE)
    if account.pk == by.pk:
        raise ValidationError({"is_active": OWN_ACCOUNT.format(what="启用状态")})
    with acting(by, request):
        account.is_active = False
        account.save()


def grant_confirm_by_other(*, by, account: User) -> None:
    """A second person (another administrator, or the county approver of a department's
    county, whose policy the caller has checked) confirms an account that waits."""
    if account.grant_requested_by_id is None:
        raise ValidationError({"account": "该账号没有待复核的授权"})
    if by.pk in (account.grant_requested_by_id, account.pk):
        raise ValidationError({"account": "授权须由提交人以外的另一人复核"})
    # The request being served (the 待复核授权 page's), so the event carries its address.
    _user, request = acting_now()
    with acting(by, request):
        _confirm(account, by, request)


@transaction.atomic
def second_factor_device_remove(*, by, device, request=None) -> None:
    """Remove a person's authenticator app (a lost or replaced phone): at his next sign-in
    he enrols a new one himself. No one adds a device for someone else."""
    policy.require(by, USERS_MANAGE)
    owner = device.user
    device_pk = device.pk
    device.delete()
    audit_record(
        actor=by,
        action=AuditAction.DELETE,
        obj=owner,
        object_label=owner.get_username(),
        detail={"second_factor": "removed", "device": device_pk},
        request=request,
    )
