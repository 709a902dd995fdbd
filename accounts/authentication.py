from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts import lockout
from accounts.choices import Role
from accounts.models import ApiToken


class PasswordBackend(ModelBackend):
    """Sign-in by user name and password, for people only; every path that checks a password
    (/login/, the admin site's login, any `authenticate()` call) passes here.

    The attempt takes its number before the password is checked (accounts/lockout.py), so a
    locked account's password is never tried, however many tries arrive at once. A refusal
    for the lock raises PermissionDenied: `authenticate()` then tries no other backend and
    sends `user_login_failed` (the failure is audited); the minutes left are left on the
    request for the form to tell."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field())
        if not isinstance(username, str) or password is None:
            return None
        if not lockout.attempt_begin(username):
            if request is not None:
                request.login_locked_minutes = lockout.locked_minutes(username)
            raise PermissionDenied("account locked")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        # 行业部门 accounts are machine clients: they authenticate by API key only, so a
        # leaked or guessed password opens no page (and no admin site) for them.
        if user is None or user.role == Role.DEPARTMENT:
            return None
        lockout.clear(username)
        return user

    def get_user(self, user_id):
        # Once a request: the page header names the user's region, read with the user (one
        # query instead of two).
        from django.contrib.auth import get_user_model

        try:
            user = get_user_model()._default_manager.select_related("region").get(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token fp_…` for machine clients (departments, integrations)."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("接口密钥格式错误：应为 “Token <密钥>”。")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("接口密钥含非法字符。") from None
        token = ApiToken.find_active(raw)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("接口密钥无效或已吊销。")
        now = timezone.now()
        # Write the last-use time at most once a minute: a busy client must not turn every
        # request into an UPDATE.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "接口密钥：`Token fp_…`，由管理员签发，只显示一次。",
        }
