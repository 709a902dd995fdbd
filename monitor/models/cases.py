"""Monitoring cases (监测对象) and the records of their identification and clearance."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.scope import ScopedQuerySet
from households.models import PREFIX_OPCLASS
from monitor.choices import (
    CLOSED_STATUSES,
    RISK_TYPES,
    AdjustmentStatus,
    AppraisalResult,
    Category,
    Channel,
    ClearanceKind,
    CrossCheckResult,
    DeadlineStep,
    NaturalReason,
    NotificationKind,
    Stage,
    Status,
    VisitKind,
    VisitLevel,
)
from monitor.scans import consent_scan_storage


class CaseQuerySet(ScopedQuerySet):
    # The case's own copy of its household's village: scoping a province's cases (reports,
    # lists) is then a prefix range on one indexed column, with no join to a million
    # households.
    region_field = "village__code"

    def open(self):
        return self.exclude(status__in=CLOSED_STATUSES)


class Case(models.Model):
    """监测对象（防止返贫致贫对象）: one household's monitoring case, from the finding of a
    risk through identification (识别认定) and aid to risk clearance (风险消除)."""

    household = models.ForeignKey(
        "households.Household",
        verbose_name="农户",
        on_delete=models.PROTECT,
        related_name="cases",
    )
    # The household's village, kept with the case (set on save; households.services moves
    # it with the household) so that region scope needs no join.
    village = models.ForeignKey(
        "households.Region",
        verbose_name="所在村",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        editable=False,
    )
    category = models.CharField("监测对象类别", max_length=16, choices=Category.choices)
    channel = models.CharField("发现渠道", max_length=24, choices=Channel.choices)
    status = models.CharField(
        "状态", max_length=32, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    found_on = models.DateField("发现风险日期")
    description = models.TextField("困难情况", blank=True)
    # 主要风险: one of the case's risk codes, so shares by risk have one denominator.
    main_risk = models.CharField("主要风险类型", max_length=4, choices=RISK_TYPES, blank=True)
    # 返贫: the household's earlier case, cleared, that this one follows.
    relapse_of = models.ForeignKey(
        "self",
        verbose_name="返贫（原已消除案例）",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="relapses",
        editable=False,
    )
    green_channel = models.BooleanField(
        "绿色通道", default=False, help_text="灾害、意外等明显情形，可先行帮扶、后履行程序"
    )
    identified_on = models.DateField("纳入监测日期", null=True, blank=True, editable=False)
    clearance_kind = models.CharField(
        "风险消除方式", max_length=16, choices=ClearanceKind.choices, blank=True, editable=False
    )
    cleared_on = models.DateField("风险消除日期", null=True, blank=True, editable=False)
    # 自然消除: the reason the risk went away and its evidence (the aid conditions don't apply).
    natural_reason = models.CharField(
        "自然消除原因", max_length=16, choices=NaturalReason.choices, blank=True, editable=False
    )
    natural_member = models.ForeignKey(
        "households.Member",
        verbose_name="致险成员",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    natural_evidence = models.CharField("自然消除依据", max_length=500, blank=True, editable=False)
    # 消除后跟踪: the household stays on the watch list until this day.
    follow_up_until = models.DateField("跟踪截止日期", null=True, blank=True, editable=False)
    # 县级抽查: drawn into the county's random sample; then approval needs a county visit.
    spot_check_drawn_at = models.DateTimeField(
        "抽查抽取时间", null=True, blank=True, editable=False
    )
    closed_reason = models.CharField(
        "不予纳入或撤销理由", max_length=300, blank=True, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="登记人",
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "监测对象"
        ordering = ["-found_on", "-id"]
        constraints = [
            # 一户一案: at most one case per household that is not closed.
            models.UniqueConstraint(
                fields=["household"],
                condition=~Q(status__in=sorted(CLOSED_STATUSES)),
                name="one_open_case_per_household",
            ),
        ]
        indexes = [
            models.Index(
                fields=["village"], name="case_village_prefix", opclasses=[PREFIX_OPCLASS]
            ),
            models.Index(fields=["status", "category"], name="case_status_category"),
            # The report facts are rebuilt for the cases changed since their last build.
            models.Index(fields=["updated_at"], name="case_updated"),
            models.Index(
                fields=["follow_up_until"],
                name="case_follow_up",
                condition=Q(follow_up_until__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.household.number} {self.get_category_display()}"

    def save(self, *args, **kwargs):
        if self.village_id is None and self.household_id is not None:
            self.village_id = self.household.village_id
        super().save(*args, **kwargs)

    @property
    def is_relapse(self) -> bool:
        return self.relapse_of_id is not None

    @property
    def risk_codes(self) -> list[str]:
        # Through .all() so a prefetch of `risks` serves it without a query.
        return [risk.code for risk in self.risks.all()]


class CaseRisk(models.Model):
    """风险类型: one of a case's one to five coded risks."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="risks")
    code = models.CharField("风险类型", max_length=4, choices=RISK_TYPES)

    class Meta:
        verbose_name = verbose_name_plural = "风险类型"
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["case", "code"], name="one_risk_code_per_case")
        ]

    def __str__(self):
        return self.get_code_display()


