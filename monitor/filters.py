import django_filters
from django.db.models import Exists, OuterRef
from django.utils import timezone
from rest_framework.exceptions import ValidationError as ApiValidationError

from config.filters import BooleanFilter, FilterSet, IdFilter
from households.models import Region
from interventions.models import MeasureRecord
from monitor.choices import RISK_TYPES, Category, Channel, Status
from monitor.models import Case, CaseRisk


class CaseFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, label="状态（可多选）")
    category = django_filters.ChoiceFilter(choices=Category.choices, label="监测对象类别")
    channel = django_filters.ChoiceFilter(choices=Channel.choices, label="发现渠道")
    risk_type = django_filters.ChoiceFilter(
        choices=RISK_TYPES, method="filter_risk_type", label="风险类型代码（02 含其下各类灾害）"
    )
    main_risk = django_filters.ChoiceFilter(choices=RISK_TYPES, label="主要风险类型代码")
    region = django_filters.CharFilter(method="filter_region", label="区划代码（含下级）")
    overdue = BooleanFilter(method="filter_overdue", label="是否超期")
    without_measure = BooleanFilter(method="filter_without_measure", label="是否尚无帮扶措施")
    green_channel = BooleanFilter(label="绿色通道")
    is_relapse = BooleanFilter(
        field_name="relapse_of", lookup_expr="isnull", exclude=True, label="是否返贫"
    )
    household = IdFilter(field_name="household_id", label="农户ID")

    class Meta:
        model = Case
        fields = [
            "status",
            "category",
            "channel",
            "risk_type",
            "main_risk",
            "region",
            "overdue",
            "without_measure",
            "green_channel",
            "is_relapse",
            "household",
        ]

    def filter_risk_type(self, queryset, name, value):
        # A two-digit parent (02 自然灾害) also finds its sub-types (0201 洪涝 …).
        risks = CaseRisk.objects.filter(case=OuterRef("pk"), code__startswith=value)
        return queryset.filter(Exists(risks))

    def filter_region(self, queryset, name, value):
        region = Region.objects.filter(code=value).first()
        if region is None:
            raise ApiValidationError({"region": f"区划代码 {value} 不存在"})
        return queryset.inside(region.prefix)

    def filter_overdue(self, queryset, name, value):
        # `is_overdue` is annotated by monitor.selectors.cases_for.
        return queryset.filter(is_overdue=value)

    def filter_without_measure(self, queryset, name, value):
        measures = MeasureRecord.objects.filter(case=OuterRef("pk"))
        return queryset.filter(~Exists(measures) if value else Exists(measures))


def today():
    return timezone.localdate()
