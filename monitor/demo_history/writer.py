"""The writer of the history: households taken from the registry, cases filed and taken
through the workflow table step by step, each step with its effects and trail row, and the
evidence and income records the steps rest on."""

import csv
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.files.base import ContentFile

from accounts.choices import Role
from accounts.models import User
from households import pii
from households.choices import Health, HouseholdKind, LifeStatus, RegionLevel
from households.idnumber import IdNumberError, parse_id_number
from households.life import CLOSED_REASON
from households.models import Household, IncomeRecord, Member, MonitoringLine, Region
from interventions.models import AidPlan, MeasureCategory
from monitor.choices import (
    CLOSED_STATUSES,
    AdjustmentStatus,
    AppraisalResult,
    Category,
    Channel,
    ClearanceKind,
    DeadlineStep,
    NaturalReason,
    Stage,
    Status,
    VisitLevel,
)
from monitor.deadlines import deadlines_open, region_code_at
from monitor.demo_history.catalogue import (
    COUNTY,
    DEMO_ACTORS,
    FEED_SAMPLE,
    HISTORY_USERS,
    LINE_2024,
    OTHER_RISKS,
    PROVINCE,
    RISK_TEXT,
    SCAN,
    SEED,
)
from monitor.demo_history.records import Home, Records, Story, local_time
from monitor.follow_up import follow_up_end
from monitor.identification import ANNOUNCED
from monitor.models import (
    Announcement,
    Appraisal,
    Case,
    CaseAdjustment,
    CaseTransition,
    Consent,
    CrossCheck,
    CrossCheckItem,
    HomeVisit,
    MonthlyVisit,
    PublicNotice,
)
from monitor.rules import add_months
from monitor.workflow import STEP_BY_ACTION


