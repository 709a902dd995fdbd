"""Admin for cases. Workflow fields are read-only here: a case moves only through
monitor.workflow, never by editing its status in a form."""

from django.contrib import admin

from config.admin_base import ReadOnlyAdmin
from monitor.models import (
    Appraisal,
    Case,
    CaseRisk,
    CaseTransition,
    Consent,
    Deadline,
    HomeVisit,
    MonthlyVisit,
    Notification,
    PublicNotice,
)


class ScopedCaseAdmin(ReadOnlyAdmin):
    """Records of cases follow the region scope of their case, read-only."""

    def get_queryset(self, request):
        return super().get_queryset(request).filter(case__in=Case.objects.visible_to(request.user))


class CaseRiskInline(admin.TabularInline):
    model = CaseRisk
    extra = 0


class CaseTransitionInline(admin.TabularInline):
    model = CaseTransition
    extra = 0
    can_delete = False
    readonly_fields = ["action", "from_status", "to_status", "actor", "actor_role", "at", "comment"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = [
        "household",
        "category",
        "channel",
        "status",
        "found_on",
        "identified_on",
        "green_channel",
    ]
    list_filter = ["status", "category", "channel", "green_channel"]
    search_fields = ["household__number"]
    raw_id_fields = ["household"]
    readonly_fields = [
        "status",
        "identified_on",
        "clearance_kind",
        "cleared_on",
        "closed_reason",
        "created_by",
        "created_at",
        "updated_at",
    ]
    inlines = [CaseRiskInline, CaseTransitionInline]

    def get_queryset(self, request):
        return Case.objects.visible_to(request.user).select_related("household")


@admin.register(CaseTransition)
class CaseTransitionAdmin(ScopedCaseAdmin):
    list_display = ["case", "action", "from_status", "to_status", "actor", "at"]
    list_filter = ["action"]


@admin.register(HomeVisit, Consent, Appraisal, PublicNotice)
class EvidenceAdmin(ScopedCaseAdmin):
    list_display = ["case", "stage", "recorded_by", "recorded_at"]
    list_filter = ["stage"]
    raw_id_fields = ["case"]
    readonly_fields = ["recorded_by", "recorded_at"]


@admin.register(CaseRisk)
class CaseRiskAdmin(ScopedCaseAdmin):
    list_display = ["case", "code"]
    list_filter = ["code"]
    readonly_fields = ["case", "code"]


@admin.register(MonthlyVisit)
class MonthlyVisitAdmin(ScopedCaseAdmin):
    list_display = ["case", "visited_on", "visitors", "risk_changed"]
    raw_id_fields = ["case"]


@admin.register(Deadline)
class DeadlineAdmin(ScopedCaseAdmin):
    list_display = ["case", "step", "responsible_level", "due_on", "met_on", "overdue_since"]
    list_filter = ["step", "responsible_level"]
    readonly_fields = ["case", "step", "responsible_level", "due_on", "met_on", "overdue_since"]


@admin.register(Notification)
class NotificationAdmin(ScopedCaseAdmin):
    list_display = ["created_at", "region", "role", "kind", "message", "read_at"]
    list_filter = ["kind", "role"]
    readonly_fields = ["region", "role", "case", "kind", "message", "key", "created_at"]
