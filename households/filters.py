import django_filters
from django.core.exceptions import ValidationError
from rest_framework.exceptions import ValidationError as ApiValidationError

from config.filters import BooleanFilter, FilterSet, IdFilter
from households.choices import HouseholdKind, Labour, Relation
from households.models import Household, IncomeRecord, Member, Region
from households.selectors import search_households


class RegionFilter(FilterSet):
    parent = django_filters.CharFilter(field_name="parent_id", label="上级区划代码")

    class Meta:
        model = Region
        fields = ["level", "parent", "retired"]


class HouseholdFilter(FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="按姓名、身份证号、户编号或住址搜索")
    region = django_filters.CharFilter(
        method="filter_region", label="区划代码（含下级），如某乡镇的12位代码"
    )
    kind = django_filters.ChoiceFilter(choices=HouseholdKind.choices, label="户类型")
    is_monitored = BooleanFilter(label="是否监测对象")
    housing_safe = BooleanFilter(label="住房安全")
    water_safe = BooleanFilter(label="饮水安全")

    class Meta:
        model = Household
        fields = ["q", "region", "village", "kind", "is_monitored", "housing_safe", "water_safe"]

    def filter_q(self, queryset, name, value):
        try:
            return search_households(queryset, value)
        except ValidationError as exc:
            raise ApiValidationError(exc.message_dict) from None

    def filter_region(self, queryset, name, value):
        region = Region.objects.filter(code=value).first()
        if region is None:
            raise ApiValidationError({"region": f"区划代码 {value} 不存在"})
        return queryset.inside(region.prefix)


class MemberFilter(FilterSet):
    household = IdFilter(field_name="household_id", label="农户ID")
    household_number = django_filters.CharFilter(field_name="household__number", label="户编号")
    name = django_filters.CharFilter(field_name="name", lookup_expr="contains", label="姓名")
    relation = django_filters.ChoiceFilter(choices=Relation.choices, label="与户主关系")
    labour = django_filters.ChoiceFilter(choices=Labour.choices, label="劳动技能")

    class Meta:
        model = Member
        fields = [
            "household",
            "household_number",
            "name",
            "relation",
            "health",
            "labour",
            "schooling",
            "work_status",
            "medical_insurance",
        ]


class IncomeRecordFilter(FilterSet):
    household = IdFilter(field_name="household_id", label="农户ID")

    class Meta:
        model = IncomeRecord
        fields = ["household", "year"]
