from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import AuditEvent, User
from accounts.permissions import IsAuditor
from config.fields import ChoiceLabelField
from config.filters import FilterSet, IsoDateTimeFilter


class MeSerializer(serializers.ModelSerializer):
    role_display = ChoiceLabelField(source="get_role_display")
    region_name = serializers.CharField(source="region.name", default=None)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "role",
            "role_display",
            "region",
            "region_name",
        ]


class MeView(APIView):
    @extend_schema(summary="当前用户", responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class AuditEventSerializer(serializers.ModelSerializer):
    action_display = ChoiceLabelField(source="get_action_display")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_name",
            "action",
            "action_display",
            "object_type",
            "object_id",
            "object_label",
            "reason",
            "detail",
            "ip",
        ]


class AuditEventFilter(FilterSet):
    since = IsoDateTimeFilter(field_name="at", lookup_expr="gte", label="起始时间")
    until = IsoDateTimeFilter(field_name="at", lookup_expr="lt", label="截止时间")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor_name", "object_type", "object_id", "since", "until"]


@extend_schema_view(
    list=extend_schema(summary="审计日志（仅审计管理员）"),
    retrieve=extend_schema(summary="审计日志详情"),
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AuditEventSerializer
    permission_classes = [IsAuditor]
    filterset_class = AuditEventFilter
    queryset = AuditEvent.objects.all()
