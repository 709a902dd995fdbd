from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.fields import ChoiceLabelField
from households.models import Household
from monitor.choices import (
    RISK_TYPE_LABELS,
    RISK_TYPES,
    Category,
    ClearanceKind,
    CrossCheckResult,
    NaturalReason,
    Stage,
)
from monitor.models import (
    Announcement,
    Appraisal,
    Case,
    CaseAdjustment,
    CaseTransition,
    Consent,
    CrossCheck,
    CrossCheckItem,
    Deadline,
    HomeVisit,
    MonthlyVisit,
    Notification,
    PublicNotice,
)
from monitor.reports.selectors import EARLIEST_AS_OF
from monitor.rules import NATURAL_EVIDENCE_MIN
from monitor.workflow import ACTION_CHOICES, allowed_actions


class DeadlineSerializer(serializers.ModelSerializer):
    step_display = ChoiceLabelField(source="get_step_display")
    overdue = serializers.SerializerMethodField(help_text="是否已超期未办结")

    class Meta:
        model = Deadline
        fields = ["step", "step_display", "responsible_level", "due_on", "met_on", "overdue"]

    @extend_schema_field(serializers.BooleanField())
    def get_overdue(self, deadline) -> bool:
        return deadline.met_on is None and deadline.due_on < timezone.localdate()


class ActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    label = serializers.CharField()
    needs_reason = serializers.BooleanField()


# The earliest day a risk can have been found: the figures start there too
# (monitor.reports.selectors.EARLIEST_AS_OF).
EARLIEST_FINDING_DAY = EARLIEST_AS_OF


