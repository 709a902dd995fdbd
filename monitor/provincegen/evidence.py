"""Rows of the planned cases: the case, its risks and trail, the clocks of identification
(Deadline), the aid measures (MeasureRecord) and the 动态调整 (CaseAdjustment).

Each value is the one the application's own step would have written at that moment:
identified_on and cleared_on are the local dates of the county's two approvals, a refused,
withdrawn or ended case keeps the reason of its last step, open clocks are met by that step
(monitor.workflow._on_closed), a late or still open clock carries the day the hourly sweep
flagged it, and an adjustment keeps the values before it exactly as monitor.adjustments
snapshots them.
"""

import json
import random
from datetime import timedelta

from accounts.choices import Role
from households.choices import RegionLevel
from interventions.reference import HAIDONG_HOUSEHOLDS_PER_MEASURE
from monitor.choices import (
    CLOSED_STATUSES,
    AdjustmentStatus,
    Category,
    ClearanceKind,
    DeadlineStep,
    Status,
)
from monitor.deadlines import add_workdays
from monitor.models import Case
from monitor.provincegen.casefacts import (
    DAY,
    DESCRIPTIONS,
    LEVEL_OF_ACTION,
    NATURAL_EVIDENCE,
    RISKS,
    CasePlan,
    Event,
)
from monitor.provincegen.geography import Layout
from monitor.provincegen.registry import ABLE
from monitor.provincegen.timeline import Planner

ADJUSTED_SHARE, PENDING_SHARE = 0.06, 0.01
MEASURE_WEIGHTS = HAIDONG_HOUSEHOLDS_PER_MEASURE
DEVELOPMENTAL = ("industry", "employment", "finance", "public_job")
ILLNESS_COVER = ("health", "social_security")
# What was done, who answers for it, the amount (yuan) and how long it runs (days; None:
# ongoing).
MEASURES = {
    "industry": ("发展牛羊养殖产业奖补", "县农业农村局", (2000, 10000), (180, 365)),
    "employment": ("稳岗就业及外出务工交通补贴", "县人力资源和社会保障局", (500, 3000), None),
    "finance": ("脱贫人口小额信贷", "县农村商业银行", (30000, 50000), (1095, 1095)),
    "public_job": (
        "乡村公益性岗位（护林员、保洁员）",
        "县人力资源和社会保障局",
        (6000, 12000),
        (365, 365),
    ),
    "housing": ("农村危房改造补助", "县住房和城乡建设局", (10000, 40000), (60, 180)),
    "water": ("农村饮水安全巩固提升", "县水利局", (500, 3000), (30, 90)),
    "health": ("医疗救助及大病保险倾斜报销", "县医疗保障局", (1000, 20000), None),
    "compulsory_edu": ("义务教育阶段学生资助", "县教育局", (500, 2000), (120, 300)),
    "education": ("雨露计划职业教育补助", "县教育局", (1500, 3000), (120, 300)),
    "social_security": ("纳入农村最低生活保障", "县民政局", (3000, 8000), None),
    "social_aid": ("东西部协作和定点帮扶单位慰问帮扶", "县乡村振兴局", (500, 5000), (30, 120)),
    "infrastructure": ("村组道路和入户路硬化", "县交通运输局", (1000, 10000), (60, 180)),
}
CASE_COLUMNS = (
    "id",
    "household_id",
    "category",
    "channel",
    "status",
    "found_on",
    "description",
    "green_channel",
    "identified_on",
    "clearance_kind",
    "cleared_on",
    "natural_reason",
    "natural_evidence",
    "follow_up_until",
    "closed_reason",
    "main_risk",
    "relapse_of_id",
    "created_by_id",
    "created_at",
    "updated_at",
)
# The case's own copy of its household's village (region scope without a join), where the
# model keeps one.
CASE_VILLAGE = any(f.name == "village" for f in Case._meta.concrete_fields)
if CASE_VILLAGE:
    CASE_COLUMNS = (*CASE_COLUMNS, "village_id")
