"""The ORM path of the registry import: SQLite (the embedded demo) and small files.

Rows are checked by households.importing.rules and upserted in chunks of CHUNK with one bulk
INSERT … ON CONFLICT DO UPDATE each (on PostgreSQL and SQLite), never a query per row.
"""

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from itertools import islice

from django.utils import timezone

from households import pii
from households.choices import Relation
from households.idnumber import ListIdChecker
from households.importing.rules import (
    HOUSEHOLD_OPTIONAL,
    HOUSEHOLD_OUTSIDE_REASON,
    MEMBER_OPTIONAL,
    MEMBER_OUTSIDE_REASON,
    OTHER_HEAD_REASON,
    ImportReport,
    RowError,
    closed_reason,
    current_villages,
    duplicate_head_reason,
    duplicate_id_reason,
    duplicate_number_reason,
    household_attributes,
    household_key,
    member_attributes,
    member_household_number,
    outside_scope,
    unregistered_reason,
)
from households.models import Household, Member, RegistryImport
from sheets.reading import Table, TableRow, read_table

CHUNK = 2000


def _first_known(new, stored):
    return stored if new is None else new


def _chunks(rows: Iterable[TableRow], size: int) -> Iterator[list[TableRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _open(data: bytes, filename: str, columns: dict, required: list[str], max_bytes: int) -> Table:
    return read_table(
        data, filename=filename, aliases=columns, required=required, max_bytes=max_bytes
    )


def import_households(table: Table, *, scope_prefix: str | None) -> ImportReport:
    report = ImportReport(kind=RegistryImport.Kind.HOUSEHOLDS)
    villages = current_villages()
    present = set(table.columns)
    update_fields = ["village", "kind", "updated_at"] + [
        name for name in HOUSEHOLD_OPTIONAL if name in present
    ]
    first_seen: dict[str, int] = {}
    for chunk in _chunks(table.rows, CHUNK):
        batch: dict[str, Household] = {}
        for row in chunk:
            report.rows_total += 1
            values = row.values
            try:
                number, village = household_key(values, villages, scope_prefix)
                if number in first_seen:
                    raise RowError("number", duplicate_number_reason(first_seen[number]))
                fields = household_attributes(values)
            except RowError as exc:
                report.reject(row.number, exc.column, exc.reason)
                continue
            first_seen[number] = row.number
            batch[number] = Household(number=number, village_id=village, **fields._asdict())
        if not batch:
            continue
        existing = dict(
            Household.objects.filter(number__in=list(batch)).values_list("number", "village_id")
        )
        # An existing household outside the importer's region stays untouched.
        for number, village in existing.items():
            if outside_scope(village, scope_prefix):
                report.reject(first_seen[number], "number", HOUSEHOLD_OUTSIDE_REASON)
                del batch[number]
        # A blank cell on re-import keeps what is stored: an unsafe-housing finding must not
        # vanish because a later export left the column empty.
        stored = Household.objects.filter(number__in=[n for n in batch if n in existing])
        for number, housing, water, address in stored.values_list(
            "number", "housing_safe", "water_safe", "address"
        ):
            household = batch[number]
            household.housing_safe = _first_known(household.housing_safe, housing)
            household.water_safe = _first_known(household.water_safe, water)
            household.address = household.address or address
        Household.objects.bulk_create(
            batch.values(),
            update_conflicts=True,
            unique_fields=["number"],
            update_fields=update_fields,
        )
        updated = sum(1 for number in batch if number in existing)
        report.updated += updated
        report.created += len(batch) - updated
    return report


def import_members(
    table: Table, *, scope_prefix: str | None, today: date | None = None
) -> ImportReport:
    report = ImportReport(kind=RegistryImport.Kind.MEMBERS)
    check_id = ListIdChecker(today or timezone.localdate())
    present = set(table.columns)
    optional = [name for name in MEMBER_OPTIONAL if name in present]
    update_fields = ["household", "name", "relation", "updated_at", *optional]
    if "phone" in present:
        update_fields += ["phone_encrypted", "phone_hash", "phone_masked"]
    first_seen: dict[str, int] = {}
    head_row: dict[str, int] = {}
    blank_phone: set[str] = set()
    # Household id → ID hashes of its heads as stored before this import, for those an
    # earlier chunk has since rewritten: the second-head rule must not depend on where the
    # file happens to be cut into chunks.
    heads_before: dict[int, set[str]] = {}
    for chunk in _chunks(table.rows, CHUNK):
        numbers = {row.values.get("household", "") for row in chunk}
        households = {
            number: (pk, village, closed_on)
            for number, pk, village, closed_on in Household.objects.filter(
                number__in=numbers
            ).values_list("number", "id", "village_id", "closed_on")
        }
        batch: dict[str, tuple[int, Member]] = {}
        for row in chunk:
            report.rows_total += 1
            values = row.values
            try:
                member = _member_from_row(values, households, scope_prefix, check_id)
                if member.id_number_hash in first_seen:
                    raise RowError(
                        "id_number", duplicate_id_reason(first_seen[member.id_number_hash])
                    )
                if member.relation == Relation.HEAD:
                    number = values["household"]
                    if number in head_row:
                        raise RowError("relation", duplicate_head_reason(head_row[number]))
                    head_row[number] = row.number
            except RowError as exc:
                report.reject(row.number, exc.column, exc.reason)
                continue
            first_seen[member.id_number_hash] = row.number
            batch[member.id_number_hash] = (row.number, member)
            if not values.get("phone"):
                blank_phone.add(member.id_number_hash)
        if not batch:
            continue
        existing = {
            id_hash: (household_id, village, relation)
            for id_hash, household_id, village, relation in Member.objects.filter(
                id_number_hash__in=list(batch)
            ).values_list("id_number_hash", "household_id", "household__village_id", "relation")
        }
        for id_hash, (household_id, village, relation) in existing.items():
            if relation == Relation.HEAD:
                heads_before.setdefault(household_id, set()).add(id_hash)
            if outside_scope(village, scope_prefix):
                row_number, _ = batch.pop(id_hash)
                report.reject(row_number, "id_number", MEMBER_OUTSIDE_REASON)
        _refuse_second_heads(batch, report, heads_before)
        _keep_stored_where_blank(batch, existing, blank_phone, present)
        Member.objects.bulk_create(
            [member for _, member in batch.values()],
            update_conflicts=True,
            unique_fields=["id_number_hash"],
            update_fields=update_fields,
        )
        updated = sum(1 for id_hash in batch if id_hash in existing)
        report.updated += updated
        report.created += len(batch) - updated
    return report


def _refuse_second_heads(
    batch: dict, report: ImportReport, heads_before: dict[int, set[str]]
) -> None:
    """One 户主 per household: a head row for a household whose head stored before this
    import is someone else is refused (change the old head's relation first)."""
    heads = {member.household_id for _, member in batch.values() if member.relation == "head"}
    if not heads:
        return
    stored: dict[int, set[str]] = {}
    for household_id, id_hash in Member.objects.filter(
        household_id__in=heads, relation=Relation.HEAD
    ).values_list("household_id", "id_number_hash"):
        stored.setdefault(household_id, set()).add(id_hash)
    for id_hash, (row_number, member) in list(batch.items()):
        if member.relation != Relation.HEAD:
            continue
        household_id = member.household_id
        others = stored.get(household_id, set()) | heads_before.get(household_id, set())
        if others - {id_hash}:
            del batch[id_hash]
            report.reject(row_number, "relation", OTHER_HEAD_REASON)


def _keep_stored_where_blank(
    batch: dict, existing: dict, blank_phone: set[str], present: set[str]
) -> None:
    """A blank phone cell on re-import keeps the stored phone instead of erasing it."""
    keep = [h for h in batch if h in existing and h in blank_phone and "phone" in present]
    if not keep:
        return
    stored = Member.objects.filter(id_number_hash__in=keep).values_list(
        "id_number_hash", "phone_encrypted", "phone_hash", "phone_masked"
    )
    for id_hash, encrypted, digest, masked in stored:
        member = batch[id_hash][1]
        member.phone_encrypted, member.phone_hash, member.phone_masked = encrypted, digest, masked


def _member_from_row(
    values: Mapping[str, str], households: dict, scope_prefix: str | None, check_id
) -> Member:
    number = member_household_number(values)
    if number not in households or outside_scope(households[number][1], scope_prefix):
        raise RowError("household", unregistered_reason(number))
    if households[number][2] is not None:
        raise RowError("household", closed_reason(number))
    fields = member_attributes(values, check_id)
    return Member(
        household_id=households[number][0],
        name=fields.name,
        birth_date=fields.birth_date,
        sex=fields.sex,
        relation=fields.relation,
        health=fields.health,
        disability_level=fields.disability_level,
        labour=fields.labour,
        schooling=fields.schooling,
        work_status=fields.work_status,
        medical_insurance=fields.medical_insurance,
        **pii.protect_id_number(fields.id_number),
        **pii.protect_phone(fields.phone),
    )
