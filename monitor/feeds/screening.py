"""Screening the registry's own data (数据筛查): rules that raise clues like a department
list does, through the same batch, rows, merging and clues.

Rules (thresholds are data: the monitoring line and ScreeningThreshold, by region and year):
per-capita net income under the line, compliant self-paid medical cost over the threshold,
unsafe housing, unsafe drinking water, a school-age child out of school, a civil-affairs
low-income household (低保, 特困, 低保边缘, 刚性支出困难) not in monitoring. Each rule is one
INSERT … SELECT per county (lines and thresholds are set per county or above), never a query
per household.
"""

from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import policy
from accounts.scope import region_prefix_of
from config.errors import DomainError
from config.ratelimit import allow
from households.choices import CivilAffairsStatus, RegionLevel, Schooling
from households.models import Region
from households.services import monitoring_line_for
from monitor.choices import BatchStatus, RowOutcome
from monitor.feeds.intake import enqueue
from monitor.feeds.selectors import covering_prefixes
from monitor.models import ScreeningThreshold, WarningBatch

_INSERT = """INSERT INTO {stage} (row_number, name, id_number_hash, id_number_masked,
        indicator, amount, occurred_on, detail, outcome, reason, household_id)
    SELECT %s + ROW_NUMBER() OVER (ORDER BY hits.household_id), '', '', '', %s,
        hits.amount, %s, %s, %s, '', hits.household_id
    FROM ({select}) hits"""

# Every rule skips closed households (销户: nobody left to help) and reads members still in
# the register (在册) only.
_LATEST = """households_incomerecord r JOIN households_household h ON h.id = r.household_id
    WHERE h.village_id LIKE %s AND h.closed_on IS NULL AND r.year = %s AND r.period_end = (
        SELECT MAX(r2.period_end) FROM households_incomerecord r2
        WHERE r2.household_id = r.household_id)"""

RULES = {
    "income": (
        "人均纯收入低于监测范围",
        f"SELECT r.household_id, r.per_capita_net_income AS amount FROM {_LATEST} "  # noqa: S608 - constant SQL
        "AND r.per_capita_net_income < %s",
    ),
    "medical": (
        "合规自付医疗支出超过预警线",
        f"SELECT r.household_id, r.medical_expense AS amount FROM {_LATEST} "  # noqa: S608 - constant SQL
        "AND r.medical_expense > %s",
    ),
    "housing": (
        "住房不安全",
        "SELECT h.id AS household_id, CAST(NULL AS NUMERIC) AS amount "
        "FROM households_household h WHERE h.village_id LIKE %s AND h.housing_safe = %s "
        "AND h.closed_on IS NULL",
    ),
    "water": (
        "饮水不安全",
        "SELECT h.id AS household_id, CAST(NULL AS NUMERIC) AS amount "
        "FROM households_household h WHERE h.village_id LIKE %s AND h.water_safe = %s "
        "AND h.closed_on IS NULL",
    ),
    "dropout": (
        "义务教育阶段失学辍学",
        "SELECT DISTINCT m.household_id, CAST(NULL AS NUMERIC) AS amount FROM households_member m "
        "JOIN households_household h ON h.id = m.household_id "
        # Only members in the register: one who died or moved out is not out of school.
        "WHERE h.village_id LIKE %s AND m.schooling = %s AND m.life_status = 'in_register' "
        "AND h.closed_on IS NULL",
    ),
    # 2026: civil-affairs low-income households (低保, 特困, 低保边缘, 刚性支出困难) not in
    # monitoring are checked by the village (the indicator names the category).
    "civil_affairs": (
        "民政低收入人口",
        "SELECT h.id AS household_id, CAST(NULL AS NUMERIC) AS amount "
        "FROM households_household h WHERE h.village_id LIKE %s "
        "AND h.civil_affairs_status = %s AND h.is_monitored = %s AND h.closed_on IS NULL",
    ),
}


def _threshold(county_code: str, year: int) -> ScreeningThreshold | None:
    candidates = [county_code[:n].ljust(12, "0") for n in (6, 4, 2)]
    found = {
        t.region_id: t
        for t in ScreeningThreshold.objects.filter(year=year, region_id__in=candidates)
    }
    return next((found[code] for code in candidates if code in found), None)


def _insert(
    cursor, stage: str, rule: str, select_params: list, today: date, indicator: str = ""
) -> None:
    label, select = RULES[rule]
    indicator = indicator or label
    cursor.execute(f"SELECT COALESCE(MAX(row_number), 0) FROM {stage}")  # noqa: S608
    offset = cursor.fetchone()[0]
    cursor.execute(
        _INSERT.format(stage=stage, select=select),
        [offset, indicator, today, "", RowOutcome.PENDING.value, *select_params],
    )