class TrailStep(models.Model):
    """One step on a workflow's trail (留痕), written by monitor.engine with the new state:
    what was done, by whom in which role and region, when and why. Append-only. Each
    workflow adds its subject, its states and its actor."""

    action = models.CharField("操作", max_length=40)
    actor_role = models.CharField("操作人角色", max_length=24)
    actor_region = models.CharField("操作人所属区划", max_length=12)
    at = models.DateTimeField("时间", auto_now_add=True)
    comment = models.CharField("意见或理由", max_length=500, blank=True)

    class Meta:
        abstract = True


class CaseTransition(TrailStep):
    """流程留痕: one step of a case's workflow."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField("原状态", max_length=32, choices=Status.choices)
    to_status = models.CharField("新状态", max_length=32, choices=Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作人",
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = verbose_name_plural = "流程记录"
        ordering = ["case_id", "at", "id"]

    def __str__(self):
        return f"{self.case_id} {self.from_status}→{self.to_status}"

    @property
    def action_label(self) -> str:
        """The step's name (a step that keeps the status, such as 乡镇确认动态调整, is read
        by its name rather than by its states)."""
        from monitor.workflow import STEP_BY_ACTION

        step = STEP_BY_ACTION.get(self.action)
        return step.label if step is not None else self.action


class _Evidence(models.Model):
    """A record the village keeps for a step of identification or clearance."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="%(class)ss")
    stage = models.CharField(
        "阶段", max_length=16, choices=Stage.choices, default=Stage.IDENTIFICATION
    )
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
        abstract = True
        ordering = ["case_id", "id"]

    def __str__(self):
        return f"{self._meta.verbose_name} {self.case_id} {self.get_stage_display()}"


class HomeVisit(_Evidence):
    """入户核实: the home visit that verifies the risk (or, at clearance, that it is gone)."""

    visited_on = models.DateField("核实日期")
    visitors = models.CharField("核实人员", max_length=200)
    findings = models.TextField("核实情况")
    # 乡村两级入户: the level of the staff who visited (set from the recorder's role).
    level = models.PositiveSmallIntegerField(
        "入户层级", choices=VisitLevel.choices, default=VisitLevel.VILLAGE, editable=False
    )

    class Meta(_Evidence.Meta):
        verbose_name = verbose_name_plural = "入户核实"


def consent_upload_path(instance, filename):
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"consents/{instance.case_id}/{instance.signed_on:%Y%m%d}.{suffix}"


class Consent(_Evidence):
    """承诺授权: the household's signed consent to checks of its data, with the scan."""

    signed_on = models.DateField("签署日期")
    # Sealed at rest and served only by the scoped page (monitor/scans.py).
    scan = models.FileField(
        "签字扫描件", upload_to=consent_upload_path, storage=consent_scan_storage
    )

    class Meta(_Evidence.Meta):
        verbose_name = verbose_name_plural = "承诺授权"


class Appraisal(_Evidence):
    """民主评议: the village's democratic appraisal of the case."""

    held_on = models.DateField("评议日期")
    result = models.CharField("评议结果", max_length=16, choices=AppraisalResult.choices)
    participants = models.PositiveSmallIntegerField("参会人数", null=True, blank=True)
    notes = models.TextField("评议情况", blank=True)

    class Meta(_Evidence.Meta):
        verbose_name = verbose_name_plural = "民主评议"


