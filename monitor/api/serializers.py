from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from households.models import Household
from monitor.choices import RISK_TYPE_LABELS, RISK_TYPES, ClearanceKind, Stage
from monitor.models import (
    Appraisal,
    Case,
    CaseTransition,
    Consent,
    Deadline,
    HomeVisit,
    MonthlyVisit,
    Notification,
    PublicNotice,
)
from monitor.workflow import ACTION_CHOICES, allowed_actions


class DeadlineSerializer(serializers.ModelSerializer):
    step_display = serializers.CharField(source="get_step_display", read_only=True)
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


class CaseSerializer(serializers.ModelSerializer):
    """监测对象。risk_codes 为风险类型代码（1-5 项），actions 为当前用户此刻可办理的操作。"""

    household = serializers.PrimaryKeyRelatedField(
        queryset=Household.objects.none(), help_text="农户ID"
    )
    household_number = serializers.CharField(source="household.number", read_only=True)
    village = serializers.CharField(source="household.village_id", read_only=True)
    village_name = serializers.CharField(source="household.village.name", read_only=True)
    head_name = serializers.CharField(read_only=True, default=None, help_text="户主姓名")
    category_display = serializers.CharField(source="get_category_display", read_only=True)
    channel_display = serializers.CharField(source="get_channel_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    clearance_kind_display = serializers.CharField(
        source="get_clearance_kind_display", read_only=True
    )
    risk_codes = serializers.ListField(
        child=serializers.ChoiceField(choices=RISK_TYPES),
        min_length=1,
        max_length=5,
        help_text="风险类型代码，如 01 因病、0201 洪涝灾害、07 因务工就业不稳",
    )
    risk_labels = serializers.SerializerMethodField(help_text="风险类型名称")
    deadlines = DeadlineSerializer(many=True, read_only=True)
    is_overdue = serializers.BooleanField(read_only=True, default=False)
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
            "identified_on",
            "clearance_kind",
            "clearance_kind_display",
            "cleared_on",
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
            "cleared_on",
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


class CaseTransitionSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username")
    actor_name = serializers.CharField(source="actor.first_name")
    from_status_display = serializers.CharField(source="get_from_status_display")
    to_status_display = serializers.CharField(source="get_to_status_display")

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
    class Meta:
        model = HomeVisit
        fields = ["id", "stage", "visited_on", "visitors", "findings", "recorded_by", "recorded_at"]
        extra_kwargs = {"findings": {"max_length": 5000}}


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

    class Meta:
        model = MonthlyVisit
        fields = [
            "id",
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
    category_display = serializers.CharField(source="get_category_display")
    notice_stage = serializers.CharField()
    notice_start = serializers.DateField()
    notice_end = serializers.DateField()


class NotificationSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display")

    class Meta:
        model = Notification
        fields = ["id", "kind", "kind_display", "message", "case", "created_at", "read_at"]


class OverdueItemSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="case_id")
    household_number = serializers.CharField(source="case.household.number")
    village_name = serializers.CharField(source="case.household.village.name")
    step_display = serializers.CharField(source="get_step_display")

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
