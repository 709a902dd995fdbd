"""Case plans: for each case its household, facts and trail (留痕) through the workflow.

Each case is given the state it is in at the end of the history first (half cleared, a third
in monitoring, the rest over the steps of identification and clearance, refused, withdrawn and
ended by the closing of the household), then a path to it through monitor.workflow.STEPS
(with some returns), timed step by step in working hours from the day the case was filed,
then placed in the two years: a closed case anywhere it fits, an open one so that its last
step is recent (monitoring: identified any time). The path is checked against STEPS, so a
trail the application could not have written is an error here, not a surprise in a report.

How it was found decides what came before the filing: a cadre files on the day of the visit
or soon after; a paper application waits for the township's acceptance (待乡镇受理); a
farmer's own application from the phone page is a clue the township accepted, then the village
verified; a department's list is a clue raised the day the monthly list arrived, sent down by
the county, verified by the village: the case is filed the moment the clue is closed.

A few percent of the households with a cleared case have a later case (返贫, linked to the
cleared one, whose follow-up ends the day before the new filing); a few refused ones apply
again. A household has at most one open case at any time.
"""

import random
from datetime import date, timedelta

from django.conf import settings

from monitor.choices import CLOSED_STATUSES, Category, Channel, ClearanceKind, NaturalReason
from monitor.provincegen.casefacts import (
    CHANNELS,
    CLEARANCE_RETURNS,
    CLOSING_COMMENT,
    DAY,
    DEPARTMENT_RISKS,
    NATURAL_SHARE,
    OUTCOMES,
    PAPER_SHARE,
    REFILED_SHARE,
    REJECT_REASONS,
    RELAPSE_OUTCOMES,
    RELAPSE_SHARE,
    RETURN_REASONS,
    RISKS,
    CasePlan,
    ClueLink,
    Event,
    S,
    allocate,
)
from monitor.provincegen.registry import ABLE, DISABLED, PUPIL, SECOND, SICK, Summary
from monitor.rules import add_months


