"""Department feed API (machine clients) and the clue API (village, township, county)."""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response

from accounts import policy
from accounts.permissions import (
    FollowsScreeningRuns,
    IsDepartment,
    PeopleDataAccess,
    PolicyFirst,
)
from accounts.scope import region_prefix_of
from config.errors import DomainError
from config.fields import ChoiceLabelField
from config.parsers import SafeJSONParser
from config.schema import ErrorSerializer
from config.uploads import require_length
from households.api.serializers import RevealRequestSerializer, RevealResponseSerializer
from households.models import Household
from households.services import protected_reveal
from monitor.choices import RISK_TYPES, Category, ClueOutcome, ClueStatus, RowOutcome
from monitor.feeds import clues as clue_services
from monitor.feeds.applications import accept_days, self_application_submit
from monitor.feeds.dispatch import round_dispatch, round_source
from monitor.feeds.intake import receive_file, receive_json
from monitor.feeds.screening import screening_run
from monitor.feeds.selectors import (
    LISTED_EVIDENCE,
    clues_for,
    covering_prefixes,
    finding_label,
    round_progress,
    rounds_for,
    rounds_summary,
    with_findings,
)
from monitor.models import (
    Clue,
    ClueTransition,
    DispatchRound,
    SelfApplication,
    WarningBatch,
    WarningRow,
)

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
    status_display = ChoiceLabelField(source="get_status_display")

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


class FindingSerializer(serializers.Serializer):
    """村级核实结果：纳入监测、不符合条件、已是监测对象、无法核实；核实前为空。"""

    code = serializers.ChoiceField(
        choices=[("", "（尚未反馈）"), *ClueOutcome.choices],
        help_text="identify、not_eligible、already_monitored、unverifiable；尚未反馈时为空",
    )
    label = serializers.CharField(help_text="中文：纳入监测 / 不符合条件 / 已是监测对象 / 无法核实")


class BatchRowSerializer(serializers.ModelSerializer):
    """回执中的一行：处理结果与原因，以及村级核实结果（反馈后）。匹配到的只给出户编号，
    不返回农户信息，也不返回线索、监测案例等内部编号。"""

    # The department is a machine outside the case work: the 户编号 is all it needs to
    # reconcile its list; clue and case ids would map the county's work for it (issue 11).

    outcome_display = ChoiceLabelField(source="get_outcome_display")
    household_number = serializers.CharField(
        source="household.number",
        default=None,
        help_text="户编号：匹配到本部门辖区内在册成员时给出，未匹配为空",
    )
    finding = serializers.SerializerMethodField(
        help_text="核实结果：并入监测档案的行，案例已纳入监测时为「已是监测对象」、不予纳入时为"
        "「不符合条件」、识别认定中为空；线索反馈后为其核实结果"
    )

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
            "finding",
        ]

    @extend_schema_field(FindingSerializer)
    def get_finding(self, row) -> dict:
        code = getattr(row, "finding", "") or ""
        return {"code": code, "label": finding_label(code)}


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
                department=department,
                batch_key=body.get("batch_key"),
                rows=body.get("rows"),
                request=request,
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
                request=request,
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
        # The village's finding through one join on the row's clue: no query per row.
        rows = with_findings(batch.rows.select_related("household")).order_by("row_number")
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


class CaseWarningSerializer(EvidenceSerializer):
    """部门预警信息：在办期间名单再次命中本户的行（身份证号脱敏）。"""

    class Meta(EvidenceSerializer.Meta):
        fields = [
            "batch",
            "row_number",
            *EvidenceSerializer.Meta.fields[:3],
            "id_number_masked",
            *EvidenceSerializer.Meta.fields[3:],
        ]


