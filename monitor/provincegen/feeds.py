"""The department side of the synthetic province: monthly lists (WarningBatch) of each
department, the county's rounds (DispatchRound), the clues they raised (预警线索) with their
trail, and farmers' own applications (一键申报, SelfApplication).

Every department's list arrives once a month on its own day (the county's four on the 3rd,
8th, 13th and 18th, the city's on the 23rd); the county sends each round down within a few
days, the lists of the last days of the history are still waiting for it. A clue that became
a case (纳入监测) is closed the moment the case is filed and linked to it; most clues are
found not eligible or cannot be verified (a low yield, as DOMAIN.md section 8 reports); the
recent ones are still with the village, some overdue. A household never has two clues open
at once, nor a clue while its case is open.
"""

import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, timedelta

from monitor.choices import ClueChannel, ClueOutcome, ClueStatus, Status
from monitor.deadlines import add_workdays
from monitor.provincegen.casefacts import DAY, DESCRIPTIONS, CasePlan
from monitor.provincegen.geography import COUNTY_DEPARTMENTS, Layout
from monitor.provincegen.timeline import Planner

LIST_HEADER = "姓名,身份证号,预警类型,金额,发生日期,说明\n"
EXTRA_PER_IDENTIFIED = 4  # clues found not eligible or unverifiable per clue identified
WEB_REFUSED_PER_ADMITTED = 1.0
NOTES = {
    ClueOutcome.IDENTIFY: "入户核实情况属实，纳入监测",
    ClueOutcome.NOT_ELIGIBLE: "入户核实，家庭收支正常，不符合纳入条件",
    ClueOutcome.UNVERIFIABLE: "多次入户未见人，暂无法核实",
    ClueOutcome.ALREADY_MONITORED: "该户已由村级登记为监测对象",
}


@dataclass(slots=True)
class Batch:
    department: int
    month: int
    received: int  # minutes since the start of the history
    counties: list[int]
    id: int = 0
    clues: int = 0


@dataclass(slots=True)
class ClueRow:
    household: int
    village: str
    channel: str
    raised: int
    due_on: date
    status: str
    created: int
    batch: Batch | None = None
    county: int = -1
    handed: int | None = None  # dispatched by the county or accepted by the township
    closed: int | None = None
    outcome: str = ""
    case: CasePlan | None = None
    relapse_of: CasePlan | None = None
    overdue_since: date | None = None
    application: tuple | None = None  # (risk code, difficulty)
    id: int = 0


