"""Coded values of monitoring cases (DOMAIN.md sections 4-6 and 9)."""

from django.db import models


class Category(models.TextChoices):
    """三类监测对象."""

    UNSTABLE = "unstable", "脱贫不稳定户"
    MARGINAL = "marginal", "边缘易致贫户"
    SUDDEN = "sudden", "突发严重困难户"


class Channel(models.TextChoices):
    SELF_APPLICATION = "self_application", "农户自主申报"
    CADRE_SCREENING = "cadre_screening", "干部走访排查"
    DEPARTMENT_WARNING = "department_warning", "部门筛查预警"


class ClearanceKind(models.TextChoices):
    ASSISTED = "assisted", "帮扶消除"
    NATURAL = "natural", "自然消除"


# 风险类型: the national code list; the two-digit parent of a disaster sub-type is 02.
RISK_TYPES: list[tuple[str, str]] = [
    ("01", "因病"),
    ("02", "因自然灾害"),
    ("0201", "洪涝灾害"),
    ("0202", "地质灾害"),
    ("0203", "旱灾"),
    ("0204", "生物灾害"),
    ("0205", "气象灾害"),
    ("0206", "地震灾害"),
    ("0299", "其他自然灾害"),
    ("03", "因残"),
    ("04", "缺劳动力"),
    ("05", "因意外事故"),
    ("06", "因产业项目失败"),
    ("07", "因务工就业不稳"),
    ("09", "因学"),
    ("99", "其他"),
]
RISK_TYPE_LABELS = dict(RISK_TYPES)
RISK_ILLNESS = "01"
RISK_UNSTABLE_EMPLOYMENT = "07"
MAX_RISK_TYPES = 5


class Status(models.TextChoices):
    APPLIED = "applied", "待乡镇受理"
    DRAFT = "draft", "村级核实中"
    REPORTED = "reported", "村级已上报"
    TOWNSHIP_APPROVED = "township_approved", "乡镇已审核"
    MONITORING = "monitoring", "监测帮扶中"
    CLEARANCE_PROPOSED = "clearance_proposed", "风险消除待审核"
    CLEARANCE_TOWNSHIP_APPROVED = "clearance_township_approved", "风险消除乡镇已审核"
    CLEARED = "cleared", "风险已消除"
    REJECTED = "rejected", "不予纳入"
    CANCELLED = "cancelled", "已撤销"
    # The household was closed (销户: every member died or moved away): the case ends with it.
    TERMINATED = "terminated", "销户终止"


# A household has at most one case that is not in one of these.
CLOSED_STATUSES = frozenset({Status.CLEARED, Status.REJECTED, Status.CANCELLED, Status.TERMINATED})
# Open, in the order a case passes through them (for "any open case" steps).
OPEN_STATUSES = tuple(status for status in Status if status not in CLOSED_STATUSES)
# Identification not yet decided: the 15-day clock runs.
IDENTIFYING_STATUSES = frozenset(
    {Status.APPLIED, Status.DRAFT, Status.REPORTED, Status.TOWNSHIP_APPROVED}
)
# In monitoring, counted as 监测对象 (the clearance steps keep the household monitored).
MONITORED_STATUSES = frozenset(
    {Status.MONITORING, Status.CLEARANCE_PROPOSED, Status.CLEARANCE_TOWNSHIP_APPROVED}
)


class Stage(models.TextChoices):
    IDENTIFICATION = "identification", "识别认定"
    CLEARANCE = "clearance", "风险消除"


class NaturalReason(models.TextChoices):
    """自然消除: why the risk went away by itself (no aid conditions, but evidence)."""

    RECOVERED = "recovered", "患病成员康复或风险自然消失"
    MEMBER_DIED = "member_died", "致险成员去世"
    MOVED_OUT = "moved_out", "举家迁出"
    OTHER = "other", "其他原因"


