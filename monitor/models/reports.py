"""Reports: work-sheet exports (台账导出) and the counties' monthly reports (月报告)."""

import uuid

from django.conf import settings
from django.db import models


class ExportJob(models.Model):
    """导出任务: one Excel work sheet asked for by a user, built by a Celery job that reports
    its progress; the file is kept until `expires_at`, then removed. The id is random so a
    download link cannot be guessed, and only its owner may fetch it."""

    class Kind(models.TextChoices):
        LEDGER = "ledger", "监测对象台账"
        REGISTRY = "registry", "农户成员花名册"

    class State(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "生成中"
        DONE = "done", "已完成"
        FAILED = "failed", "生成失败"
        EXPIRED = "expired", "已过期"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField("台账类型", max_length=16, choices=Kind.choices)
    region = models.ForeignKey(
        "households.Region", verbose_name="导出区划", on_delete=models.PROTECT, related_name="+"
    )
    as_of = models.DateField("统计截止日期")
    # 完整身份证号: only with a reason, and audited (accounts.audit).
    full_ids = models.BooleanField("导出完整身份证号", default=False)
    reason = models.CharField("导出理由", max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="申请人",
        on_delete=models.PROTECT,
        related_name="export_jobs",
    )
    state = models.CharField("状态", max_length=16, choices=State.choices, default=State.QUEUED)
    rows_total = models.PositiveIntegerField("总行数", null=True, blank=True)
    rows_done = models.PositiveIntegerField("已写行数", default=0)
    file_name = models.CharField("文件名", max_length=200, blank=True)
    size_bytes = models.PositiveBigIntegerField("文件大小", null=True, blank=True)
    error = models.CharField("错误", max_length=300, blank=True)
    created_at = models.DateTimeField("申请时间", auto_now_add=True)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    expires_at = models.DateTimeField("下载截止时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "导出任务"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["requested_by", "created_at"], name="export_owner"),
            models.Index(fields=["state", "expires_at"], name="export_expiry"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.region_id} {self.as_of}"


class MonthlyReport(models.Model):
    """月报告: a county's figures as of the last day of a month, generated on the 1st of the
    next month (Celery beat) and kept unchanged, so a later correction of the data does not
    rewrite what was reported."""

    county = models.ForeignKey(
        "households.Region", verbose_name="县", on_delete=models.PROTECT, related_name="+"
    )
    month = models.DateField("月份", help_text="该月1日")
    as_of = models.DateField("统计截止日期")
    figures = models.JSONField("统计数据")
    generated_at = models.DateTimeField("生成时间", auto_now_add=True)
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="生成人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="空：定时任务生成",
    )

    class Meta:
        verbose_name = verbose_name_plural = "月报告"
        ordering = ["-month", "county_id"]
        constraints = [
            models.UniqueConstraint(fields=["county", "month"], name="one_report_per_county_month")
        ]

    def __str__(self):
        return f"{self.county_id} {self.month:%Y-%m}"


class CaseFact(models.Model):
    """统计事实: one row per case with what the report figures read, derived from the case,
    its trail (流程留痕), risks, measures and its household's members — the analytics table
    that lets a province's figures as of any day be read from one narrow table instead of
    the trail and three and a half million members. Rebuilt when its sources change
    (monitor.reports.facts): cases and measures by their update time, members by a stale
    mark their services set."""

    case = models.OneToOneField(
        "Case", primary_key=True, on_delete=models.CASCADE, related_name="fact"
    )
    village_id = models.CharField("所在村", max_length=12)
    household_id = models.BigIntegerField("农户")
    category = models.CharField("监测对象类别", max_length=16)
    main_risk = models.CharField("主要风险类型", max_length=4, blank=True)
    risk_codes = models.CharField("风险类型", max_length=40, blank=True)
    channel = models.CharField("发现渠道", max_length=24)
    found_on = models.DateField("发现风险日期")
    relapse = models.BooleanField("返贫", default=False)
    clearance_kind = models.CharField("风险消除方式", max_length=16, blank=True)
    # Local days of the steps, from the trail.
    identified_on = models.DateField("纳入监测日期", null=True)
    cleared_on = models.DateField("风险消除日期", null=True)
    terminated_on = models.DateField("销户终止日期", null=True)
    dropped_on = models.DateField("不予纳入或撤销日期", null=True)
    # The first start of any measure (the per-category firsts are CaseFactMeasure rows).
    first_measure_on = models.DateField("最早措施开始日期", null=True)
    # The day the household's next case was identified: from then on this one is no longer
    # the household's latest (the households are counted by their latest case).
    superseded_on = models.DateField("被后续案例取代日期", null=True)
    # Members counted on every day the reports are asked for (born before the earliest
    # day, never gone); the others are CaseFactPerson rows with their birth and leaving day.
    people_fixed = models.PositiveSmallIntegerField("固定在册人数", default=0)
    # Set when a source the update times do not show changed (members); cleared by the
    # build that started after it, so a mark made during a build is not lost.
    stale_since = models.DateTimeField("待重算时间", null=True, blank=True)
    built_at = models.DateTimeField("计算时间")

    class Meta:
        verbose_name = verbose_name_plural = "统计事实"
        indexes = [
            models.Index(
                fields=["village_id"], name="casefact_village", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["household_id"], name="casefact_household"),
            models.Index(fields=["built_at"], name="casefact_built"),
            models.Index(
                fields=["stale_since"],
                name="casefact_stale_since",
                condition=models.Q(stale_since__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.case_id}"


# The fact's dated parts, one narrow row each, so that the figures as of a day are counted
# by the database (monitor.reports.figures) rather than parsed in Python: the member table
# has millions of rows, these a few for each case. Rebuilt with their fact.


class CaseFactPerson(models.Model):
    """A member of the case's household counted only on some days: born on or after the
    earliest report day, or gone from the register (died, moved out) on a known day."""

    fact = models.ForeignKey(CaseFact, on_delete=models.CASCADE, related_name="people_dated")
    born = models.DateField("出生日期")
    left_on = models.DateField("离开日期", null=True)

    class Meta:
        verbose_name = verbose_name_plural = "统计事实·随日期变化的成员"
        indexes = [models.Index(fields=["fact"], name="casefactperson_fact")]

    def __str__(self):
        return f"{self.fact_id} {self.born}–{self.left_on or ''}"


class CaseFactMeasure(models.Model):
    """The first start of one measure category (帮扶措施类别) on the case."""

    fact = models.ForeignKey(CaseFact, on_delete=models.CASCADE, related_name="measure_starts")
    category_code = models.CharField("措施类别", max_length=16)
    first_on = models.DateField("最早开始日期")
    # Set on one row per household and category: the day from which the household counts
    # as having a measure of the category (some case of it identified by then with such a
    # measure started), so households are counted without DISTINCT.
    household_counted_on = models.DateField("农户计入日期", null=True)

    class Meta:
        verbose_name = verbose_name_plural = "统计事实·各类措施"
        constraints = [
            models.UniqueConstraint(
                fields=["fact", "category_code"], name="one_fact_measure_per_category"
            )
        ]

    def __str__(self):
        return f"{self.fact_id} {self.category_code} {self.first_on}"


class CaseFactVersion(models.Model):
    """The case's category and risks as they were before a 动态调整 confirmed on `until`:
    a report as of a day before `until` reads these values (the first such version in
    `sequence` order), not today's."""

    fact = models.ForeignKey(CaseFact, on_delete=models.CASCADE, related_name="versions")
    sequence = models.PositiveSmallIntegerField("顺序")
    until = models.DateField("调整确认日期")
    category = models.CharField("监测对象类别", max_length=16)
    main_risk = models.CharField("主要风险类型", max_length=4, blank=True)
    risk_codes = models.CharField("风险类型", max_length=40, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "统计事实·调整前的值"
        constraints = [
            models.UniqueConstraint(fields=["fact", "sequence"], name="one_fact_version_per_step")
        ]

    def __str__(self):
        return f"{self.fact_id} #{self.sequence} {self.until}"