TRAIL_COLUMNS = (
    "case_id",
    "action",
    "from_status",
    "to_status",
    "actor_id",
    "actor_role",
    "actor_region",
    "at",
    "comment",
)
DEADLINE_COLUMNS = ("case_id", "step", "responsible_level", "due_on", "met_on", "overdue_since")
MEASURE_COLUMNS = (
    "case_id",
    "category_id",
    "description",
    "department",
    "start_on",
    "end_on",
    "amount",
    "status",
    "recorded_by_id",
    "recorded_at",
    "updated_at",
)
ADJUSTMENT_COLUMNS = (
    "case_id",
    "status",
    "category",
    "risk_codes",
    "main_risk",
    "reason",
    "before",
    "proposed_by_id",
    "proposed_at",
    "decided_by_id",
    "decided_at",
    "decision_note",
)


# --- 动态调整 (planned with the cases: a confirmation is a step of the trail) ---------------


def _changed(planner: Planner, plan: CasePlan, rng: random.Random) -> tuple:
    """New category, risks and main risk, checked like a filing (monitor.adjustments)."""
    lifted = planner.summary.kind[plan.household] == 1
    category = plan.category
    if rng.random() < 0.15:
        other = Category.UNSTABLE if lifted else Category.MARGINAL
        category = Category.SUDDEN if category != Category.SUDDEN else other
    risks = list(plan.risks)
    able = planner.summary.flags[plan.household] & ABLE
    candidates = [c for c in RISKS if c not in risks and (able or c != "07")]
    if len(risks) < 5 and (rng.random() < 0.7 or category == plan.category):
        risks.append(rng.choice(candidates))
    main = rng.choice(risks) if rng.random() < 0.5 else plan.main_risk
    if (category, sorted(risks), main) == (plan.category, sorted(plan.risks), plan.main_risk):
        main = risks[-1] if risks[-1] != plan.main_risk else risks[0]
    return category, risks, main


