"""The registry: administrative regions, households, members, income and monitoring lines."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import models
from django.db.models import Q

from accounts.scope import ScopedQuerySet
from households.choices import (
    PREFIX_LENGTH,
    CivilAffairsStatus,
    DisabilityLevel,
    FileColour,
    Health,
    HouseholdKind,
    Labour,
    LifeStatus,
    RegionLevel,
    Relation,
    Schooling,
    WorkStatus,
)

# PostgreSQL only uses a btree for `LIKE 'prefix%'` under the C collation or with a
# pattern opclass; the opclass is ignored on SQLite.
PREFIX_OPCLASS = "varchar_pattern_ops"


class RegionQuerySet(ScopedQuerySet):
    region_field = "code"


class Region(models.Model):
    """行政区划: one node of province → city → county → township → village, keyed by the
    12-digit statistical division code (统计用区划代码). Codes are retired, never reused."""

    code = models.CharField("区划代码", max_length=12, primary_key=True)
    name = models.CharField("名称", max_length=100)
    level = models.PositiveSmallIntegerField("级别", choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name="上级区划",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    retired = models.BooleanField("已撤销", default=False)

    objects = RegionQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "行政区划"
        ordering = ["code"]
        indexes = [
            models.Index(fields=["code"], name="region_code_prefix", opclasses=[PREFIX_OPCLASS]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=r"^[0-9]{12}$"), name="region_code_12_digits"
            ),
        ]

    def __str__(self):
        return f"{self.name}（{self.code}）"

    @property
    def prefix(self) -> str:
        """The code digits shared by this region and everything beneath it."""
        return self.code[: PREFIX_LENGTH[RegionLevel(self.level)]]

    @staticmethod
    def prefix_of_code(code: str) -> str:
        """Same as `prefix`, from the code alone (the level is implied by its zero padding)."""
        return code[: PREFIX_LENGTH[Region.level_of_code(code)]]

    @staticmethod
    def level_of_code(code: str) -> RegionLevel:
        """Level implied by the zero padding of a 12-digit code (630121000000 is a county)."""
        if code[2:] == "0" * 10:
            return RegionLevel.PROVINCE
        if code[4:] == "0" * 8:
            return RegionLevel.CITY
        if code[6:] == "0" * 6:
            return RegionLevel.COUNTY
        if code[9:] == "000":
            return RegionLevel.TOWNSHIP
        return RegionLevel.VILLAGE

    @staticmethod
    def parent_code_of(code: str) -> str | None:
        level = Region.level_of_code(code)
        if level == RegionLevel.PROVINCE:
            return None
        keep = PREFIX_LENGTH[RegionLevel(level - 1)]
        return code[:keep].ljust(12, "0")


class HouseholdQuerySet(ScopedQuerySet):
    """The one region scope for people data. Deny by default: no scope, no rows."""

    region_field = "village__code"


class Household(models.Model):
    """农户: a household by its household register (以户籍为依据), living in one village."""

    # In byte order on PostgreSQL (COLLATE "C", migration 0006): keep it on any AlterField.
    number = models.CharField("户编号", max_length=24, unique=True)
    village = models.ForeignKey(
        Region,
        verbose_name="所在村",
        on_delete=models.PROTECT,
        related_name="households",
        limit_choices_to={"level": RegionLevel.VILLAGE},
    )
    kind = models.CharField("户类型", max_length=16, choices=HouseholdKind.choices)
    civil_affairs_status = models.CharField(
        "民政救助类别", max_length=16, choices=CivilAffairsStatus.choices, blank=True, default=""
    )
    address = models.CharField("住址", max_length=200, blank=True)
    # None = not yet assessed; only an explicit False is an unsafe finding that triggers screening.
    housing_safe = models.BooleanField("住房安全", null=True, blank=True)
    water_safe = models.BooleanField("饮水安全", null=True, blank=True)
    # Maintained by the monitoring-case workflow: true while a case is in monitoring.
    is_monitored = models.BooleanField("监测对象", default=False)
    # 销户: every member died or moved away. The file is kept; nothing new is filed on it.
    closed_on = models.DateField("销户日期", null=True, blank=True, editable=False)
    closed_reason = models.CharField("销户原因", max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = HouseholdQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "农户"
        ordering = ["number"]
        indexes = [
            models.Index(
                fields=["village"], name="household_village_prefix", opclasses=[PREFIX_OPCLASS]
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def file_colour(self) -> str:
        """Paper-file colour some counties use: red for monitored, blue for 脱贫户, else green
        (grey once the household is closed)."""
        if self.closed_on is not None:
            return FileColour.GREY
        if self.is_monitored:
            return FileColour.RED
        if self.kind == HouseholdKind.LIFTED:
            return FileColour.BLUE
        return FileColour.GREEN

    @property
    def is_closed(self) -> bool:
        return self.closed_on is not None

    def get_file_colour_display(self) -> str:
        return FileColour(self.file_colour).label


class MemberQuerySet(ScopedQuerySet):
    region_field = "household__village__code"


class Member(models.Model):
    """家庭成员: one person in a household. ID number and phone are stored encrypted with a
    keyed hash for lookup and a masked copy for lists (see households.pii)."""

    household = models.ForeignKey(
        Household, verbose_name="所属农户", on_delete=models.CASCADE, related_name="members"
    )
    name = models.CharField("姓名", max_length=50)
    id_number_encrypted = models.TextField("身份证号（密文）", editable=False)
    # Unique by a constraint, not `unique=True`: on PostgreSQL the field option adds a
    # second, pattern-ops index that no query uses (nobody searches a hash by prefix), and
    # each index of random 64-character keys costs a province import dearly.
    # This and phone_hash are in byte order on PostgreSQL (COLLATE "C", migration 0006).
    id_number_hash = models.CharField("身份证号（检索摘要）", max_length=64, editable=False)
    id_number_masked = models.CharField("身份证号", max_length=18, editable=False)
    birth_date = models.DateField("出生日期", editable=False)
    sex = models.CharField("性别", max_length=1, choices=[("M", "男"), ("F", "女")], editable=False)
    relation = models.CharField("与户主关系", max_length=16, choices=Relation.choices)
    health = models.CharField(
        "健康状况", max_length=16, choices=Health.choices, default=Health.HEALTHY
    )
    disability_level = models.PositiveSmallIntegerField(
        "残疾等级", choices=DisabilityLevel.choices, null=True, blank=True
    )
    labour = models.CharField("劳动技能", max_length=16, choices=Labour.choices)
    schooling = models.CharField(
        "在校生状况", max_length=16, choices=Schooling.choices, blank=True, default=""
    )
    work_status = models.CharField(
        "务工状况", max_length=16, choices=WorkStatus.choices, blank=True, default=""
    )
    medical_insurance = models.BooleanField("参加基本医疗保险", null=True, blank=True)
    life_status = models.CharField(
        "成员状态",
        max_length=16,
        choices=LifeStatus.choices,
        default=LifeStatus.IN_REGISTER,
        editable=False,
    )
    life_status_on = models.DateField("状态变更日期", null=True, blank=True, editable=False)
    life_status_evidence = models.CharField(
        "状态变更依据", max_length=300, blank=True, editable=False
    )
    phone_encrypted = models.TextField("联系电话（密文）", blank=True, default="", editable=False)
    phone_hash = models.CharField(
        "联系电话（检索摘要）", max_length=64, blank=True, default="", editable=False
    )
    phone_masked = models.CharField(
        "联系电话", max_length=20, blank=True, default="", editable=False
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "家庭成员"
        ordering = ["household_id", "id"]
        # No index on the name: members are searched by a name's part (`contains`), which a
        # btree cannot serve, and each index of random keys costs a province import dearly.
        indexes = [models.Index(fields=["phone_hash"], name="member_phone_hash")]
        constraints = [
            models.UniqueConstraint(fields=["id_number_hash"], name="member_id_number_hash_unique"),
            models.CheckConstraint(
                condition=Q(disability_level__isnull=True) | Q(health=Health.DISABLED),
                name="disability_level_only_when_disabled",
                violation_error_message="填写了残疾等级，健康状况应为“残疾”",
            ),
        ]

    def __str__(self):
        return f"{self.name}（{self.id_number_masked}）"

    def age_on(self, day) -> int:
        from households.idnumber import age_from_birth_date

        return age_from_birth_date(self.birth_date, day)


class IncomeRecordQuerySet(ScopedQuerySet):
    region_field = "household__village__code"


class IncomeRecord(models.Model):
    """收支: a household's income and expenses over the 12 months ending `period_end`
    (for a yearly record, December 31 of `year`). Per-capita figures are stored when saved
    so screening and reports can filter on them in SQL."""

    household = models.ForeignKey(
        Household, verbose_name="农户", on_delete=models.CASCADE, related_name="income_records"
    )
    year = models.PositiveSmallIntegerField("年度")
    period_end = models.DateField("统计截止日期")
    household_size = models.PositiveSmallIntegerField("家庭人口")
    wage_income = models.DecimalField("工资性收入", max_digits=12, decimal_places=2, default=0)
    operating_income = models.DecimalField("经营性收入", max_digits=12, decimal_places=2, default=0)
    property_income = models.DecimalField("财产性收入", max_digits=12, decimal_places=2, default=0)
    transfer_income = models.DecimalField("转移性收入", max_digits=12, decimal_places=2, default=0)
    production_cost = models.DecimalField(
        "生产经营性支出", max_digits=12, decimal_places=2, default=0
    )
    medical_expense = models.DecimalField(
        "合规自付医疗支出", max_digits=12, decimal_places=2, default=0
    )
    education_expense = models.DecimalField(
        "合规自付教育支出", max_digits=12, decimal_places=2, default=0
    )
    net_income = models.DecimalField("家庭纯收入", max_digits=12, decimal_places=2, editable=False)
    per_capita_net_income = models.DecimalField(
        "人均纯收入", max_digits=12, decimal_places=2, editable=False
    )
    per_capita_after_rigid = models.DecimalField(
        "扣除刚性支出后人均纯收入",
        max_digits=12,
        decimal_places=2,
        editable=False,
        help_text="突发严重困难户认定时参考：纯收入减去合规自付的医疗、教育支出后的人均值",
    )
    note = models.CharField("备注", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = IncomeRecordQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "收支情况"
        ordering = ["household_id", "-period_end"]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "period_end"], name="one_income_record_per_period"
            ),
            models.CheckConstraint(
                condition=Q(household_size__gte=1), name="income_household_size_positive"
            ),
        ]

    def __str__(self):
        return f"{self.household_id} {self.year}"

    def save(self, *args, **kwargs):
        self.compute()
        super().save(*args, **kwargs)

    def compute(self) -> None:
        """Net income = all four kinds of income − production cost (national statistical
        definition); per capita over the household's size at the time of the record."""
        cent = Decimal("0.01")
        total = (
            self.wage_income + self.operating_income + self.property_income + self.transfer_income
        )
        self.net_income = (total - self.production_cost).quantize(cent, ROUND_HALF_UP)
        rigid = self.medical_expense + self.education_expense
        size = Decimal(self.household_size)
        self.per_capita_net_income = (self.net_income / size).quantize(cent, ROUND_HALF_UP)
        self.per_capita_after_rigid = ((self.net_income - rigid) / size).quantize(
            cent, ROUND_HALF_UP
        )


