"""Department feed API (machine clients) and the clue API (village, township, county)."""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.permissions import IsDepartment, PeopleDataAccess
from accounts.scope import region_prefix_of
from config.errors import DomainError
from config.parsers import SafeJSONParser
from config.uploads import require_length
from households.api.serializers import RevealRequestSerializer, RevealResponseSerializer
from households.models import Household
from households.services import protected_reveal
from monitor.choices import RISK_TYPES, Category, ClueOutcome, RowOutcome
from monitor.feeds import clues as clue_services
from monitor.feeds.applications import self_application_submit
from monitor.feeds.intake import receive_file, receive_json
from monitor.feeds.screening import screening_run
from monitor.feeds.selectors import clues_for
from monitor.models import Clue, SelfApplication, WarningBatch, WarningRow

FEED_ERRORS = {
    400: OpenApiResponse(description="名单无法读取（格式、缺少必填列等），detail 为中文原因"),
    403: OpenApiResponse(description="不是启用的行业部门接口账号"),
    411: OpenApiResponse(description="缺少 Content-Length（不支持分块传输）"),
    413: OpenApiResponse(description="名单文件过大，或 XLSX 解压后过大"),
    422: OpenApiResponse(description="批次号已用于内容不同的另一份名单"),
}


# What the policy and the clue services refuse (accounts/policy.py: scope, state, role).
CLUE_ERRORS = {
    400: OpenApiResponse(description="输入有误：detail 为中文说明，errors 按字段列出原因"),
    403: OpenApiResponse(description="角色无权办理此事项"),
    404: OpenApiResponse(description="不存在，或不在您的管辖范围内"),
    409: OpenApiResponse(description="线索当前状态不能办理此事项"),
}


class BatchSerializer(serializers.ModelSerializer):
    department = serializers.CharField(source="department.name", default=None)
    status_display = serializers.CharField(source="get_status_display")

    class Meta:
        model = WarningBatch
        fields = [
            "id",
            "department",
            "batch_key",
            "file_name",
            "file_format",
            "status",
            "status_display",
            "error",
            "received_at",
            "processed_at",
            "rows_total",
            "rows_invalid",
            "rows_duplicate",
            "rows_not_found",
            "rows_new_clue",
            "rows_merged",
            "rows_attached",
        ]


class BatchRowSerializer(serializers.ModelSerializer):
    """回执中的一行：处理结果与原因。匹配到的只给出户编号，不返回农户信息。"""

    outcome_display = serializers.CharField(source="get_outcome_display")
    household_number = serializers.CharField(source="household.number", default=None)

    class Meta:
        model = WarningRow
        fields = [
            "row_number",
            "name",
            "id_number_masked",
            "indicator",
            "amount",
            "occurred_on",
            "outcome",
            "outcome_display",
            "reason",
            "household_number",
            "clue",
            "case",
        ]


class BatchUploadSerializer(serializers.Serializer):
    batch_key = serializers.CharField(max_length=100, help_text="部门自定的批次号，重复推送时去重")
    file = serializers.FileField(required=False, help_text="CSV（UTF-8/GBK）或 XLSX 名单")
    rows = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="JSON 行：姓名、身份证号、预警类型、金额、发生日期、说明",
    )


