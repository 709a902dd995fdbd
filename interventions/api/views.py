from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from accounts.audit import audit_record
from accounts.choices import AuditAction
from accounts.permissions import IsAdministrator, PeopleDataAccess, ReadsReferenceData
from interventions.api.serializers import MeasureCategorySerializer, MeasureRecordSerializer
from interventions.models import MeasureCategory, MeasureRecord
from interventions.services import measure_record_update
from monitor.models import Case


@extend_schema_view(list=extend_schema(summary="帮扶措施类别"))
class MeasureCategoryViewSet(viewsets.ModelViewSet):
    """The catalogue is data: every role but the auditor reads it, administrators keep it."""

    serializer_class = MeasureCategorySerializer
    queryset = MeasureCategory.objects.all()
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [ReadsReferenceData()]
        return [IsAdministrator()]

    def perform_create(self, serializer):
        super().perform_create(serializer)
        audit_record(actor=self.request.user, action=AuditAction.CREATE, obj=serializer.instance)

    def perform_update(self, serializer):
        # Which categories are developmental or cover an illness decides clearances: audited.
        super().perform_update(serializer)
        audit_record(
            actor=self.request.user,
            action=AuditAction.UPDATE,
            obj=serializer.instance,
            detail={"fields": sorted(serializer.validated_data)},
        )


@extend_schema_view(
    list=extend_schema(summary="帮扶措施记录（本人管辖范围）"),
    partial_update=extend_schema(summary="修改帮扶措施（如标记完成、填写结束日期）"),
)
class MeasureRecordViewSet(mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = MeasureRecordSerializer
    permission_classes = [PeopleDataAccess]
    filterset_fields = ["case", "category__code", "status"]
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        cases = Case.objects.visible_to(self.request.user)
        return (
            MeasureRecord.objects.filter(case__in=cases)
            .select_related("category")
            .prefetch_related("beneficiaries")
            .order_by("case_id", "start_on", "id")
        )

    def perform_update(self, serializer):
        serializer.instance = measure_record_update(
            record=serializer.instance, by=self.request.user, **serializer.validated_data
        )