class CaseSerializer(serializers.ModelSerializer):
    """监测对象。risk_codes 为风险类型代码（1-5 项），actions 为当前用户此刻可办理的操作。"""

    household = serializers.PrimaryKeyRelatedField(
        queryset=Household.objects.none(), help_text="农户ID"
    )
    household_number = serializers.CharField(source="household.number", read_only=True)
    village = serializers.CharField(source="household.village_id", read_only=True)
    village_name = serializers.CharField(source="household.village.name", read_only=True)
    head_name = serializers.CharField(read_only=True, default=None, help_text="户主姓名")
    category_display = ChoiceLabelField(source="get_category_display")
    channel_display = ChoiceLabelField(source="get_channel_display")
    status_display = ChoiceLabelField(source="get_status_display")
    clearance_kind_display = ChoiceLabelField(source="get_clearance_kind_display")
    risk_codes = serializers.ListField(
        child=serializers.ChoiceField(choices=RISK_TYPES),
        min_length=1,
        max_length=5,
        help_text="风险类型代码，如 01 因病、0201 洪涝灾害、07 因务工就业不稳",
    )
    risk_labels = serializers.SerializerMethodField(help_text="风险类型名称")
    main_risk = serializers.ChoiceField(
        choices=RISK_TYPES,
        required=False,
        allow_blank=True,
        help_text="主要风险：须是 risk_codes 之一；不填则为第一项",
    )
    main_risk_display = ChoiceLabelField(source="get_main_risk_display")
    spot_check_drawn_at = serializers.DateTimeField(
        read_only=True, help_text="县级抽查抽中时间（抽中的案例审定前须有县级入户核实）"
    )
    deadlines = DeadlineSerializer(many=True, read_only=True)
    is_overdue = serializers.BooleanField(read_only=True, default=False)
    relapse_of = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="返贫：该户此前已消除风险的案例ID（不是返贫则为空）"
    )
    is_relapse = serializers.BooleanField(read_only=True, help_text="是否返贫（该户曾消除风险）")
    actions = serializers.SerializerMethodField(help_text="当前用户可办理的操作")

    class Meta:
        model = Case
        fields = [
            "id",
            "household",
            "household_number",
            "village",
            "village_name",
            "head_name",
            "category",
            "category_display",
            "channel",
            "channel_display",
            "status",
            "status_display",
            "found_on",
            "description",
            "green_channel",
            "risk_codes",
            "risk_labels",
            "main_risk",
            "main_risk_display",
            "spot_check_drawn_at",
            "identified_on",
            "clearance_kind",
            "clearance_kind_display",
            "natural_reason",
            "natural_member",
            "natural_evidence",
            "cleared_on",
            "follow_up_until",
            "relapse_of",
            "is_relapse",
            "closed_reason",
            "deadlines",
            "is_overdue",
            "actions",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"description": {"max_length": 5000}}
        read_only_fields = [
            "status",
            "identified_on",
            "clearance_kind",
            "natural_reason",
            "natural_member",
            "natural_evidence",
            "cleared_on",
            "follow_up_until",
            "closed_reason",
            "created_at",
            "updated_at",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["household"].queryset = Household.objects.visible_to(request.user)
        if self.instance is not None and not isinstance(self.instance, list):
            self.fields["household"].read_only = True

    def validate_found_on(self, value):
        # Every later date of the case (evidence, measures) is bounded below by this one:
        # a typo such as 0001-01-01 would open all of them to any past day.
        if value < EARLIEST_FINDING_DAY:
            raise serializers.ValidationError(
                f"发现风险日期不能早于 {EARLIEST_FINDING_DAY.isoformat()}（动态监测开展以前）"
            )
        if value > timezone.localdate():
            raise serializers.ValidationError("发现风险日期不能晚于今天")
        return value

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_risk_labels(self, case) -> list[str]:
        return [RISK_TYPE_LABELS[code] for code in case.risk_codes]

    @extend_schema_field(ActionSerializer(many=True))
    def get_actions(self, case) -> list[dict]:
        request = self.context.get("request")
        if request is None:
            return []
        return [
            {"action": s.action, "label": s.label, "needs_reason": s.needs_reason}
            for s in allowed_actions(case, request.user)
        ]


class AnnouncementSerializer(serializers.ModelSerializer):
    """公告：县级审定结果（纳入监测或风险消除），只有村名、户编号和类别。"""

    case = serializers.IntegerField(source="case_id", read_only=True)
    household_number = serializers.CharField(source="case.household.number", read_only=True)
    village_name = serializers.CharField(source="case.household.village.name", read_only=True)
    stage_display = ChoiceLabelField(source="get_stage_display")
    announced_by = serializers.CharField(source="announced_by.username", read_only=True)

    class Meta:
        model = Announcement
        fields = [
            "id",
            "case",
            "household_number",
            "village_name",
            "stage",
            "stage_display",
            "announced_on",
            "text",
            "announced_by",
            "created_at",
        ]


class _CaseAnnouncementSerializer(serializers.ModelSerializer):
    stage_display = ChoiceLabelField(source="get_stage_display")

    class Meta:
        model = Announcement
        fields = ["id", "stage", "stage_display", "announced_on", "text"]


class CaseDetailSerializer(CaseSerializer):
    """监测对象详情：另含县级审定的公告。"""

    announcements = _CaseAnnouncementSerializer(many=True, read_only=True)

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "announcements"]


class TransitionRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ACTION_CHOICES, help_text="要办理的操作")
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="意见；退回、不予纳入、撤销时必填理由",
    )
    clearance_kind = serializers.ChoiceField(
        choices=ClearanceKind.choices, required=False, help_text="提出风险消除时必填"
    )
    natural_reason = serializers.ChoiceField(
        choices=NaturalReason.choices,
        required=False,
        help_text="自然消除原因（clearance_kind=natural 时必填）",
    )
    natural_member_id = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="致险成员ID：原因为 member_died（致险成员去世）时必填，须是本户已登记死亡的成员",
    )
    natural_evidence = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="自然消除依据（clearance_kind=natural 时必填，不少于 4 个字）",
    )

    def validate(self, attrs):
        # The shape of a 自然消除 proposal; whether the member is of the household and
        # recorded as deceased is the workflow's check (monitor/rules.py), by the same fields.
        if attrs.get("action") != "propose_clearance":
            return attrs
        if attrs.get("clearance_kind") != ClearanceKind.NATURAL:
            for name in ("natural_reason", "natural_member_id", "natural_evidence"):
                attrs.pop(name, None)
            return attrs
        errors = {}
        if not attrs.get("natural_reason"):
            errors["natural_reason"] = "自然消除须选择原因"
        if len((attrs.get("natural_evidence") or "").strip()) < NATURAL_EVIDENCE_MIN:
            errors["natural_evidence"] = f"自然消除须填写依据（不少于 {NATURAL_EVIDENCE_MIN} 个字）"
        if attrs.get("natural_reason") == NaturalReason.MEMBER_DIED and not attrs.get(
            "natural_member_id"
        ):
            errors["natural_member_id"] = "致险成员去世的，须指明已去世的成员"
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class CaseTransitionSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username")
    actor_name = serializers.CharField(source="actor.first_name")
    from_status_display = ChoiceLabelField(source="get_from_status_display")
    to_status_display = ChoiceLabelField(source="get_to_status_display")

    class Meta:
        model = CaseTransition
        fields = [
            "id",
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


class _EvidenceSerializer(serializers.ModelSerializer):
    stage = serializers.ChoiceField(
        choices=Stage.choices,
        default=Stage.IDENTIFICATION,
        help_text="identification 识别认定 / clearance 风险消除",
    )
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True, default=None)


