"""消除后跟踪 API: the watch list of cleared households still followed up, and the quarterly
follow-up visits of one case (served under /api/cases/{id}/follow-up-visits/ by the case
viewset, with the serializers here)."""

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets

from accounts.permissions import PeopleDataAccess
from config.fields import ChoiceLabelField
from monitor.follow_up import Quarter, follow_ups_for, next_due
from monitor.models import Case, MonthlyVisit


class FollowUpSerializer(serializers.ModelSerializer):
    """消除后跟踪名单的一户：风险消除日期、跟踪截止日期、最近一次跟踪走访和下一次应走访的季度。"""

    case = serializers.IntegerField(source="pk", read_only=True)
    household_number = serializers.CharField(source="household.number")
    village = serializers.CharField(source="household.village_id")
    village_name = serializers.CharField(source="household.village.name")
    head_name = serializers.CharField(default=None, help_text="户主姓名")
    category_display = ChoiceLabelField(source="get_category_display")
    clearance_kind_display = ChoiceLabelField(source="get_clearance_kind_display")
    last_follow_up_on = serializers.DateField(
        default=None, help_text="最近一次消除后跟踪走访日期（无则为空）"
    )
    visited_this_quarter = serializers.SerializerMethodField(help_text="本季度是否已跟踪走访")
    next_due_quarter = serializers.SerializerMethodField(
        help_text="下一次应跟踪走访的季度（跟踪期内已无应走访季度时为空）"
    )
    next_due_on = serializers.SerializerMethodField(help_text="下一次跟踪走访的最迟日期")

    class Meta:
        model = Case
        fields = [
            "case",
            "household",
            "household_number",
            "village",
            "village_name",
            "head_name",
            "category",
            "category_display",
            "clearance_kind",
            "clearance_kind_display",
            "cleared_on",
            "follow_up_until",
            "last_follow_up_on",
            "visited_this_quarter",
            "next_due_quarter",
            "next_due_on",
        ]

    def _due(self, case) -> Quarter | None:
        return next_due(case, self.context.get("today") or timezone.localdate())

    @extend_schema_field(serializers.BooleanField())
    def get_visited_this_quarter(self, case) -> bool:
        quarter = Quarter.of(self.context.get("today") or timezone.localdate())
        last = getattr(case, "last_follow_up_on", None)
        return last is not None and last >= quarter.first

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_next_due_quarter(self, case) -> str | None:
        due = self._due(case)
        return due.label if due else None

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_next_due_on(self, case):
        due = self._due(case)
        if due is None:
            return None
        return min(due.last, case.follow_up_until)


class FollowUpVisitSerializer(serializers.ModelSerializer):
    """消除后跟踪走访（每季度至少一次）。"""

    kind_display = ChoiceLabelField(source="get_kind_display")
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True, default=None)

    class Meta:
        model = MonthlyVisit
        fields = [
            "id",
            "kind",
            "kind_display",
            "visited_on",
            "visitors",
            "findings",
            "risk_changed",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = ["kind", "recorded_at"]
        extra_kwargs = {"findings": {"max_length": 5000}}


# Roles that do not work on people's data are refused (accounts.permissions.PeopleDataAccess).
NO_PEOPLE_DATA = OpenApiResponse(description="角色无权访问农户信息")


@extend_schema_view(
    list=extend_schema(
        summary="消除后跟踪名单（本人管辖范围内、跟踪期未满、未销户的已消除风险户）",
        responses={200: FollowUpSerializer(many=True), 403: NO_PEOPLE_DATA},
    ),
    retrieve=extend_schema(
        summary="消除后跟踪户详情",
        responses={
            200: FollowUpSerializer,
            403: NO_PEOPLE_DATA,
            404: OpenApiResponse(description="不存在、不在跟踪期内，或不在您的管辖范围内"),
        },
    ),
)
class FollowUpViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = FollowUpSerializer
    permission_classes = [PeopleDataAccess]
    filterset_fields = ["category"]

    def get_queryset(self):
        return follow_ups_for(self.request.user, timezone.localdate())

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": timezone.localdate()}