class PublicNotice(_Evidence):
    """公示: the notice posted in the village (at least 5 days). Never shows ID, phone, bank
    account or health status."""

    start_on = models.DateField("公示开始日期")
    end_on = models.DateField("公示结束日期")
    objections = models.TextField("异议情况", blank=True)
    objections_resolved = models.BooleanField("异议已处理", default=True)

    class Meta(_Evidence.Meta):
        verbose_name = verbose_name_plural = "公示"
        constraints = [
            models.CheckConstraint(
                condition=Q(end_on__gte=models.F("start_on")), name="notice_ends_after_start"
            ),
        ]

    @property
    def days(self) -> int:
        return (self.end_on - self.start_on).days + 1


class CrossCheckItem(models.Model):
    """信息比对事项: one item of the negative list checked against department data before
    the village reports (财政供养人员, 机动车, 商品房, 工商注册 …). Data: counties add their own."""

    code = models.SlugField("代码", max_length=32, unique=True)
    name = models.CharField("比对事项", max_length=50)
    description = models.CharField("说明", max_length=200, blank=True)
    active = models.BooleanField("启用", default=True)
    sort_order = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "信息比对事项"
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.name


class CrossCheck(_Evidence):
    """信息比对: the recorded check of a household against the negative list, one finding
    per item, by whom and when."""

    checked_on = models.DateField("比对日期")
    note = models.CharField("比对说明", max_length=500, blank=True)

    class Meta(_Evidence.Meta):
        verbose_name = verbose_name_plural = "信息比对"


