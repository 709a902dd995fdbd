from django.contrib import admin

from config.admin_base import ReadOnlyAdmin
from households.models import (
    Household,
    IncomeRecord,
    Member,
    MonitoringLine,
    Region,
    RegistryImport,
)


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "level", "parent", "retired"]
    list_filter = ["level", "retired"]
    search_fields = ["code", "name"]
    raw_id_fields = ["parent"]


class ScopedAdmin(ReadOnlyAdmin):
    """People data in the admin follows the same region scope as the API and pages, and is
    read-only there."""

    def get_queryset(self, request):
        return self.model.objects.visible_to(request.user)


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    fields = ["name", "id_number_masked", "sex", "relation", "health", "labour", "phone_masked"]
    readonly_fields = ["id_number_masked", "sex", "phone_masked"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        # Members are added through the API or import, where the ID number is validated.
        return False


@admin.register(Household)
class HouseholdAdmin(ScopedAdmin):
    list_display = ["number", "village", "kind", "is_monitored", "address"]
    list_filter = ["kind", "is_monitored", "housing_safe", "water_safe"]
    search_fields = ["number", "address"]
    raw_id_fields = ["village"]
    readonly_fields = ["is_monitored"]
    inlines = [MemberInline]


@admin.register(Member)
class MemberAdmin(ScopedAdmin):
    list_display = ["name", "id_number_masked", "household", "relation", "health", "labour"]
    list_filter = ["relation", "health", "labour"]
    search_fields = ["name", "household__number"]
    readonly_fields = ["id_number_masked", "birth_date", "sex", "phone_masked"]
    raw_id_fields = ["household"]


@admin.register(IncomeRecord)
class IncomeRecordAdmin(ScopedAdmin):
    list_display = ["household", "year", "per_capita_net_income", "household_size"]
    readonly_fields = ["net_income", "per_capita_net_income", "per_capita_after_rigid"]
    raw_id_fields = ["household"]


@admin.register(MonitoringLine)
class MonitoringLineAdmin(admin.ModelAdmin):
    list_display = ["region", "year", "amount", "source"]
    list_filter = ["year"]
    raw_id_fields = ["region"]


@admin.register(RegistryImport)
class RegistryImportAdmin(ReadOnlyAdmin):
    # Row errors quote names: they stay with the uploader (API), not in the admin.
    exclude = ["errors"]
    list_display = [
        "imported_at",
        "kind",
        "file_name",
        "imported_by",
        "rows_total",
        "rows_created",
        "rows_updated",
        "rows_rejected",
    ]
