"""The cases the cadres and townships filed themselves over the two years."""

from datetime import date, timedelta

from households.choices import Health, HouseholdKind, LifeStatus
from monitor.choices import (
    Category,
    Channel,
    ClearanceKind,
    NaturalReason,
    Stage,
)
from monitor.demo_history.records import Home, Story
from monitor.demo_history.writer import History


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def cases_write(h: History) -> Story:
    """The cases the cadres and townships filed themselves (the clue and self-application
    cases come with their lists). Returns the cleared case whose household relapses through
    the department's last list (返贫)."""
    rng, today = h.rng, h.today

    def ago(low: int, high: int | None = None) -> date:
        return today - _days(rng.randint(low, high) if high else low)

    def able(home: Home) -> bool:
        return home.able

    def sick(home: Home) -> bool:
        return home.able and bool(home.with_health(Health.SERIOUS, Health.CHRONIC))

    def cleared(story: Story, start: date | None = None, **options) -> None:
        latest = today - _days(25)
        start = start or story.case.identified_on + _days(rng.randint(300, 430))
        h.clear(story, min(start, latest), **options)

    # The household that will be closed (销户), taken first so that it lies in 新庄村. The
    # page matrix (tests/pages/test_every_page.py) has no rule yet for a closed household,
    # whose 登记监测对象 page sends a village or township user back (302); none of the
    # village and township users it walks sees 新庄村.
    closing = h.take(village="630121101202", need=lambda home: len(home.members) == 1)
    # 帮扶消除: found in the first year, cleared ten to fourteen months after identification;
    # every sixth identified late (the 15-day limit passed), one returned by the county.
    for n in range(16):
        found = ago(380, 725)
        story = h.file(h.take(need=able), found=found)
        late = n % 6 == 5
        h.identify(
            story,
            found + _days(rng.randint(1, 3)),
            rng.randint(16, 19) if late else rng.randint(7, 14),
        )
        cleared(story, county_back=n == 3)
        h.finish(story)
    # A paper application (农户书面申请) the township accepted, cleared; another in monitoring.
    for found, clear in ((ago(420, 560), True), (ago(140, 170), False)):
        story = h.file(
            h.take(need=able), found=found, channel=Channel.SELF_APPLICATION, applied=True
        )
        h.step(story, "accept", found + _days(1), "同意受理")
        h.identify(story, found + _days(2), rng.randint(9, 12))
        if clear:
            cleared(story)
        h.finish(story)
    # 自然消除: recovery (illness, accident), the sick member's death, the children's studies
    # over.
    natural = [
        ("01", NaturalReason.RECOVERED, "县人民医院复查诊断证明：已康复，可正常劳动"),
        ("05", NaturalReason.RECOVERED, "伤愈复工证明：已恢复劳动能力并返岗务工"),
        ("01", NaturalReason.MEMBER_DIED, "死亡医学证明书（乡镇卫生院出具）"),
        ("09", NaturalReason.OTHER, "子女已大学毕业并就业，教育支出不再发生"),
    ]
    for main, reason, evidence in natural:

        def fits(home: Home, main=main) -> bool:
            if main != "01":
                return home.able
            return bool(home.with_health(Health.SERIOUS)) and len(home.members) >= 3

        home = h.take(need=fits)
        found = ago(560, 690)
        story = h.file(home, found=found, main=main)
        h.identify(story, found + _days(2), rng.randint(8, 13))
        start = story.case.identified_on + _days(rng.randint(240, 330))
        member = None
        if reason == NaturalReason.MEMBER_DIED:
            member = home.with_health(Health.SERIOUS)[0]
            member.life_status, member.life_status_on = LifeStatus.DECEASED, start - _days(20)
            member.life_status_evidence = evidence
        cleared(story, start, kind=ClearanceKind.NATURAL, natural=(reason, evidence, member))
        h.finish(story)
    # 返贫: a household cleared and found again during its follow-up (the other relapse comes
    # with the department's list of three months ago).
    home = h.take(need=sick)
    found = ago(720)
    first = h.file(home, found=found, main="01")
    h.identify(first, found + _days(2), 10)
    cleared(first, first.case.identified_on + _days(300))
    h.finish(first)
    found = ago(215)
    story = h.file(
        home,
        found=found,
        relapse_of=first.case,
        main="01",
        description="户主旧病复发住院，医疗支出大",
    )
    h.identify(story, found + _days(1), 12)
    h.finish(story)
    found = ago(690)
    relapsing = h.file(h.take(need=sick), found=found, main="01")
    h.identify(relapsing, found + _days(2), 9)
    cleared(relapsing, today - _days(345))
    h.finish(relapsing)
    # In monitoring: found over the two years; two returned on the way, two late, the two
    # most recent without a measure yet, several with 动态调整 (one of them twice, one not
    # confirmed).
    adjustments = {4: 1, 6: 0, 7: 2, 8: 3, 10: 2}  # case → kind of 动态调整 (10: not confirmed)
    for n in range(13):
        # The two newest entered monitoring on the 1st of this month or so.
        found = ago(41) if n == 0 else ago(44) if n == 1 else ago(50, 420)
        home = h.take()
        lifted = home.household.kind == HouseholdKind.LIFTED
        # The case whose category the adjustment turns to 突发严重困难户 starts as another.
        category = (Category.UNSTABLE if lifted else Category.MARGINAL) if n == 4 else None
        story = h.file(home, found=found, category=category)
        story.no_measures = n < 2
        back = {2: "township", 3: "county"}.get(n)
        days = 12 if n == 0 else 15 if n == 1 else rng.randint(8, 14)
        if n in (5, 9):
            days = rng.randint(16, 20)
        h.identify(story, found + _days(rng.randint(1, 3)), days, back)
        identified = story.case.identified_on
        if n in adjustments and (today - identified).days > 120:
            day = identified + _days(rng.randint(40, 100))
            _adjust(h, story, day, kind=adjustments[n], confirmed=n != 10)
            if n == 6 and (today - day).days > 70:
                _adjust(h, story, day + _days(60), kind=3)
        h.finish(story)
    # No one in the household can work: kept in monitoring with social security (暂不标注
    # 风险消除).
    for _ in range(2):
        found = ago(400, 600)
        story = h.file(h.take(need=lambda home: not home.able), found=found, main="04")
        h.identify(story, found + _days(2), rng.randint(8, 12))
        h.finish(story)
    # Clearance on its way: returned by the township, proposed, passed by the township.
    for found, start, stop in (
        (ago(560), ago(70), "returned"),
        (ago(480), ago(16), "proposed"),
        (ago(520), ago(26), "township"),
    ):
        story = h.file(h.take(need=able), found=found)
        h.identify(story, found + _days(2), rng.randint(9, 13))
        h.clear(story, start, stop=stop)
        h.finish(story)
    # 销户终止: the household's only member died while in monitoring.
    found = ago(520)
    story = h.file(closing, found=found)
    h.identify(story, found + _days(2), 11)
    h.close_household(story, today - _days(130))
    h.finish(story)
    # Refused or withdrawn on the way.
    found = ago(300)
    story = h.file(h.take(), found=found)
    report = h.procedure(story, found + _days(1), Stage.IDENTIFICATION)
    h.step(story, "report", report, "入户核实、民主评议和公示均已完成，提请乡镇审核")
    h.step(
        story,
        "township_reject",
        report + _days(2),
        "经乡镇入户复核，该户子女在外稳定务工，家庭人均纯收入高于监测范围，不予纳入",
    )
    h.finish(story)
    found = ago(180)
    story = h.file(h.take(), found=found)
    report = h.procedure(story, found + _days(2), Stage.IDENTIFICATION)
    h.step(story, "report", report, "入户核实、民主评议和公示均已完成，提请乡镇审核")
    h.step(story, "township_approve", report + _days(1), "经审核，情况属实，同意上报")
    h.step(
        story,
        "county_reject",
        report + _days(3),
        "县级抽查入户复核，该户经营性收入未如实申报，核实后人均纯收入高于监测范围，不予纳入",
    )
    h.finish(story)
    found = ago(400)
    story = h.file(h.take(), found=found)
    h.home_visit(story, found + _days(2), Stage.IDENTIFICATION, "入户核实：困难已由亲属资助解决")
    h.step(story, "withdraw", found + _days(3), "入户核实：困难已由亲属资助解决，农户申请撤销")
    h.finish(story)
    found = ago(120)
    story = h.file(h.take(), found=found)
    h.step(story, "withdraw", found + _days(1), "重复登记：该户已由驻村工作队另行登记，撤销本条")
    h.finish(story)
    found = ago(200)
    story = h.file(h.take(), found=found, channel=Channel.SELF_APPLICATION, applied=True)
    h.step(story, "decline", found + _days(1), "经电话和入户了解，申报人家庭无实际困难，不予受理")
    h.finish(story)
    return relapsing


