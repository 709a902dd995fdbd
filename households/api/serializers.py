from datetime import date
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.fields import ChoiceLabelField
from households.choices import LifeStatus, RegionLevel
from households.models import (
    Household,
    IncomeRecord,
    Member,
    MonitoringLine,
    Region,
    RegistryImport,
)


class RegionSerializer(serializers.ModelSerializer):
    level_display = ChoiceLabelField(source="get_level_display", help_text="级别名称")

    class Meta:
        model = Region
        fields = ["code", "name", "level", "level_display", "parent", "retired"]


class MemberSerializer(serializers.ModelSerializer):
    """家庭成员。身份证号、联系电话只写不读：读取时返回脱敏值；完整号码须另行申请查看。"""

    household = serializers.PrimaryKeyRelatedField(
        queryset=Household.objects.none(), help_text="所属农户ID"
    )
    id_number = serializers.CharField(
        write_only=True, max_length=40, help_text="身份证号（18位或旧版15位）"
    )
    phone = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=30, help_text="联系电话"
    )
    age = serializers.SerializerMethodField(help_text="年龄（周岁）")
    sex_display = ChoiceLabelField(source="get_sex_display", help_text="性别")
    life_status_display = ChoiceLabelField(
        source="get_life_status_display", help_text="成员状态：在册、死亡、户籍迁出"
    )

    class Meta:
        model = Member
        fields = [
            "id",
            "household",
            "name",
            "id_number",
            "id_number_masked",
            "sex",
            "sex_display",
            "age",
            "relation",
            "health",
            "disability_level",
            "labour",
            "schooling",
            "work_status",
            "medical_insurance",
            "phone",
            "phone_masked",
            "life_status",
            "life_status_display",
            "life_status_on",
            "updated_at",
        ]
        read_only_fields = [
            "id_number_masked",
            "sex",
            "phone_masked",
            "life_status",
            "life_status_on",
            "updated_at",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["household"].queryset = Household.objects.visible_to(request.user)
        if self.instance is not None and not isinstance(self.instance, list):
            # On update the number may be left out: only a given value is re-validated.
            self.fields["id_number"].required = False

    @extend_schema_field(serializers.IntegerField())
    def get_age(self, member) -> int:
        return member.age_on(timezone.localdate())


class HouseholdSerializer(serializers.ModelSerializer):
    """农户。列表中附户主姓名、人口数与档案颜色。"""

    village = serializers.SlugRelatedField(
        slug_field="code", queryset=Region.objects.none(), help_text="所在村的12位区划代码"
    )
    village_name = serializers.CharField(source="village.name", read_only=True, help_text="村名")
    kind_display = ChoiceLabelField(source="get_kind_display")
    file_colour = serializers.CharField(read_only=True, help_text="档案颜色：green/blue/red")
    file_colour_display = ChoiceLabelField(source="get_file_colour_display")
    head_name = serializers.CharField(read_only=True, default=None, help_text="户主姓名")
    member_count = serializers.IntegerField(read_only=True, default=None, help_text="家庭人口")

    class Meta:
        model = Household
        fields = [
            "id",
            "number",
            "village",
            "village_name",
            "kind",
            "kind_display",
            "civil_affairs_status",
            "address",
            "housing_safe",
            "water_safe",
            "is_monitored",
            "closed_on",
            "closed_reason",
            "file_colour",
            "file_colour_display",
            "head_name",
            "member_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "is_monitored",
            "closed_on",
            "closed_reason",
            "created_at",
            "updated_at",
        ]
        # The number's uniqueness is the service's to judge (households.services): the
        # default validator told anyone that a number exists in another county.
        extra_kwargs = {"number": {"validators": []}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["village"].queryset = Region.objects.visible_to(request.user).filter(
                level=RegionLevel.VILLAGE, retired=False
            )


class HouseholdDetailSerializer(HouseholdSerializer):
    members = MemberSerializer(many=True, read_only=True)

    class Meta(HouseholdSerializer.Meta):
        fields = [*HouseholdSerializer.Meta.fields, "members"]


INCOME_AMOUNTS = (
    "wage_income",
    "operating_income",
    "property_income",
    "transfer_income",
    "production_cost",
    "medical_expense",
    "education_expense",
)


class IncomeRecordSerializer(serializers.ModelSerializer):
    """收支情况。纯收入与人均值由系统计算。"""

    household = serializers.PrimaryKeyRelatedField(queryset=Household.objects.none())
    household_size = serializers.IntegerField(
        required=False, min_value=1, max_value=50, help_text="家庭人口；不填则取登记的成员数"
    )
    period_end = serializers.DateField(
        required=False,
        help_text="统计截止日期（收入按截止日前12个月计）；不填：往年为该年12月31日，"
        "本年度为今天（不会是未来的日期）",
    )

    class Meta:
        model = IncomeRecord
        fields = [
            "id",
            "household",
            "year",
            "period_end",
            "household_size",
            "wage_income",
            "operating_income",
            "property_income",
            "transfer_income",
            "production_cost",
            "medical_expense",
            "education_expense",
            "net_income",
            "per_capita_net_income",
            "per_capita_after_rigid",
            "note",
            "updated_at",
        ]
        read_only_fields = [
            "net_income",
            "per_capita_net_income",
            "per_capita_after_rigid",
            "updated_at",
        ]
        # The service replaces the record of the same period, so the model's unique check on
        # (household, period_end) must not refuse it first.
        validators = []
        # Each amount is a sum of yuan, never negative: operating income is gross, its costs
        # are production_cost (net income = the four incomes − production_cost), as on the
        # income page. Under a billion yuan keeps every computed total within its column.
        extra_kwargs = {
            name: {
                "min_value": Decimal(0),
                "max_value": Decimal("999999999"),
                "error_messages": {
                    "min_value": "金额不能为负数",
                    "max_value": "金额不能超过 999,999,999 元",
                },
            }
            for name in INCOME_AMOUNTS
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["household"].queryset = Household.objects.visible_to(request.user)

    def validate(self, attrs):
        year = attrs.get("year")
        today = timezone.localdate()
        if year is not None and not 2000 <= year <= today.year:
            raise serializers.ValidationError({"year": "年度应在2000年至今年之间"})
        period_end = attrs.get("period_end")
        if period_end is not None and (period_end.year != year or period_end > today):
            raise serializers.ValidationError(
                {"period_end": "统计截止日期应在所填年度之内，且不晚于今天"}
            )
        if period_end is None and year is not None:
            # A record covers the 12 months up to its period end. A past year's ends on its
            # 31 December; this year's cannot end in the future (it would count toward a
            # clearance before the income exists), so it ends on the day it is recorded.
            attrs["period_end"] = min(date(year, 12, 31), today)
        return attrs


class MonitoringLineSerializer(serializers.ModelSerializer):
    region_name = serializers.CharField(source="region.name", read_only=True)
    amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("1000000"),
        help_text="人均纯收入监测标准（元/人·年）",
    )
    year = serializers.IntegerField(min_value=2000, max_value=2100)

    class Meta:
        model = MonitoringLine
        fields = ["id", "region", "region_name", "year", "amount", "source"]
        # One line per region and year is the service's check, answered on `year` in
        # Chinese like the pages (households.services.monitoring_line_save).
        validators = []


class RevealRequestSerializer(serializers.Serializer):
    field = serializers.ChoiceField(
        choices=[("id_number", "身份证号"), ("phone", "联系电话")], help_text="要查看的字段"
    )
    reason = serializers.CharField(max_length=300, help_text="查看事由，将记入审计日志")


class RevealResponseSerializer(serializers.Serializer):
    field = serializers.CharField()
    value = serializers.CharField(help_text="完整号码")


class RegistryImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV（UTF-8 / GBK）或 XLSX 文件")
    kind = serializers.ChoiceField(
        choices=RegistryImport.Kind.choices,
        required=False,
        help_text="households 或 members；不填则按表头自动判断",
    )


class RegistryImportSerializer(serializers.ModelSerializer):
    kind_display = ChoiceLabelField(source="get_kind_display")
    imported_by = serializers.CharField(source="imported_by.username", default=None)

    class Meta:
        model = RegistryImport
        fields = [
            "id",
            "kind",
            "kind_display",
            "file_name",
            "imported_by",
            "imported_at",
            "rows_total",
            "rows_created",
            "rows_updated",
            "rows_rejected",
            "errors",
        ]


class RegistryImportSummarySerializer(RegistryImportSerializer):
    class Meta(RegistryImportSerializer.Meta):
        fields = [f for f in RegistryImportSerializer.Meta.fields if f != "errors"]


class LifeStatusChangeSerializer(serializers.Serializer):
    """成员状态变更：死亡或户籍迁出，日期与依据。全部成员均已死亡或迁出的，该户销户，
    其未办结的监测案例随之销户终止。"""

    status = serializers.ChoiceField(
        choices=[(LifeStatus.DECEASED, "死亡"), (LifeStatus.MOVED_OUT, "户籍迁出")],
        help_text="deceased 死亡 / moved_out 户籍迁出",
    )
    on = serializers.DateField(help_text="死亡或迁出日期（不晚于今天，不早于出生日期）")
    evidence = serializers.CharField(
        max_length=300, help_text="依据，如死亡证明、火化证明、户口迁移证明编号"
    )
