from django.contrib import admin

from config.admin_base import ReadOnlyAdmin
from interventions.models import AidPlan, MeasureCategory, MeasureRecord, PlannedMeasure
from monitor.admin import ScopedCaseAdmin
from monitor.models import Case


@admin.register(MeasureCategory)
class MeasureCategoryAdmin(admin.ModelAdmin):
    """Administrators keep the catalogue: the national form may add categories."""

    list_display = ["code", "name", "developmental", "covers_illness", "active", "sort_order"]
    list_editable = ["active", "sort_order"]


class PlannedMeasureInline(admin.TabularInline):
    model = PlannedMeasure
    extra = 0


@admin.register(AidPlan)
class AidPlanAdmin(ScopedCaseAdmin):
    list_display = ["case", "responsible_person", "updated_at"]
    raw_id_fields = ["case"]
    inlines = [PlannedMeasureInline]


@admin.register(PlannedMeasure)
class PlannedMeasureAdmin(ReadOnlyAdmin):
    list_display = ["plan", "category", "description"]

    def get_queryset(self, request):
        visible = Case.objects.visible_to(request.user)
        return super().get_queryset(request).filter(plan__case__in=visible)


@admin.register(MeasureRecord)
class MeasureRecordAdmin(ScopedCaseAdmin):
    list_display = ["case", "category", "description", "department", "start_on", "status", "amount"]
    list_filter = ["category", "status"]
    raw_id_fields = ["case", "beneficiaries"]
    readonly_fields = ["recorded_by", "recorded_at"]