def plan_adjustments(planner: Planner, plans: list[CasePlan], seed) -> None:
    rng = random.Random(f"{seed}:adjustments")  # noqa: S311 - synthetic data
    for plan in plans:
        identified = plan.day_of("county_approve")
        if identified is None:
            continue
        after = [e for e in plan.events if e.at > identified * DAY + DAY]
        until = after[0].at if after else planner.horizon
        pending = plan.status == Status.MONITORING and not after
        if pending and rng.random() < PENDING_SHARE and until - identified * DAY > 40 * DAY:
            before = (plan.category, sorted(plan.risks), plan.main_risk)
            proposed = planner.work(until // DAY - rng.randint(1, 10))
            plan.adjustment = (proposed, None, before, _changed(planner, plan, rng))
            continue
        if rng.random() > ADJUSTED_SHARE or until - identified * DAY < 40 * DAY:
            continue
        low, high = identified + 15, until // DAY - 10
        proposed = planner.work(rng.randint(low, high))
        decided = planner.after(proposed, 1, 4)
        if decided >= until:
            continue
        before = (plan.category, sorted(plan.risks), plan.main_risk)
        category, risks, main = _changed(planner, plan, rng)
        plan.adjustment = (proposed, decided, before, (category, risks, main))
        plan.category, plan.risks, plan.main_risk = category, risks, main
        plan.events.append(Event("adjustment_confirm", decided, "同意调整"))
        plan.events.sort(key=lambda e: e.at)
        planner._finish(plan)


# --- rows -----------------------------------------------------------------------------------


def _actor(layout: Layout, plan: CasePlan, action: str) -> tuple[int, str, str]:
    village = layout.villages[plan.village]
    level = LEVEL_OF_ACTION.get(action, "township")
    if level == "village":
        return layout.cadre(village.index), Role.VILLAGE_CADRE, village.code
    if level == "county":
        county = layout.counties[village.county]
        return layout.approver(county.index), Role.COUNTY_APPROVER, county.code
    township = layout.townships[village.township]
    return layout.reviewer(township.index), Role.TOWNSHIP_REVIEWER, township.code


def case_rows(planner: Planner, layout: Layout, plans: list[CasePlan], household_id, moment):
    for plan in plans:
        identified = plan.day_of("county_approve")
        cleared = plan.day_of("county_approve_clearance") if plan.status == Status.CLEARED else None
        closing = (
            plan.events[-1].comment if plan.status in CLOSED_STATUSES - {Status.CLEARED} else ""
        )
        description = DESCRIPTIONS[plan.filed_main_risk[:2]]
        yield (
            plan.id,
            household_id(plan.household),
            str(plan.category),
            str(plan.channel),
            str(plan.status),
            planner.date(plan.found_day),
            description,
            plan.green_channel,
            planner.date(identified) if identified is not None else None,
            str(plan.clearance_kind),
            planner.date(cleared) if cleared is not None else None,
            str(plan.natural_reason),
            NATURAL_EVIDENCE.get(plan.natural_reason, ""),
            plan.follow_up_until if cleared is not None else None,
            closing[:300],
            plan.main_risk,
            plan.relapse_of.id if plan.relapse_of is not None else None,
            layout.cadre(plan.village),
            moment(plan.created),
            moment(plan.last_at),
            *([layout.villages[plan.village].code] if CASE_VILLAGE else []),
        )


def risk_rows(plans: list[CasePlan]):
    for plan in plans:
        for code in plan.risks:
            yield (plan.id, code)


def trail_rows(layout: Layout, plans: list[CasePlan], moment):
    """CaseTransition rows in time order (their ids follow the clock, as in the app)."""
    events = [(e.at, plan.id, plan, e) for plan in plans for e in plan.events]
    events.sort(key=lambda item: (item[0], item[1]))
    for at, case_id, plan, event in events:
        actor, role, region = _actor(layout, plan, event.action)
        yield (
            case_id,
            event.action,
            str(event.source),
            str(event.target),
            actor,
            str(role),
            region,
            moment(at),
            event.comment,
        )


def deadline_rows(planner: Planner, plans: list[CasePlan]):
    """The clocks deadlines_open starts at filing, met by the step that ends each (or by
    the closing of the case), flagged the day after they ran out if not met by then."""
    rules = planner.rules
    last = planner.days - 1
    for plan in plans:
        found = planner.date(plan.found_day)
        closed = None
        if plan.status in (Status.REJECTED, Status.CANCELLED, Status.TERMINATED):
            closed = plan.events[-1].at // DAY
        accepted = plan.day_of("accept")
        identified = plan.day_of("county_approve")
        visited = plan.visit_day
        if visited is not None and closed is not None and visited > closed:
            visited = None
        clocks = [
            (
                DeadlineStep.VILLAGE_VERIFICATION,
                RegionLevel.VILLAGE,
                add_workdays(found, rules["VILLAGE_VERIFICATION_WORKDAYS"]),
                visited,
            ),
            (
                DeadlineStep.IDENTIFICATION,
                RegionLevel.COUNTY,
                found + timedelta(days=rules["IDENTIFICATION_DAYS"]),
                identified,
            ),
        ]
        if plan.start == Status.APPLIED:
            due = found + timedelta(days=rules["SELF_APPLICATION_ACCEPT_DAYS"])
            clocks.append((DeadlineStep.TOWNSHIP_ACCEPTANCE, RegionLevel.TOWNSHIP, due, accepted))
        for step, level, due, met_day in clocks:
            if met_day is None and closed is not None:
                met_day = closed
            met = planner.date(met_day) if met_day is not None else None
            flagged = None
            if (met is None and (due - planner.start).days + 1 <= last) or (met and met > due):
                flagged = due + timedelta(days=1)
            yield (plan.id, str(step), int(level), due, met, flagged)


def measure_rows(planner: Planner, layout: Layout, plans, categories: dict, moment, seed):
    """帮扶措施: one to four per identified case, categories weighted like Haidong's; aid
    starts after identification and, for a clearance with aid, before the proposal (at
    least one measure; a developmental one where someone can work; 健康帮扶 or 综合保障
    for 因病). A few cases long in monitoring have none (the flag the sweep raises), and
    so do many identified in the last month."""
    rng = random.Random(f"{seed}:measures")  # noqa: S311 - synthetic data
    last = planner.days - 1
    codes, weights = list(MEASURE_WEIGHTS), list(MEASURE_WEIGHTS.values())
    for plan in plans:
        identified = plan.day_of("county_approve")
        if identified is None:
            continue
        proposals = [e.at // DAY for e in plan.events if e.action == "propose_clearance"]
        end = proposals[0] - 1 if proposals else last
        closed = plan.events[-1].at // DAY if plan.status == Status.TERMINATED else None
        if closed is not None:
            end = min(end, closed)
        assisted = bool(proposals) and plan.intended_kind == ClearanceKind.ASSISTED
        count = rng.choices((1, 2, 3, 4), (15, 30, 30, 25))[0]
        if not assisted:
            natural = bool(proposals) and plan.intended_kind == ClearanceKind.NATURAL
            recent = last - identified < 30
            none_share = 0.5 if recent else 0.3 if natural else 0.02
            if rng.random() < none_share:
                continue
        chosen: list[str] = []
        while len(chosen) < count:
            code = rng.choices(codes, weights)[0]
            if code not in chosen:
                chosen.append(code)
        if assisted:
            # What clearance asks for, added only where the draw lacks it (so the table keeps
            # Haidong's proportions), within each group in those proportions too.
            needs = []
            if "01" in plan.risks:
                needs.append(ILLNESS_COVER)
            if planner.summary.flags[plan.household] & ABLE:
                needs.append(DEVELOPMENTAL)
            for group in needs:
                if any(code in group for code in chosen):
                    continue
                code = rng.choices(group, [MEASURE_WEIGHTS[c] for c in group])[0]
                if len(chosen) == 4:
                    # Make room: a measure no rule asks for, else one of a group met twice.
                    spare = [c for c in chosen if not any(c in g for g in needs)]
                    chosen.remove((spare or chosen[1:])[-1])
                chosen.append(code)
        for code in chosen:
            span = max(0, end - identified)
            soon = rng.random() < 0.8  # most aid starts within two months
            start = identified + rng.randint(0, min(span, 60) if soon else span)
            text, department, (low, high), lasts = MEASURES[code]
            finish, status = None, "in_progress"
            if lasts is not None:
                finish = start + rng.randint(*lasts)
                if finish <= last:
                    status = "completed"
            if closed is not None and status == "in_progress":
                finish, status = max(closed, start), "stopped"
            recorded = planner.work(min(start + rng.randint(0, 5), last))
            yield (
                plan.id,
                categories[code],
                text,
                layout.counties[layout.villages[plan.village].county].name + department[1:],
                planner.date(start),
                planner.date(finish) if finish is not None else None,
                rng.randrange(low, high + 1, 100),
                status,
                layout.cadre(plan.village),
                moment(recorded),
                moment(recorded),
            )


def adjustment_rows(layout: Layout, plans: list[CasePlan], moment):
    for plan in plans:
        if plan.adjustment is None:
            continue
        proposed, decided, before, (category, risks, main) = plan.adjustment
        township = layout.townships[layout.villages[plan.village].township]
        snapshot = {
            "category": str(before[0]),
            "risk_codes": list(before[1]),
            "main_risk": before[2],
        }
        yield (
            plan.id,
            AdjustmentStatus.CONFIRMED if decided is not None else AdjustmentStatus.PROPOSED,
            str(category),
            json.dumps(list(risks)),
            main,
            "月排查走访发现家庭风险情况发生变化",
            json.dumps(snapshot, ensure_ascii=False),
            layout.cadre(plan.village),
            moment(proposed),
            layout.reviewer(township.index) if decided is not None else None,
            moment(decided) if decided is not None else None,
            "同意调整" if decided is not None else "",
        )
