"""Department warning feeds (行业部门筛查预警): departments, the batches they push, each row's
outcome, and the warning clues (预警线索) that villages verify at home."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.scope import ScopedQuerySet
from monitor.choices import (
    RISK_TYPES,
    BatchStatus,
    ClueChannel,
    ClueOutcome,
    ClueStatus,
    RowOutcome,
)
from monitor.models.cases import TrailStep


class DepartmentKind(models.TextChoices):
    MEDICAL_INSURANCE = "medical_insurance", "医保"
    CIVIL_AFFAIRS = "civil_affairs", "民政"
    EDUCATION = "education", "教育"
    HUMAN_RESOURCES = "human_resources", "人社"
    HOUSING = "housing", "住建"
    WATER = "water", "水利"
    DISABLED_FEDERATION = "disabled_federation", "残联"
    EMERGENCY = "emergency", "应急管理"
    HEALTH = "health", "卫健"
    PUBLIC_SECURITY = "public_security", "公安"
    AGRICULTURE = "agriculture", "农业农村"
    OTHER = "other", "其他"


class Department(models.Model):
    """行业部门: a department that pushes warning lists through its machine account. Its keys
    are the API tokens of that account; a key reads only the department's own batches."""

    name = models.CharField("部门名称", max_length=100)
    kind = models.CharField("部门类型", max_length=32, choices=DepartmentKind.choices)
    region = models.ForeignKey(
        "households.Region", verbose_name="辖区", on_delete=models.PROTECT, related_name="+"
    )
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name="接口账号",
        on_delete=models.PROTECT,
        related_name="department_record",
    )
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "行业部门"
        ordering = ["region_id", "kind"]

    def __str__(self):
        return self.name


class WarningBatch(models.Model):
    """预警名单批次: one list pushed by a department (or one run of the screening rules).
    The raw upload is stored encrypted before anything else happens to it."""

    class Source(models.TextChoices):
        DEPARTMENT = "department", "部门推送"
        SCREENING = "screening", "数据筛查"

    department = models.ForeignKey(
        Department,
        verbose_name="部门",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="batches",
    )
    source = models.CharField(
        "来源", max_length=16, choices=Source.choices, default=Source.DEPARTMENT
    )
    batch_key = models.CharField("批次号", max_length=100)
    content_sha256 = models.CharField("内容摘要", max_length=64)
    file_name = models.CharField("文件名", max_length=200, blank=True)
    file_format = models.CharField("格式", max_length=8)
    # Screening runs: the code prefix of the region screened.
    scope_prefix = models.CharField("筛查范围", max_length=12, blank=True)
    # AES-GCM ciphertext of the upload as received (households.pii, field "warning_batch").
    payload = models.BinaryField("原始内容（密文）", editable=False)
    status = models.CharField(
        "状态", max_length=16, choices=BatchStatus.choices, default=BatchStatus.RECEIVED
    )
    error = models.CharField("错误", max_length=300, blank=True)
    received_at = models.DateTimeField("接收时间", auto_now_add=True)
    processed_at = models.DateTimeField("处理完成时间", null=True, blank=True)
    enqueued_at = models.DateTimeField("最近入队时间", null=True, blank=True)
    rows_total = models.PositiveIntegerField("总行数", default=0)
    rows_invalid = models.PositiveIntegerField("无效", default=0)
    rows_duplicate = models.PositiveIntegerField("批次内重复", default=0)
    rows_not_found = models.PositiveIntegerField("未在登记库", default=0)
    rows_new_clue = models.PositiveIntegerField("新生成线索", default=0)
    rows_merged = models.PositiveIntegerField("并入已有线索", default=0)
    rows_attached = models.PositiveIntegerField("并入监测档案", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "预警名单批次"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "batch_key"], name="one_batch_per_department_key"
            ),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="batch_status_received")]

    def __str__(self):
        return f"{self.department or '数据筛查'} {self.batch_key}"


class ClueQuerySet(ScopedQuerySet):
    # By the clue's village: a self-applicant may not be registered yet.
    region_field = "village__code"

    def open(self):
        return self.exclude(status=ClueStatus.CLOSED)


