from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.choices import Role
from accounts.models import ApiToken, AuditEvent, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "first_name", "role", "region", "is_active"]
    list_filter = ["role", "is_active"]
    search_fields = ["username", "first_name", "region__name"]
    autocomplete_fields = ["region"]
    fieldsets = [
        *BaseUserAdmin.fieldsets,
        ("角色与管辖范围", {"fields": ["role", "region", "phone_masked"]}),
    ]
    add_fieldsets = [
        *BaseUserAdmin.add_fieldsets,
        ("角色与管辖范围", {"fields": ["role", "region"]}),
    ]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        # Keys are issued with `manage.py issue_token`, which prints the key once.
        return False

    @admin.action(description="吊销所选密钥")
    def revoke(self, request, queryset):
        for token in queryset.active():
            token.revoke()


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "action", "object_type", "object_label", "reason", "ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_name", "object_id", "reason"]
    date_hierarchy = "at"

    # 三权分立: only the auditor reads the trail, and it is append-only for everyone.
    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.role == Role.AUDITOR

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