class ApplicationSerializer(serializers.ModelSerializer):
    """农户自主申报的内容；证件号、手机号脱敏，入户联系时可申请查看完整号码（留痕）。"""

    risk_label = ChoiceLabelField(source="get_risk_code_display")

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
    channel_display = ChoiceLabelField(source="get_channel_display")
    status_display = ChoiceLabelField(source="get_status_display")
    outcome_display = ChoiceLabelField(source="get_outcome_display")
    evidence = EvidenceSerializer(many=True, read_only=True, help_text="预警证据（全部名单行）")
    evidence_count = serializers.IntegerField(read_only=True, help_text="预警证据行数")
    applications = ApplicationSerializer(many=True, read_only=True)
    overdue = serializers.SerializerMethodField()
    relapse_risk = serializers.SerializerMethodField(
        help_text="返贫风险：农户在消除后跟踪期内被预警，relapse_of 为其已消除的监测案例"
    )

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
            "relapse_of",
            "relapse_risk",
            "evidence_count",
            "evidence",
        ]

    def get_overdue(self, clue) -> bool:
        # Waiting for the county's dispatch, the village's clock has not started.
        waiting = clue.status in (ClueStatus.CLOSED, ClueStatus.PENDING_DISPATCH)
        return not waiting and clue.due_on < timezone.localdate()

    def get_relapse_risk(self, clue) -> str:
        return "返贫风险" if clue.relapse_of_id else ""


# A clue in a list: its latest evidence rows only (at most LISTED_EVIDENCE, in list order)
# and evidence_count; /api/clues/{id}/ has them all. The docstring is the schema's text.
class ClueListSerializer(ClueSerializer):
    """列表中的预警线索：只带最近的预警证据（按名单顺序）与证据行数 evidence_count；
    全部证据见线索详情。"""

    evidence = serializers.SerializerMethodField(
        help_text=f"最近的预警证据（至多 {LISTED_EVIDENCE} 行，按名单顺序；全部见线索详情）"
    )

    @extend_schema_field(EvidenceSerializer(many=True))
    def get_evidence(self, clue) -> list:
        # Read newest first (monitor.feeds.selectors.clues_for), shown in list order.
        return EvidenceSerializer(reversed(clue.latest_evidence), many=True).data


SYSTEM_ACTOR = "系统（自动下发）"


class ClueTransitionSerializer(serializers.ModelSerializer):
    """线索流转的一步；actor 为空（null）表示按本县规则自动下发，由系统办理。"""

    actor_name = serializers.SerializerMethodField(
        help_text="办理人姓名；系统自动下发时为「系统（自动下发）」"
    )
    from_status_display = ChoiceLabelField(source="get_from_status_display")
    to_status_display = ChoiceLabelField(source="get_to_status_display")

    class Meta:
        model = ClueTransition
        fields = [
            "action",
            "from_status",
            "from_status_display",
            "to_status",
            "to_status_display",
            "actor",
            "actor_name",
            "actor_role",
            "actor_region",
            "at",
            "comment",
        ]

    def get_actor_name(self, row) -> str:
        if row.actor_id is None:
            return SYSTEM_ACTOR
        return row.actor.first_name


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
    main_risk = serializers.ChoiceField(
        choices=RISK_TYPES,
        required=False,
        help_text="纳入监测时可选：主要风险，须为所选风险类型之一；默认为第一项",
    )

    def validate(self, data):
        main, codes = data.get("main_risk"), data.get("risk_codes")
        # Against the codes given here; against the suggested ones, the service checks it.
        if main and codes and main not in codes:
            raise serializers.ValidationError({"main_risk": "主要风险须是所选的风险类型之一"})
        return data


