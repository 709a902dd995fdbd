"""The department's earlier lists with their rounds and verified clues, and the farmers'
own applications (一键申报)."""

import csv
import hashlib
import io
import random
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.utils import timezone

from households import pii
from households.choices import Health, RegionLevel
from households.idnumber import check_character
from households.models import Member
from monitor.choices import (
    BatchStatus,
    Channel,
    ClueChannel,
    ClueStatus,
    RowOutcome,
)
from monitor.deadlines import region_code_at
from monitor.demo_history.catalogue import COUNTY, GIVEN, NOT_ELIGIBLE_NOTES, SURNAMES
from monitor.demo_history.records import Home, Story, local_time
from monitor.demo_history.writer import History
from monitor.feeds.clue_workflow import village_due_on
from monitor.feeds.intake import seal_payload
from monitor.feeds.rows import STAGE_COLUMNS, RowNormaliser
from monitor.models import (
    Clue,
    ClueTransition,
    Department,
    DispatchRound,
    SelfApplication,
    WarningBatch,
    WarningRow,
)


def _someone(rng: random.Random, known: set[str]) -> tuple[str, str]:
    """A name and a valid ID number of a person not in the registry (a list names many)."""
    while True:
        region = rng.choice(("630121", "630121", "630102", "632123", "630122"))
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(20000))
        first17 = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
        number = first17 + check_character(first17)
        if pii.id_number_hash(number) not in known:
            return rng.choice(SURNAMES) + rng.choice(GIVEN), number


def _listed_member(home: Home) -> Member:
    sick = home.with_health(Health.SERIOUS, Health.CHRONIC)
    return sick[0] if sick else home.members[0]


def department_lists_write(h: History, relapsing: Story) -> dict:
    """Four earlier lists of the demo department (高额医疗自付), each processed the day it
    came, its round sent down by the county a day or three later, and every clue verified
    by the village: most not eligible, some identified (cases filed from them), one not
    verifiable; a few rows attached to cases then open, rows not in the registry, one with
    a wrong check digit, one repeated. The last list names the household in follow-up
    after clearance (返贫风险), which relapses."""
    department = Department.objects.first()
    if department is None:
        return {"batches": 0, "clues": 0, "identified": 0}
    rng, today = h.rng, h.today
    known = set(Member.objects.values_list("id_number_hash", flat=True))
    totals = {"batches": 0, "clues": 0, "identified": 0}
    for days_ago, identify, clear in ((610, 2, 2), (430, 2, 1), (250, 1, 0), (85, 2, 0)):
        day = today - timedelta(days=days_ago)
        # The county sends the whole round down at once (round_dispatch).
        sent = local_time(day + timedelta(days=rng.randint(1, 3)), 9, 30)
        homes = []
        if days_ago == 85:
            homes.append(("identify", relapsing.home))
            identify -= 1
        homes += [
            (
                "identify",
                h.take(
                    need=lambda home: home.able and home.with_health(Health.SERIOUS, Health.CHRONIC)
                ),
            )
            for _ in range(identify)
        ]
        homes += [("not_eligible", h.take()) for _ in range(rng.randint(7, 9))]
        if days_ago in (610, 250):
            homes.append(("unverifiable", h.take()))
        # Households then in monitoring: their rows are evidence on the case, not clues.
        open_then = [
            s for s in h.stories
            if s.case.identified_on and s.case.identified_on < day
            and (s.closed_on is None or s.closed_on > day)
        ]  # fmt: skip
        attached = rng.sample(open_then, min(2, len(open_then)))
        raw = []  # (kind, subject, name, id number)
        for kind, home in homes:
            member = _listed_member(home)
            raw.append(
                (
                    kind,
                    home,
                    member.name,
                    pii.decrypt(member.id_number_encrypted, field="id_number"),
                )
            )
        for story in attached:
            member = _listed_member(story.home)
            raw.append(
                (
                    "attached",
                    story,
                    member.name,
                    pii.decrypt(member.id_number_encrypted, field="id_number"),
                )
            )
        raw += [("not_found", None, *_someone(rng, known)) for _ in range(rng.randint(12, 16))]
        name, number = _someone(rng, known)
        raw.append(("invalid", None, name, number[:17] + ("0" if number[17] != "0" else "1")))
        rng.shuffle(raw)
        repeated = next(i for i, item in enumerate(raw) if item[0] == "not_eligible")
        raw.append(("duplicate", None, raw[repeated][2], raw[repeated][3]))
        lines = [("姓名", "身份证号", "预警类型", "金额", "发生日期", "说明")]
        for _, _, person, number in raw:
            amount = rng.randint(26000, 90000)
            lines.append(
                (
                    person,
                    number,
                    "高额医疗自付",
                    str(amount),
                    (day - timedelta(days=rng.randint(5, 40))).isoformat(),
                    "",
                )
            )
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(lines)
        data = text.getvalue().encode("utf-8")
        batch = WarningBatch.objects.create(
            department=department,
            batch_key=f"演示历史-医保-{day:%Y-%m}",
            content_sha256=hashlib.sha256(data).hexdigest(),
            file_name=f"医保高额自付预警_{day:%Y%m}.csv",
            file_format="csv",
            payload=seal_payload(data),
            status=BatchStatus.DONE,
            processed_at=local_time(day, 10, 3),
        )
        h.stamp(batch, "received_at", local_time(day, 10))
        normalise = RowNormaliser(day)
        counts = defaultdict(int)
        clue_count = 0
        for number, ((kind, subject, _, _), cells) in enumerate(
            zip(raw, lines[1:], strict=True), 1
        ):
            row = WarningRow(
                batch=batch, **dict(zip(STAGE_COLUMNS, normalise(number, *cells), strict=True))
            )
            if kind == "invalid":
                counts["rows_invalid"] += 1
            elif kind == "duplicate":
                row.outcome, row.reason = RowOutcome.DUPLICATE, f"与第 {repeated + 1} 行重复"
                counts["rows_duplicate"] += 1
            elif kind == "not_found":
                row.outcome = RowOutcome.NOT_FOUND
                counts["rows_not_found"] += 1
            elif kind == "attached":
                row.outcome, row.household, row.case = (
                    RowOutcome.ATTACHED_TO_CASE,
                    subject.home.household,
                    subject.case,
                )
                counts["rows_attached"] += 1
            else:
                clue = _verified_clue(h, batch, subject, kind, day, sent, relapsing)
                row.outcome, row.household, row.clue = RowOutcome.NEW_CLUE, subject.household, clue
                counts["rows_new_clue"] += 1
                clue_count += 1
                totals["identified"] += kind == "identify"
                if kind == "identify" and clear and clue.case.relapse_of_id is None:
                    clear -= 1
                    story = next(s for s in h.stories if s.case is clue.case)
                    h.clear(
                        story,
                        min(
                            story.case.identified_on + timedelta(days=rng.randint(300, 360)),
                            today - timedelta(days=25),
                        ),
                    )
                    h.finish(story)
            h.add(row)
        WarningBatch.objects.filter(pk=batch.pk).update(rows_total=len(raw), **counts)
        dispatch_round = DispatchRound.objects.create(
            county_id=COUNTY,
            batch=batch,
            clue_count=clue_count,
            dispatched_at=sent,
            dispatched_by=h.county,
        )
        h.stamp(dispatch_round, "created_at", local_time(day, 10, 3))
        totals["batches"] += 1
        totals["clues"] += clue_count
    return totals


