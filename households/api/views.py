"""Registry API. Views validate input, call one service, serialise the result; every
queryset starts from `visible_to(request.user)`, so anything outside the region is a 404."""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from accounts import policy
from accounts.permissions import READ_REFERENCE, PeopleDataAccess, PolicyFirst
from config.exceptions import error_response
from config.uploads import require_length
from households import services
from households.api.serializers import (
    HouseholdDetailSerializer,
    HouseholdSerializer,
    IncomeRecordSerializer,
    LifeStatusChangeSerializer,
    MemberSerializer,
    MonitoringLineSerializer,
    RegionSerializer,
    RegistryImportSerializer,
    RegistryImportSummarySerializer,
    RegistryImportUploadSerializer,
    RevealRequestSerializer,
    RevealResponseSerializer,
)
from households.filters import HouseholdFilter, IncomeRecordFilter, MemberFilter, RegionFilter
from households.importing import registry_import_upload
from households.life import ACTION as LIFE_STATUS
from households.life import member_life_status_record
from households.models import IncomeRecord, MonitoringLine, Region, RegistryImport
from households.selectors import households_for, members_for
from sheets.reading import TabularError

ERRORS = {
    400: OpenApiResponse(description="输入有误：detail 为中文说明，errors 按字段列出原因"),
    403: OpenApiResponse(description="角色无权执行此操作"),
    404: OpenApiResponse(description="不存在，或不在您的管辖范围内"),
}


@extend_schema_view(
    list=extend_schema(summary="行政区划列表（本人管辖范围内）"),
    retrieve=extend_schema(
        summary="行政区划详情", responses={200: RegionSerializer, 404: ERRORS[404]}
    ),
)
class RegionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RegionSerializer
    lookup_field = "code"
    lookup_value_regex = "[0-9]{12}"
    permission_classes = [PeopleDataAccess]
    filterset_class = RegionFilter
    search_fields = ["name"]
    ordering_fields = ["code", "name"]

    def get_queryset(self):
        return Region.objects.visible_to(self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="农户列表",
        responses={200: HouseholdSerializer(many=True), 400: ERRORS[400], 403: ERRORS[403]},
    ),
    retrieve=extend_schema(
        summary="农户详情（含家庭成员，证件号脱敏）",
        responses={200: HouseholdDetailSerializer, 404: ERRORS[404]},
    ),
    create=extend_schema(summary="登记农户", responses={201: HouseholdSerializer, **ERRORS}),
    partial_update=extend_schema(
        summary="修改农户登记信息", responses={200: HouseholdSerializer, **ERRORS}
    ),
    update=extend_schema(
        summary="修改农户登记信息（全部字段）", responses={200: HouseholdSerializer, **ERRORS}
    ),
)
class HouseholdViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    permission_classes = [PeopleDataAccess]
    filterset_class = HouseholdFilter
    ordering_fields = ["number", "updated_at"]

    def get_queryset(self):
        return households_for(self.request.user).order_by("number")

    def get_serializer_class(self):
        return HouseholdDetailSerializer if self.action == "retrieve" else HouseholdSerializer

    def get_object(self):
        obj = super().get_object()
        if self.action == "retrieve":
            # Members for the nested list in one query, not one per member.
            obj = self.get_queryset().prefetch_related("members").get(pk=obj.pk)
        return obj

    def perform_create(self, serializer):
        serializer.instance = services.household_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.household_update(
            household=serializer.instance, by=self.request.user, **serializer.validated_data
        )


