"""Admin for people data is for looking, not editing: every write to households, members,
cases and measures goes through the services, which validate, check the region and audit.
The admin site keeps what administrators own: users, regions, lines, the catalogue."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