class MonitoringLine(models.Model):
    """监测范围 (收入参考范围): yuan per person per year, set by a province (sometimes a
    county) each year. The line for a household is the one of the longest region prefix."""

    region = models.ForeignKey(
        Region, verbose_name="适用区划", on_delete=models.PROTECT, related_name="monitoring_lines"
    )
    year = models.PositiveSmallIntegerField("年度")
    amount = models.DecimalField("人均纯收入监测标准（元/人·年）", max_digits=10, decimal_places=2)
    source = models.CharField("依据文件", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "监测范围"
        ordering = ["-year", "region_id"]
        constraints = [
            models.UniqueConstraint(fields=["region", "year"], name="one_line_per_region_year"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="monitoring_line_positive"),
        ]

    def __str__(self):
        return f"{self.region} {self.year}：{self.amount} 元"


class RegistryImport(models.Model):
    """登记导入记录: one upload of a household or member list, with its outcome kept so a
    cadre can come back to the rejected rows."""

    class Kind(models.TextChoices):
        HOUSEHOLDS = "households", "农户"
        MEMBERS = "members", "家庭成员"

    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    file_name = models.CharField("文件名", max_length=200)
    file_sha256 = models.CharField("文件摘要", max_length=64)
    imported_by = models.ForeignKey(
        "accounts.User",
        verbose_name="导入人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    imported_at = models.DateTimeField("导入时间", auto_now_add=True)
    rows_total = models.PositiveIntegerField("总行数", default=0)
    rows_created = models.PositiveIntegerField("新增", default=0)
    rows_updated = models.PositiveIntegerField("更新", default=0)
    rows_rejected = models.PositiveIntegerField("未通过", default=0)
    # Row errors as [{"row": n, "field": "身份证号", "reason": "…"}]; messages carry no full IDs.
    errors = models.JSONField("错误明细", default=list, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "登记导入记录"
        ordering = ["-imported_at"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.file_name}"
