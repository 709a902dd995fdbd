"""Case API: views validate input, call one service, serialise. Every queryset starts from
`Case.objects.visible_to(user)`, so a case outside the user's region is a 404 everywhere."""

from datetime import date

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.permissions import PeopleDataAccess, PolicyFirst, body_value
from config.parsers import SafeJSONParser
from interventions.api.serializers import AidPlanSerializer, MeasureRecordSerializer
from interventions.services import aid_plan_save, measure_record_create
from monitor import identification, services
from monitor.adjustments import PROPOSE, adjustment_propose, adjustments_of
from monitor.api.feeds import CaseWarningSerializer
from monitor.api.follow_up import FollowUpVisitSerializer
from monitor.api.serializers import (
    AdjustmentProposalSerializer,
    AppraisalSerializer,
    CaseAdjustmentSerializer,
    CaseDetailSerializer,
    CaseSerializer,
    CaseTransitionSerializer,
    ConsentSerializer,
    CrossCheckSerializer,
    HomeVisitSerializer,
    MonthlyVisitSerializer,
    NoticeListRowSerializer,
    NotificationSerializer,
    OverdueItemSerializer,
    PublicNoticeSerializer,
    TransitionRequestSerializer,
)
from monitor.choices import Stage
from monitor.feeds.selectors import case_warnings
from monitor.filters import CaseFilter
from monitor.follow_up import FOLLOW_UP_VISIT, follow_up_visit_record, follow_up_visits_of
from monitor.identification import OFFICIAL_VISIT
from monitor.models import Case
from monitor.selectors import (
    cases_for,
    notice_list,
    overdue_items_for,
    with_pending_adjustments,
)
from monitor.workflow import STEPS, case_transition

ERRORS = {
    400: OpenApiResponse(
        description="输入有误或前置条件未满足：detail 为中文说明，unmet 列出全部未满足条件"
    ),
    403: OpenApiResponse(description="角色无权办理此操作"),
    404: OpenApiResponse(description="不存在，或不在您的管辖范围内"),
    409: OpenApiResponse(description="状态冲突：当前状态不允许此操作（含两人同时审核时的后到者）"),
}


# A case's own lists (its records, its trail) answer one plain array: neither the case
# list's filters nor its pagination apply to them (nor, so, to their schema).
PLAIN_LIST = {"filter_backends": [], "pagination_class": None}

# What a record on a case answers besides its 201: a record in the wrong state of its case
# is bad input (400), like a bad field; never a 409.
RECORD_ERRORS = {code: ERRORS[code] for code in (400, 403, 404)}


def _evidence_action(
    name, serializer_class, service, related_name, summary, parsers=None, prefetch=()
):
    """GET lists a case's records of one kind; POST records one through its service."""

    def handler(self, request, pk=None):
        case = self.get_object()
        if request.method == "GET":
            rows = getattr(case, related_name).select_related("recorded_by")
            if prefetch:
                rows = rows.prefetch_related(*prefetch)
            return Response(serializer_class(rows, many=True).data)
        payload = serializer_class(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        record = service(case=case, by=request.user, **payload.validated_data)
        return Response(serializer_class(record).data, status=status.HTTP_201_CREATED)

    handler.__name__ = name
    view = action(
        detail=True,
        methods=["get", "post"],
        url_path=name.replace("_", "-"),
        parser_classes=parsers or [SafeJSONParser, MultiPartParser, FormParser],
        **PLAIN_LIST,
    )(handler)
    # The schema after action(): action() replaces the function's kwargs, where
    # extend_schema keeps its schema, so applied before it the schema was lost (and the
    # endpoint documented as taking and returning a Case).
    view = extend_schema(
        methods=["POST"],
        summary=f"登记{summary}",
        request=serializer_class,
        responses={201: serializer_class, **RECORD_ERRORS},
    )(view)
    return extend_schema(
        methods=["GET"],
        summary=f"{summary}列表",
        responses={200: serializer_class(many=True), 404: ERRORS[404]},
    )(view)


def _evidence_rule(request, case) -> str | None:
    """The rule of an evidence record: its stage's (identification unless the body says
    clearance); a stage that is none of them is the serializer's to refuse."""
    stage = body_value(request, "stage", Stage.IDENTIFICATION)
    return services.EVIDENCE_ACTION.get(stage) if stage else None


def _home_visit_rule(request, case) -> str | None:
    # Township and county staff visit under their own rule (乡镇/县级入户核实), whatever
    # the stage: the service picks it from the case's state.
    if request.user.role in services.OFFICIAL_VISITORS:
        return OFFICIAL_VISIT
    return _evidence_rule(request, case)


def _transition_rule(request, case) -> str | None:
    # The step is named in the body; an unknown one is the serializer's to refuse.
    action = body_value(request, "action")
    return f"case.{action}" if action in STEP_ACTIONS else None


STEP_ACTIONS = frozenset(step.action for step in STEPS)


class NoticeListQuery(serializers.Serializer):
    start = serializers.DateField(help_text="公示期起")
    end = serializers.DateField(help_text="公示期止")

    def validate(self, attrs):
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "截止日期不能早于起始日期"})
        if (attrs["end"] - attrs["start"]).days > 366:
            raise serializers.ValidationError({"end": "查询区间不能超过一年"})
        return attrs


