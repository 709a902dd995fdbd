"""Accounts in the admin site: the administrator's tool (三权分立).

Users are managed by the administrator role alone (the policy's `users.manage`, not
Django's model permissions), through accounts.services: no one changes their own rights,
and what an administrator grants waits for a second administrator. The audit log is the
auditor's, read-only for everyone. Second-factor devices can only be removed here: a person
enrols his own on the enrolment page, and no secret is ever shown."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

# django-otp's own admin registers its device model with a form that adds a device, with a
# secret of the administrator's choosing, to any account: imported first so that it is
# registered before it is taken out below, whatever the order of the apps.
from django_otp.plugins.otp_totp import admin as _otp_totp_admin  # noqa: F401
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import policy, services
from accounts.audit import acting, acting_now, audit_record
from accounts.choices import AuditAction, Role
from accounts.models import ApiToken, AuditEvent, SecondFactorDevice, User

PENDING_MESSAGE = "「{name}」的授权已提交：账号暂停用，须由另一名系统管理员复核后启用。"


def _manages_users(request) -> bool:
    return policy.allows(request.user, services.USERS_MANAGE)


class PasswordSetForm(AdminPasswordChangeForm):
    """The admin site's password form: the password is saved through the service, so a
    password set for someone else waits for a second administrator."""

    def save(self, commit=True):
        user = self.set_password_and_save(self.user, commit=False)
        if commit:
            by, request = acting_now()
            if services.account_password_set(by=by, account=user, request=request) == "pending":
                messages.warning(request, PENDING_MESSAGE.format(name=user.get_username()))
        return user


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = [
        "username",
        "first_name",
        "role",
        "region",
        "is_active",
        "grant_requested_by",
    ]
    list_filter = ["role", "is_active"]
    search_fields = ["username", "first_name", "region__name"]
    autocomplete_fields = ["region"]
    # Django's groups and model permissions govern nothing of people's data here, and
    # an untracked way to hand out rights is one too many: they are not offered.
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("个人信息", {"fields": ["first_name", "last_name", "email"]}),
        ("角色与管辖范围", {"fields": ["role", "region", "phone_masked"]}),
        ("状态与后台权限", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        (
            "双人复核",
            {
                "fields": [
                    "grant_requested_by",
                    "grant_requested_at",
                    "password_change_required",
                    "last_login",
                    "date_joined",
                ]
            },
        ),
    ]
    add_fieldsets = [
        *BaseUserAdmin.add_fieldsets,
        ("角色与管辖范围", {"fields": ["role", "region"]}),
    ]
    readonly_fields = [
        "grant_requested_by",
        "grant_requested_at",
        "password_change_required",
        "last_login",
        "date_joined",
    ]
    change_password_form = PasswordSetForm
    actions = ["confirm_grants", "deactivate"]

    # The administrator role manages users; no one else, whatever Django permissions say.
    def has_module_permission(self, request):
        return _manages_users(request)

    def has_view_permission(self, request, obj=None):
        return _manages_users(request)

    def has_add_permission(self, request):
        return _manages_users(request)

    def has_change_permission(self, request, obj=None):
        return _manages_users(request)

    def has_delete_permission(self, request, obj=None):
        # Accounts are stopped, not deleted: the audit log names them.
        return False

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk == request.user.pk:
            fields += ["role", "region", "is_active", "is_staff", "is_superuser"]
        return fields

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        by = request.user

        class CheckedForm(form):
            def _post_clean(self):
                super()._post_clean()
                try:
                    services.account_check(by=by, account=self.instance)
                except ValidationError as exc:
                    self._update_errors(exc)

        return CheckedForm

    def save_model(self, request, obj, form, change):
        outcome = services.account_save(by=request.user, account=obj, request=request)
        if outcome == "pending":
            messages.warning(request, PENDING_MESSAGE.format(name=obj.get_username()))
        elif outcome == "confirmed":
            messages.success(request, f"已复核并启用「{obj.get_username()}」。")

    def user_change_password(self, request, id, form_url=""):
        with acting(request.user, request):
            return super().user_change_password(request, id, form_url)

    @admin.action(description="复核并启用所选账号（须非本人提交）")
    def confirm_grants(self, request, queryset):
        for account in queryset:
            try:
                services.account_confirm(by=request.user, account=account, request=request)
            except ValidationError as exc:
                messages.error(request, f"{account.get_username()}：{'；'.join(exc.messages)}")
            else:
                messages.success(request, f"已复核并启用「{account.get_username()}」。")

    @admin.action(description="停用所选账号")
    def deactivate(self, request, queryset):
        for account in queryset:
            try:
                services.account_deactivate(by=request.user, account=account, request=request)
            except ValidationError as exc:
                messages.error(request, f"{account.get_username()}：{'；'.join(exc.messages)}")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "prefix",
        "name",
        "user",
        "issued_by",
        "created_at",
        "confirmed_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = [
        "prefix",
        "name",
        "user",
        "issued_by",
        "created_at",
        "confirmed_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_module_permission(self, request):
        return _manages_users(request)

    def has_view_permission(self, request, obj=None):
        return _manages_users(request)

    def has_add_permission(self, request):
        # Keys are issued on the 管理 pages or with `manage.py issue_token`, shown once.
        return False

    def has_change_permission(self, request, obj=None):
        # A key's account and purpose are fixed at issue: only revoking changes it.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="吊销所选密钥")
    def revoke(self, request, queryset):
        if not _manages_users(request):
            raise PermissionDenied
        with transaction.atomic():
            for token in queryset.select_for_update().filter(revoked_at__isnull=True):
                token.revoke()
                audit_record(
                    actor=request.user,
                    action=AuditAction.TOKEN_REVOKED,
                    obj=token,
                    detail={"account": token.user.get_username(), "via": "admin"},
                    request=request,
                )


if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(SecondFactorDevice)
class SecondFactorDeviceAdmin(admin.ModelAdmin):
    """A lost or replaced phone: the administrator removes the device, and its owner enrols
    a new one at his next sign-in. Nothing is added or changed here, whose secret the
    administrator would know, and the secret is not among the fields shown."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username", "user__first_name"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields
    list_select_related = ["user"]

    def has_module_permission(self, request):
        return _manages_users(request)

    def has_view_permission(self, request, obj=None):
        return _manages_users(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return _manages_users(request)

    def delete_model(self, request, obj):
        services.second_factor_device_remove(by=request.user, device=obj, request=request)

    def delete_queryset(self, request, queryset):
        for device in queryset:
            services.second_factor_device_remove(by=request.user, device=device, request=request)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "at",
        "seq",
        "actor_name",
        "action",
        "object_type",
        "object_label",
        "reason",
        "ip",
    ]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_name", "object_id", "reason"]
    date_hierarchy = "at"

    # 三权分立: only the auditor reads the trail, and it is append-only for everyone.
    def has_view_permission(self, request, obj=None):
        return policy.allows(request.user, "audit.read") and request.user.role == Role.AUDITOR

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        # Not even the "delete selected" action Django offers by default.
        return {}
