"""动态口令: the second factor (TOTP, RFC 6238, through django-otp) of the roles that decide
cases or manage accounts (SECOND_FACTOR_ROLES: county approvers, administrators).

After the password, such a person enrols an authenticator app once (the page shows the
secret and its otpauth:// address; the first code confirms it) and types a code at each
sign-in; until then config.security.AccountGateMiddleware opens nothing else. A code try
takes its number from the sign-in lockout before it is checked (accounts/lockout.py), as a
password try does: the fifth failure locks the account and ends the half-signed-in session,
however many tries arrive at once. A code is accepted once (django-otp keeps the last time
step used), and a device is read under a row lock while a code is checked, so two requests
cannot both spend it. The secret is stored sealed (accounts/device_secrets.py): the model
here is the proxy that opens it."""

from base64 import b32encode

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django_otp import login as otp_login

from accounts import lockout
from accounts.audit import audit_record
from accounts.choices import AuditAction
from accounts.models import SecondFactorDevice as TOTPDevice

DEVICE_NAME = "动态口令"


class Outcome:
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"


def for_role(user) -> bool:
    """Is the user's role one that signs in with a second factor?"""
    return user.is_authenticated and user.role in settings.SECOND_FACTOR_ROLES


def required(user) -> bool:
    return settings.SECOND_FACTOR_REQUIRED and for_role(user)


def is_verified(user) -> bool:
    # OTPMiddleware gives a signed-in user is_verified(); a user object made elsewhere
    # (a test's own, a management command's) has not passed a second factor.
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def pending(user) -> bool:
    """Signed in with the password, and still owing the code."""
    return required(user) and not is_verified(user)


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def enrolment_device(user) -> TOTPDevice:
    """The device being enrolled: made once and kept (unconfirmed) until its first code, so
    the secret on the page stays the same while the person sets up the app."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def secret_of(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    text = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _check(device_pk: int, token: str) -> TOTPDevice | None:
    """The device, if the code is its current one (and not spent)."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(pk=device_pk).first()
        if device is not None and device.verify_token(token):
            return device
        return None


def _verified(request, device: TOTPDevice) -> None:
    # The session gains rights here: a new key, so one fixed before the code is worth nothing.
    request.session.cycle_key()
    otp_login(request, device)


def _locked_out(request) -> str:
    logout(request)
    return Outcome.LOCKED


def verify(request, token: str) -> str:
    """Check a sign-in code against the user's enrolled device; on success the session is
    verified for the rest of its life."""
    user = request.user
    username = user.get_username()
    device = confirmed_device(user)
    if device is None:
        return Outcome.WRONG
    if not lockout.attempt_begin(username):
        return _locked_out(request)
    device = _check(device.pk, token)
    if device is None:
        audit_record(
            actor=user,
            action=AuditAction.LOGIN_FAILED,
            request=request,
            detail={"username": username, "stage": "second_factor"},
        )
        return _locked_out(request) if lockout.is_locked(username) else Outcome.WRONG
    _verified(request, device)
    lockout.clear(username)
    audit_record(
        actor=user, action=AuditAction.LOGIN, request=request, detail={"second_factor": "totp"}
    )
    return Outcome.VERIFIED


def enrol(request, device: TOTPDevice, token: str) -> str:
    """Confirm the device being enrolled with its first code. It replaces any device the user
    had (the caller lets only a verified session replace one)."""
    user = request.user
    if device.user_id != user.pk or device.confirmed:
        return Outcome.WRONG
    if confirmed_device(user) is not None and not is_verified(user):
        # Whoever holds only the password must not swap the owner's app for their own.
        raise PermissionDenied("请先用已登记的动态口令完成验证，再更换。")
    device = _check(device.pk, token)
    if device is None:
        # A wrong first code is a slip in setting up the app, not a guess at a secret (the
        # person enrolling holds it): not counted toward the lock.
        return Outcome.WRONG
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    _verified(request, device)
    lockout.clear(user.get_username())
    audit_record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=user,
        object_label=user.get_username(),
        request=request,
        detail={"second_factor": "enrolled"},
    )
    return Outcome.VERIFIED