class CrossCheckFinding(models.Model):
    check_record = models.ForeignKey(CrossCheck, on_delete=models.CASCADE, related_name="findings")
    item = models.ForeignKey(
        CrossCheckItem, verbose_name="比对事项", on_delete=models.PROTECT, related_name="+"
    )
    result = models.CharField("比对结果", max_length=16, choices=CrossCheckResult.choices)
    note = models.CharField("情况说明", max_length=300, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "信息比对结果"
        ordering = ["check_record_id", "item__sort_order", "item_id"]
        constraints = [
            models.UniqueConstraint(fields=["check_record", "item"], name="one_finding_per_item")
        ]

    def __str__(self):
        return f"{self.item_id} {self.get_result_display()}"


class Announcement(models.Model):
    """公告: the county's published decision (纳入监测 or 风险消除). Holds no ID number,
    phone, bank account or health status."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="announcements")
    stage = models.CharField("阶段", max_length=16, choices=Stage.choices)
    announced_on = models.DateField("公告日期")
    text = models.CharField("公告内容", max_length=300)
    announced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="公告单位经办人",
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("记录时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "公告"
        ordering = ["case_id", "announced_on", "id"]

    def __str__(self):
        return f"{self.case_id} {self.get_stage_display()} {self.announced_on}"


class CaseAdjustment(models.Model):
    """动态调整: a change of a monitored case's risks, category or main risk, proposed by the
    village with a reason and confirmed (or not) by the township. The case's values before
    the change are kept here, so the history reads back."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="adjustments")
    status = models.CharField(
        "状态", max_length=16, choices=AdjustmentStatus.choices, default=AdjustmentStatus.PROPOSED
    )
    category = models.CharField("调整后类别", max_length=16, choices=Category.choices)
    risk_codes = models.JSONField("调整后风险类型", default=list)
    main_risk = models.CharField("调整后主要风险", max_length=4, choices=RISK_TYPES)
    reason = models.CharField("调整理由", max_length=500)
    before = models.JSONField("调整前", default=dict, editable=False)
    monthly_visit = models.ForeignKey(
        "MonthlyVisit",
        verbose_name="来源走访",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="提出人",
        on_delete=models.PROTECT,
        related_name="+",
    )
    proposed_at = models.DateTimeField("提出时间", auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="确认人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField("确认时间", null=True, blank=True)
    decision_note = models.CharField("确认意见", max_length=500, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "动态调整"
        ordering = ["case_id", "-proposed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(status="proposed"),
                name="one_pending_adjustment_per_case",
            )
        ]

    def __str__(self):
        return f"{self.case_id} {self.get_status_display()}"


class MonthlyVisit(models.Model):
    """月排查走访: the monthly visit to a monitored household; after clearance, the
    quarterly follow-up visit (消除后跟踪) is recorded here too, marked by its kind."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="monthly_visits")
    kind = models.CharField(
        "走访类型", max_length=16, choices=VisitKind.choices, default=VisitKind.MONTHLY
    )
    visited_on = models.DateField("走访日期")
    visitors = models.CharField("走访人员", max_length=200)
    findings = models.TextField("走访情况")
    risk_changed = models.BooleanField("风险有变化", default=False)
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
        verbose_name = verbose_name_plural = "月排查走访"
        ordering = ["case_id", "-visited_on"]
        indexes = [models.Index(fields=["case", "visited_on"], name="monthly_visit_case_day")]

    def __str__(self):
        return f"{self.case_id} {self.visited_on}"


class Deadline(models.Model):
    """办理时限: a step that must be done by a day, by the level responsible for it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="deadlines")
    step = models.CharField("环节", max_length=32, choices=DeadlineStep.choices)
    responsible_level = models.PositiveSmallIntegerField("责任层级")
    due_on = models.DateField("截止日期")
    met_on = models.DateField("办结日期", null=True, blank=True)
    overdue_since = models.DateField("超期标记日期", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "办理时限"
        ordering = ["due_on"]
        constraints = [
            models.UniqueConstraint(fields=["case", "step"], name="one_deadline_per_step")
        ]
        indexes = [models.Index(fields=["met_on", "due_on"], name="deadline_open_due")]

    def __str__(self):
        return f"{self.case_id} {self.get_step_display()} {self.due_on}"


class RegionPolicy(models.Model):
    """本地时限与规则: a region's own clocks and settings for a year, like the monitoring line
    (the most specific region applies). An empty field falls back to the region above, then
    to the installation setting (settings.MONITOR)."""

    region = models.ForeignKey(
        "households.Region", verbose_name="适用区划", on_delete=models.PROTECT, related_name="+"
    )
    year = models.PositiveSmallIntegerField("年度")
    identification_days = models.PositiveSmallIntegerField(
        "识别认定时限（天）", null=True, blank=True
    )
    village_verification_workdays = models.PositiveSmallIntegerField(
        "村级入户核实时限（工作日）", null=True, blank=True
    )
    self_application_accept_days = models.PositiveSmallIntegerField(
        "乡镇受理农户申报时限（天）", null=True, blank=True
    )
    clue_verification_workdays = models.PositiveSmallIntegerField(
        "预警线索核实时限（工作日）", null=True, blank=True
    )
    clearance_min_months = models.PositiveSmallIntegerField(
        "风险消除最短监测期（月）", null=True, blank=True
    )
    follow_up_months = models.PositiveSmallIntegerField("消除后跟踪期（月）", null=True, blank=True)
    spot_check_percent = models.PositiveSmallIntegerField(
        "县级抽查比例（%）", null=True, blank=True
    )
    clue_auto_dispatch = models.BooleanField("预警线索自动下发到村", null=True, blank=True)
    source = models.CharField("依据文件", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "本地时限与规则"
        ordering = ["-year", "region_id"]
        constraints = [
            models.UniqueConstraint(fields=["region", "year"], name="one_policy_per_region_year"),
            models.CheckConstraint(
                condition=Q(spot_check_percent__isnull=True) | Q(spot_check_percent__lte=100),
                name="spot_check_percent_range",
            ),
        ]

    def __str__(self):
        return f"{self.region_id} {self.year}"


class Notification(models.Model):
    """提醒: a message to the users of one role in one region (overdue steps, escalations,
    missing monthly visits, cases without aid). `key` makes each raise happen once."""

    region = models.ForeignKey(
        "households.Region", verbose_name="接收区划", on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField("接收角色", max_length=24)
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="notifications", null=True
    )
    kind = models.CharField("类型", max_length=32, choices=NotificationKind.choices)
    message = models.CharField("内容", max_length=300)
    key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)
    read_at = models.DateTimeField("已读时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "提醒"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["region", "role", "read_at"], name="notification_inbox")]

    def __str__(self):
        return self.message

    @property
    def link(self) -> str:
        """Where the message leads: its case; a visit's risk change opens the case's 动态调整
        form prefilled with that visit (the key names the visit: monitor/services.py)."""
        from django.urls import reverse

        if self.case_id is None:
            return ""
        url = reverse("case-page", args=[self.case_id])
        visit = self.key.removeprefix("risk-change:")
        if self.kind == NotificationKind.RISK_CHANGE and visit.isdigit():
            return f"{url}?visit={visit}#adjustment"
        return url