@extend_schema_view(
    list=extend_schema(
        summary="监测对象列表",
        responses={200: CaseSerializer(many=True), 400: ERRORS[400], 403: ERRORS[403]},
    ),
    retrieve=extend_schema(
        summary="监测对象详情（含公告）", responses={200: CaseDetailSerializer, 404: ERRORS[404]}
    ),
    create=extend_schema(
        summary="登记监测对象（线索登记）", responses={201: CaseSerializer, **ERRORS}
    ),
    partial_update=extend_schema(
        summary="修改案例（仅村级核实中）", responses={200: CaseSerializer, **ERRORS}
    ),
    update=extend_schema(
        summary="修改案例（仅村级核实中）", responses={200: CaseSerializer, **ERRORS}
    ),
)
class CaseViewSet(
    PolicyFirst,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    serializer_class = CaseSerializer
    permission_classes = [PeopleDataAccess]
    filterset_class = CaseFilter
    ordering_fields = ["found_on", "updated_at"]
    # Workflow steps and evidence are POSTs that county approvers must reach too; each
    # service checks the role of its own step.
    read_only_actions = (
        "transitions",
        "home_visits",
        "consents",
        "cross_checks",
        "appraisals",
        "notices",
        "monthly_visits",
        "measures",
        "aid_plan",
        "follow_up_visits",
        "adjustments",
    )
    # The rule each write's service asks (accounts/policy.py), asked before the body is read.
    policy_actions = {
        "update": "case.edit",
        "partial_update": "case.edit",
        "transitions": _transition_rule,
        "home_visits": _home_visit_rule,
        "consents": _evidence_rule,
        # 信息比对 is identification's only (the service refuses another stage).
        "cross_checks": "case.evidence.identification",
        "appraisals": _evidence_rule,
        "notices": _evidence_rule,
        "monthly_visits": "case.monthly_visit",
        "measures": "case.measure",
        "aid_plan": "case.aid_plan",
        "follow_up_visits": FOLLOW_UP_VISIT,
        "adjustments": PROPOSE,
    }

    def get_queryset(self):
        cases = cases_for(self.request.user, timezone.localdate()).order_by("-found_on", "-id")
        # Each case is serialised with its possible steps (`actions`).
        return with_pending_adjustments(cases)

    def get_serializer_class(self):
        if self.action == "retrieve":
            return CaseDetailSerializer
        return super().get_serializer_class()

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        case = services.case_create(by=self.request.user, risk_codes=data.pop("risk_codes"), **data)
        serializer.instance = self.get_queryset().get(pk=case.pk)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        case = services.case_update(
            case=serializer.instance,
            by=self.request.user,
            risk_codes=data.pop("risk_codes", None),
            **data,
        )
        serializer.instance = self.get_queryset().get(pk=case.pk)

    @extend_schema(
        methods=["GET"],
        summary="案例流程记录（留痕）",
        responses={200: CaseTransitionSerializer(many=True), 404: ERRORS[404]},
    )
    @extend_schema(
        methods=["POST"],
        summary="办理流程操作（上报、审核、审定、退回、不予纳入、风险消除…）",
        request=TransitionRequestSerializer,
        responses={200: CaseSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get", "post"], **PLAIN_LIST)
    def transitions(self, request, pk=None):
        if request.method == "GET":
            rows = self.get_object().transitions.select_related("actor")
            return Response(CaseTransitionSerializer(rows, many=True).data)
        case = self._case_to_step()
        payload = TransitionRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        case_transition(case_id=case.pk, by=request.user, **payload.validated_data)
        fresh = self.get_queryset().get(pk=case.pk)
        return Response(self.get_serializer(fresh).data)

    def _case_to_step(self) -> Case:
        """The case a step is asked for, read bare: the policy asked here needs its state and
        household only, and the step's service locks and reads it again. (The list's
        queryset would read its risks, deadlines, head and proposals twice, for nothing —
        a quarter of a step's time.) Same scope, same 404, same policy as get_object."""
        case = get_object_or_404(
            Case.objects.visible_to(self.request.user).select_related("household"),
            pk=self.kwargs["pk"],
        )
        self.check_object_permissions(self.request, case)
        self.check_policy(self.request, case)
        return case

    home_visits = _evidence_action(
        "home_visits", HomeVisitSerializer, services.home_visit_record, "homevisits", "入户核实"
    )
    consents = _evidence_action(
        "consents",
        ConsentSerializer,
        services.consent_record,
        "consents",
        "承诺授权",
        parsers=[MultiPartParser, FormParser],
    )
    cross_checks = _evidence_action(
        "cross_checks",
        CrossCheckSerializer,
        identification.cross_check_record,
        "crosschecks",
        "信息比对",
        parsers=[SafeJSONParser],
        prefetch=("findings__item",),
    )
    appraisals = _evidence_action(
        "appraisals", AppraisalSerializer, services.appraisal_record, "appraisals", "民主评议"
    )
    notices = _evidence_action(
        "notices", PublicNoticeSerializer, services.notice_record, "publicnotices", "公示"
    )
    monthly_visits = _evidence_action(
        "monthly_visits",
        MonthlyVisitSerializer,
        services.monthly_visit_record,
        "monthly_visits",
        "月排查走访",
    )
    measures = _evidence_action(
        "measures", MeasureRecordSerializer, measure_record_create, "measures", "帮扶措施"
    )

    @extend_schema(
        summary="部门预警信息（在办期间名单再次命中本户，已并入监测档案）",
        responses={200: CaseWarningSerializer(many=True), 404: ERRORS[404]},
    )
    @action(detail=True, methods=["get"], **PLAIN_LIST)
    def warnings(self, request, pk=None):
        case = self.get_object()
        return Response(CaseWarningSerializer(case_warnings(case), many=True).data)

    @extend_schema(
        methods=["GET"],
        summary="消除后跟踪走访列表",
        responses={200: FollowUpVisitSerializer(many=True), 404: ERRORS[404]},
    )
    @extend_schema(
        methods=["POST"],
        summary="登记消除后跟踪走访（村干部；风险已消除且在跟踪期内，否则 400）",
        request=FollowUpVisitSerializer,
        responses={201: FollowUpVisitSerializer, **RECORD_ERRORS},
    )
    @action(detail=True, methods=["get", "post"], url_path="follow-up-visits", **PLAIN_LIST)
    def follow_up_visits(self, request, pk=None):
        case = self.get_object()
        if request.method == "GET":
            return Response(FollowUpVisitSerializer(follow_up_visits_of(case), many=True).data)
        payload = FollowUpVisitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        visit = follow_up_visit_record(case=case, by=request.user, **payload.validated_data)
        return Response(FollowUpVisitSerializer(visit).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        summary="帮扶计划（一户一策）",
        responses={200: AidPlanSerializer, 404: ERRORS[404]},
    )
    @extend_schema(
        methods=["PUT"],
        summary="保存帮扶计划（计划措施整体替换）",
        request=AidPlanSerializer,
        responses={200: AidPlanSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get", "put"], url_path="aid-plan")
    def aid_plan(self, request, pk=None):
        case = self.get_object()
        if request.method == "GET":
            plan = getattr(case, "aid_plan", None)
            if plan is None:
                return Response({"detail": "尚未制定帮扶计划。"}, status=status.HTTP_404_NOT_FOUND)
            return Response(AidPlanSerializer(plan).data)
        payload = AidPlanSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        plan = aid_plan_save(case=case, by=request.user, **payload.validated_data)
        return Response(AidPlanSerializer(plan).data)

    @extend_schema(
        methods=["GET"],
        summary="动态调整记录（调整前→调整后、提出人、时间、理由、乡镇确认结果）",
        responses={200: CaseAdjustmentSerializer(many=True), 404: ERRORS[404]},
    )
    @extend_schema(
        methods=["POST"],
        summary="提出动态调整（村干部；乡镇通过 transitions 的 adjustment_confirm / "
        "adjustment_reject 确认或不予确认）",
        description="按新登记案例的一致性规则检查（类别与户类型、1至5项风险类型、"
        "因务工就业不稳须有劳动能力成员、主要风险须在所选风险中），不做收入测算；"
        "至少须改变一项。",
        request=AdjustmentProposalSerializer,
        responses={
            201: CaseAdjustmentSerializer,
            400: OpenApiResponse(
                description="输入有误、与现状相同或案例不在监测帮扶中：errors 按字段列出原因"
            ),
            403: OpenApiResponse(description="动态调整由村干部提出"),
            404: ERRORS[404],
            409: OpenApiResponse(description="该案例已有待乡镇确认的动态调整"),
        },
    )
    @action(detail=True, methods=["get", "post"], **PLAIN_LIST)
    def adjustments(self, request, pk=None):
        case = self.get_object()
        if request.method == "GET":
            rows = adjustments_of(case)
            return Response(CaseAdjustmentSerializer(rows, many=True).data)
        payload = AdjustmentProposalSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        adjustment = adjustment_propose(case=case, by=request.user, **payload.validated_data)
        return Response(
            CaseAdjustmentSerializer(adjustments_of(case).get(pk=adjustment.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="公示名单（只含姓名、类别、村，不含身份证号、电话、账户、健康状况）",
        parameters=[
            OpenApiParameter("start", date, required=True),
            OpenApiParameter("end", date, required=True),
        ],
        responses={200: NoticeListRowSerializer(many=True), 400: ERRORS[400]},
    )
    @action(detail=False, methods=["get"], url_path="notice-list", **PLAIN_LIST)
    def notice_list(self, request):
        query = NoticeListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = notice_list(request.user, **query.validated_data)
        return Response(NoticeListRowSerializer(rows, many=True).data)


@extend_schema_view(list=extend_schema(summary="我的超期事项（本级负责、已超期未办结）"))
class OverdueItemViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = OverdueItemSerializer
    permission_classes = [PeopleDataAccess]

    def get_queryset(self):
        return overdue_items_for(self.request.user, timezone.localdate()).order_by("due_on")


@extend_schema_view(list=extend_schema(summary="我的提醒"))
class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = NotificationSerializer
    permission_classes = [PeopleDataAccess]
    filterset_fields = ["kind"]
    read_only_actions = ("read",)

    def get_queryset(self):
        return services.notifications_for(self.request.user)

    @extend_schema(summary="标为已读", request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = services.notification_mark_read(
            notification=self.get_object(), by=request.user
        )
        return Response(NotificationSerializer(notification).data)
