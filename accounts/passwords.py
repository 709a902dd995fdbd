"""Password rules of 等保 level 3 (GB/T 22239, 身份鉴别): complexity and periodic change.

The length and the common-password rules are Django's own validators (settings); this module
adds the character classes, refuses the old password as the new one, and keeps the time a
password was set, from which it expires after PASSWORD_MAX_AGE_DAYS. A password someone else
set (accounts/services.py marks it) is due for a change at once: its owner reaches only the
change-password page until he sets his own (config.security.AccountGateMiddleware)."""

import unicodedata
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

CLASSES = ("大写字母", "小写字母", "数字", "其他符号")


def character_classes(password: str) -> set[str]:
    found = set()
    for char in password:
        if char.isascii() and char.isupper():
            found.add("大写字母")
        elif char.isascii() and char.islower():
            found.add("小写字母")
        elif char.isdigit():
            found.add("数字")
        elif not unicodedata.category(char).startswith("C"):
            # Punctuation, symbols, spaces, and letters of other scripts (汉字) count as
            # "other": a control character counts as nothing.
            found.add("其他符号")
    return found


class CharacterClassValidator:
    """Three of the four classes (upper case, lower case, digits, others), and not the
    password the account has now. As the validator that sees every password saved, it also
    stamps the user's password_changed_at, the start of its 90 days."""

    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    def validate(self, password, user=None):
        if len(character_classes(password)) < self.min_classes:
            raise ValidationError(
                "密码须包含大写字母、小写字母、数字、其他符号中的至少三类。",
                code="password_too_simple",
            )
        if (
            user is not None
            and user.pk is not None
            and user.has_usable_password()
            and user.check_password(password)
        ):
            raise ValidationError("新密码不能与原密码相同。", code="password_unchanged")

    def password_changed(self, password, user=None):
        # Django calls this after saving a user whose password was just set (set_password
        # and save: the change-password page, the admin site, createsuperuser, the demo).
        if user is None or user.pk is None:
            return
        now = timezone.now()
        type(user).objects.filter(pk=user.pk).update(password_changed_at=now)
        user.password_changed_at = now

    def get_help_text(self):
        return "密码须包含大写字母、小写字母、数字、其他符号中的至少三类。"


def password_expires_at(user):
    """When the user's password expires; None when passwords do not expire."""
    days = settings.PASSWORD_MAX_AGE_DAYS
    changed = getattr(user, "password_changed_at", None)
    if days <= 0 or changed is None:
        return None
    return changed + timedelta(days=days)


def password_expired(user) -> bool:
    expires = password_expires_at(user)
    return expires is not None and timezone.now() >= expires


def password_set_by_other(user) -> bool:
    return bool(getattr(user, "password_change_required", False))


def password_change_reason(user) -> str | None:
    """Why the user must change his password before anything else opens; None if he need
    not."""
    if password_set_by_other(user):
        return "您的密码由管理员设置，请先修改为只有您本人知道的密码。"
    if password_expired(user):
        return f"密码已使用超过 {settings.PASSWORD_MAX_AGE_DAYS} 天，请先修改密码。"
    return None