def stage_screening(batch: WarningBatch, stage: str, today: date) -> None:
    """Insert the rules' hits into the staging table, numbered from 1."""
    counties = Region.objects.filter(
        level=RegionLevel.COUNTY, retired=False, code__startswith=batch.scope_prefix[:6]
    )
    with connection.cursor() as cursor:
        for county in counties:
            # A township's run stays inside the township.
            like = max(county.code[:6], batch.scope_prefix, key=len) + "%"
            cursor.execute(
                "SELECT DISTINCT r.year FROM households_incomerecord r JOIN "
                "households_household h ON h.id = r.household_id WHERE h.village_id LIKE %s",
                [like],
            )
            for (year,) in cursor.fetchall():
                line = monitoring_line_for(village_code=county.code, year=year)
                if line is not None:
                    _insert(cursor, stage, "income", [like, year, line.amount], today)
                threshold = _threshold(county.code, year)
                if threshold is not None:
                    _insert(
                        cursor,
                        stage,
                        "medical",
                        [like, year, threshold.medical_expense_over],
                        today,
                    )
            _insert(cursor, stage, "housing", [like, False], today)
            _insert(cursor, stage, "water", [like, False], today)
            _insert(cursor, stage, "dropout", [like, Schooling.DROPOUT.value], today)
            for status in CivilAffairsStatus:
                if status.value:
                    indicator = f"民政低收入人口：{status.label}（未纳入监测）"
                    params = [like, status.value, False]
                    _insert(cursor, stage, "civil_affairs", params, today, indicator)


def screening_queue(*, scope_prefix: str) -> WarningBatch:
    """Store a screening run as a batch, queued after commit; the worker runs it like any
    list (and the sweep re-queues it if the broker was down). An empty prefix screens all."""
    now = timezone.now()
    batch = WarningBatch.objects.create(
        source=WarningBatch.Source.SCREENING,
        batch_key=f"screening-{scope_prefix or 'all'}-{now:%Y%m%d%H%M%S%f}",
        content_sha256="",
        file_format="rules",
        payload=b"",
        scope_prefix=scope_prefix,
    )
    transaction.on_commit(lambda: enqueue(batch.pk))
    return batch


def _scope_label(prefix: str) -> str:
    """A run's region as people read it: 大通回族土族自治县, or the whole registry."""
    if not prefix:
        return "全部辖区（每月例行筛查）"
    name = Region.objects.filter(code=prefix.ljust(12, "0")).values_list("name", flat=True)
    return name.first() or prefix


def active_overlapping_run(prefix: str) -> WarningBatch | None:
    """A screening run still queued or running (received: a worker holds it while it runs)
    over any part of the region of `prefix`: one containing it (the monthly run over the
    whole registry, the county's run over a township) or one inside it (a township's run
    under the county's). Either screens some of the same households at the same time."""
    return (
        WarningBatch.objects.filter(
            Q(scope_prefix__in=covering_prefixes(prefix)) | Q(scope_prefix__startswith=prefix),
            source=WarningBatch.Source.SCREENING,
            status=BatchStatus.RECEIVED,
        )
        .defer("payload")
        .order_by("received_at", "id")
        .first()
    )


def screening_run(*, by) -> WarningBatch:
    """数据筛查 on demand (the API's and the batch pages'): county or township staff run the
    rules over their own region (`screening.run`). Returns the queued batch.

    One run at a time over a region: while one over the same households is queued or
    running, another is refused (409, naming it). And so many an hour per region (429): a
    run reads the whole region's registry, and a client looping on the button would queue
    them faster than they finish."""
    policy.require(by, "screening.run")
    prefix = region_prefix_of(by)
    if prefix is None:
        raise PermissionDenied("您的账号未设置管辖范围，请联系系统管理员。")
    with transaction.atomic():
        # Requests over one province one after another, so two at once (the county's and a
        # township's, or two clicks) cannot both find no run and both queue one. Nothing else
        # locks region rows: no lock order to keep.
        Region.objects.select_for_update().filter(code=prefix[:2].ljust(12, "0")).first()
        running = active_overlapping_run(prefix)
        if running is not None:
            received = timezone.localtime(running.received_at)
            raise DomainError(
                f"{_scope_label(running.scope_prefix)}的数据筛查（第 {running.pk} 号，"
                f"{received:%Y年%m月%d日 %H:%M} 提交）正在排队或运行，与本辖区重叠；"
                "请待其处理完成后再运行。",
                409,
                running=running.pk,
            )
        limit = settings.MONITOR["SCREENING_RUNS_PER_HOUR"]
        if not allow(f"screening-run:{prefix}", limit=limit, seconds=3600):
            raise DomainError(
                f"本辖区一小时内最多运行 {limit} 次数据筛查，已达上限，请稍后再试。", 429
            )
        return screening_queue(scope_prefix=prefix)