@extend_schema_view(
    list=extend_schema(summary="本部门推送的预警名单批次"),
    retrieve=extend_schema(summary="批次回执（状态与各类计数）"),
)
class WarningBatchViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = BatchSerializer
    permission_classes = [IsDepartment]
    parser_classes = [SafeJSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        user = self.request.user
        if not user.is_authenticated:
            return WarningBatch.objects.none()
        return (
            WarningBatch.objects.filter(department__account=user)
            .select_related("department")
            .defer("payload")
        )

    @extend_schema(
        summary="推送预警名单（JSON 行或 CSV/XLSX 文件）",
        description="名单先加密保存再排队处理，返回 202 与批次号；同一批次号、同样内容再次推送返回"
        "原批次（200），内容不同返回 422。处理结果见回执接口。",
        request={
            "application/json": BatchUploadSerializer,
            "multipart/form-data": BatchUploadSerializer,
        },
        responses={202: BatchSerializer, 200: BatchSerializer, **FEED_ERRORS},
    )
    def create(self, request):
        department = request.user.department_record
        is_json = (request.content_type or "").startswith("application/json")
        limit = settings.FEED_MAX_JSON_BYTES if is_json else settings.FEED_MAX_FILE_BYTES
        require_length(request, limit)
        if is_json:
            body = request.data if isinstance(request.data, dict) else {}
            received = receive_json(
                department=department, batch_key=body.get("batch_key"), rows=body.get("rows")
            )
        else:
            upload = request.FILES.get("file")
            if upload is None:
                raise DomainError("请以 file 字段上传名单文件，或以 JSON 推送 rows", 400)
            received = receive_file(
                department=department,
                batch_key=request.data.get("batch_key"),
                data=upload.read(),
                file_name=upload.name or "",
                max_bytes=settings.FEED_MAX_FILE_BYTES,
            )
        batch = self.get_queryset().get(pk=received.batch.pk)
        code = status.HTTP_202_ACCEPTED if received.created else status.HTTP_200_OK
        return Response(BatchSerializer(batch).data, status=code)

    @extend_schema(
        summary="批次回执明细（逐行处理结果）", responses={200: BatchRowSerializer(many=True)}
    )
    @action(detail=True, methods=["get"])
    def rows(self, request, pk=None):
        batch = self.get_object()
        rows = batch.rows.select_related("household").order_by("row_number")
        wanted = request.query_params.get("outcome")
        if wanted:
            if wanted not in RowOutcome.values:
                raise DomainError(f"outcome 应为：{'、'.join(RowOutcome.values)}", 400)
            rows = rows.filter(outcome=wanted)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(BatchRowSerializer(page, many=True).data)


class EvidenceSerializer(serializers.ModelSerializer):
    department = serializers.CharField(source="batch.department.name", default="数据筛查")
    received_at = serializers.DateTimeField(source="batch.received_at")

    class Meta:
        model = WarningRow
        fields = [
            "department",
            "received_at",
            "name",
            "indicator",
            "amount",
            "occurred_on",
            "detail",
        ]


class ApplicationSerializer(serializers.ModelSerializer):
    """农户自主申报的内容；证件号、手机号脱敏，入户联系时可申请查看完整号码（留痕）。"""

    risk_label = serializers.CharField(source="get_risk_code_display")

    class Meta:
        model = SelfApplication
        fields = [
            "id",
            "reference",
            "name",
            "id_number_masked",
            "phone_masked",
            "difficulty",
            "risk_code",
            "risk_label",
            "submitted_at",
        ]


class ClueSerializer(serializers.ModelSerializer):
    household_number = serializers.CharField(source="household.number", default=None)
    village_name = serializers.CharField(source="village.name")
    channel_display = serializers.CharField(source="get_channel_display")
    status_display = serializers.CharField(source="get_status_display")
    outcome_display = serializers.CharField(source="get_outcome_display")
    evidence = EvidenceSerializer(many=True, read_only=True)
    applications = ApplicationSerializer(many=True, read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Clue
        fields = [
            "id",
            "household",
            "household_number",
            "village",
            "village_name",
            "channel",
            "channel_display",
            "status",
            "status_display",
            "raised_on",
            "due_on",
            "overdue",
            "applications",
            "outcome",
            "outcome_display",
            "outcome_note",
            "closed_at",
            "case",
            "evidence",
        ]

    def get_overdue(self, clue) -> bool:
        return clue.status != "closed" and clue.due_on < timezone.localdate()


class ApplicantRevealSerializer(RevealRequestSerializer):
    application = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="申报ID")


class VerifySerializer(serializers.Serializer):
    household = serializers.PrimaryKeyRelatedField(
        queryset=Household.objects.none(),
        required=False,
        help_text="申报人原未登记时：村里新登记的农户ID",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["household"].queryset = Household.objects.visible_to(request.user)

    outcome = serializers.ChoiceField(choices=ClueOutcome.choices, help_text="核实结果")
    note = serializers.CharField(max_length=500, help_text="核实说明")
    category = serializers.ChoiceField(
        choices=Category.choices, required=False, help_text="纳入监测时必填：监测对象类别"
    )
    risk_codes = serializers.ListField(
        child=serializers.ChoiceField(choices=RISK_TYPES),
        required=False,
        max_length=5,
        help_text="纳入监测时可改：风险类型，默认按预警类型推定",
    )


@extend_schema_view(
    list=extend_schema(summary="预警线索（本人管辖范围）"),
    retrieve=extend_schema(summary="预警线索详情与证据"),
)
class ClueViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ClueSerializer
    permission_classes = [PeopleDataAccess]
    filterset_fields = ["status", "channel", "outcome"]
    read_only_actions = ("verify", "accept", "reveal_applicant")

    @property
    def throttle_scope(self):
        # The applicant's full number: the same hourly limit as a member's reveal.
        return "reveal" if self.action == "reveal_applicant" else None

    def get_queryset(self):
        # The pages' selector: evidence (each batch's department, never its stored upload)
        # and self-applications prefetched, so a page of clues is four queries however long.
        return clues_for(self.request.user).order_by("due_on", "id")

    @extend_schema(
        summary="村级核实反馈",
        request=VerifySerializer,
        responses={200: ClueSerializer, **CLUE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        clue = self.get_object()
        payload = VerifySerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        clue_services.clue_verify(clue_id=clue.pk, by=request.user, **payload.validated_data)
        return Response(ClueSerializer(self.get_queryset().get(pk=clue.pk)).data)

    @extend_schema(
        summary="查看申报人完整手机号或身份证号（须填事由，记入审计日志）",
        request=ApplicantRevealSerializer,
        responses={
            200: RevealResponseSerializer,
            **CLUE_ERRORS,
            429: OpenApiResponse(description="查看过于频繁（与查看成员号码同一限额）"),
        },
    )
    @action(detail=True, methods=["post"], url_path="reveal-applicant")
    def reveal_applicant(self, request, pk=None):
        clue = self.get_object()
        payload = ApplicantRevealSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        application = clue.applications.filter(pk=payload.validated_data["application"]).first()
        if application is None:
            raise DomainError("该线索下没有这份申报", 404)
        try:
            value = protected_reveal(
                obj=application,
                by=request.user,
                field=payload.validated_data["field"],
                reason=payload.validated_data["reason"],
            )
        except DjangoPermissionDenied as exc:
            raise DomainError(str(exc), 403) from None
        return Response({"field": payload.validated_data["field"], "value": value})

    @extend_schema(
        summary="乡镇受理农户自主申报",
        request=None,
        responses={200: ClueSerializer, **CLUE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        clue = self.get_object()
        clue_services.clue_accept(clue_id=clue.pk, by=request.user)
        return Response(ClueSerializer(self.get_queryset().get(pk=clue.pk)).data)


class SelfApplicationSerializer(serializers.Serializer):
    """一键申报：户主姓名、手机号、身份证号、困难情况，以及所在村和困难类型。Every field is
    checked by the service, so one answer names every problem at once."""

    name = serializers.CharField(max_length=50, allow_blank=True, default="", help_text="户主姓名")
    phone = serializers.CharField(max_length=30, allow_blank=True, default="", help_text="手机号")
    id_number = serializers.CharField(
        max_length=40, allow_blank=True, default="", help_text="身份证号"
    )
    difficulty = serializers.CharField(
        max_length=1000, allow_blank=True, default="", help_text="困难情况"
    )
    village = serializers.CharField(
        max_length=12, allow_blank=True, default="", help_text="所在村12位区划代码"
    )
    risk_type = serializers.CharField(
        max_length=4, allow_blank=True, default="", help_text="困难类型（风险类型代码，如 01 因病）"
    )


class SelfApplicationReceipt(serializers.Serializer):
    reference = serializers.CharField()
    message = serializers.CharField()


APPLICATION_RECEIVED = (
    "申报已收到，受理编号 {reference}。乡镇将在 {days} 日内受理，村干部会与您联系"
    "并入户核实，请保持手机畅通。"
)


class SelfApplicationViewSet(viewsets.GenericViewSet):
    """Public: no login. Rate-limited per client address (throttle scope self_application)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "self_application"
    serializer_class = SelfApplicationSerializer

    @extend_schema(
        summary="农户一键申报（无需登录，按来源限流）",
        responses={
            201: SelfApplicationReceipt,
            400: FEED_ERRORS[400],
            429: OpenApiResponse(description="提交过于频繁"),
        },
    )
    def create(self, request):
        payload = SelfApplicationSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        application = self_application_submit(**payload.validated_data)
        message = APPLICATION_RECEIVED.format(
            reference=application.reference, days=settings.MONITOR["SELF_APPLICATION_ACCEPT_DAYS"]
        )
        return Response(
            {"reference": application.reference, "message": message}, status=status.HTTP_201_CREATED
        )


@extend_schema_view(list=extend_schema(summary="数据筛查运行记录（本人管辖范围）"))
class ScreeningRunViewSet(viewsets.ReadOnlyModelViewSet):
    """County (or township) staff run the registry screening rules on demand."""

    serializer_class = BatchSerializer
    permission_classes = [PeopleDataAccess]
    read_only_actions = ("create",)

    def get_queryset(self):
        prefix = region_prefix_of(self.request.user)
        if prefix is None:
            return WarningBatch.objects.none()
        return (
            # Runs over the user's region, and the monthly runs over the whole registry.
            WarningBatch.objects.filter(
                Q(scope_prefix__startswith=prefix) | Q(scope_prefix=""),
                source=WarningBatch.Source.SCREENING,
            )
            .select_related("department")
            .defer("payload")
        )

    @extend_schema(
        summary="立即运行数据筛查（本人管辖范围）",
        request=None,
        responses={202: BatchSerializer, 403: FEED_ERRORS[403]},
    )
    def create(self, request):
        batch = screening_run(by=request.user)
        return Response(BatchSerializer(batch).data, status=status.HTTP_202_ACCEPTED)
