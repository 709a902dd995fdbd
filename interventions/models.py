"""Aid (帮扶): the measure catalogue, one plan per case (一户一策) and the measures applied."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class MeasureCategory(models.Model):
    """帮扶措施类别: the catalogue (twelve categories seeded; administrators may add)."""

    code = models.SlugField("代码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=50)
    developmental = models.BooleanField(
        "开发式帮扶",
        default=False,
        help_text="产业、就业、金融、公益性岗位等：有劳动能力的家庭须至少落实一项",
    )
    active = models.BooleanField("启用", default=True)
    sort_order = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "帮扶措施类别"
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.name


class AidPlan(models.Model):
    """帮扶计划（一户一策）: the plan for one case."""

    case = models.OneToOneField(
        "monitor.Case", verbose_name="监测对象", on_delete=models.CASCADE, related_name="aid_plan"
    )
    summary = models.TextField("帮扶思路", blank=True)
    responsible_person = models.CharField("帮扶责任人", max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "帮扶计划"

    def __str__(self):
        return f"{self.case_id} 帮扶计划"


class PlannedMeasure(models.Model):
    """计划措施: one measure the plan intends to apply."""

    plan = models.ForeignKey(AidPlan, on_delete=models.CASCADE, related_name="items")
    category = models.ForeignKey(
        MeasureCategory, verbose_name="措施类别", on_delete=models.PROTECT, related_name="+"
    )
    description = models.CharField("计划内容", max_length=300)

    class Meta:
        verbose_name = verbose_name_plural = "计划措施"
        ordering = ["plan_id", "id"]

    def __str__(self):
        return self.description


class MeasureStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "实施中"
    COMPLETED = "completed", "已完成"
    STOPPED = "stopped", "已终止"


class MeasureRecord(models.Model):
    """帮扶措施记录: one measure applied to a case."""

    case = models.ForeignKey(
        "monitor.Case", verbose_name="监测对象", on_delete=models.CASCADE, related_name="measures"
    )
    category = models.ForeignKey(
        MeasureCategory, verbose_name="措施类别", on_delete=models.PROTECT, related_name="records"
    )
    description = models.CharField("措施内容", max_length=300)
    department = models.CharField("责任单位", max_length=100)
    start_on = models.DateField("开始日期")
    end_on = models.DateField("结束日期", null=True, blank=True)
    amount = models.DecimalField("金额（元）", max_digits=12, decimal_places=2, default=0)
    beneficiaries = models.ManyToManyField(
        "households.Member", verbose_name="受益成员", blank=True, related_name="+"
    )
    status = models.CharField(
        "状态", max_length=16, choices=MeasureStatus.choices, default=MeasureStatus.IN_PROGRESS
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    recorded_at = models.DateTimeField("记录时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "帮扶措施记录"
        ordering = ["case_id", "start_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="measure_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(end_on__isnull=True) | Q(end_on__gte=models.F("start_on")),
                name="measure_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.category} {self.description}"