class History(Records):
    """One writing of the history: the actors, the registry's households still free, the
    seeded generator, and everything collected until `flush` writes it out."""

    def __init__(self, today: date):
        self.today = today
        self.rng = random.Random(SEED)  # noqa: S311 - demo data, not a secret
        self.stamps: list[tuple[object, str, datetime]] = []
        self.clock: dict[int, datetime] = {}
        self.stories: list[Story] = []
        self.rows: dict[type, list] = defaultdict(list)
        self.used: set[int] = set()
        users = {u.username: u for u in User.objects.filter(username__in=DEMO_ACTORS)}
        self.county = users["xian_datong"]
        self.cadres = {
            "630121100201": users["cun_dongguan"],
            "630121101201": users["cun_xiangyang"],
        }
        self.reviewers = {"630121100000": users["zhen_qiaotou"]}
        for username, display, role, region in HISTORY_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": display,
                    "role": role,
                    "region_id": region,
                    "is_active": False,
                },
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            (self.cadres if role == Role.VILLAGE_CADRE else self.reviewers)[region] = user
        self.regions = dict(
            Region.objects.filter(code__startswith="630121").values_list("code", "name")
        )
        self.categories = {c.code: c for c in MeasureCategory.objects.all()}
        self.check_items = list(CrossCheckItem.objects.filter(active=True))
        MonitoringLine.objects.get_or_create(
            region_id=PROVINCE,
            year=2024,
            defaults={"amount": LINE_2024, "source": "演示数据，请按本省当年文件维护"},
        )
        self.lines = {
            line.year: line.amount for line in MonitoringLine.objects.filter(region_id=PROVINCE)
        }
        self.homes = self._homes()

    # --- households --------------------------------------------------------------------

    def _homes(self) -> dict[str, list[Home]]:
        """The county's households without a case, not in the department's sample list, in
        number order per village (rotated by the seed, so the picks spread)."""
        listed = _households_in_feed_sample()
        households = (
            Household.objects.filter(village__code__startswith=COUNTY[:6], closed_on__isnull=True)
            .exclude(cases__isnull=False)
            .exclude(pk__in=listed)
            .prefetch_related("members")
            .order_by("number")
        )
        homes: dict[str, list[Home]] = defaultdict(list)
        for household in households:
            members = sorted(household.members.all(), key=lambda m: m.pk)
            homes[household.village_id].append(Home(household, members))
        for village, found in homes.items():
            turn = self.rng.randrange(len(found))
            homes[village] = found[turn:] + found[:turn]
        return homes

    def village(self) -> str:
        villages = sorted(self.homes)
        return self.rng.choices(villages, weights=[len(self.homes[v]) for v in villages])[0]

    def take(self, village: str | None = None, kind: str | None = None, need=None) -> Home:
        """The next unused household of the village (then of its township, then of the
        county) of that kind that meets `need`."""
        village = village or self.village()
        order = [village, *sorted(v for v in self.homes if v != village and v[:9] == village[:9])]
        order += sorted(v for v in self.homes if v not in order)
        for code in order:
            for home in self.homes[code]:
                if home.household.pk in self.used or (kind and home.household.kind != kind):
                    continue
                if need is None or need(home):
                    self.used.add(home.household.pk)
                    return home
        raise LookupError("演示历史：登记库中没有符合条件的农户")

    def profile(self, home: Home, main: str | None = None, category: str | None = None):
        """Category, risks and main risk consistent with the household: illness where a
        member is sick, disability where one is disabled, unstable employment only where
        someone can work, 脱贫不稳定户 only for a 脱贫户."""
        rng = self.rng
        if main is None:
            if home.with_health(Health.SERIOUS, Health.CHRONIC) and rng.random() < 0.55:
                main = "01"
            elif home.with_health(Health.DISABLED) and rng.random() < 0.5:
                main = "03"
            else:
                options = {k: w for k, w in OTHER_RISKS.items() if k != "07" or home.able}
                main = rng.choices(list(options), weights=list(options.values()))[0]
        risks = [main]
        if rng.random() < 0.35:
            extra = [c for c in ("01", "04", "09", "07") if c != main and (c != "07" or home.able)]
            if "01" in extra and not home.with_health(Health.SERIOUS, Health.CHRONIC):
                extra.remove("01")
            risks.append(rng.choice(extra))
        if category is None:
            # Haidong's mix is about 15% unstable, 39% marginal, 46% sudden (DOMAIN.md).
            sudden = 0.6 if main in ("05", "0201", "0202", "0203", "0205") else 0.2
            if rng.random() < sudden:
                category = Category.SUDDEN
            elif home.household.kind == HouseholdKind.LIFTED:
                category = Category.UNSTABLE
            else:
                category = Category.MARGINAL
        return category, risks, main, rng.choice(RISK_TEXT.get(main, RISK_TEXT["04"]))

    # --- stamps ------------------------------------------------------------------------

    def stamp(self, obj, name: str, moment: datetime) -> None:
        self.stamps.append((obj, name, moment))

    def tick(self, case: Case, day: date) -> datetime:
        """The moment of a case's next step on `day`: in working hours, after its last."""
        if day > self.today:
            raise AssertionError(f"演示历史：案例 {case.pk} 的步骤日期 {day} 晚于今天")
        moment = local_time(day, 9, self.rng.randrange(0, 120))
        last = self.clock.get(case.pk)
        if last is not None and moment <= last:
            moment = last + timedelta(minutes=37)
        self.clock[case.pk] = moment
        return moment

    def add(self, obj, stamp: tuple[str, datetime] | None = None):
        self.rows[type(obj)].append(obj)
        if stamp is not None:
            self.stamp(obj, *stamp)
        return obj

    # --- cases -------------------------------------------------------------------------

    def actor(self, case: Case, step) -> User:
        village = case.household.village_id
        if Role.VILLAGE_CADRE in step.roles:
            return self.cadres[village]
        if Role.TOWNSHIP_REVIEWER in step.roles:
            return self.reviewers[region_code_at(village, RegionLevel.TOWNSHIP)]
        return self.county

    def file(
        self,
        home: Home,
        *,
        found: date,
        channel: str = Channel.CADRE_SCREENING,
        filed: date | None = None,
        applied: bool = False,
        relapse_of: Case | None = None,
        main: str | None = None,
        category: str | None = None,
        description: str | None = None,
    ) -> Story:
        """线索登记 as case_create writes it: the case, its risks and its clocks."""
        filed = filed or found
        category, risks, main, text = self.profile(home, main, category)
        household = home.household
        village = household.village_id
        by = (
            self.reviewers[region_code_at(village, RegionLevel.TOWNSHIP)]
            if applied
            else self.cadres[village]
        )
        case = Case(
            household=household,
            category=category,
            channel=channel,
            status=Status.APPLIED if applied else Status.DRAFT,
            found_on=found,
            description=description or (text + ("（农户书面申请，乡镇代录）" if applied else "")),
            green_channel=category == Category.SUDDEN and main.startswith("02"),
            main_risk=main,
            created_by=by,
            relapse_of=relapse_of,
        )
        case.save()
        deadlines_open(case)
        self.stamp(case, "created_at", self.tick(case, filed))
        story = Story(case=case, home=home, risks=risks)
        self.stories.append(story)
        self.income(story, found, within_line=True)
        if relapse_of is not None and relapse_of.follow_up_until >= filed:
            # 返贫: the follow-up of the cleared case ends the day before the filing.
            relapse_of.follow_up_until = filed - timedelta(days=1)
            relapse_of.save(update_fields=["follow_up_until"])
        return story

    def step(self, story: Story, action: str, day: date, comment: str = "同意") -> None:
        """One step of the workflow table, with its effects and its trail row."""
        case, rule = story.case, STEP_BY_ACTION[action]
        by = self.actor(case, rule)
        if case.status not in rule.sources or by.role not in rule.roles:
            raise AssertionError(f"演示历史：{case.pk} 不能从「{case.status}」{rule.label}")
        if rule.needs_reason and len(comment) < 2:
            raise AssertionError(f"演示历史：「{rule.label}」须有理由")
        source = case.status
        case.status = rule.target or source
        moment = self.tick(case, day)
        transition = CaseTransition(
            case=case,
            action=action,
            from_status=source,
            to_status=case.status,
            actor=by,
            actor_role=by.role,
            actor_region=by.region_id or "",
            comment=comment[:500],
        )
        self.add(transition, ("at", moment))
        if action == "accept":
            story.met.setdefault(DeadlineStep.TOWNSHIP_ACCEPTANCE, day)
        elif action == "county_approve":
            case.identified_on = day
            story.met.setdefault(DeadlineStep.IDENTIFICATION, day)
            self.announce(story, Stage.IDENTIFICATION, day, moment)
        elif action == "county_approve_clearance":
            case.cleared_on = day
            case.follow_up_until = follow_up_end(case.household.village_id, day)
            story.ended_on = day
            self.announce(story, Stage.CLEARANCE, day, moment)
        elif action == "township_return_clearance":
            case.clearance_kind = ""
            case.natural_reason, case.natural_evidence, case.natural_member = "", "", None
        if rule.target in CLOSED_STATUSES:
            story.closed_on = day
        if rule.target in (Status.REJECTED, Status.CANCELLED, Status.TERMINATED):
            case.closed_reason = comment[:300]
            for step in DeadlineStep.values:
                story.met.setdefault(step, day)

    def announce(self, story: Story, stage: str, day: date, moment: datetime) -> None:
        household = story.case.household
        village = household.village_id
        place = self.regions[region_code_at(village, RegionLevel.TOWNSHIP)] + self.regions[village]
        text = (
            f"{place} 户编号 {household.number}（{story.case.get_category_display()}）"
            f"{ANNOUNCED[stage]}。"
        )
        announcement = Announcement(
            case=story.case,
            stage=stage,
            announced_on=day,
            text=text[:300],
            announced_by=self.county,
        )
        self.add(announcement, ("created_at", moment + timedelta(minutes=5)))

    def home_visit(self, story: Story, day: date, stage: str, findings: str) -> None:
        case = story.case
        self.add(
            HomeVisit(
                case=case,
                stage=stage,
                recorded_by=self.cadres[case.household.village_id],
                visited_on=day,
                visitors="村两委、驻村工作队",
                findings=findings,
                level=VisitLevel.VILLAGE,
            ),
            ("recorded_at", local_time(day, 16, self.rng.randrange(60))),
        )
        if stage == Stage.IDENTIFICATION:
            story.met.setdefault(DeadlineStep.VILLAGE_VERIFICATION, day)

    def procedure(self, story: Story, day: date, stage: str) -> date:
        """入户核实 (with consent and cross-check at identification), 民主评议 and 公示 of at
        least five days; returns the day after the notice ends (the earliest report)."""
        case, rng = story.case, self.rng
        cadre = self.cadres[case.household.village_id]
        recorded = ("recorded_at", local_time(day, 16, 30))
        findings = "入户核实，情况属实" if stage == Stage.IDENTIFICATION else "入户核实，风险已消除"
        self.home_visit(story, day, stage, findings)
        if stage == Stage.IDENTIFICATION:
            consent = Consent(case=case, stage=stage, recorded_by=cadre, signed_on=day)
            consent.scan.save("consent.pdf", ContentFile(SCAN), save=False)
            self.add(consent, recorded)
            self.add(
                CrossCheck(
                    case=case,
                    stage=stage,
                    recorded_by=cadre,
                    checked_on=day,
                    note="县乡村振兴局比对财政供养、车辆、房产、工商登记数据",
                ),
                recorded,
            )
        held = day + timedelta(days=rng.choice((0, 1, 1)))
        self.add(
            Appraisal(
                case=case,
                stage=stage,
                recorded_by=cadre,
                held_on=held,
                result=AppraisalResult.PASSED,
                participants=rng.randint(15, 32),
            ),
            ("recorded_at", local_time(held, 17)),
        )
        end = held + timedelta(days=rng.choice((4, 4, 5, 6)))
        self.add(
            PublicNotice(case=case, stage=stage, recorded_by=cadre, start_on=held, end_on=end),
            ("recorded_at", local_time(held, 17, 30)),
        )
        return end + timedelta(days=1)

    def identify(self, story: Story, visit: date, days: int, back: str | None = None) -> None:
        """From the home visit to 县级审定, `days` after the finding (later when the procedure
        needs more); `back` is a return on the way (township or county)."""
        case, rng = story.case, self.rng
        report = self.procedure(story, visit, Stage.IDENTIFICATION)
        county = max(
            case.found_on + timedelta(days=days), report + timedelta(days=4 if back else 0)
        )
        self.step(story, "report", report, "入户核实、民主评议和公示均已完成，提请乡镇审核")
        if back == "township":
            self.step(
                story,
                "township_return",
                report + timedelta(days=1),
                "公示照片不清晰，请补充公示材料后重新上报",
            )
            report += timedelta(days=2)
            self.step(story, "report", report, "已补充公示材料，重新上报")
        township = report + timedelta(days=(county - report).days // 2)
        self.step(story, "township_approve", township, "经审核，情况属实，同意上报")
        if back == "county":
            self.step(
                story,
                "county_return",
                township + timedelta(days=1),
                "收入测算缺少务工收入佐证材料，请补充后重新审核",
            )
            township += timedelta(days=2)
            self.step(story, "township_approve", township, "已补充务工收入证明，同意上报")
        self.step(story, "county_approve", max(county, township), "同意纳入监测")
        if rng.random() < 0.6:
            self.add(
                AidPlan(
                    case=case,
                    summary="一户一策："
                    + rng.choice(("稳岗就业增收", "产业带动增收", "健康帮扶兜底")),
                    responsible_person=rng.choice(("驻村第一书记", "村党支部书记", "包村干部")),
                    created_by=self.cadres[case.household.village_id],
                )
            )

    def clear(
        self,
        story: Story,
        start: date,
        *,
        kind: str = ClearanceKind.ASSISTED,
        natural: tuple | None = None,
        county_back: bool = False,
        stop: str | None = None,
    ) -> None:
        """风险消除: the village's visit, appraisal and notice, then the proposal and the two
        approvals (or `stop` at "proposed", "township" or "returned")."""
        case, rng = story.case, self.rng
        story.reached_clearance = True
        story.measures_until = start - timedelta(days=10)
        if kind == ClearanceKind.ASSISTED or natural[0] != NaturalReason.MEMBER_DIED:
            # 收入稳定高于监测范围: two records after identification, half a year apart.
            second = start - timedelta(days=rng.randint(2, 8))
            first = min(
                case.identified_on + timedelta(days=rng.randint(90, 130)), add_months(second, -6)
            )
            self.income(story, first, within_line=False)
            self.income(story, second, within_line=False)
        propose = self.procedure(story, start, Stage.CLEARANCE)
        case.clearance_kind = kind
        if natural is not None:
            case.natural_reason, case.natural_evidence, case.natural_member = natural
        self.step(story, "propose_clearance", propose, "收入稳定高于监测范围，风险已消除，提请审核")
        if stop == "proposed":
            return
        township = propose + timedelta(days=rng.randint(1, 3))
        if stop == "returned":
            self.step(
                story,
                "township_return_clearance",
                township,
                "收入测算依据不足，请补充近半年务工收入证明",
            )
            return
        self.step(story, "township_approve_clearance", township)
        if stop == "township":
            return
        county = township + timedelta(days=rng.randint(1, 4))
        if county_back:
            self.step(
                story, "county_return_clearance", county, "公示期内有群众反映情况，请乡镇复核后再报"
            )
            township = county + timedelta(days=3)
            self.step(story, "township_approve_clearance", township, "经复核，反映情况不属实，同意")
            county = township + timedelta(days=2)
        self.step(story, "county_approve_clearance", county, "同意标注风险消除")

    def close_household(self, story: Story, day: date) -> None:
        """销户: every member gone from the register, the open case 销户终止 with it."""
        household = story.home.household
        for member in story.home.members:
            if member.life_status == LifeStatus.IN_REGISTER:
                member.life_status, member.life_status_on = LifeStatus.DECEASED, day
                member.life_status_evidence = "死亡医学证明（乡镇卫生院出具）"
        household.closed_on, household.closed_reason = day, CLOSED_REASON
        story.ended_on = day
        self.step(story, "household_closed", day, f"{CLOSED_REASON}，已销户")

    def adjust(
        self,
        story: Story,
        day: date,
        risks: list[str],
        main: str,
        reason: str,
        *,
        category: str | None = None,
        confirmed: bool = True,
    ) -> None:
        """动态调整 found at a monthly visit, proposed by the village and decided by the
        township; `before` holds the values it replaced, as adjustment_propose keeps them."""
        case = story.case
        cadre = self.cadres[case.household.village_id]
        visit = self.add(
            MonthlyVisit(
                case=case,
                visited_on=day,
                visitors="村干部、帮扶责任人",
                findings=reason,
                risk_changed=True,
                recorded_by=cadre,
            ),
            ("recorded_at", local_time(day, 15)),
        )
        decided = day + timedelta(days=self.rng.randint(2, 5))
        action = "adjustment_confirm" if confirmed else "adjustment_reject"
        note = "同意调整" if confirmed else "经核实，收入变化未达到调整条件，暂不调整"
        self.step(story, action, decided, note)
        adjustment = CaseAdjustment(
            case=case,
            status=AdjustmentStatus.CONFIRMED if confirmed else AdjustmentStatus.REJECTED,
            category=category or case.category,
            risk_codes=sorted(risks),
            main_risk=main,
            reason=reason,
            before={
                "category": case.category,
                "risk_codes": sorted(story.risks),
                "main_risk": case.main_risk,
            },
            monthly_visit=visit,
            proposed_by=cadre,
            decided_by=self.actor(case, STEP_BY_ACTION[action]),
            decided_at=self.clock[case.pk],
            decision_note=note,
        )
        self.add(adjustment, ("proposed_at", local_time(day, 16)))
        if confirmed:
            case.category, case.main_risk, story.risks = adjustment.category, main, sorted(risks)

    def finish(self, story: Story) -> Case:
        story.case.save()
        return story.case

    # --- income and measures ----------------------------------------------------------

    def income(self, story: Story, period_end: date, *, within_line: bool) -> None:
        """收支 of the 12 months to `period_end`: within the monitoring line at the finding
        (a sudden case by the income left after its rigid expenses), above it after aid."""
        rng, case = self.rng, story.case
        line = int(self.lines[period_end.year])
        size = story.home.size_on(period_end)
        medical = 0
        if not within_line:
            per_head = rng.randint(line + 800, line + 5000)
            medical = 300 * size
        elif case.category == Category.SUDDEN:
            per_head = rng.randint(line + 500, line + 4000)
            medical = (per_head - rng.randint(2500, line - 800)) * size
        else:
            per_head = rng.randint(4200, line - 300)
            medical = rng.randint(800, 3000)
        total = per_head * size
        wage = total * 55 // 100
        operating = total * 25 // 100
        record = IncomeRecord(
            household=story.home.household,
            year=period_end.year,
            period_end=period_end,
            household_size=size,
            wage_income=Decimal(wage),
            operating_income=Decimal(operating),
            transfer_income=Decimal(total - wage - operating),
            medical_expense=Decimal(medical),
        )
        record.compute()
        self.add(record)


def _households_in_feed_sample() -> set[int]:
    hashes = []
    with FEED_SAMPLE.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                hashes.append(pii.id_number_hash(parse_id_number(row["身份证号"]).value))
            except IdNumberError:
                continue
    return set(
        Member.objects.filter(id_number_hash__in=hashes).values_list("household_id", flat=True)
    )
