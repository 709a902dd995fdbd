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
    # 因病 cases need one of these before clearance (健康帮扶, 综合保障); 社会帮扶 is not.
    covers_illness = models.BooleanField(
        "可作为因病致险的保障措施",
        default=False,
        help_text="健康帮扶、综合保障（医疗救助、低保、特困）等；社会帮扶不计入",
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
        # The report facts are rebuilt for the cases whose measures changed since.
        indexes = [models.Index(fields=["updated_at"], name="measure_updated")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="measure_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(end_on__isnull=True) | Q(end_on__gte=models.F("start_on")),
                name="measure_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.category} {self.description}"


class InsuranceCoverage(models.TextChoices):
    ALL_RURAL = "all_rural", "全体农村人口"
    LIFTED_AND_MONITORED = "lifted_and_monitored", "脱贫户和监测对象"
    MONITORED = "monitored", "监测对象"
    MARGINAL = "marginal", "边缘易致贫人口及其他低收入人口"


class InsurancePolicy(models.Model):
    """防贫保险: the anti-poverty insurance a county (or city) buys for a year: the insurer,
    who is covered, and the per-capita income line below which a claim is paid."""

    region = models.ForeignKey(
        "households.Region", verbose_name="投保区划", on_delete=models.PROTECT, related_name="+"
    )
    year = models.PositiveSmallIntegerField("年度")
    insurer = models.CharField("承保机构", max_length=100)
    coverage = models.CharField("保障对象", max_length=32, choices=InsuranceCoverage.choices)
    trigger_line = models.DecimalField(
        "理赔触发线（人均纯收入，元/人·年）", max_digits=10, decimal_places=2
    )
    premium_per_person = models.DecimalField(
        "保费（元/人·年）", max_digits=10, decimal_places=2, null=True, blank=True
    )
    note = models.CharField("说明", max_length=300, blank=True)
    created_at = models.DateTimeField("登记时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "防贫保险"
        ordering = ["-year", "region_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "year", "insurer"], name="one_insurance_per_region_year_insurer"
            ),
            models.CheckConstraint(condition=Q(trigger_line__gt=0), name="insurance_line_positive"),
        ]

    def __str__(self):
        return f"{self.year} {self.insurer}"


class InsuranceEnrolment(models.Model):
    """参保: one household covered by a policy."""

    policy = models.ForeignKey(
        InsurancePolicy,
        verbose_name="防贫保险",
        on_delete=models.PROTECT,
        related_name="enrolments",
    )
    household = models.ForeignKey(
        "households.Household",
        verbose_name="农户",
        on_delete=models.PROTECT,
        related_name="insurance_enrolments",
    )
    enrolled_on = models.DateField("参保日期")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="记录人",
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    recorded_at = models.DateTimeField("记录时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "防贫保险参保"
        ordering = ["policy_id", "household_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "household"], name="one_enrolment_per_policy_household"
            )
        ]

    def __str__(self):
        return f"{self.policy_id} {self.household_id}"


class InsuranceClaim(models.Model):
    """理赔: a claim on a household's enrolment; paid when `paid_on` is set."""

    enrolment = models.ForeignKey(
        InsuranceEnrolment, verbose_name="参保记录", on_delete=models.PROTECT, related_name="claims"
    )
    claimed_on = models.DateField("报案日期")
    reason = models.CharField("理赔原因", max_length=300)
    amount_paid = models.DecimalField(
        "赔付金额（元）", max_digits=12, decimal_places=2, null=True, blank=True
    )
    paid_on = models.DateField("赔付日期", null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="记录人",
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    recorded_at = models.DateTimeField("记录时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "防贫保险理赔"
        ordering = ["-claimed_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_paid__isnull=True) | Q(amount_paid__gte=0),
                name="claim_amount_not_negative",
            ),
            models.CheckConstraint(
                condition=(Q(paid_on__isnull=True) & Q(amount_paid__isnull=True))
                | (Q(paid_on__isnull=False) & Q(amount_paid__isnull=False)),
                name="claim_paid_with_amount_and_day",
            ),
        ]

    def __str__(self):
        return f"{self.enrolment_id} {self.claimed_on}"