class VisitLevel(models.IntegerChoices):
    """Who made a home visit (乡村两级入户, county re-visit): the region level of the visitor."""

    COUNTY = 3, "县级复核"
    TOWNSHIP = 4, "乡镇入户"
    VILLAGE = 5, "村级入户"


class CrossCheckResult(models.TextChoices):
    CLEAR = "clear", "未发现"
    FOUND = "found", "发现"
    UNAVAILABLE = "unavailable", "无法比对"


class AdjustmentStatus(models.TextChoices):
    PROPOSED = "proposed", "待乡镇确认"
    CONFIRMED = "confirmed", "已确认"
    REJECTED = "rejected", "未予确认"


class VisitKind(models.TextChoices):
    MONTHLY = "monthly", "月排查走访"
    FOLLOW_UP = "follow_up", "消除后跟踪走访"


class AppraisalResult(models.TextChoices):
    PASSED = "passed", "评议通过"
    FAILED = "failed", "评议未通过"


class DeadlineStep(models.TextChoices):
    TOWNSHIP_ACCEPTANCE = "township_acceptance", "乡镇受理农户申报"
    VILLAGE_VERIFICATION = "village_verification", "村级入户核实"
    IDENTIFICATION = "identification", "识别认定办结"


class NotificationKind(models.TextChoices):
    OVERDUE = "overdue", "办理超期"
    OVERDUE_ESCALATED = "overdue_escalated", "下级办理超期"
    MISSING_MONTHLY_VISIT = "missing_monthly_visit", "未按月走访"
    NO_MEASURE = "no_measure", "未落实帮扶措施"
    ANNOUNCED = "announced", "审定公告"
    WARNING_HIT = "warning_hit", "监测对象部门预警"
    RISK_CHANGE = "risk_change", "走访发现风险变化"
    ADJUSTMENT = "adjustment", "动态调整"
    CLUES_ARRIVED = "clues_arrived", "预警线索待下发"
    CLUES_DISPATCHED = "clues_dispatched", "预警线索下发"
    RELAPSE_RISK = "relapse_risk", "返贫风险"
    MISSING_FOLLOW_UP_VISIT = "missing_follow_up_visit", "未按季跟踪走访"
    SPOT_CHECK = "spot_check", "县级抽查"
    HOUSEHOLD_CLOSED = "household_closed", "销户"


class ClueChannel(models.TextChoices):
    """How a warning clue (预警线索) arose."""

    DEPARTMENT = "department_warning", "部门筛查预警"
    DATA_SCREENING = "data_screening", "数据筛查"
    SELF_APPLICATION = "self_application", "农户自主申报"


class ClueStatus(models.TextChoices):
    PENDING_DISPATCH = "pending_dispatch", "待县级下发"
    PENDING_ACCEPTANCE = "pending_acceptance", "待乡镇受理"
    VERIFYING = "verifying", "待村级核实"
    CLOSED = "closed", "已反馈"


class ClueOutcome(models.TextChoices):
    """核实结果: what the village found at the door."""

    IDENTIFY = "identify", "纳入监测"
    NOT_ELIGIBLE = "not_eligible", "不符合条件"
    ALREADY_MONITORED = "already_monitored", "已是监测对象"
    UNVERIFIABLE = "unverifiable", "无法核实"


class BatchStatus(models.TextChoices):
    RECEIVED = "received", "已接收"
    DONE = "done", "已处理"
    FAILED = "failed", "处理失败"


class RowOutcome(models.TextChoices):
    """Per-row result of a warning list, as the department's receipt shows it."""

    PENDING = "pending", "待处理"
    INVALID = "invalid", "数据无效"
    DUPLICATE = "duplicate", "批次内重复"
    NOT_FOUND = "not_found", "未在登记库中"
    NEW_CLUE = "new_clue", "新生成预警线索"
    MERGED = "merged", "并入已有线索"
    ATTACHED_TO_CASE = "attached_to_case", "并入监测对象档案"
