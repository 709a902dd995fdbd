"""What the history writes around the steps — measures, monthly and follow-up visits, risks,
the clocks and the registry as the cases leave them — and the writing out: every collected
row created in one pass per table, then stamped with its day."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Case as SqlCase
from django.db.models import DateTimeField, Value, When
from django.utils import timezone

from households.choices import ABLE_TO_WORK, Health
from households.models import Household, IncomeRecord, Member
from interventions.models import AidPlan, MeasureRecord, MeasureStatus
from monitor.choices import (
    MONITORED_STATUSES,
    CrossCheckResult,
    VisitKind,
)
from monitor.demo_history.catalogue import DEVELOPMENTAL, HAIDONG, MEASURES, VISIT_FINDINGS
from monitor.follow_up import Quarter
from monitor.models import (
    Announcement,
    Appraisal,
    Case,
    CaseAdjustment,
    CaseRisk,
    CaseTransition,
    Consent,
    CrossCheck,
    CrossCheckFinding,
    Deadline,
    HomeVisit,
    MonthlyVisit,
    PublicNotice,
)
from monitor.rules import add_months


def local_time(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)) + timedelta(minutes=minute))


@dataclass
class Home:
    """A household of the registry as the history reads it."""

    household: Household
    members: list

    @property
    def able(self) -> bool:
        return any(m.labour in ABLE_TO_WORK for m in self.members)

    def with_health(self, *values) -> list:
        return [m for m in self.members if m.health in values]

    def size_on(self, day: date) -> int:
        return sum(
            1 for m in self.members if m.life_status_on is None or m.life_status_on > day
        ) or len(self.members)


@dataclass
class Story:
    """What the history keeps of one case while writing it."""

    case: Case
    home: Home
    risks: list[str]
    met: dict = field(default_factory=dict)  # deadline step → the day it was met
    ended_on: date | None = None  # left monitoring (cleared or household closed)
    closed_on: date | None = None  # reached a closed status (cleared, refused, ended)
    reached_clearance: bool = False
    no_measures: bool = False
    measures_until: date | None = None


class Records:
    """Mixed into History (writer.py): uses its generator, its stories and its rows."""

    def measures(self, story: Story) -> None:
        """1-3 measures from the day after identification, drawn with Haidong's weights; the
        ones a clearance needs come first (a developmental one where someone can work, cover
        of illness for 因病)."""
        case, rng, home = story.case, self.rng, story.home
        if case.identified_on is None or story.no_measures:
            return
        last = min(story.measures_until or self.today, story.ended_on or self.today, self.today)
        needed = []
        # Cover of illness for 因病, and mostly for any household with a sick member too.
        if "01" in story.risks or (
            home.with_health(Health.SERIOUS, Health.CHRONIC) and rng.random() < 0.7
        ):
            needed.append(rng.choices(["health", "social_security"], weights=[6895, 5829])[0])
        if home.with_health(Health.DISABLED) and rng.random() < 0.5:
            needed.append("social_security")
        if home.able:
            needed.append(
                rng.choices(DEVELOPMENTAL, weights=[HAIDONG[c] for c in DEVELOPMENTAL])[0]
            )
        else:
            needed.append("social_security")
        if "09" in story.risks:
            needed.append("education")
        if any(code.startswith("02") for code in story.risks):
            needed.append("housing")
        chosen = list(dict.fromkeys(needed))
        wanted = max(len(chosen), rng.choice((1, 2, 2, 3)))
        while len(chosen) < wanted:
            code = rng.choices(list(HAIDONG), weights=list(HAIDONG.values()))[0]
            if code not in chosen:
                chosen.append(code)
        start = case.identified_on + timedelta(days=rng.randint(3, 25))
        cadre = self.cadres[case.household.village_id]
        for code in chosen:
            start = min(start, last)
            texts, department, (low, high), runs = MEASURES[code]
            end = start + timedelta(days=runs) if runs else None
            self.add(
                MeasureRecord(
                    case=case,
                    category=self.categories[code],
                    description=rng.choice(texts),
                    department=department,
                    start_on=start,
                    end_on=end,
                    amount=Decimal(rng.randrange(low, high + 1, 100)),
                    status=MeasureStatus.COMPLETED
                    if end and end <= self.today
                    else MeasureStatus.IN_PROGRESS,
                    recorded_by=cadre,
                ),
                ("recorded_at", local_time(start, 11)),
            )
            start += timedelta(days=rng.randint(7, 60))

    def visits(self, story: Story) -> None:
        """月排查: a visit each month in monitoring; 消除后跟踪: one each quarter of the
        follow-up period (to its end, or today)."""
        case, rng = story.case, self.rng
        if case.identified_on is None:
            return
        cadre = self.cadres[case.household.village_id]
        end = min(story.ended_on or self.today, self.today)
        month = add_months(case.identified_on.replace(day=1), 1)
        while month <= end:
            day = min(month + timedelta(days=rng.randint(3, 24)), end)
            self.add(
                MonthlyVisit(
                    case=case,
                    visited_on=day,
                    visitors="村干部、帮扶责任人",
                    findings=rng.choice(VISIT_FINDINGS),
                    recorded_by=cadre,
                ),
                ("recorded_at", local_time(day, 15)),
            )
            month = add_months(month, 1)
        if case.cleared_on is None:
            return
        last = min(case.follow_up_until, self.today)
        quarter = Quarter.of(case.cleared_on)
        relapsed = Case.objects.filter(relapse_of=case).exists()
        while quarter.first <= last:
            first = max(quarter.first, case.cleared_on + timedelta(days=1))
            final = min(quarter.last, last)
            if first <= final:
                day = first + timedelta(days=rng.randint(0, (final - first).days))
                changed = relapsed and quarter.next().first > last
                self.add(
                    MonthlyVisit(
                        case=case,
                        kind=VisitKind.FOLLOW_UP,
                        visited_on=day,
                        visitors="村干部、帮扶责任人",
                        findings="跟踪走访发现户主旧病复发，医疗支出增加"
                        if changed
                        else "跟踪走访：收入稳定，无返贫风险",
                        risk_changed=changed,
                        recorded_by=cadre,
                    ),
                    ("recorded_at", local_time(day, 15, 30)),
                )
            quarter = quarter.next()

    # --- writing it out ----------------------------------------------------------------

    def flush(self) -> None:
        """Create the collected rows in dependency order, then give every stamped row its
        day (one UPDATE per table and field)."""
        for story in self.stories:
            self.measures(story)
            self.visits(story)
            self.add_risks(story)
        order = [
            CaseRisk, CaseTransition, Announcement, HomeVisit, Consent, CrossCheck, Appraisal,
            PublicNotice, AidPlan, IncomeRecord, MeasureRecord, MonthlyVisit, CaseAdjustment,
        ]  # fmt: skip
        for model in order:
            model.objects.bulk_create(self.rows.pop(model, []))
        CrossCheckFinding.objects.bulk_create(
            CrossCheckFinding(check_record=check, item=item, result=CrossCheckResult.CLEAR)
            for check in CrossCheck.objects.filter(case__in=[s.case for s in self.stories])
            for item in self.check_items
        )
        self.deadlines()
        self.households()
        for model, rows in self.rows.items():
            model.objects.bulk_create(rows)
        self.restamp()

    def add_risks(self, story: Story) -> None:
        for code in story.risks:
            self.add(CaseRisk(case=story.case, code=code))

    def deadlines(self) -> None:
        """Each clock met on the day of its step; one met late was flagged the day after it
        fell due, as the hourly sweep does."""
        met = {story.case.pk: story.met for story in self.stories}
        rows = list(Deadline.objects.filter(case_id__in=met))
        for deadline in rows:
            deadline.met_on = met[deadline.case_id].get(deadline.step)
            if deadline.met_on and deadline.met_on > deadline.due_on:
                deadline.overdue_since = deadline.due_on + timedelta(days=1)
        Deadline.objects.bulk_update(rows, ["met_on", "overdue_since"])

    def households(self) -> None:
        """The registry as the history leaves it: monitored while a case is in monitoring;
        at clearance 住房、饮水 safe and everyone insured (the clearance checks ask it)."""
        homes = {}
        for story in self.stories:
            home = story.home
            household = home.household
            homes[household.pk] = home
            if story.case.status in MONITORED_STATUSES:
                household.is_monitored = True
            if story.reached_clearance:
                household.housing_safe = household.water_safe = True
                for member in home.members:
                    member.medical_insurance = True
        Household.objects.bulk_update(
            [home.household for home in homes.values()],
            ["is_monitored", "housing_safe", "water_safe", "closed_on", "closed_reason"],
        )
        Member.objects.bulk_update(
            [member for home in homes.values() for member in home.members],
            ["medical_insurance", "life_status", "life_status_on", "life_status_evidence"],
        )

    def restamp(self) -> None:
        moments: dict[tuple, dict[int, datetime]] = defaultdict(dict)
        for obj, name, moment in self.stamps:
            moments[(type(obj), name)][obj.pk] = moment
        for (model, name), by_pk in moments.items():
            items = sorted(by_pk.items())
            for start in range(0, len(items), 200):
                chunk = items[start : start + 200]
                model.objects.filter(pk__in=[pk for pk, _ in chunk]).update(
                    **{
                        name: SqlCase(
                            *[
                                When(pk=pk, then=Value(moment, output_field=DateTimeField()))
                                for pk, moment in chunk
                            ]
                        )
                    }
                )
        self.stamps.clear()