class BatchCalendar:
    """When each department's list arrived and when the county sent each round down."""

    def __init__(self, layout: Layout, start: date, days: int, seed: int):
        self.layout, self.start, self.days, self.seed = layout, start, days, seed
        self.horizon = days * DAY
        slot_of_kind = {kind: slot for slot, (kind, _) in enumerate(COUNTY_DEPARTMENTS)}
        months, first = [], date(start.year, start.month, 1)
        while first < start + timedelta(days=days):
            months.append(first)
            first = (first + timedelta(days=32)).replace(day=1)
        self.batches: list[Batch] = []
        for department in layout.departments:
            slot = slot_of_kind.get(department.kind, len(COUNTY_DEPARTMENTS))
            for month, first_day in enumerate(months):
                day = (first_day - start).days + 2 + 5 * slot
                if not 0 <= day < days:
                    continue
                rng = random.Random(f"{seed}:batch:{department.index}:{month}")  # noqa: S311
                received = day * DAY + 600 + rng.randrange(240)
                self.batches.append(Batch(department.index, month, received, department.counties))
        self.batches.sort(key=lambda b: (b.received, b.department))
        self.by_county: dict[int, list[Batch]] = {}
        for batch in self.batches:
            for county in batch.counties:
                self.by_county.setdefault(county, []).append(batch)
        self._arrivals = {c: [b.received for b in bs] for c, bs in self.by_county.items()}
        self._dispatch: dict[tuple[int, int, int], int | None] = {}

    def arrived_before(self, moment: int, county: int):
        """The county's lists that arrived before `moment`, the latest first."""
        batches = self.by_county.get(county, [])
        return reversed(batches[: bisect_left(self._arrivals.get(county, []), moment)])

    def arrived_between(self, low: int, high: int, county: int) -> list[Batch]:
        arrivals = self._arrivals.get(county, [])
        batches = self.by_county.get(county, [])
        return batches[bisect_left(arrivals, low) : bisect_left(arrivals, high)]

    def dispatch_at(self, batch: Batch, county: int) -> int | None:
        """When the county sent its round of this list down (None: not yet)."""
        key = (batch.department, batch.month, county)
        if key not in self._dispatch:
            rng = random.Random(f"{self.seed}:round:{key}")  # noqa: S311 - synthetic data
            days = rng.randint(0, 3) if rng.random() < 0.9 else rng.randint(4, 8)
            moment = (batch.received // DAY + days) * DAY + 510 + rng.randrange(540)
            moment = max(moment, batch.received + 30)
            # The county's latest list waits for it (lists come at most 11 days apart).
            latest = self.by_county[county][-1] is batch
            waiting = latest and self.horizon - batch.received < 12 * DAY
            self._dispatch[key] = moment if moment < self.horizon and not waiting else None
        return self._dispatch[key]

    def department_kind(self, index: int) -> str:
        return str(self.layout.departments[index].kind)


@dataclass
class Feeds:
    clues: list[ClueRow] = field(default_factory=list)
    # Applications that joined a case already open (no clue of their own).
    joined: list[tuple[CasePlan, int, str]] = field(default_factory=list)


class FeedPlanner:
    def __init__(self, planner: Planner, calendar: BatchCalendar, layout: Layout, county_of):
        self.p, self.calendar, self.layout = planner, calendar, layout
        self.rng = random.Random(f"{calendar.seed}:feeds")  # noqa: S311 - synthetic data
        self.county_range = county_of  # county -> (first household, end)
        self.busy: dict[int, list[tuple[int, float]]] = {}
        self.cleared: dict[int, list[CasePlan]] = {}

    def _date(self, moment: int) -> date:
        return self.p.date(moment // DAY)

    def _free(self, household: int, low: int, high: float) -> bool:
        return all(high < a or low > b for a, b in self.busy.get(household, ()))

    def _hold(self, household: int, low: int, high: float) -> None:
        self.busy.setdefault(household, []).append((low, high))

    def _followed(self, household: int, moment: int) -> CasePlan | None:
        """The household's cleared case in its follow-up period then (返贫风险)."""
        day = self._date(moment)
        for case in self.cleared.get(household, ()):
            if case.closed_at < moment and case.follow_up_until >= day:
                return case
        return None

    def _village_due(self, moment: int) -> date:
        return add_workdays(self._date(moment), 5)

    def _overdue(self, row: ClueRow) -> None:
        last = self.p.days - 1
        done = self._date(row.closed) if row.closed is not None else None
        if row.due_on < self.p.date(last) and (done is None or done > row.due_on):
            row.overdue_since = row.due_on + timedelta(days=1)

    def plan(self, plans: list[CasePlan]) -> Feeds:
        feeds = Feeds()
        for case in plans:
            end = case.closed_at if case.closed_at is not None else float("inf")
            self._hold(case.household, case.created, end)
            if case.status == Status.CLEARED:
                self.cleared.setdefault(case.household, []).append(case)
        identified = 0
        for case in plans:
            if case.clue is not None:
                feeds.clues.append(self._from_case(case))
                identified += 1
        for case in plans:
            self._already_monitored(case, feeds)
        self._department_extra(feeds, identified)
        self._web_extra(plans, feeds)
        feeds.clues.sort(key=lambda c: (c.created, c.household))
        return feeds

    def _from_case(self, case: CasePlan) -> ClueRow:
        link, household = case.clue, case.household
        village, _, county = self.p.village_of(household)
        code = self.layout.villages[village].code
        if link.kind == "department":
            batch = next(
                b
                for b in self.calendar.arrived_between(link.raised, link.raised + 1, county)
                if b.department == link.department
            )
            row = ClueRow(
                household,
                code,
                ClueChannel.DEPARTMENT,
                link.raised,
                self._village_due(link.handed),
                ClueStatus.CLOSED,
                link.raised + 2,
                batch=batch,
                county=county,
            )
        else:
            row = ClueRow(
                household,
                code,
                ClueChannel.SELF_APPLICATION,
                link.raised,
                self._village_due(link.handed),
                ClueStatus.CLOSED,
                link.raised,
                county=county,
                application=(case.filed_main_risk, DESCRIPTIONS[case.filed_main_risk[:2]]),
            )
        row.handed, row.closed = link.handed, case.created
        row.outcome, row.case = ClueOutcome.IDENTIFY, case
        row.relapse_of = self._followed(household, link.raised) if row.batch else None
        self._overdue(row)
        self._hold(household, link.raised, case.created)
        return row

    def _already_monitored(self, case: CasePlan, feeds: Feeds) -> None:
        """A list that named the household a few days before the cadre filed its case: the
        village finds it already monitored when it verifies the clue."""
        rng = self.rng
        if case.clue is not None or rng.random() > 0.05:
            return
        village, _, county = self.p.village_of(case.household)
        arrived = self.calendar.arrived_between(case.created - 12 * DAY, case.created, county)
        if not arrived:
            return
        batch = arrived[-1]
        handed = self.calendar.dispatch_at(batch, county)
        if handed is None or not self._free(case.household, batch.received, case.created - 1):
            return
        closed = self.p.after(max(handed, case.created), 1, 3)
        if closed >= self.p.horizon or (case.closed_at is not None and case.closed_at <= closed):
            return
        row = ClueRow(
            case.household,
            self.layout.villages[village].code,
            ClueChannel.DEPARTMENT,
            batch.received,
            self._village_due(handed),
            ClueStatus.CLOSED,
            batch.received + 2,
            batch=batch,
            county=county,
            handed=handed,
            closed=closed,
            outcome=ClueOutcome.ALREADY_MONITORED,
            case=case,
        )
        row.relapse_of = self._followed(case.household, batch.received)
        self._overdue(row)
        self._hold(case.household, batch.received, case.created)
        feeds.clues.append(row)

    def _household(self, county: int | None, moment: int, until: float) -> int | None:
        """A household of the county registered and not closed by then, free of any case
        or clue from `moment` to `until`."""
        summary, rng = self.p.summary, self.rng
        for _ in range(50):
            if county is None:
                index = rng.randrange(len(summary.kind))
            else:
                first, end = self.county_range(county)
                index = rng.randrange(first, end)
            if (
                summary.closed[index] < 0
                and summary.created[index] < moment // DAY
                and self._free(index, moment, until)
            ):
                return index
        return None

    def _closing(self, row: ClueRow, handed: int | None, low: int, high: int) -> None:
        """Verified `low`..`high` days after it reached the village (late: some more)."""
        rng, p = self.rng, self.p
        row.handed = handed
        if handed is None:
            return
        row.status, row.due_on = ClueStatus.VERIFYING, self._village_due(handed)
        draw = rng.random()
        days = (low, high) if draw < 0.8 else (high + 1, 2 * high) if draw < 0.95 else (20, 40)
        closed = p.after(handed, *days)
        if closed < p.horizon:
            row.status, row.closed = ClueStatus.CLOSED, closed
            row.outcome = (
                ClueOutcome.NOT_ELIGIBLE if rng.random() < 0.75 else ClueOutcome.UNVERIFIABLE
            )

    def _department_extra(self, feeds: Feeds, identified: int) -> None:
        calendar, rng = self.calendar, self.rng
        pairs = [(batch, county) for batch in calendar.batches for county in batch.counties]
        mean = EXTRA_PER_IDENTIFIED * max(identified, 1) / max(len(pairs), 1)
        for batch, county in pairs:
            handed = calendar.dispatch_at(batch, county)
            # A round still waiting for the county has clues (that is why it waits).
            count = rng.randint(0 if handed is not None else 1, max(1, round(2 * mean)))
            for _ in range(count):
                household = self._household(county, batch.received, float("inf"))
                if household is None:
                    continue
                village = self.layout.villages[self.p.village_of(household)[0]].code
                row = ClueRow(
                    household,
                    village,
                    ClueChannel.DEPARTMENT,
                    batch.received,
                    add_workdays(self._date(batch.received), 5),
                    ClueStatus.PENDING_DISPATCH,
                    batch.received + 2,
                    batch=batch,
                    county=county,
                )
                self._closing(row, handed, 1, 7)
                row.relapse_of = self._followed(household, batch.received)
                if row.status != ClueStatus.PENDING_DISPATCH:
                    # Waiting for the county, the village's clock has not started.
                    self._overdue(row)
                end = row.closed if row.closed is not None else float("inf")
                self._hold(household, batch.received, end)
                feeds.clues.append(row)

    def _web_extra(self, plans: list[CasePlan], feeds: Feeds) -> None:
        """Applications from the phone page that did not become a case, and some that joined
        a case already open."""
        rng, p = self.rng, self.p
        admitted = sum(1 for c in plans if c.clue is not None and c.clue.kind == "web")
        for _ in range(round(admitted * WEB_REFUSED_PER_ADMITTED) or 1):
            raised = rng.randint(30 * DAY, p.horizon - 1)
            household = self._household(None, raised, float("inf"))
            if household is None:
                continue
            village, _, county = p.village_of(household)
            risk = rng.choice(("01", "04", "05", "07", "09", "99"))
            row = ClueRow(
                household,
                self.layout.villages[village].code,
                ClueChannel.SELF_APPLICATION,
                raised,
                self._date(raised) + timedelta(days=2),
                ClueStatus.PENDING_ACCEPTANCE,
                raised,
                county=county,
                application=(risk, DESCRIPTIONS[risk]),
            )
            accepted = p.after(raised, 0, 2) if rng.random() < 0.9 else p.after(raised, 3, 6)
            self._closing(row, accepted if accepted < p.horizon else None, 1, 7)
            if row.handed is None and row.due_on < p.date(p.days - 1):
                row.overdue_since = row.due_on + timedelta(days=1)
            else:
                self._overdue(row)
            end = row.closed if row.closed is not None else float("inf")
            self._hold(household, raised, end)
            feeds.clues.append(row)
        for case in plans:
            identified = case.day_of("county_approve")
            if identified is None or rng.random() > 0.01:
                continue
            end = case.closed_at if case.closed_at is not None else p.horizon
            low = identified * DAY + DAY
            if end - low > DAY:
                sent = rng.randint(low, end - 1)
                feeds.joined.append((case, sent, DESCRIPTIONS[case.main_risk[:2]]))