@extend_schema_view(
    list=extend_schema(summary="家庭成员列表（证件号、电话脱敏，显示年龄不显示出生日期）"),
    retrieve=extend_schema(
        summary="家庭成员详情", responses={200: MemberSerializer, 404: ERRORS[404]}
    ),
    create=extend_schema(summary="登记家庭成员", responses={201: MemberSerializer, **ERRORS}),
    partial_update=extend_schema(
        summary="修改家庭成员", responses={200: MemberSerializer, **ERRORS}
    ),
    update=extend_schema(
        summary="修改家庭成员（全部字段）", responses={200: MemberSerializer, **ERRORS}
    ),
)
class MemberViewSet(
    PolicyFirst, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    serializer_class = MemberSerializer
    permission_classes = [PeopleDataAccess]
    filterset_class = MemberFilter
    ordering_fields = ["name", "updated_at"]
    # POSTs whose service asks the policy itself (its role and the member's state).
    read_only_actions = ("reveal", "life_status")
    # Asked before the body is read: the role (the county approver reads the register, it
    # does not keep it) and the member's state come before the shape of the change.
    policy_actions = {"life_status": LIFE_STATUS}

    @property
    def throttle_scope(self):
        return "reveal" if self.action == "reveal" else None

    def get_queryset(self):
        return members_for(self.request.user).order_by("household_id", "id")

    def perform_create(self, serializer):
        serializer.instance = services.member_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.member_update(
            member=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    @extend_schema(
        summary="查看完整身份证号或电话（须填事由，记入审计日志）",
        request=RevealRequestSerializer,
        responses={200: RevealResponseSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reveal(self, request, pk=None):
        member = self.get_object()
        payload = RevealRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            value = services.member_reveal(
                member=member, by=request.user, request=request, **payload.validated_data
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        return Response({"field": payload.validated_data["field"], "value": value})

    @extend_schema(
        summary="成员状态变更（死亡、户籍迁出；全部成员离册的，该户销户，在办案例销户终止）",
        request=LifeStatusChangeSerializer,
        responses={
            200: MemberSerializer,
            400: OpenApiResponse(
                description="输入有误（日期晚于今天或早于出生日期、未填依据），"
                "或该成员已不在册：detail 为中文说明，errors 按字段列出原因"
            ),
            403: OpenApiResponse(description="成员状态由村干部或乡镇审核人登记"),
            404: ERRORS[404],
        },
    )
    @action(detail=True, methods=["post"], url_path="life-status")
    def life_status(self, request, pk=None):
        member = self.get_object()
        payload = LifeStatusChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        member = member_life_status_record(member=member, by=request.user, **payload.validated_data)
        return Response(MemberSerializer(member, context={"request": request}).data)


@extend_schema_view(
    list=extend_schema(summary="收支情况列表"),
    retrieve=extend_schema(
        summary="收支情况详情", responses={200: IncomeRecordSerializer, 404: ERRORS[404]}
    ),
    create=extend_schema(
        summary="录入或更新一个统计期的收支（同一截止日期覆盖）",
        responses={201: IncomeRecordSerializer, **ERRORS},
    ),
)
class IncomeRecordViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = IncomeRecordSerializer
    permission_classes = [PeopleDataAccess]
    filterset_class = IncomeRecordFilter

    def get_queryset(self):
        return IncomeRecord.objects.visible_to(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.income_record_save(
            by=self.request.user, **serializer.validated_data
        )


class ManagesMonitoringLines(BasePermission):
    """Reads for every role but the auditor (`reference.read`); writes for the roles the
    policy names for `monitoring_line.manage`. Which lines a writer may touch (their
    county's, or any for the administrator) the view asks the policy with the line itself
    (PolicyFirst): outside it is 404, before the body is read."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        reads = request.method in SAFE_METHODS
        rule = READ_REFERENCE if reads else services.MONITORING_LINE_MANAGE
        decision = policy.decide(request.user, rule)
        self.message = decision.reason
        return decision.allowed


LINE_WRITE_ERRORS = {
    400: OpenApiResponse(
        description="输入有误（金额须大于 0；同一区划同一年度只能有一条监测范围）："
        "detail 为中文说明，errors 按字段列出原因"
    ),
    403: OpenApiResponse(description="角色无权维护监测范围（限县级审定人和系统管理员）"),
    404: OpenApiResponse(
        description="不存在，或该区划不在您的管辖范围内（县级审定人只能维护本县的监测范围）"
    ),
}


@extend_schema_view(
    list=extend_schema(
        summary="监测范围（收入参考标准）列表（审计管理员以外的登录用户均可查看）",
        responses={200: MonitoringLineSerializer(many=True), 400: ERRORS[400]},
    ),
    retrieve=extend_schema(
        summary="监测范围详情", responses={200: MonitoringLineSerializer, 404: ERRORS[404]}
    ),
    create=extend_schema(
        summary="新增监测范围（县级审定人限本县，系统管理员不限）",
        responses={201: MonitoringLineSerializer, **LINE_WRITE_ERRORS},
    ),
    update=extend_schema(
        summary="修改监测范围（全部字段）",
        responses={200: MonitoringLineSerializer, **LINE_WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="修改监测范围", responses={200: MonitoringLineSerializer, **LINE_WRITE_ERRORS}
    ),
    destroy=extend_schema(
        summary="删除监测范围",
        responses={
            204: OpenApiResponse(description="已删除"),
            403: LINE_WRITE_ERRORS[403],
            404: LINE_WRITE_ERRORS[404],
        },
    ),
)
class MonitoringLineViewSet(PolicyFirst, viewsets.ModelViewSet):
    """监测范围 is policy data: every role but the auditor reads it; county approvers keep their
    county's lines and the administrator any line, through the same services as the
    administration pages (households.services.monitoring_line_save / _delete)."""

    serializer_class = MonitoringLineSerializer
    queryset = MonitoringLine.objects.select_related("region")
    filterset_fields = ["year", "region"]
    permission_classes = [ManagesMonitoringLines]
    policy_actions = dict.fromkeys(
        ("update", "partial_update", "destroy"), services.MONITORING_LINE_MANAGE
    )

    def perform_create(self, serializer):
        serializer.instance = services.monitoring_line_save(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        line = serializer.instance
        data = serializer.validated_data
        serializer.instance = services.monitoring_line_save(
            by=self.request.user,
            line=line,
            region=data.get("region", line.region),
            year=data.get("year", line.year),
            amount=data.get("amount", line.amount),
            source=data.get("source", line.source),
        )

    def perform_destroy(self, instance):
        services.monitoring_line_delete(by=self.request.user, line=instance)


class RegistryImportViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RegistryImportSerializer

    def get_serializer_class(self):
        # Lists are summaries; the row errors come with one import's detail.
        if self.action == "list":
            return RegistryImportSummarySerializer
        return RegistryImportSerializer

    permission_classes = [PeopleDataAccess]

    def get_queryset(self):
        # An import record carries no people data; each user sees their own uploads.
        user = self.request.user
        if not user.is_authenticated:
            return RegistryImport.objects.none()
        return RegistryImport.objects.filter(imported_by=user)

    @extend_schema(
        summary="导入农户或家庭成员登记表（CSV/XLSX）",
        description="逐行校验：合格的行全部入库，不合格的行在 errors 中给出行号、列名和原因。"
        "同一文件重复导入只更新、不重复。文件整体无法读取时返回 400；超过大小限制返回 413。",
        request={"multipart/form-data": RegistryImportUploadSerializer},
        responses={
            201: RegistryImportSerializer,
            400: ERRORS[400],
            403: ERRORS[403],
            411: OpenApiResponse(description="缺少 Content-Length（不支持分块传输）"),
            413: OpenApiResponse(description="文件过大"),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        parser_classes=[MultiPartParser, FormParser],
        url_path="upload",
    )
    def upload(self, request):
        # The body is the file plus the multipart framing; the service checks the file itself.
        require_length(request, settings.REGISTRY_IMPORT_MAX_BYTES + 1024 * 1024)
        payload = RegistryImportUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            record = registry_import_upload(
                by=request.user,
                upload=payload.validated_data["file"],
                kind=payload.validated_data.get("kind"),
                request=request,
            )
        except TabularError as exc:
            code = (
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
                if exc.code in ("too_large", "zip_bomb", "too_many_rows")
                else status.HTTP_400_BAD_REQUEST
            )
            return error_response(exc.reason, code, errors={"file": [exc.reason]})
        return Response(RegistryImportSerializer(record).data, status=status.HTTP_201_CREATED)