@extend_schema_view(
    list=extend_schema(summary="预警线索（本人管辖范围）"),
    retrieve=extend_schema(summary="预警线索详情与证据"),
)
class ClueViewSet(PolicyFirst, viewsets.ReadOnlyModelViewSet):
    serializer_class = ClueSerializer
    permission_classes = [PeopleDataAccess]
    filterset_fields = ["status", "channel", "outcome"]
    read_only_actions = ("verify", "accept", "send_down", "reveal_applicant")
    # 核实反馈 is asked of the policy before its body is read: a clue not in verification is
    # a 409 and a role other than the village cadre's a 403, whatever the body says.
    policy_actions = {"verify": "clue.verify"}

    @property
    def throttle_scope(self):
        # The applicant's full number: the same hourly limit as a member's reveal.
        return "reveal" if self.action == "reveal_applicant" else None

    def get_queryset(self):
        # The pages' selector: evidence (each batch's department, never its stored upload)
        # and self-applications prefetched, so a page of clues is four queries however long;
        # a list reads each clue's latest evidence only.
        limit = LISTED_EVIDENCE if self.action == "list" else None
        return clues_for(self.request.user, evidence_limit=limit).order_by("due_on", "id")

    def get_serializer_class(self):
        return ClueListSerializer if self.action == "list" else ClueSerializer

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

    @extend_schema(
        summary="县级下发单条预警线索（转村级入户核实，核实时限自下发日起算）",
        request=None,
        responses={200: ClueSerializer, **CLUE_ERRORS},
    )
    # Not named `dispatch`: that is the view's own request handler.
    @action(detail=True, methods=["post"], url_path="dispatch", url_name="dispatch")
    def send_down(self, request, pk=None):
        clue = self.get_object()
        clue_services.clue_dispatch(clue_id=clue.pk, by=request.user)
        return Response(ClueSerializer(self.get_queryset().get(pk=clue.pk)).data)

    @extend_schema(
        summary="线索流转记录（下发、受理、核实反馈，留痕）",
        responses={200: ClueTransitionSerializer(many=True), 404: CLUE_ERRORS[404]},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def transitions(self, request, pk=None):
        clue = self.get_object()
        rows = clue.transitions.select_related("actor").order_by("at", "id")
        return Response(ClueTransitionSerializer(rows, many=True).data)


# --- dispatch rounds (下发批次) -----------------------------------------------------------


class RoundsAccess(BasePermission):
    """Rounds are the county's: county approvers (and those above a county) read them;
    anyone else is refused for the role (403) before a round is looked up."""

    message = "预警下发批次由县级审定人查看和下发"

    def has_permission(self, request, view):
        decision = policy.decide(request.user, "rounds.read")
        if not decision:
            self.message = decision.reason
        return decision.allowed


class DispatchRoundSerializer(serializers.ModelSerializer):
    """下发批次：一份名单（或一次数据筛查）在一个县生成的线索，及其下发、核实进度。"""

    county_name = serializers.CharField(source="county.name")
    source = serializers.SerializerMethodField(help_text="推送部门，或「数据筛查」")
    batch_key = serializers.CharField(source="batch.batch_key")
    received_at = serializers.DateTimeField(source="batch.received_at")
    dispatched_by_name = serializers.CharField(source="dispatched_by.first_name", default=None)
    automatic = serializers.SerializerMethodField(help_text="按本县规则自动下发到村")
    dispatched_count = serializers.IntegerField(help_text="已下发到村的线索数")
    verified_count = serializers.IntegerField(help_text="村级已核实反馈的线索数")
    identified_count = serializers.IntegerField(help_text="核实后纳入监测的线索数")

    class Meta:
        model = DispatchRound
        fields = [
            "id",
            "county",
            "county_name",
            "batch",
            "batch_key",
            "source",
            "received_at",
            "created_at",
            "clue_count",
            "dispatched_at",
            "dispatched_by",
            "dispatched_by_name",
            "automatic",
            "dispatched_count",
            "verified_count",
            "identified_count",
        ]

    def get_source(self, item) -> str:
        return round_source(item)

    def get_automatic(self, item) -> bool:
        return item.dispatched_at is not None and item.dispatched_by_id is None


class RoundsSummarySerializer(serializers.Serializer):
    rounds_dispatched = serializers.IntegerField(help_text="已下发批次数")
    clues_dispatched = serializers.IntegerField(help_text="已下发批次的线索数")
    rounds_waiting = serializers.IntegerField(help_text="待下发批次数")
    text = serializers.CharField(help_text="如：预警信息下发 14 次，线索 5632 条")


ROUND_ERRORS = {
    403: OpenApiResponse(description="仅县级审定人（及县以上）查看和下发预警下发批次"),
    404: OpenApiResponse(description="不存在，或不在您的管辖范围内"),
}


@extend_schema_view(
    list=extend_schema(
        summary="预警下发批次（本县）：每批线索数、已下发、已核实、纳入监测",
        parameters=[
            OpenApiParameter(
                "dispatched", str, description="true：已下发；false：待下发", required=False
            )
        ],
        responses={
            200: DispatchRoundSerializer(many=True),
            400: CLUE_ERRORS[400],
            403: ROUND_ERRORS[403],
        },
    ),
    retrieve=extend_schema(
        summary="预警下发批次详情", responses={200: DispatchRoundSerializer, **ROUND_ERRORS}
    ),
)
class DispatchRoundViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = DispatchRoundSerializer
    permission_classes = [RoundsAccess]

    def get_queryset(self):
        rounds = rounds_for(self.request.user)
        wanted = self.request.query_params.get("dispatched")
        if self.action == "list" and wanted:
            if wanted not in ("true", "false"):
                raise DomainError("dispatched 应为 true 或 false", 400)
            rounds = rounds.filter(dispatched_at__isnull=wanted == "false")
        return rounds

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        round_progress(page)  # one query for the page's counts
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        item = self.get_object()
        round_progress([item])
        return Response(self.get_serializer(item).data)

    @extend_schema(
        summary="下发统计：预警信息下发 N 次，线索 M 条",
        responses={200: RoundsSummarySerializer, 403: ROUND_ERRORS[403]},
    )
    @action(detail=False, methods=["get"])
    def summary(self, request):
        return Response(rounds_summary(request.user))

    @extend_schema(
        summary="整批下发：本批待下发的线索全部转村级入户核实",
        request=None,
        responses={
            200: DispatchRoundSerializer,
            **ROUND_ERRORS,
            409: OpenApiResponse(description="该批次已下发，不能重复下发"),
        },
    )
    @action(detail=True, methods=["post"], url_path="dispatch", url_name="dispatch")
    def send_down(self, request, pk=None):
        item = self.get_object()
        round_dispatch(round_id=item.pk, by=request.user)
        fresh = self.get_queryset().get(pk=item.pk)
        round_progress([fresh])
        return Response(self.get_serializer(fresh).data)


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
        # The village's own time limit (its county may shorten the default).
        message = APPLICATION_RECEIVED.format(
            reference=application.reference, days=accept_days(application.village_id)
        )
        return Response(
            {"reference": application.reference, "message": message}, status=status.HTTP_201_CREATED
        )


class ScreeningConflictSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="中文说明，指明正在排队或运行的那次筛查")
    running = serializers.IntegerField(help_text="正在排队或运行的筛查编号（可查看其回执）")