def _adjust(h: History, story: Story, day: date, *, kind: int, confirmed: bool = True) -> None:
    """One of four 动态调整: a lack of labour added, the category turned to 突发严重困难户
    after an accident, the main risk changed, a risk gone."""
    case, risks = story.case, list(story.risks)
    if kind == 1 and case.category != Category.SUDDEN:
        h.adjust(
            story,
            day,
            sorted({*risks, "05"}),
            "05",
            "走访发现户主务工受伤，医疗支出大幅增加，调整为突发严重困难户",
            category=Category.SUDDEN,
            confirmed=confirmed,
        )
    elif kind == 2 and len(risks) > 1:
        main = next(code for code in risks if code != case.main_risk)
        h.adjust(
            story, day, risks, main, "月排查走访发现主要致贫风险已发生变化", confirmed=confirmed
        )
    elif kind == 3 and len(risks) > 1:
        kept = [code for code in risks if code == case.main_risk]
        h.adjust(
            story,
            day,
            kept,
            case.main_risk,
            "部分风险已解除（如子女毕业就业、伤愈复工）",
            confirmed=confirmed,
        )
    elif "04" not in risks:
        h.adjust(
            story,
            day,
            sorted({*risks, "04"}),
            case.main_risk,
            "月排查走访发现配偶需全职照料病人，家中缺劳动力",
            confirmed=confirmed,
        )
    else:
        h.adjust(
            story,
            day,
            sorted({*risks, "99"}),
            case.main_risk,
            "走访发现家庭其他困难，补充风险类型",
            confirmed=confirmed,
        )
