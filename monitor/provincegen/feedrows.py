"""Rows of the department side (provincegen.feeds), in the order and with the ids the
application would have given them: lists (WarningBatch) by arrival, clues by the day they
were raised, each trail (ClueTransition) by its clock."""

import hashlib
import random
from datetime import date, timedelta

from accounts.choices import Role
from households import pii
from monitor.choices import ClueStatus
from monitor.provincegen.feeds import LIST_HEADER, NOTES, BatchCalendar, Feeds
from monitor.provincegen.geography import Layout


def batch_ids(calendar: BatchCalendar, first_id: int) -> None:
    """Ids in arrival order, as the application would have handed them out."""
    for offset, batch in enumerate(calendar.batches):
        batch.id = first_id + offset


def batch_rows(calendar: BatchCalendar, layout: Layout, moment):
    """WarningBatch rows; the clue counts of the receipt follow the clues raised. The upload
    itself is not kept (no WarningRow receipts): its stored ciphertext is the header only."""
    payload = pii.encrypt_bytes(LIST_HEADER.encode("utf-8"), field="warning_batch")
    for batch in calendar.batches:
        department = layout.departments[batch.department]
        received = calendar.start + timedelta(minutes=batch.received)
        found = batch.clues + round(batch.clues * 0.2)
        not_found = round(found * 1.3) + batch.received % 17
        invalid = batch.received % 4
        yield (
            batch.id,
            layout.department_first + batch.department,
            "department",
            f"{received:%Y%m}-{department.kind}",
            hashlib.sha256(f"{batch.department}:{batch.month}".encode()).hexdigest(),
            f"{department.name}{received:%Y年%m月}预警名单.csv",
            "csv",
            "",
            payload,
            "done",
            "",
            moment(batch.received),
            moment(batch.received + 2),
            moment(batch.received),
            found + not_found + invalid,
            invalid,
            0,
            not_found,
            batch.clues,
            0,
            found - batch.clues,
        )


BATCH_COLUMNS = (
    "id",
    "department_id",
    "source",
    "batch_key",
    "content_sha256",
    "file_name",
    "file_format",
    "scope_prefix",
    "payload",
    "status",
    "error",
    "received_at",
    "processed_at",
    "enqueued_at",
    "rows_total",
    "rows_invalid",
    "rows_duplicate",
    "rows_not_found",
    "rows_new_clue",
    "rows_merged",
    "rows_attached",
)
CLUE_COLUMNS = (
    "id",
    "household_id",
    "village_id",
    "channel",
    "status",
    "raised_on",
    "due_on",
    "overdue_since",
    "outcome",
    "outcome_note",
    "closed_by_id",
    "closed_at",
    "case_id",
    "source_batch_id",
    "relapse_of_id",
    "created_at",
)
CLUE_TRAIL_COLUMNS = (
    "clue_id",
    "action",
    "from_status",
    "to_status",
    "actor_id",
    "actor_role",
    "actor_region",
    "at",
    "comment",
)
ROUND_COLUMNS = (
    "county_id",
    "batch_id",
    "clue_count",
    "created_at",
    "dispatched_at",
    "dispatched_by_id",
)


def clue_rows(feeds: Feeds, layout: Layout, first_id: int, household_id, moment) -> list:
    """Clue rows with ids in the order they were raised; counts each list's new clues."""
    for offset, row in enumerate(feeds.clues):
        row.id = first_id + offset
        if row.batch is not None:
            row.batch.clues += 1
    rows = []
    for row in feeds.clues:
        village = layout.villages[layout.village_index(row.village)]
        closed = row.closed is not None
        rows.append(
            (
                row.id,
                household_id(row.household),
                row.village,
                str(row.channel),
                str(row.status),
                moment(row.raised).date(),
                row.due_on,
                row.overdue_since,
                str(row.outcome),
                NOTES[row.outcome] if closed else "",
                layout.cadre(village.index) if closed else None,
                moment(row.closed) if closed else None,
                row.case.id if row.case is not None else None,
                row.batch.id if row.batch is not None else None,
                row.relapse_of.id if row.relapse_of is not None else None,
                moment(row.created),
            )
        )
    return rows


def clue_trail(feeds: Feeds, layout: Layout, moment):
    """ClueTransition rows: the county's dispatch or the township's acceptance, then the
    village's verification (the steps of monitor/feeds/clue_workflow.py), in time order."""
    rows = []
    for row in feeds.clues:
        village = layout.villages[layout.village_index(row.village)]
        township = layout.townships[village.township]
        county = layout.counties[village.county]
        if row.handed is not None and row.batch is not None:
            actor = (layout.approver(county.index), Role.COUNTY_APPROVER, county.code)
            step = ("dispatch", ClueStatus.PENDING_DISPATCH)
            rows.append((row.handed, row.id, *step, ClueStatus.VERIFYING, *actor, ""))
        elif row.handed is not None:
            actor = (layout.reviewer(township.index), Role.TOWNSHIP_REVIEWER, township.code)
            step = ("accept", ClueStatus.PENDING_ACCEPTANCE)
            rows.append((row.handed, row.id, *step, ClueStatus.VERIFYING, *actor, ""))
        if row.closed is not None:
            actor = (layout.cadre(village.index), Role.VILLAGE_CADRE, village.code)
            step = ("verify", ClueStatus.VERIFYING, ClueStatus.CLOSED)
            rows.append((row.closed, row.id, *step, *actor, NOTES[row.outcome]))
    rows.sort(key=lambda r: (r[0], r[1]))
    for at, clue, action, source, target, actor, role, region, comment in rows:
        yield (
            clue,
            action,
            str(source),
            str(target),
            actor,
            str(role),
            region,
            moment(at),
            comment,
        )


def round_rows(calendar: BatchCalendar, feeds: Feeds, layout: Layout, moment):
    """下发批次: one per list and county that raised clues there, sent down whole."""
    counts: dict[tuple[int, int], int] = {}
    for row in feeds.clues:
        if row.batch is not None:
            key = (row.batch.id, row.county)
            counts[key] = counts.get(key, 0) + 1
    for batch in calendar.batches:
        for county in batch.counties:
            count = counts.get((batch.id, county))
            if not count:
                continue
            sent = calendar.dispatch_at(batch, county)
            yield (
                layout.counties[county].code,
                batch.id,
                count,
                moment(batch.received + 2),
                moment(sent) if sent is not None else None,
                layout.approver(county) if sent is not None else None,
            )


def application_rows(feeds: Feeds, layout: Layout, household_id, moment, rng: random.Random):
    """农户自主申报 before the applicant's numbers are copied from the head of household:
    (household id, village, difficulty, risk, submitted, reference, case id, clue id)."""
    references: set[str] = set()

    def reference(day: date) -> str:
        while True:
            text = f"SQ{day:%Y%m%d}{rng.randrange(10**6):06d}"
            if text not in references:
                references.add(text)
                return text

    for row in feeds.clues:
        if row.application is None:
            continue
        risk, difficulty = row.application
        submitted = moment(row.raised)
        yield (
            household_id(row.household),
            row.village,
            difficulty,
            risk,
            submitted,
            reference(submitted.date()),
            None,
            row.id,
        )
    for case, sent, difficulty in feeds.joined:
        submitted = moment(sent)
        village = layout.villages[case.village].code
        yield (
            household_id(case.household),
            village,
            difficulty,
            case.main_risk,
            submitted,
            reference(submitted.date()),
            case.id,
            None,
        )