class HomeVisitSerializer(_EvidenceSerializer):
    """入户核实。村干部登记村级入户；乡镇审核人、县级审定人登记乡镇/县级入户核实（level 由
    登记人角色决定）：村级已上报、乡镇已审核时 stage 为 identification，纳入监测后为 clearance。"""

    level_display = ChoiceLabelField(source="get_level_display")

    class Meta:
        model = HomeVisit
        fields = [
            "id",
            "stage",
            "level",
            "level_display",
            "visited_on",
            "visitors",
            "findings",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = ["level"]
        extra_kwargs = {"findings": {"max_length": 5000}}


class CrossCheckFindingSerializer(serializers.Serializer):
    item = serializers.CharField(
        max_length=32, help_text="比对事项代码（见 /api/cross-check-items/）"
    )
    item_name = serializers.CharField(read_only=True)
    result = serializers.ChoiceField(
        choices=CrossCheckResult.choices,
        help_text="clear 未发现 / found 发现 / unavailable 无法比对",
    )
    result_display = serializers.CharField(read_only=True)
    note = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="情况说明：发现、无法比对时必填",
    )

    def to_representation(self, finding):
        return {
            "item": finding.item.code,
            "item_name": finding.item.name,
            "result": finding.result,
            "result_display": finding.get_result_display(),
            "note": finding.note,
        }


class CrossCheckSerializer(_EvidenceSerializer):
    """信息比对：对每个启用的比对事项（负面清单）各有一条结果。"""

    findings = CrossCheckFindingSerializer(many=True, help_text="每个启用的比对事项一条")

    class Meta:
        model = CrossCheck
        fields = ["id", "stage", "checked_on", "note", "findings", "recorded_by", "recorded_at"]


class CrossCheckItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrossCheckItem
        fields = ["id", "code", "name", "description", "active", "sort_order"]
        extra_kwargs = {"sort_order": {"max_value": 32767, "min_value": 0}}


class ConsentSerializer(_EvidenceSerializer):
    scan = serializers.FileField(write_only=True, help_text="签字的承诺授权书扫描件（PDF/JPG/PNG）")
    has_scan = serializers.SerializerMethodField()

    class Meta:
        model = Consent
        fields = ["id", "stage", "signed_on", "scan", "has_scan", "recorded_by", "recorded_at"]

    @extend_schema_field(serializers.BooleanField())
    def get_has_scan(self, consent) -> bool:
        return bool(consent.scan)


class AppraisalSerializer(_EvidenceSerializer):
    class Meta:
        model = Appraisal
        fields = [
            "id",
            "stage",
            "held_on",
            "result",
            "participants",
            "notes",
            "recorded_by",
            "recorded_at",
        ]
        # The column's range on every database (SQLite would store 99999; PostgreSQL refuses).
        extra_kwargs = {
            "notes": {"max_length": 5000},
            "participants": {"max_value": 32767, "min_value": 0},
        }