class Clue(models.Model):
    """预警线索: a household (or, for a farmer's own application, a person not yet in the
    registry) for the village to verify at home. One open clue per household: later hits
    from any department or batch merge into it as more evidence."""

    household = models.ForeignKey(
        "households.Household",
        verbose_name="农户",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="clues",
    )
    # Looked up through clue_village_status, which leads with the village: a second index
    # would only slow down the bulk insert of a province's list. No database constraint:
    # the village is always the household's own (or, for a self-application, one chosen from
    # the regions), and the per-row check at commit cost as much as the insert.
    village = models.ForeignKey(
        "households.Region",
        verbose_name="所在村",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    channel = models.CharField("来源渠道", max_length=24, choices=ClueChannel.choices)
    status = models.CharField(
        "状态", max_length=24, choices=ClueStatus.choices, default=ClueStatus.VERIFYING
    )
    raised_on = models.DateField("生成日期")
    due_on = models.DateField("核实截止日期")
    overdue_since = models.DateField("超期标记日期", null=True, blank=True)
    outcome = models.CharField("核实结果", max_length=24, choices=ClueOutcome.choices, blank=True)
    outcome_note = models.CharField("核实说明", max_length=500, blank=True)
    # Empty while the clue is open: indexed only where set (clue_closed_by, below).
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    closed_at = models.DateTimeField("反馈时间", null=True, blank=True)
    case = models.ForeignKey(
        "monitor.Case",
        verbose_name="关联监测对象",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clues",
        db_index=False,
    )
    # The batch whose rows raised it: its rows say "new clue", later batches' "merged".
    # Bookkeeping, only read through the clue (batches are kept, not deleted): no index, and
    # no per-row constraint check (the batch is the one locked by the insert itself).
    source_batch = models.ForeignKey(
        "monitor.WarningBatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # 返贫风险: the household's cleared case whose follow-up period this clue fell in.
    # Set by the set-based match, like the other links: no per-row constraint check.
    relapse_of = models.ForeignKey(
        "monitor.Case",
        verbose_name="返贫风险（已消除案例）",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="relapse_clues",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects = ClueQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "预警线索"
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(household__isnull=False) & ~Q(status="closed"),
                name="one_open_clue_per_household",
            ),
        ]
        indexes = [
            models.Index(
                fields=["village", "status"],
                name="clue_village_status",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
            # Partial: a new clue has neither, and a province's list raises 600,000 of them.
            models.Index(fields=["case"], name="clue_case", condition=Q(case__isnull=False)),
            models.Index(
                fields=["closed_by"], name="clue_closed_by", condition=Q(closed_by__isnull=False)
            ),
        ]

    def __str__(self):
        return f"线索 {self.pk} {self.get_status_display()}"


class ClueTransition(TrailStep):
    """线索流转留痕: one step of a clue — dispatched, accepted, verified."""

    clue = models.ForeignKey(Clue, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField("原状态", max_length=24, choices=ClueStatus.choices)
    to_status = models.CharField("新状态", max_length=24, choices=ClueStatus.choices)
    # Empty for a step the system took: a county's automatic dispatch (actor_role "system").
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = verbose_name_plural = "线索流转记录"
        ordering = ["clue_id", "at", "id"]

    def __str__(self):
        return f"{self.clue_id} {self.from_status}→{self.to_status}"


class DispatchRound(models.Model):
    """下发批次: the clues one list (or one screening run) raised in one county, as they
    reach the county. The county dispatches them to its townships and villages — the whole
    round at once or clue by clue — or, where it chose automatic dispatch, they go straight
    down and the round is recorded as dispatched. Its clues are those of `batch` whose
    village lies in `county`."""

    county = models.ForeignKey(
        "households.Region", verbose_name="县", on_delete=models.PROTECT, related_name="+"
    )
    batch = models.ForeignKey(
        WarningBatch, verbose_name="来源批次", on_delete=models.PROTECT, related_name="rounds"
    )
    clue_count = models.PositiveIntegerField("线索数", default=0)
    created_at = models.DateTimeField("到达时间", auto_now_add=True)
    dispatched_at = models.DateTimeField("下发时间", null=True, blank=True)
    # Empty with a dispatch time: the county's automatic dispatch.
    dispatched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="下发人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = verbose_name_plural = "预警下发批次"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "county"], name="one_round_per_batch_county")
        ]
        indexes = [models.Index(fields=["county", "created_at"], name="round_county")]

    def __str__(self):
        return f"{self.county_id} {self.batch_id}"


class WarningRow(models.Model):
    """One row of a warning list after normalisation, with its outcome (the receipt) and,
    when it matched, the household and the clue or case it became evidence of.

    Written only by the set-based INSERT … SELECT of matching, which takes every link from a
    join inside the same transaction (the batch, clues and cases locked). So the links carry
    no database constraint: PostgreSQL checks a foreign key once per inserted row at commit,
    which on a million-row list cost more than the match itself. Deletes still go through
    Django's on_delete. The link indexes are partial: 40% of a typical list finds no one.
    """

    # Indexed by the (batch, row_number) unique constraint: no index of its own.
    batch = models.ForeignKey(
        WarningBatch,
        on_delete=models.CASCADE,
        related_name="rows",
        db_index=False,
        db_constraint=False,
    )
    row_number = models.PositiveIntegerField("行号")
    name = models.CharField("姓名", max_length=50, blank=True)
    id_number_hash = models.CharField(max_length=64, blank=True)
    id_number_masked = models.CharField("身份证号", max_length=18, blank=True)
    indicator = models.CharField("预警类型", max_length=100, blank=True)
    amount = models.DecimalField("金额", max_digits=14, decimal_places=2, null=True, blank=True)
    occurred_on = models.DateField("发生日期", null=True, blank=True)
    detail = models.CharField("说明", max_length=500, blank=True)
    outcome = models.CharField(
        "处理结果", max_length=20, choices=RowOutcome.choices, default=RowOutcome.PENDING
    )
    reason = models.CharField("原因", max_length=300, blank=True)
    household = models.ForeignKey(
        "households.Household",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    clue = models.ForeignKey(
        Clue,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evidence",
        db_index=False,
        db_constraint=False,
    )
    case = models.ForeignKey(
        "monitor.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="warning_evidence",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = verbose_name_plural = "预警名单行"
        ordering = ["batch_id", "row_number"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "row_number"], name="one_row_per_number"),
        ]
        indexes = [
            models.Index(
                fields=[name], name=f"warningrow_{name}", condition=Q(**{f"{name}__isnull": False})
            )
            for name in ("household", "clue", "case")
        ]

    def __str__(self):
        return f"{self.batch_id}:{self.row_number}"


class SelfApplication(models.Model):
    """农户自主申报（一键申报）: what a farmer sent from the public page — four fields plus
    village and risk type. ID number and phone are stored protected like members'."""

    clue = models.ForeignKey(
        Clue,
        verbose_name="预警线索",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="applications",
    )
    case = models.ForeignKey(
        "monitor.Case",
        verbose_name="已有监测案例",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="applications",
    )
    village = models.ForeignKey(
        "households.Region", verbose_name="所在村", on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField("户主姓名", max_length=50)
    id_number_encrypted = models.TextField(editable=False)
    id_number_hash = models.CharField(max_length=64, db_index=True, editable=False)
    id_number_masked = models.CharField("身份证号", max_length=18, editable=False)
    phone_encrypted = models.TextField(editable=False)
    # The keyed hash, so the applicant's lookup of the result (受理编号 + 手机号) compares
    # hashes and never decrypts. Empty on applications made before it was kept.
    phone_hash = models.CharField(max_length=64, blank=True, editable=False)
    phone_masked = models.CharField("手机号", max_length=20, editable=False)
    difficulty = models.TextField("困难情况")
    risk_code = models.CharField("风险类型", max_length=4, choices=RISK_TYPES)
    submitted_at = models.DateTimeField("申报时间", auto_now_add=True)
    reference = models.CharField("受理编号", max_length=20, unique=True)

    class Meta:
        verbose_name = verbose_name_plural = "农户自主申报"
        ordering = ["-submitted_at"]

    def __str__(self):
        return f"{self.reference} {self.name}"


class ScreeningThreshold(models.Model):
    """筛查阈值: the local thresholds of the registry screening rules, by region and year
    (the most specific region applies, like 监测范围). Income is compared with the year's
    monitoring line itself."""

    region = models.ForeignKey(
        "households.Region", verbose_name="适用区划", on_delete=models.PROTECT, related_name="+"
    )
    year = models.PositiveSmallIntegerField("年度")
    medical_expense_over = models.DecimalField(
        "合规自付医疗支出预警线（元/户·年）",
        max_digits=12,
        decimal_places=2,
        help_text="如：低收入人口 1 万元、其他人口 2.6 万元，或上年农村居民人均可支配收入的 50%",
    )

    class Meta:
        verbose_name = verbose_name_plural = "筛查阈值"
        ordering = ["-year", "region_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "year"], name="one_threshold_per_region_year"
            ),
            models.CheckConstraint(
                condition=Q(medical_expense_over__gt=0), name="threshold_positive"
            ),
        ]

    def __str__(self):
        return f"{self.region_id} {self.year}"
