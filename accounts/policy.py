"""The one place that answers "may this user take this action on this object".

Services call `require()` before they write; API views and pages call `decide()` (through
the services, or to show a button), so a page offers exactly the buttons the API accepts.
A rule names the roles that take an action, the kind of object it acts on, and the states
of that object in which it can be taken. A decision is read in a fixed order:

1. scope — the object lies inside the user's region (else 404: an object outside the
   region is never confirmed to exist);
2. state — the object is in a state the action applies to (else 409, or 400 where the API
   has always answered a record in the wrong state as bad input);
3. role — the user's role takes this action (else 403).

Preconditions that depend on the evidence (a finished notice, six months in monitoring …)
are not permissions: the workflow checks them and names every unmet one (monitor/rules.py).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from rest_framework import status as http

from accounts.choices import REPORT_ROLES, REVEAL_ROLES, Role
from accounts.scope import region_prefix_of, report_prefix_of
from config.errors import DomainError

V, T, C, D, A, ADMIN = (
    Role.VILLAGE_CADRE,
    Role.TOWNSHIP_REVIEWER,
    Role.COUNTY_APPROVER,
    Role.DEPARTMENT,
    Role.AUDITOR,
    Role.ADMIN,
)
OUT_OF_SCOPE = "未找到，或不在您的管辖范围内。"


class PolicyDenied(DomainError):
    """A refused action, with the HTTP status the API answers it with."""

    def __init__(self, decision: "Decision"):
        super().__init__(decision.reason, decision.status)
        self.decision = decision


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    status: int = http.HTTP_200_OK

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)


def out_of_scope() -> PolicyDenied:
    """The refusal of an object outside the user's region: a 404 that never confirms it
    exists."""
    return PolicyDenied(Decision(False, OUT_OF_SCOPE, http.HTTP_404_NOT_FOUND))


@dataclass(frozen=True)
class Rule:
    action: str
    label: str
    roles: frozenset
    role_message: str
    # The object the action is taken on: "case", "clue", "household", "member", "measure",
    # "round" (a county's 下发批次), "region_record" (departments, thresholds, lines:
    # anything with a region_id), "report_region" (the households.Region a report or an
    # export covers), or None.
    target: str | None = None
    # Returns why the object's state refuses the action, or None when it allows it.
    state: Callable[[object], str | None] | None = None
    state_status: int = http.HTTP_409_CONFLICT
    # Administration: the administrator (who has no region) acts anywhere; others inside
    # their region.
    anywhere_roles: frozenset = frozenset()


# --- states --------------------------------------------------------------------------


def _case_in(statuses, what: str, status_code: int | None = None):
    def check(case) -> str | None:
        from monitor.choices import Status

        if case.status in statuses:
            return None
        wanted = "、".join(Status(s).label for s in statuses)
        return f"{what}须在「{wanted}」状态办理，当前为「{case.get_status_display()}」"

    check.sources = frozenset(statuses)  # allows() refuses other states without the message
    return check


def _measures_state(case) -> str | None:
    from interventions.services import measures_allowed

    if measures_allowed(case):
        return None
    return (
        f"「{case.get_status_display()}」状态的案例不能登记帮扶措施"
        "（纳入监测后登记；绿色通道案例可先行帮扶）"
    )


def _open_case_state(case) -> str | None:
    from monitor.choices import CLOSED_STATUSES

    if case.status in CLOSED_STATUSES:
        return "已办结的案例不能修改帮扶计划"
    return None


def _follow_up_state(case) -> str | None:
    """消除后跟踪: a cleared case whose follow-up period has not ended (today inclusive)."""
    from django.utils import timezone

    from monitor.choices import Status

    if case.status != Status.CLEARED:
        return f"消除后跟踪走访须在「风险已消除」状态办理，当前为「{case.get_status_display()}」"
    if case.follow_up_until is None or case.follow_up_until < timezone.localdate():
        return "该户不在消除后跟踪期内（跟踪期已结束），不能登记跟踪走访"
    if case.household.closed_on is not None:
        return "该户已销户，消除后跟踪已结束，不能登记跟踪走访"
    return None


def _household_open(household) -> str | None:
    # 销户: the file is kept, nothing new is filed on it.
    if household.closed_on is not None:
        return "该户已销户，不能登记监测对象"
    return None


def _member_in_register(member) -> str | None:
    from households.choices import LifeStatus

    if member.life_status == LifeStatus.IN_REGISTER:
        return None
    return f"该成员已登记为「{member.get_life_status_display()}」，不能再变更成员状态"


def _clue_in(statuses, message: str):
    def check(clue) -> str | None:
        if clue.status in statuses:
            return None
        return f"线索当前为「{clue.get_status_display()}」，{message}"

    check.sources = frozenset(statuses)
    return check


def _round_pending(dispatch_round) -> str | None:
    if dispatch_round.dispatched_at is None:
        return None
    from django.utils import timezone

    # Stored in UTC: said in local time, as every page shows it.
    sent = timezone.localtime(dispatch_round.dispatched_at)
    return f"该批次已于 {sent:%Y-%m-%d %H:%M} 下发，不能重复下发"


# --- the rules -------------------------------------------------------------------------

REGISTRY_EDITORS = frozenset({V, T})
PEOPLE = frozenset({V, T, C})


@cache
def rules() -> dict[str, Rule]:
    """Built on first use: the workflow table lives in monitor, which imports this module."""
    from monitor.choices import MONITORED_STATUSES, Status
    from monitor.feeds.clue_workflow import CLUE_REFUSALS, CLUE_STEPS
    from monitor.workflow import STEPS

    table = [
        # Registry (households, members, income): cadres keep it, townships correct it;
        # county approvers decide on cases, they do not keep the register.
        Rule("registry.read", "查看农户信息", PEOPLE, "您的角色无权访问农户信息。"),
        Rule(
            "household.create",
            "登记农户",
            REGISTRY_EDITORS,
            "您的角色只能查看，不能修改农户登记信息。",
        ),
        Rule(
            "household.edit",
            "修改农户信息",
            REGISTRY_EDITORS,
            "您的角色只能查看，不能修改农户登记信息。",
            target="household",
        ),
        # 成员状态 (在册 / 死亡 / 户籍迁出): kept like the register; a member already gone
        # from it has nothing left to change.
        Rule(
            "member.life_status",
            "成员状态变更",
            REGISTRY_EDITORS,
            "成员状态由村干部或乡镇审核人登记",
            target="member",
            state=_member_in_register,
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        Rule(
            "member.reveal",
            "查看完整号码",
            REVEAL_ROLES,
            "您的角色无权查看完整个人信息",
            target="member",
        ),
        Rule(
            "registry.import",
            "导入农户信息",
            REGISTRY_EDITORS,
            "您的角色只能查看，不能修改农户登记信息。",
        ),
        # Cases.
        Rule(
            "case.file",
            "登记监测对象",
            REGISTRY_EDITORS,
            "监测对象由村干部登记（乡镇可代为登记农户申报）",
            target="household",
            state=_household_open,
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        Rule(
            "case.edit",
            "修改案例",
            frozenset({V}),
            "此项由村干部登记",
            target="case",
            state=_case_in({Status.DRAFT}, "修改案例"),
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        Rule(
            "case.evidence.identification",
            "登记识别材料",
            frozenset({V}),
            "此项由村干部登记",
            target="case",
            state=_case_in({Status.DRAFT}, "识别认定材料"),
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        Rule(
            "case.evidence.clearance",
            "登记风险消除材料",
            frozenset({V}),
            "此项由村干部登记",
            target="case",
            state=_case_in({Status.MONITORING}, "风险消除材料"),
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        # 乡村两级入户 and the county's re-visit: township and county staff visit a case
        # while it is with them (identification: reported, passed by the township) or in
        # monitoring and its clearance (monitor/identification.py picks the stage).
        Rule(
            "case.official_visit",
            "乡镇/县级入户核实",
            frozenset({T, C}),
            "乡镇、县级入户核实由乡镇审核人或县级审定人登记",
            target="case",
            state=_case_in(
                [
                    Status.REPORTED,
                    Status.TOWNSHIP_APPROVED,
                    Status.MONITORING,
                    Status.CLEARANCE_PROPOSED,
                    Status.CLEARANCE_TOWNSHIP_APPROVED,
                ],
                "乡镇/县级入户核实",
            ),
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        # 县级抽查: the county draws its sample among its own reported cases (no one target).
        Rule(
            "case.spot_check_draw",
            "县级抽查",
            frozenset({C}),
            "县级抽查由县级审定人发起",
        ),
        # 动态调整: the village proposes a change of a monitored case's category and risks;
        # the township confirms it (a step of the case workflow, monitor/workflow.py).
        Rule(
            "case.adjustment_propose",
            "提出动态调整",
            frozenset({V}),
            "动态调整由村干部提出、乡镇确认",
            target="case",
            state=_case_in({Status.MONITORING}, "动态调整"),
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        Rule(
            "case.monthly_visit",
            "登记月排查走访",
            frozenset({V}),
            "此项由村干部登记",
            target="case",
            state=_case_in(sorted(MONITORED_STATUSES), "月排查走访"),
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        Rule(
            "case.follow_up_visit",
            "登记消除后跟踪走访",
            frozenset({V}),
            "此项由村干部登记",
            target="case",
            state=_follow_up_state,
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        Rule(
            "case.measure",
            "登记帮扶措施",
            REGISTRY_EDITORS,
            "帮扶措施由村干部或乡镇登记",
            target="case",
            state=_measures_state,
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        Rule(
            "measure.edit",
            "更新帮扶措施",
            REGISTRY_EDITORS,
            "帮扶措施由村干部或乡镇登记",
            target="measure",
        ),
        Rule(
            "case.aid_plan",
            "制定帮扶计划",
            REGISTRY_EDITORS,
            "帮扶措施由村干部或乡镇登记",
            target="case",
            state=_open_case_state,
            state_status=http.HTTP_400_BAD_REQUEST,
        ),
        # Clues (their workflow steps are generated from CLUE_STEPS below).
        Rule(
            "clue.reveal_applicant",
            "查看申报人完整号码",
            REVEAL_ROLES,
            "您的角色无权查看完整个人信息",
            target="clue",
        ),
        Rule("screening.run", "运行数据筛查", frozenset({T, C}), "数据筛查由县、乡镇发起"),
        Rule("batches.read", "查看部门推送批次", frozenset({T, C}), "部门推送批次由县、乡镇查看"),
        # 下发批次: the county reads its rounds and dispatches them (a round is scoped by its
        # county: county staff of that county, and staff above it).
        Rule(
            "rounds.read",
            "查看预警下发批次",
            frozenset({C}),
            "预警下发批次由县级审定人查看和下发",
        ),
        Rule(
            "round.dispatch",
            "下发整批线索",
            frozenset({C}),
            "预警下发批次由县级审定人查看和下发",
            target="round",
            state=_round_pending,
        ),
        # Departments' machine accounts.
        Rule("feed.push", "推送预警名单", frozenset({D}), "仅行业部门接口账号可推送预警名单。"),
        # Administration: county staff in their county, the administrator anywhere.
        Rule(
            "department.manage",
            "管理行业部门与接口密钥",
            frozenset({C, ADMIN}),
            "行业部门由县级审定人或系统管理员管理",
            target="region_record",
            anywhere_roles=frozenset({ADMIN}),
        ),
        Rule(
            "threshold.manage",
            "维护筛查阈值",
            frozenset({C, ADMIN}),
            "筛查阈值由县级审定人或系统管理员维护",
            target="region_record",
            anywhere_roles=frozenset({ADMIN}),
        ),
        Rule(
            "monitoring_line.manage",
            "维护监测范围",
            frozenset({C, ADMIN}),
            "监测范围由县级审定人（本县）或系统管理员维护",
            target="region_record",
            anywhere_roles=frozenset({ADMIN}),
        ),
        Rule(
            "region_policy.manage",
            "维护本地时限与规则",
            frozenset({C, ADMIN}),
            "本地时限与规则由县级审定人（本县）或系统管理员维护",
            target="region_record",
            anywhere_roles=frozenset({ADMIN}),
        ),
        # 防贫保险: the county (or the administrator) keeps the policies; staff of the
        # region enrol households; townships and counties record and pay claims.
        Rule(
            "insurance.manage",
            "维护防贫保险",
            frozenset({C, ADMIN}),
            "防贫保险由县级审定人（本县）或系统管理员维护",
            target="region_record",
            anywhere_roles=frozenset({ADMIN}),
        ),
        Rule(
            "insurance.enrol",
            "登记防贫保险参保",
            PEOPLE,
            "防贫保险参保由村、乡镇或县级工作人员登记",
            target="household",
        ),
        Rule(
            "insurance.claim",
            "登记防贫保险理赔",
            frozenset({T, C}),
            "防贫保险理赔由乡镇或县级工作人员登记",
            target="household",
        ),
        Rule(
            "measure_category.manage",
            "维护帮扶措施类别",
            frozenset({ADMIN}),
            "仅系统管理员可执行此操作。",
        ),
        Rule(
            "cross_check_item.manage",
            "维护信息比对事项",
            frozenset({ADMIN}),
            "仅系统管理员可维护信息比对事项。",
        ),
        # Reference data (monitoring lines, local rules, the measure and cross-check
        # catalogues, insurance policies) holds no people and is read by every role that
        # works with it. 三权分立: the auditor reads the audit log and nothing else.
        Rule(
            "reference.read",
            "查看参考数据",
            frozenset(Role) - {A},
            "审计管理员只查看审计日志，不查看业务数据（三权分立）。",
        ),
        # 统计报表: figures are counts (no people), so statistics viewers of a city or the
        # province read them too.
        Rule(
            "report.read",
            "查看统计报表",
            REPORT_ROLES,
            "您的角色无权查看统计报表。",
            target="report_region",
        ),
        # 台账导出: people roles export the work sheets of their region or one inside it;
        # the full ID numbers only for the roles that may reveal them (with a reason,
        # audited). Statistics viewers, in scope by their reports, are refused by role.
        Rule(
            "report.export",
            "导出台账",
            PEOPLE,
            "您的角色无权导出台账（台账含个人信息，统计查看人只能查看汇总数据）",
            target="report_region",
        ),
        Rule(
            "report.export_full_ids",
            "导出完整身份证号",
            REVEAL_ROLES,
            "您的角色无权导出完整身份证号",
            target="report_region",
        ),
        Rule("audit.read", "查看审计日志", frozenset({A}), "仅审计管理员可查看审计日志。"),
        Rule("users.manage", "管理用户账号", frozenset({ADMIN}), "仅系统管理员可管理用户账号。"),
    ]
    # The case workflow: one rule per step of the table, its role and source state.
    for step in STEPS:
        table.append(
            Rule(
                f"case.{step.action}",
                step.label,
                step.roles,
                f"「{step.label}」须由{_role_names(step.roles)}办理",
                target="case",
                state=_step_state(step),
            )
        )
    # The clue workflow likewise, with its own words for the role and the state.
    for step in CLUE_STEPS:
        role_message, state_message = CLUE_REFUSALS[step.action]
        table.append(
            Rule(
                f"clue.{step.action}",
                step.label,
                step.roles,
                role_message,
                target="clue",
                state=_clue_in(step.sources, state_message),
            )
        )
    return {rule.action: rule for rule in table}


def _role_names(roles) -> str:
    return "或".join(Role(role).label for role in sorted(roles))


def _step_state(step):
    def check(case) -> str | None:
        from monitor.choices import Status

        if case.status in step.sources:
            return step.guard(case) if step.guard is not None else None
        wanted = "、".join(Status(source).label for source in step.sources)
        return (
            f"当前状态为「{case.get_status_display()}」，不能执行「{step.label}」"
            f"（该操作仅适用于「{wanted}」状态）"
        )

    check.sources = frozenset(step.sources)
    return check


def rule_for(action: str) -> Rule:
    try:
        return rules()[action]
    except KeyError:
        raise LookupError(f"no policy rule for action {action!r}") from None


# --- scope of objects ------------------------------------------------------------------


def region_code_of(obj) -> str:
    """The 12-digit code of the region an object lies in, read from foreign-key ids so a
    caller that selected the related rows pays no query."""
    label = obj._meta.label
    if label == "households.Household":
        return obj.village_id
    if label == "households.Member":
        return obj.household.village_id
    if label == "monitor.Case":
        return obj.household.village_id
    if label == "monitor.Clue":
        return obj.village_id
    if label == "monitor.DispatchRound":
        return obj.county_id
    if label == "interventions.MeasureRecord":
        return obj.case.household.village_id
    if label == "households.Region":
        return obj.code
    region_id = getattr(obj, "region_id", None)
    if region_id is None:
        raise LookupError(f"{label} has no region")
    return region_id


def scope_prefix(user, action: str) -> str | None:
    """The code prefix inside which this user's objects of the action lie: "" for anywhere
    (the administrator's administration), None for nowhere. Lists filter by it, so they show
    exactly the records whose pages and writes the policy allows."""
    rule = rule_for(action)
    if user.role in rule.anywhere_roles:
        return ""
    if rule.target == "region_record":
        return _admin_prefix(user)
    if rule.target == "report_region":
        return report_prefix_of(user)
    return region_prefix_of(user)


def _inside(user, rule: Rule, obj) -> bool:
    if rule.target is None or obj is None:
        return True
    prefix = scope_prefix(user, rule.action)
    return prefix is not None and region_code_of(obj).startswith(prefix)


def _admin_prefix(user) -> str | None:
    if user.region_id is None:
        return None
    model = apps.get_model("households", "Region")
    return model.prefix_of_code(user.region_id)


# --- decisions -------------------------------------------------------------------------


def decide(user, action: str, obj=None) -> Decision:
    rule = rule_for(action)
    if user is None or not user.is_authenticated or not user.is_active:
        return Decision(False, "请先登录。", http.HTTP_403_FORBIDDEN)
    if not _inside(user, rule, obj):
        return Decision(False, OUT_OF_SCOPE, http.HTTP_404_NOT_FOUND)
    if rule.state is not None and obj is not None:
        refusal = rule.state(obj)
        if refusal:
            return Decision(False, refusal, rule.state_status)
    if user.role not in rule.roles:
        return Decision(False, rule.role_message, http.HTTP_403_FORBIDDEN)
    return ALLOWED


def allows(user, action: str, obj=None) -> bool:
    # decide()'s answer, the role asked first: buttons and the API's `actions` ask about
    # every step of every listed case, and most steps are another role's, refused here
    # without the scope and state checks (which may read the database).
    rule = rule_for(action)
    if getattr(user, "role", None) not in rule.roles:
        return False
    # Likewise a workflow step from another state (the state check's own statuses).
    sources = getattr(rule.state, "sources", None)
    if sources is not None and obj is not None and obj.status not in sources:
        return False
    return decide(user, action, obj).allowed


def require(user, action: str, obj=None) -> None:
    """Raise the refusal: a record in the wrong state is bad input on the field of its
    object (a 400 that forms show beside that field), anything else a PolicyDenied."""
    decision = decide(user, action, obj)
    if decision.allowed:
        return
    if decision.status == http.HTTP_400_BAD_REQUEST:
        raise ValidationError({rule_for(action).target or NON_FIELD_ERRORS: decision.reason})
    raise PolicyDenied(decision)


def allowed_of(user, actions, obj=None) -> list[str]:
    """The actions of a list this user may take on the object now (for buttons)."""
    return [action for action in actions if allows(user, action, obj)]
