from rest_framework import serializers

from config.fields import ChoiceLabelField
from households.models import Member
from interventions.models import AidPlan, MeasureCategory, MeasureRecord, PlannedMeasure


class MeasureCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = MeasureCategory
        fields = ["id", "code", "name", "developmental", "covers_illness", "active", "sort_order"]


class MeasureRecordSerializer(serializers.ModelSerializer):
    """帮扶措施记录。category 为类别代码（如 industry、health）。"""

    category = serializers.SlugRelatedField(
        slug_field="code", queryset=MeasureCategory.objects.all(), help_text="措施类别代码"
    )
    category_name = serializers.CharField(source="category.name", read_only=True)
    beneficiaries = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=Member.objects.none(),
        help_text="受益成员ID（须是本户成员）",
    )
    status_display = ChoiceLabelField(source="get_status_display")
    case = serializers.IntegerField(source="case_id", read_only=True)

    class Meta:
        model = MeasureRecord
        fields = [
            "id",
            "case",
            "category",
            "category_name",
            "description",
            "department",
            "start_on",
            "end_on",
            "amount",
            "beneficiaries",
            "status",
            "status_display",
            "recorded_at",
            "updated_at",
        ]
        read_only_fields = ["recorded_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            # Looked up in the user's scope: ids from elsewhere are simply unknown.
            self.fields["beneficiaries"].child_relation.queryset = Member.objects.visible_to(
                request.user
            )

    def validate_amount(self, value):
        if value < 0:
            raise serializers.ValidationError("金额不能为负数")
        return value


class PlannedMeasureSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(
        slug_field="code", queryset=MeasureCategory.objects.all()
    )

    class Meta:
        model = PlannedMeasure
        fields = ["category", "description"]


# 一户一策 lists a household's planned measures: a few per category of the twelve. The cap
# is checked before any item is (each item looks its category up).
AID_PLAN_MAX_ITEMS = 50


class AidPlanSerializer(serializers.ModelSerializer):
    items = PlannedMeasureSerializer(
        many=True,
        required=False,
        max_length=AID_PLAN_MAX_ITEMS,
        help_text=f"计划措施（至多 {AID_PLAN_MAX_ITEMS} 项）",
    )

    class Meta:
        model = AidPlan
        fields = ["summary", "responsible_person", "items", "updated_at"]
        extra_kwargs = {"summary": {"max_length": 5000}}
        read_only_fields = ["updated_at"]