class PublicNoticeSerializer(_EvidenceSerializer):
    days = serializers.IntegerField(read_only=True)

    class Meta:
        model = PublicNotice
        fields = [
            "id",
            "stage",
            "start_on",
            "end_on",
            "days",
            "objections",
            "objections_resolved",
            "recorded_by",
            "recorded_at",
        ]
        extra_kwargs = {"objections": {"max_length": 5000}}


class MonthlyVisitSerializer(serializers.ModelSerializer):
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True, default=None)
    # A cleared case's list also holds its follow-up visits (消除后跟踪走访), told apart here.
    kind_display = ChoiceLabelField(source="get_kind_display")

    class Meta:
        model = MonthlyVisit
        read_only_fields = ["kind"]
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
        extra_kwargs = {"findings": {"max_length": 5000}}


class NoticeListRowSerializer(serializers.Serializer):
    """公示名单的一行：只有姓名、类别、村和公示期，不含身份证号、电话、银行账户和健康状况。"""

    head_name = serializers.CharField()
    village_name = serializers.CharField(source="household.village.name")
    category_display = ChoiceLabelField(source="get_category_display")
    notice_stage = serializers.CharField()
    notice_start = serializers.DateField()
    notice_end = serializers.DateField()


class NotificationSerializer(serializers.ModelSerializer):
    kind_display = ChoiceLabelField(source="get_kind_display")

    class Meta:
        model = Notification
        fields = ["id", "kind", "kind_display", "message", "case", "created_at", "read_at"]


class OverdueItemSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="case_id")
    household_number = serializers.CharField(source="case.household.number")
    village_name = serializers.CharField(source="case.household.village.name")
    step_display = ChoiceLabelField(source="get_step_display")

    class Meta:
        model = Deadline
        fields = [
            "case",
            "household_number",
            "village_name",
            "step",
            "step_display",
            "due_on",
            "overdue_since",
        ]


class CaseAdjustmentSerializer(serializers.ModelSerializer):
    """动态调整：调整前（before）与调整后（category、risk_codes、main_risk）、提出人与时间、理由，
    乡镇确认结果。"""

    status_display = ChoiceLabelField(source="get_status_display")
    category_display = ChoiceLabelField(source="get_category_display")
    main_risk_display = ChoiceLabelField(source="get_main_risk_display")
    before_text = serializers.SerializerMethodField(help_text="调整前：类别；风险类型（主要风险）")
    after_text = serializers.SerializerMethodField(help_text="调整后：类别；风险类型（主要风险）")
    proposed_by = serializers.CharField(source="proposed_by.username", read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, default=None)

    class Meta:
        model = CaseAdjustment
        fields = [
            "id",
            "case",
            "status",
            "status_display",
            "category",
            "category_display",
            "risk_codes",
            "main_risk",
            "main_risk_display",
            "reason",
            "before",
            "before_text",
            "after_text",
            "monthly_visit",
            "proposed_by",
            "proposed_at",
            "decided_by",
            "decided_at",
            "decision_note",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_before_text(self, adjustment) -> str:
        from monitor.adjustments import describe

        return describe(adjustment.before)

    @extend_schema_field(serializers.CharField())
    def get_after_text(self, adjustment) -> str:
        from monitor.adjustments import describe

        return describe(
            {
                "category": adjustment.category,
                "risk_codes": adjustment.risk_codes,
                "main_risk": adjustment.main_risk,
            }
        )


class AdjustmentProposalSerializer(serializers.Serializer):
    """提出动态调整（村干部；案例须在监测帮扶中，且没有待确认的调整）。"""

    category = serializers.ChoiceField(choices=Category.choices, help_text="调整后的监测对象类别")
    risk_codes = serializers.ListField(
        child=serializers.ChoiceField(choices=RISK_TYPES),
        min_length=1,
        max_length=5,
        help_text="调整后的风险类型代码（1至5项）",
    )
    main_risk = serializers.ChoiceField(
        choices=RISK_TYPES, help_text="调整后的主要风险，须是 risk_codes 之一"
    )
    reason = serializers.CharField(max_length=500, help_text="调整理由")
    monthly_visit = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="发现风险变化的月排查走访ID（可选，须是本案例的走访）",
    )