class Planner:
    """Plans the province's cases over the summaries of its households."""

    def __init__(self, *, summary: Summary, villages, start: date, days: int, batches, seed):
        self.summary = summary
        self.village_of = villages  # household index -> (village, township, county)
        self.start, self.days = start, days
        self.horizon = days * DAY
        self.batches = batches
        self.rng = random.Random(f"{seed}:cases")  # noqa: S311 - synthetic data
        # The installation's clocks: the province has no local rules of its own.
        self.rules = settings.MONITOR
        self.used: set[int] = set()
        self.closed = [i for i, day in enumerate(summary.closed) if day >= 0]

    # --- time -------------------------------------------------------------------------
    def work(self, day: int) -> int:
        """A moment of office hours on `day`."""
        return day * DAY + 510 + self.rng.randrange(540)

    def after(self, moment: int, low: int, high: int) -> int:
        """A moment of office hours `low`..`high` days after `moment`, and after it."""
        later = self.work(moment // DAY + self.rng.randint(low, high))
        return later if later > moment else moment + self.rng.randint(10, 120)

    def date(self, day: int) -> date:
        return self.start + timedelta(days=day)

    # --- paths ------------------------------------------------------------------------
    def _identification(self, start: str) -> list[str]:
        rng, path = self.rng, ["accept"] if start == S.APPLIED else []
        path.append("report")
        if rng.random() < 0.08:
            path += ["township_return", "report"]
        path.append("township_approve")
        if rng.random() < 0.04:
            path += ["county_return", "township_approve"]
        return [*path, "county_approve"]

    def _clearance(self, through: str) -> list[str]:
        rng, path = self.rng, ["propose_clearance"]
        if through == S.CLEARANCE_PROPOSED:
            if rng.random() < 0.15:
                path += ["township_approve_clearance", "county_return_clearance"]
            return path
        if rng.random() < 0.05:
            path += ["township_return_clearance", "propose_clearance"]
        path.append("township_approve_clearance")
        if through == S.CLEARANCE_TOWNSHIP_APPROVED:
            return path
        if rng.random() < 0.03:
            path += ["county_return_clearance", "township_approve_clearance"]
        return [*path, "county_approve_clearance"]

    def path_to(self, outcome: str, start: str) -> list[str]:
        rng = self.rng
        accept = ["accept"] if start == S.APPLIED else []
        if outcome == S.APPLIED:
            return []
        if outcome == S.DRAFT:
            return accept + (["report", "township_return"] if rng.random() < 0.25 else [])
        if outcome == S.REPORTED:
            if rng.random() < 0.2:
                return [*accept, "report", "township_approve", "county_return"]
            return [*accept, "report"]
        if outcome == S.TOWNSHIP_APPROVED:
            return self._identification(start)[:-1]
        if outcome == S.MONITORING:
            path = self._identification(start)
            if rng.random() < 0.05:
                path += ["propose_clearance", "township_return_clearance"]
            return path
        if outcome in (S.CLEARANCE_PROPOSED, S.CLEARANCE_TOWNSHIP_APPROVED, S.CLEARED):
            return self._identification(start) + self._clearance(outcome)
        if outcome == S.REJECTED:
            if start == S.APPLIED and rng.random() < 0.5:
                return ["decline"]
            if rng.random() < 0.55:
                return [*accept, "report", "township_reject"]
            return [*accept, "report", "township_approve", "county_reject"]
        if outcome == S.CANCELLED:
            return [*accept, "withdraw"]
        # 销户终止: ended in whatever open state the household closed.
        draw = rng.random()
        if draw < 0.2:
            return accept
        if draw < 0.3:
            return [*accept, "report"]
        if draw < 0.9:
            return self._identification(start)
        return [*self._identification(start), "propose_clearance"]

    # --- timing -----------------------------------------------------------------------
    def trail(self, plan: CasePlan) -> tuple[int, list[Event]]:
        """The filing moment and the steps, relative to the filing day (day 0)."""
        rng = self.rng
        filed = self.work(0)
        now, events, reported = filed, [], False
        plan.visit_day = None
        for action in plan.path:
            comment = ""
            if action == "accept":
                now = self.after(now, 0, 2) if rng.random() < 0.9 else self.after(now, 3, 6)
            elif action == "report":
                if not reported:
                    # Home visit, appraisal and a notice of at least five days before it.
                    plan.visit_day = now // DAY + rng.choice((0, 0, 0, 1, 1, 2, 3))
                    now = self.after(max(now, plan.visit_day * DAY), 6, 7)
                    reported = True
                else:
                    now = self.after(now, 2, 7)
            elif action in ("township_approve", "county_return", "township_return"):
                quick = action == "township_approve"
                now = self.after(now, 0, 2) if quick else self.after(now, 1, 4)
                comment = rng.choice(RETURN_REASONS) if "return" in action else ""
            elif action == "county_approve":
                now = self.after(now, 0, 2) if rng.random() < 0.9 else self.after(now, 3, 10)
            elif action in ("township_reject", "county_reject", "decline"):
                now = self.after(now, 1, 4)
                comment = rng.choice(REJECT_REASONS)
            elif action == "withdraw":
                if rng.random() < 0.5:
                    plan.visit_day = now // DAY + rng.randint(0, 3)
                    now = max(now, plan.visit_day * DAY)
                now = self.after(now, 1, 10)
                comment = "经入户核实，农户困难已自行解决，撤销登记"
            elif action == "propose_clearance":
                # In monitoring at least six months (clearance_min_months) before proposing.
                first = not any(e.action == "propose_clearance" for e in events)
                now = self.after(now, 186, 420) if first else self.after(now, 10, 60)
            elif action in ("township_approve_clearance", "county_approve_clearance"):
                now = self.after(now, 2, 10)
            elif action in ("township_return_clearance", "county_return_clearance"):
                now = self.after(now, 2, 8)
                comment = rng.choice(CLEARANCE_RETURNS)
            events.append(Event(action, now, comment))
        if plan.visit_day is None and plan.outcome == S.DRAFT and rng.random() < 0.6:
            plan.visit_day = rng.randint(0, 4)
        return filed, events

    def _dwell(self, outcome: str) -> int:
        """Days since the last step of a case still open at the end: mostly recent, some
        late (the overdue items the reports count)."""
        rng = self.rng
        if outcome in (S.APPLIED,):
            return rng.randint(0, 1) if rng.random() < 0.8 else rng.randint(2, 10)
        if outcome == S.DRAFT:
            return rng.randint(0, 8) if rng.random() < 0.8 else rng.randint(9, 45)
        if outcome in (S.REPORTED, S.TOWNSHIP_APPROVED):
            return rng.randint(0, 3) if rng.random() < 0.85 else rng.randint(4, 20)
        return rng.randint(0, 10) if rng.random() < 0.85 else rng.randint(11, 40)

    # --- one case ---------------------------------------------------------------------
    def _household(self, found_day: int, need: int) -> int | None:
        """A household registered before the finding, not closed, without a case yet."""
        summary, rng, total = self.summary, self.rng, len(self.summary.kind)
        for attempt in range(400):
            index = rng.randrange(total)
            if attempt > 200:
                need = need & ABLE  # relax the soft wishes, keep what the rules require
            if (
                index not in self.used
                and summary.closed[index] < 0
                and summary.created[index] < found_day
                and summary.flags[index] & need == need
            ):
                return index
        return None

    def _facts(self, plan: CasePlan, main: str | None = None) -> None:
        """Category, risks and main risk that fit the household (DOMAIN.md section 4)."""
        rng, flags = self.rng, self.summary.flags[plan.household]
        lifted = self.summary.kind[plan.household] == 1
        if lifted:
            plan.category = Category.UNSTABLE if rng.random() < 0.58 else Category.SUDDEN
        else:
            plan.category = Category.MARGINAL if rng.random() < 0.52 else Category.SUDDEN
        weights = dict(RISKS)
        weights["01"] *= 1.5 if flags & SICK else 1
        weights["03"] *= 3 if flags & DISABLED else 0.2
        weights["09"] *= 1 if flags & PUPIL else 0.1
        if not flags & ABLE:
            weights["07"] = 0  # 因务工就业不稳 needs someone who can work
            weights["04"] *= 3
        codes = [main] if main else []
        wanted = rng.choices((1, 2, 3), (50, 35, 15))[0]
        while len(codes) < wanted:
            code = rng.choices(list(weights), list(weights.values()))[0]
            if code not in codes:
                codes.append(code)
        plan.risks, plan.main_risk = codes, codes[0]
        plan.green_channel = codes[0][:2] in ("02", "05") and rng.random() < 0.3

    def _place(self, plan: CasePlan, earliest: int, dwell: int | None) -> bool:
        """Fix the filing day (and so every moment) of a planned case; False if it does not
        fit between `earliest` (a day) and the end of the history."""
        rng = self.rng
        filed, events = self.trail(plan)
        end = events[-1].at if events else filed
        before = {"cadre": 2, "paper": 0, "web": 7, "department": 12}[self._origin(plan)]
        low = earliest + before
        high = (self.horizon - 1 - end) // DAY
        if plan.outcome == S.TERMINATED:
            high = min(high, (self.summary.closed[plan.household] * DAY - 1 - end) // DAY)
        if high < low:
            return False
        if dwell is None or plan.outcome in CLOSED_STATUSES:
            day = rng.randint(low, high)
        else:
            day = max(low, high - dwell)
        return self._fix(plan, day, filed, events, earliest)

    def _origin(self, plan: CasePlan) -> str:
        if plan.channel == Channel.DEPARTMENT_WARNING:
            return "department"
        if plan.channel == Channel.SELF_APPLICATION:
            return "paper" if plan.start == S.APPLIED else "web"
        return "cadre"

    def _fix(self, plan: CasePlan, day: int, filed: int, events, earliest: int) -> bool:
        rng, origin = self.rng, self._origin(plan)
        if origin == "department":
            link = self._department_clue(plan, day, earliest)
            if link is None:
                return False
            plan.clue = link
            day = link.handed // DAY + rng.randint(1, 2)
            plan.found_day = link.raised // DAY
        elif origin == "web":
            handed = self.work(day - rng.randint(1, 3))
            raised = (handed // DAY - rng.randint(0, 1)) * DAY + 420 + rng.randrange(960)
            raised = min(raised, handed - rng.randint(30, 300))
            plan.clue = ClueLink("web", raised, handed)
            plan.found_day = raised // DAY
        else:
            plan.found_day = day - (rng.randint(0, 2) if origin == "cadre" else 0)
        shift = day * DAY
        end = (events[-1].at if events else filed) + shift
        if end >= self.horizon or plan.found_day < earliest:
            return False
        plan.created = filed + shift
        plan.events = [Event(e.action, e.at + shift, e.comment) for e in events]
        if plan.visit_day is not None:
            plan.visit_day = min(plan.visit_day + day, self.days - 1)
        return True

    def _department_clue(self, plan: CasePlan, day: int, earliest: int) -> ClueLink | None:
        """The list the case came from: the latest of its county's lists that arrived a few
        days before the filing, sent down by the county before the village verified it."""
        county = self.village_of(plan.household)[2]
        target = day - self.rng.randint(2, 8)
        for batch in self.batches.arrived_before(target * DAY + DAY, county):
            handed = self.batches.dispatch_at(batch, county)
            if handed is None or handed // DAY >= day:
                continue
            if batch.received // DAY < max(earliest, self.summary.created[plan.household] + 1):
                return None
            return ClueLink("department", batch.received, handed, batch.department, batch.month)
        return None

    def plan_case(self, outcome: str, *, household: int | None = None, earliest: int = 2):
        rng = self.rng
        channel = rng.choices(list(CHANNELS), list(CHANNELS.values()))[0]
        start = S.DRAFT
        if outcome == S.APPLIED:
            channel = Channel.SELF_APPLICATION
        if channel == Channel.SELF_APPLICATION and (
            outcome == S.APPLIED or rng.random() < PAPER_SHARE
        ):
            start = S.APPLIED
        plan = CasePlan(-1, outcome, channel, start, self.path_to(outcome, start))
        assisted = outcome in (S.CLEARED, S.CLEARANCE_PROPOSED, S.CLEARANCE_TOWNSHIP_APPROVED)
        plan.intended_kind = ClearanceKind.ASSISTED
        if assisted and rng.random() < NATURAL_SHARE:
            plan.intended_kind = ClearanceKind.NATURAL
        # A household nobody in which can work is not cleared with aid (暂不标注风险消除).
        need = ABLE if assisted and plan.intended_kind == ClearanceKind.ASSISTED else 0
        if plan.intended_kind == ClearanceKind.NATURAL:
            plan.natural_reason = rng.choices(
                (NaturalReason.RECOVERED, NaturalReason.MEMBER_DIED, NaturalReason.OTHER),
                (60, 30, 10),
            )[0]
            if plan.natural_reason == NaturalReason.MEMBER_DIED:
                need |= SECOND
        for _ in range(20):
            if household is None:
                # The household is drawn for the day it fits: registered before the finding.
                plan.household = self._any_household_for(plan, need)
                if plan.household is None:
                    return None
            else:
                plan.household = household
            dwell = None if outcome == S.MONITORING else self._dwell(outcome)
            if self._place(plan, max(earliest, self.summary.created[plan.household] + 1), dwell):
                break
        else:
            return None
        self.used.add(plan.household)
        plan.village = self.village_of(plan.household)[0]
        main = None
        if plan.clue is not None and plan.clue.kind == "department":
            kind = self.batches.department_kind(plan.clue.department)
            main = rng.choice(DEPARTMENT_RISKS[kind])
            if main == "07" and not self.summary.flags[plan.household] & ABLE:
                main = "04"
        self._facts(plan, main)
        self._finish(plan)
        return plan

    def _any_household_for(self, plan: CasePlan, need: int) -> int | None:
        # A provisional day: the finding falls somewhere in the history; the household
        # must have been registered by then (checked again when the case is placed).
        day = self.rng.randint(30, self.days - 1)
        return self._household(day, need)

    def _finish(self, plan: CasePlan) -> None:
        """States along the trail, checked against the workflow table; the dates the steps
        set on the case; 自然消除's facts."""
        from monitor.workflow import STEP_BY_ACTION

        status, kind = plan.start, ""
        for event in plan.events:
            step = STEP_BY_ACTION[event.action]
            if status not in step.sources:
                raise AssertionError(f"{event.action} from {status}: not a step of the table")
            event.source, event.target = status, step.target or status
            status = event.target
            # What the steps' effects do to the kind (monitor.workflow: _prepare_clearance,
            # _on_clearance_returned).
            if event.action == "propose_clearance":
                kind = plan.intended_kind
            elif event.action == "township_return_clearance":
                kind = ""
        plan.clearance_kind = kind
        if kind != ClearanceKind.NATURAL:
            plan.natural_reason = ""
        if plan.natural_reason == NaturalReason.MEMBER_DIED:
            proposed = plan.day_of("propose_clearance")
            identified = plan.day_of("county_approve")
            plan.natural_dies_on = self.rng.randint(identified, max(identified, proposed - 1))
        cleared = plan.day_of("county_approve_clearance")
        if status == S.CLEARED and cleared is not None:
            plan.follow_up_until = add_months(self.date(cleared), 12) - timedelta(days=1)

    # --- the province -----------------------------------------------------------------
    def plan_all(self, total: int) -> list[CasePlan]:
        rng = self.rng
        outcomes = allocate(total, OUTCOMES, rng)
        second = []
        for share in (RELAPSE_SHARE, REFILED_SHARE):
            wanted = round(total * share) or (1 if total >= 100 else 0)
            taken = [i for i, o in enumerate(outcomes) if o in RELAPSE_OUTCOMES][:wanted]
            second.append([outcomes[i] for i in taken])
            for i in reversed(taken):
                outcomes.pop(i)
        plans = []
        terminated = [o for o in outcomes if o == S.TERMINATED]
        outcomes = [o for o in outcomes if o != S.TERMINATED]
        plans += self._terminated(len(terminated))
        for outcome in outcomes:
            plan = self.plan_case(outcome)
            if plan is None:  # nothing fits: a case in monitoring fits anywhere
                plan = self.plan_case(S.MONITORING)
            if plan is not None:
                plans.append(plan)
        relapses, refiled = second
        plans += self._again(plans, relapses, (S.CLEARED,), relapse=True)
        plans += self._again(plans, refiled, (S.REJECTED, S.CANCELLED), relapse=False)
        plans.sort(key=lambda p: (p.created, p.household))
        return plans

    def _terminated(self, count: int) -> list[CasePlan]:
        plans = []
        candidates = list(self.closed)
        self.rng.shuffle(candidates)
        for household in candidates:
            if len(plans) == count:
                break
            plan = self.plan_case(S.TERMINATED, household=household)
            if plan is None:
                continue
            closing = self.work(self.summary.closed[household])
            at = max(closing, plan.last_at + 1)
            plan.events.append(Event("household_closed", at, CLOSING_COMMENT))
            self._finish(plan)
            plans.append(plan)
        return plans

    def _again(self, plans, outcomes, first_states, *, relapse: bool) -> list[CasePlan]:
        """Second cases of households whose first one ended: 返贫 after a clearance, or a
        new filing after a refusal or a withdrawal."""
        firsts = [
            p for p in plans if p.status in first_states and p.closed_at < self.horizon - 60 * DAY
        ]
        self.rng.shuffle(firsts)
        made = []
        for outcome in outcomes:
            plan = None
            while firsts and plan is None:
                first = firsts.pop()
                gap = self.rng.randint(20, 200 if relapse else 120)
                self.used.discard(first.household)
                plan = self.plan_case(
                    outcome, household=first.household, earliest=first.closed_at // DAY + gap
                )
                if plan is None:
                    self.used.add(first.household)
                elif relapse:
                    plan.relapse_of = first
                    last = self.date(plan.created // DAY) - timedelta(days=1)
                    first.follow_up_until = min(first.follow_up_until, last)
            # No household left to come back: the state is kept, on a first case.
            plan = plan or self.plan_case(outcome)
            if plan is not None:
                made.append(plan)
        return made
