"""What a planned case is made of, and the proportions the planner draws them in: the
states at the end of the history, channels, risks (DOMAIN.md section 4), the reasons staff
give for returns and refusals, and the plan's own records (CasePlan, its Events, the
ClueLink it came from). Times are whole minutes since the start of the history."""

import random
from dataclasses import dataclass, field
from datetime import date

from monitor.choices import (
    CLOSED_STATUSES,
    Channel,
    NaturalReason,
    Status,
)

DAY = 1440
S = Status
OUTCOMES = {
    S.CLEARED: 50,
    S.MONITORING: 35,
    S.CLEARANCE_PROPOSED: 2,
    S.CLEARANCE_TOWNSHIP_APPROVED: 1.5,
    S.APPLIED: 0.5,
    S.DRAFT: 3,
    S.REPORTED: 1.5,
    S.TOWNSHIP_APPROVED: 1,
    S.REJECTED: 3,
    S.CANCELLED: 1.5,
    S.TERMINATED: 1,
}
RELAPSE_SHARE, REFILED_SHARE = 0.025, 0.005
RELAPSE_OUTCOMES = (S.MONITORING, S.DRAFT, S.REPORTED, S.TOWNSHIP_APPROVED, S.REJECTED)
CHANNELS = {
    Channel.CADRE_SCREENING: 50,
    Channel.DEPARTMENT_WARNING: 30,
    Channel.SELF_APPLICATION: 20,
}
PAPER_SHARE = 0.3  # self-applications on paper, entered for the township to accept
NATURAL_SHARE = 0.08  # 自然消除 among clearances (帮扶消除 ≫ 自然消除)
RISKS = {
    "01": 34,
    "02": 1,
    "0201": 3,
    "0202": 1,
    "0203": 2,
    "0205": 1,
    "0206": 0.5,
    "0299": 0.5,
    "03": 9,
    "04": 10,
    "05": 7,
    "06": 5,
    "07": 12,
    "09": 8,
    "99": 4,
}
# The risk a department's list points to (its indicator), by the department's kind.
DEPARTMENT_RISKS = {
    "medical_insurance": ("01",),
    "civil_affairs": ("04", "99", "06"),
    "education": ("09",),
    "disabled_federation": ("03",),
    "emergency": ("0201", "0203", "0205", "05"),
}
DESCRIPTIONS = {
    "01": "家庭成员患病，医疗支出大，收入骤减",
    "02": "遭受自然灾害，家庭财产和收入损失较大",
    "03": "家庭成员残疾，劳动能力受限，支出增加",
    "04": "家庭缺少劳动力，收入来源单一",
    "05": "家庭成员遭遇意外事故，医疗支出大",
    "06": "产业项目经营失败，收入明显下降",
    "07": "务工就业不稳定，工资性收入减少",
    "09": "子女上学支出较大，家庭负担重",
    "99": "其他原因导致生活困难",
}
RETURN_REASONS = (
    "公示材料不完整，请补充后重新上报",
    "信息比对结果需进一步核实",
    "家庭收入测算有误，请重新核算",
)
REJECT_REASONS = (
    "经核实家庭人均纯收入高于监测范围，不符合纳入条件",
    "家庭成员中有财政供养人员，不符合纳入条件",
    "经入户核实困难情况与申报不符",
)
CLEARANCE_RETURNS = ("帮扶措施落实佐证材料不全，请补充", "收入稳定性依据不足，请补充近半年收入")
NATURAL_EVIDENCE = {
    NaturalReason.RECOVERED: "县人民医院出院诊断证明，患病成员已康复，收入恢复",
    NaturalReason.MEMBER_DIED: "致险成员死亡证明及火化证明，家庭刚性支出已消除",
    NaturalReason.OTHER: "致险因素已消除，经村民代表评议和公示无异议",
}
CLOSING_COMMENT = "全部成员死亡或户籍迁出，已销户"
LEVEL_OF_ACTION = {
    "report": "village",
    "withdraw": "village",
    "propose_clearance": "village",
    "household_closed": "village",
    "county_approve": "county",
    "county_return": "county",
    "county_reject": "county",
    "county_approve_clearance": "county",
    "county_return_clearance": "county",
}  # every other step is the township's


@dataclass(slots=True)
class Event:
    action: str
    at: int  # minutes since the start of the history
    comment: str = ""
    source: str = ""
    target: str = ""


@dataclass(slots=True)
class ClueLink:
    """The clue a case came from: a department's list or the phone page."""

    kind: str  # "department" or "web"
    raised: int  # the list's arrival, or the application's submission
    handed: int  # the county's dispatch, or the township's acceptance
    department: int = -1
    month: int = -1


@dataclass(slots=True)
class CasePlan:
    household: int
    outcome: str
    channel: str
    start: str  # applied or draft
    path: list[str]
    category: str = ""
    risks: list[str] = field(default_factory=list)
    main_risk: str = ""
    id: int = 0
    village: int = -1
    created: int = 0
    found_day: int = 0
    events: list[Event] = field(default_factory=list)
    visit_day: int | None = None
    # The kind the village chooses when it proposes clearance; `clearance_kind` is what the
    # case holds at the end (a return of the proposal empties it).
    intended_kind: str = ""
    clearance_kind: str = ""
    natural_reason: str = ""
    natural_dies_on: int | None = None
    green_channel: bool = False
    relapse_of: "CasePlan | None" = None
    follow_up_until: date | None = None
    clue: ClueLink | None = None
    # 动态调整: (proposed, decided or None, the values before, the values asked for)
    adjustment: tuple | None = None

    @property
    def status(self) -> str:
        return self.events[-1].target if self.events else self.start

    @property
    def filed_main_risk(self) -> str:
        """The main risk at filing (a confirmed 动态调整 may have changed it since)."""
        if self.adjustment is not None and self.adjustment[1] is not None:
            return self.adjustment[2][2]
        return self.main_risk

    @property
    def last_at(self) -> int:
        return self.events[-1].at if self.events else self.created

    @property
    def closed_at(self) -> int | None:
        return self.events[-1].at if self.status in CLOSED_STATUSES else None

    def day_of(self, action: str) -> int | None:
        for event in reversed(self.events):
            if event.action == action:
                return event.at // DAY
        return None


def allocate(total: int, weights: dict, rng: random.Random) -> list[str]:
    """`total` outcomes in the proportions of `weights`, each at least once when there is
    room for all of them (so a small province still shows every state), shuffled."""
    keys = list(weights)
    floor = 1 if total >= len(keys) else 0
    spare = total - floor * len(keys)
    exact = {k: weights[k] * spare / sum(weights.values()) for k in keys}
    counts = {k: floor + int(exact[k]) for k in keys}
    order = sorted(keys, key=lambda k: exact[k] - int(exact[k]), reverse=True)
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    outcomes = [k for k in keys for _ in range(counts[k])]
    rng.shuffle(outcomes)
    return outcomes