def _verified_clue(
    h: History, batch, home: Home, outcome: str, day: date, sent: datetime, relapsing: Story
) -> Clue:
    """A clue of the list: dispatched with its round, verified by the village (a couple
    late); 纳入监测 files the case from it, found on the day the list came."""
    rng = h.rng
    village = home.household.village_id
    cadre = h.cadres[village]
    dispatched = timezone.localtime(sent).date()
    due = village_due_on(village, dispatched)
    # A few verified late; a household found in need is visited at once (its 15 days run).
    late = outcome != "identify" and rng.random() < 0.15
    verified = dispatched + timedelta(days=rng.randint(9, 12) if late else rng.randint(1, 4))
    case = None
    relapse_of = None
    if outcome == "identify":
        who = rng.choice(("户主", "配偶", "家中老人"))
        note = f"入户核实：{who}住院治疗，医疗自付费用高，家庭生活困难，符合纳入条件"
        if home is relapsing.home:
            relapse_of = relapsing.case
        story = h.file(
            home,
            found=day,
            channel=Channel.DEPARTMENT_WARNING,
            filed=verified,
            relapse_of=relapse_of,
            main="01",
            description=note,
        )
        h.identify(story, verified, (verified - day).days + rng.randint(7, 9))
        h.finish(story)
        case = story.case
        # The last list's new case is over a month in monitoring with no measure yet: the
        # figures' "未落实帮扶措施" and the village's reminder have one to show.
        story.no_measures = relapse_of is None and (h.today - day).days < 100
    elif outcome == "not_eligible":
        note = rng.choice(NOT_ELIGIBLE_NOTES)
    else:
        note = "该户常年举家在外务工，多次联系未果，暂无法入户核实"
    closed_at = local_time(verified, 15, rng.randrange(60))
    clue = Clue(
        household=home.household,
        village_id=village,
        channel=ClueChannel.DEPARTMENT,
        status=ClueStatus.CLOSED,
        raised_on=day,
        due_on=due,
        overdue_since=due + timedelta(days=1) if verified > due else None,
        outcome=outcome,
        outcome_note=note,
        closed_by=cadre,
        closed_at=closed_at,
        case=case,
        source_batch=batch,
        relapse_of=relapse_of,
    )
    clue.save()
    h.stamp(clue, "created_at", local_time(day, 10, 3))
    S = ClueStatus
    _clue_steps(
        h,
        clue,
        [
            ("dispatch", S.PENDING_DISPATCH, S.VERIFYING, h.county, sent, ""),
            ("verify", S.VERIFYING, S.CLOSED, cadre, closed_at, note),
        ],
    )
    return clue