@extend_schema_view(list=extend_schema(summary="数据筛查运行记录（本人管辖范围）"))
class ScreeningRunViewSet(viewsets.ReadOnlyModelViewSet):
    """County (or township) staff run the registry screening rules on demand and follow
    their runs (`screening.run`, `batches.read`); a village cadre does neither."""

    serializer_class = BatchSerializer
    permission_classes = [PeopleDataAccess, FollowsScreeningRuns]
    read_only_actions = ("create",)

    def get_queryset(self):
        prefix = region_prefix_of(self.request.user)
        if prefix is None:
            return WarningBatch.objects.none()
        return (
            # Runs over the user's region or part of it, and those over a region containing it
            # (the county's, the monthly run over the whole registry): a 409 names the one in
            # the way, and the user can read it. The batch pages show the same runs.
            WarningBatch.objects.filter(
                Q(scope_prefix__startswith=prefix) | Q(scope_prefix__in=covering_prefixes(prefix)),
                source=WarningBatch.Source.SCREENING,
            )
            .select_related("department")
            .defer("payload")
        )

    @extend_schema(
        summary="立即运行数据筛查（本人管辖范围）",
        description="同一辖区（或与之重叠的上下级辖区）已有筛查在排队或运行时返回 409，"
        "running 为该次筛查的编号；每个辖区每小时可运行的次数有限（超出返回 429）。",
        request=None,
        responses={
            202: BatchSerializer,
            401: OpenApiResponse(ErrorSerializer, description="未登录或凭据无效"),
            403: OpenApiResponse(
                ErrorSerializer, description="角色无权运行数据筛查，或账号未设置管辖范围"
            ),
            409: OpenApiResponse(
                ScreeningConflictSerializer,
                description="本辖区（或与之重叠的辖区）已有数据筛查在排队或运行",
            ),
            429: OpenApiResponse(
                ErrorSerializer, description="本辖区一小时内运行数据筛查的次数已达上限"
            ),
        },
    )
    def create(self, request):
        batch = screening_run(by=request.user)
        return Response(BatchSerializer(batch).data, status=status.HTTP_202_ACCEPTED)
