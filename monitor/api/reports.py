"""Report API: a region's figures as of a day, and the counties' monthly reports.

The serializers below describe the figures (plain data built by monitor.reports.figures)
for the OpenAPI schema and check their shape on the way out."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import policy
from config.schema import ErrorSerializer
from monitor.models import MonthlyReport
from monitor.reports.figures import region_figures
from monitor.reports.monthly import monthly_report_workbook, monthly_reports_for
from monitor.reports.selectors import parse_as_of, report_region_for

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class HouseholdsPeople(serializers.Serializer):
    households = serializers.IntegerField(help_text="户数")
    people = serializers.IntegerField(help_text="人数")


class CodedHouseholdsPeople(HouseholdsPeople):
    code = serializers.CharField()
    label = serializers.CharField()


class CodedCount(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class Rate(serializers.Serializer):
    households = serializers.FloatField(allow_null=True, help_text="按户，0–1；无分母时为空")
    people = serializers.FloatField(allow_null=True, help_text="按人，0–1；无分母时为空")


class RegionRef(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    level = serializers.IntegerField()
    level_label = serializers.CharField()


class Monitored(HouseholdsPeople):
    by_category = CodedHouseholdsPeople(many=True)
    by_main_risk = CodedHouseholdsPeople(many=True)
    by_risk = CodedHouseholdsPeople(many=True, help_text="一户可有多项风险，各项之和可大于户数")
    by_channel = CodedHouseholdsPeople(many=True)
    relapse = HouseholdsPeople(help_text="其中返贫：消除后再次纳入监测")


class NewlyIdentified(serializers.Serializer):
    month = HouseholdsPeople()
    year = HouseholdsPeople()
    relapse_month = HouseholdsPeople()
    relapse_year = HouseholdsPeople()


class Ever(HouseholdsPeople):
    by_category = CodedHouseholdsPeople(many=True)


class Cleared(HouseholdsPeople):
    by_kind = CodedHouseholdsPeople(many=True)
    month = HouseholdsPeople()
    year = HouseholdsPeople()


class MeasureCoverage(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    households = serializers.IntegerField()


class Measures(serializers.Serializer):
    by_category = MeasureCoverage(many=True)
    monitored_with_any = serializers.IntegerField()
    monitored_without = HouseholdsPeople()
    all_monitored_have_measure = serializers.BooleanField()


class IdentificationDays(serializers.Serializer):
    cases = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True)
    p90 = serializers.IntegerField(allow_null=True)


class OverdueLevel(serializers.Serializer):
    level = serializers.IntegerField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class Overdue(serializers.Serializer):
    by_level = OverdueLevel(many=True)
    clues = serializers.IntegerField()


class Rounds(serializers.Serializer):
    total = serializers.IntegerField()
    year = serializers.IntegerField()


class Clues(serializers.Serializer):
    raised = serializers.IntegerField()
    raised_year = serializers.IntegerField()
    by_channel = CodedCount(many=True)
    verified = serializers.IntegerField()
    by_outcome = CodedCount(many=True)
    identified = serializers.IntegerField()
    # "yield" is a Python keyword: the field is declared under another name and renamed.
    yield_ = serializers.FloatField(allow_null=True, help_text="纳入监测 ÷ 已核实反馈")

    def get_fields(self):
        fields = super().get_fields()
        fields["yield"] = fields.pop("yield_")
        return fields


class SelfApplications(serializers.Serializer):
    submitted = serializers.IntegerField()
    admitted = serializers.IntegerField()


class FlowMonth(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    identified = serializers.IntegerField()
    cleared = serializers.IntegerField()


class ChildFigures(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    retired = serializers.BooleanField()
    monitored = HouseholdsPeople()
    by_category = CodedHouseholdsPeople(many=True)
    ever = HouseholdsPeople()
    cleared = HouseholdsPeople()
    clearance_rate = Rate()
    new_month = HouseholdsPeople()
    identifying = HouseholdsPeople()
    monitored_without_measure = HouseholdsPeople()


class FiguresSerializer(serializers.Serializer):
    region = RegionRef()
    as_of = serializers.DateField()
    monitored = Monitored()
    identifying = HouseholdsPeople()
    new = NewlyIdentified()
    ever = Ever()
    cleared = Cleared()
    terminated = HouseholdsPeople()
    remaining = HouseholdsPeople()
    clearance_rate = Rate()
    measures = Measures()
    identification_days = IdentificationDays()
    overdue = Overdue()
    rounds = Rounds()
    clues = Clues()
    self_applications = SelfApplications()
    flow = FlowMonth(many=True)
    definitions = serializers.DictField(child=serializers.CharField(), help_text="统计口径")
    children = ChildFigures(many=True, required=False, help_text="下一级区划，村级为空")


REPORT_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="未登录或凭据无效"),
    400: OpenApiResponse(
        ErrorSerializer, description="统计截止日期有误（格式、晚于今天或早于2016年）"
    ),
    403: OpenApiResponse(ErrorSerializer, description="角色无权查看统计报表"),
    404: OpenApiResponse(ErrorSerializer, description="区划不存在，或不在您的管辖范围内"),
}


class ReportFiguresView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="report_figures",
        summary="区划统计数据（任意截止日）",
        parameters=[
            OpenApiParameter(
                "region", OpenApiTypes.STR, description="12位区划代码；默认为本人所属区划"
            ),
            OpenApiParameter(
                "as_of", OpenApiTypes.DATE, description="统计截止日期 YYYY-MM-DD；默认今天"
            ),
        ],
        responses={200: FiguresSerializer, **REPORT_ERRORS},
    )
    def get(self, request):
        policy.require(request.user, "report.read")
        as_of = parse_as_of(request.query_params.get("as_of"))
        region = report_region_for(request.user, request.query_params.get("region"))
        return Response(FiguresSerializer(region_figures(region, as_of)).data)


class MonthlyReportSerializer(serializers.ModelSerializer):
    county_name = serializers.CharField(source="county.name", read_only=True)
    figures = serializers.JSONField(
        read_only=True,
        help_text="生成时的统计数据，结构同 /api/reports/figures/"
        "（早于某项统计新增的报告不含该项）",
    )

    class Meta:
        model = MonthlyReport
        fields = ["id", "county", "county_name", "month", "as_of", "generated_at", "figures"]
        read_only_fields = fields


class MonthlyReportListSerializer(MonthlyReportSerializer):
    class Meta(MonthlyReportSerializer.Meta):
        fields = ["id", "county", "county_name", "month", "as_of", "generated_at"]
        read_only_fields = fields


NOT_A_REPORT_READER = OpenApiResponse(ErrorSerializer, description="角色无权查看统计报表")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="不存在，或不在您的管辖范围内")
NOT_SIGNED_IN = OpenApiResponse(ErrorSerializer, description="未登录或凭据无效")


@extend_schema_view(
    list=extend_schema(
        summary="月报告列表",
        responses={
            200: MonthlyReportListSerializer(many=True),
            401: NOT_SIGNED_IN,
            403: NOT_A_REPORT_READER,
            404: OpenApiResponse(ErrorSerializer, description="页码超出范围"),
        },
    ),
    retrieve=extend_schema(
        summary="月报告（生成时的统计数据）",
        responses={
            200: MonthlyReportSerializer,
            401: NOT_SIGNED_IN,
            403: NOT_A_REPORT_READER,
            404: NOT_FOUND,
        },
    ),
)
class MonthlyReportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [IsAuthenticated]
    serializer_class = MonthlyReportListSerializer

    def get_queryset(self):
        return (
            monthly_reports_for(self.request.user)
            .select_related("county")
            .order_by("-month", "county_id")
        )

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        policy.require(request.user, "report.read")

    def get_serializer_class(self):
        return MonthlyReportSerializer if self.action == "retrieve" else MonthlyReportListSerializer

    @extend_schema(
        summary="月报告 Excel",
        responses={
            (200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="Excel 文件"),
            401: NOT_SIGNED_IN,
            403: NOT_A_REPORT_READER,
            404: NOT_FOUND,
        },
    )
    @action(detail=True, methods=["get"])
    def xlsx(self, request, pk=None):
        report = self.get_object()
        name = f"{report.county.name}{report.month:%Y年%m月}防返贫监测月报告.xlsx"
        return FileResponse(
            monthly_report_workbook(report), as_attachment=True, filename=name, content_type=XLSX
        )