def _clue_steps(h: History, clue: Clue, steps) -> None:
    for action, source, target, by, moment, comment in steps:
        h.add(
            ClueTransition(
                clue=clue,
                action=action,
                from_status=source,
                to_status=target,
                actor=by,
                actor_role=by.role,
                actor_region=by.region_id or "",
                comment=comment[:500],
            ),
            ("at", moment),
        )


def applications_write(h: History) -> int:
    """一键申报 from the public page: one admitted (its case), one not eligible, one from
    someone not in the registry whom the village could not verify."""
    rng, today = h.rng, h.today
    known = set(Member.objects.values_list("id_number_hash", flat=True))
    plans = [
        (300, "identify", "01", "家中老人患病住院，医疗费用负担重"),
        (160, "not_eligible", "05", "丈夫务工受伤，暂时没有收入"),
        (60, "unverifiable", "07", "在外务工被拖欠工资，家里生活困难"),
    ]
    for days_ago, outcome, risk, difficulty in plans:
        day = today - timedelta(days=days_ago)
        home = None
        if outcome != "unverifiable":
            home = h.take(
                need=lambda x, risk=risk: x.able and (risk != "01" or x.with_health(Health.SERIOUS))
            )
        if home is None:
            village = h.village()
            name, number = _someone(rng, known)
        else:
            village = home.household.village_id
            head = home.members[0]
            name, number = head.name, pii.decrypt(head.id_number_encrypted, field="id_number")
        accepted = day + timedelta(days=1)
        verified = accepted + timedelta(days=rng.randint(2, 4))
        township = h.reviewers[region_code_at(village, RegionLevel.TOWNSHIP)]
        cadre = h.cadres[village]
        case = None
        note = {
            "not_eligible": NOT_ELIGIBLE_NOTES[1],
            "unverifiable": "申报人户籍不在本村，已告知向户籍所在地申报",
        }.get(outcome, "入户核实：家中老人住院，医疗自付费用高，符合纳入条件")
        if home is not None and outcome == "identify":
            story = h.file(
                home,
                found=day,
                channel=Channel.SELF_APPLICATION,
                filed=verified,
                main=risk,
                description=difficulty,
            )
            h.identify(story, verified, (verified - day).days + 8)
            h.finish(story)
            case = story.case
        clue = Clue(
            household=home.household if home else None,
            village_id=village,
            channel=ClueChannel.SELF_APPLICATION,
            status=ClueStatus.CLOSED,
            raised_on=day,
            due_on=village_due_on(village, accepted),
            outcome=outcome,
            outcome_note=note,
            closed_by=cadre,
            closed_at=local_time(verified, 16),
            case=case,
        )
        clue.save()
        h.stamp(clue, "created_at", local_time(day, 20, 15))
        S = ClueStatus
        _clue_steps(
            h,
            clue,
            [
                (
                    "accept",
                    S.PENDING_ACCEPTANCE,
                    S.VERIFYING,
                    township,
                    local_time(accepted, 9, 40),
                    "同意受理",
                ),
                ("verify", S.VERIFYING, S.CLOSED, cadre, local_time(verified, 16), note),
            ],
        )
        phone = "1" + rng.choice("3589") + f"{rng.randrange(10**9):09d}"
        application = SelfApplication(
            clue=clue,
            village_id=village,
            name=name,
            difficulty=difficulty,
            risk_code=risk,
            reference=f"SQ{day:%Y%m%d}{rng.randrange(10**6):06d}",
            **pii.protect_id_number(number),
            **pii.protect_phone(phone),
        )
        h.add(application, ("submitted_at", local_time(day, 20, 12)))
    return len(plans)
