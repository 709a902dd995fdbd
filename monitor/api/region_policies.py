"""本地时限与规则 API: a region's own clocks and settings by year, kept like the monitoring
lines (county approvers for their county, the administrator anywhere), through the services
of monitor/regional.py; and the values in force for a region with where each comes from."""

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from accounts import policy
from accounts.permissions import READ_REFERENCE, PolicyFirst
from households.models import Region
from monitor import regional
from monitor.models import RegionPolicy

WRITE_ERRORS = {
    400: OpenApiResponse(
        description="输入有误（天数 1–60、工作日 1–30、月数 1–60、比例 0–100，留空沿用默认；"
        "同一区划同一年度只能有一条；预警线索的下发方式和核实时限只能由县级及以上设定）："
        "detail 为中文说明，errors 按字段列出原因"
    ),
    403: OpenApiResponse(description="角色无权维护本地时限与规则（限县级审定人和系统管理员）"),
    404: OpenApiResponse(
        description="不存在，或该区划不在您的管辖范围内（县级审定人只能维护本县的规则）"
    ),
}


class RegionPolicySerializer(serializers.ModelSerializer):
    """本地时限与规则：一个区划一个年度的时限和规则；留空（null）的项沿用上级区划或系统默认。"""

    region = serializers.PrimaryKeyRelatedField(
        queryset=Region.objects.all(), help_text="适用区划代码"
    )
    region_name = serializers.CharField(source="region.name", read_only=True)
    year = serializers.IntegerField(help_text="年度")
    clue_auto_dispatch = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="预警线索自动下发到村（仅县级及以上区划可设定）；null 沿用",
    )

    class Meta:
        model = RegionPolicy
        fields = ["id", "region", "region_name", "year", *regional.POLICY_FIELDS, "source"]
        # The ranges and the one-per-region-and-year rule are the service's, answered in
        # Chinese on the field like the pages (monitor.regional.region_policy_save).
        validators = []

    def get_fields(self):
        fields = super().get_fields()
        for name in regional.NUMBER_FIELDS:
            # Shape only (an integer or null): the range is checked by the service.
            fields[name] = serializers.IntegerField(
                required=False,
                allow_null=True,
                help_text=str(RegionPolicy._meta.get_field(name).verbose_name)
                + ("（仅县级及以上区划可设定）" if name in regional.COUNTY_RULES else "")
                + "；null 沿用",
            )
        return fields


class EffectiveRuleSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    value = serializers.JSONField(help_text="生效值（整数或是否）")
    shown = serializers.CharField(help_text="生效值（带单位）")
    is_default = serializers.BooleanField(help_text="是否为系统默认")
    source_region = serializers.CharField(allow_null=True, help_text="设定该值的区划代码")
    source_name = serializers.CharField(help_text="设定该值的区划名称")
    source_text = serializers.CharField(help_text="来源说明")


class EffectiveQuery(serializers.Serializer):
    region = serializers.RegexField(
        r"^[0-9]{12}$",
        help_text="区划代码（12位）",
        error_messages={"invalid": "区划代码应为12位数字"},
    )
    year = serializers.IntegerField(
        required=False, min_value=2000, max_value=2100, help_text="年度，不填为今年"
    )

    def validate_region(self, value):
        if not Region.objects.filter(code=value).exists():
            raise serializers.ValidationError(f"区划代码 {value} 不存在")
        return value


class ManagesRegionPolicies(BasePermission):
    """Reads for every role but the auditor (the rules are policy, not people data:
    `reference.read`); writes for the roles the policy names for `region_policy.manage`,
    inside their region (404 else, asked by PolicyFirst before the body is read)."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        reads = request.method in SAFE_METHODS
        rule = READ_REFERENCE if reads else regional.REGION_POLICY_MANAGE
        decision = policy.decide(request.user, rule)
        self.message = decision.reason
        return decision.allowed


@extend_schema_view(
    list=extend_schema(summary="本地时限与规则列表（审计管理员以外的登录用户均可查看）"),
    retrieve=extend_schema(
        summary="本地时限与规则详情",
        responses={200: RegionPolicySerializer, 404: WRITE_ERRORS[404]},
    ),
    create=extend_schema(
        summary="新增本地时限与规则（县级审定人限本县，系统管理员不限）",
        responses={201: RegionPolicySerializer, **WRITE_ERRORS},
    ),
    update=extend_schema(
        summary="修改本地时限与规则（全部字段）",
        responses={200: RegionPolicySerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="修改本地时限与规则", responses={200: RegionPolicySerializer, **WRITE_ERRORS}
    ),
    destroy=extend_schema(
        summary="删除本地时限与规则（改用上级区划或系统默认）",
        responses={
            204: OpenApiResponse(description="已删除"),
            403: WRITE_ERRORS[403],
            404: WRITE_ERRORS[404],
        },
    ),
)
class RegionPolicyViewSet(PolicyFirst, viewsets.ModelViewSet):
    serializer_class = RegionPolicySerializer
    queryset = RegionPolicy.objects.select_related("region").order_by("-year", "region_id")
    filterset_fields = ["year", "region"]
    permission_classes = [ManagesRegionPolicies]
    policy_actions = dict.fromkeys(
        ("update", "partial_update", "destroy"), regional.REGION_POLICY_MANAGE
    )

    def _save(self, serializer, record=None):
        data = serializer.validated_data
        values = {
            name: data[name] if name in data else getattr(record, name, None)
            for name in regional.POLICY_FIELDS
        }
        serializer.instance = regional.region_policy_save(
            by=self.request.user,
            region_policy=record,
            region=data.get("region", getattr(record, "region", None)),
            year=data.get("year", getattr(record, "year", None)),
            source=data.get("source", getattr(record, "source", "")),
            **values,
        )

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        regional.region_policy_delete(by=self.request.user, region_policy=instance)

    @extend_schema(
        summary="某区划某年度生效的时限与规则，及每项的来源（系统默认或哪一级区划的设定）",
        parameters=[
            OpenApiParameter("region", str, required=True, description="区划代码（12位）"),
            OpenApiParameter("year", int, required=False, description="年度，不填为今年"),
        ],
        responses={200: EffectiveRuleSerializer(many=True), 400: WRITE_ERRORS[400]},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def effective(self, request):
        query = EffectiveQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        year = query.validated_data.get("year") or timezone.localdate().year
        rows = regional.local_rules_explained(query.validated_data["region"], year)
        return Response(EffectiveRuleSerializer(rows, many=True).data)
