"""Checked rows as the lines COPY reads into the staging tables (PostgreSQL text format).

Each row is checked by the very functions the ORM path calls (households.importing), so the
reasons are the same words. A row that fails is staged too, with its column label and its
reason already masked (no full ID or phone number is ever written to the database, not even
to a temporary table), because whether its reason stands depends on what only the whole
file or the database can tell: a member row naming an unknown household is refused for that
first, and a household row repeating an accepted number is a duplicate before anything else.

A good member row carries its ID number and phone encrypted, keyed-hashed and masked; the
numbers themselves go no further than this process.
"""

from array import array
from collections import Counter
from datetime import date

from households import pii
from households.choices import Relation
from households.idnumber import ListIdChecker, mask_id_number, mask_phone
from households.importing.rules import (
    COLUMN_LABEL,
    RowError,
    household_attributes,
    household_key,
    member_attributes,
    member_household_number,
)

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

MEMBER_STAGE_COLUMNS = (
    "seq",
    "hh_number",
    "err_early",
    "err_field",
    "err_reason",
    "is_head",
    "name",
    "relation",
    "health",
    "disability_level",
    "labour",
    "schooling",
    "work_status",
    "medical_insurance",
    "id_encrypted",
    "id_hash",
    "id_masked",
    "birth_date",
    "sex",
    "phone_encrypted",
    "phone_hash",
    "phone_masked",
    "phone_blank",
)
HOUSEHOLD_STAGE_COLUMNS = (
    "seq",
    "number",
    "village",
    "err_stage",
    "err_field",
    "err_reason",
    "kind",
    "address",
    "housing_safe",
    "water_safe",
    "civil_affairs_status",
)
_MEMBER_ERROR_TAIL = "\t".join([NULL] * (len(MEMBER_STAGE_COLUMNS) - 5))
_HOUSEHOLD_ERROR_TAIL = "\t".join([NULL] * (len(HOUSEHOLD_STAGE_COLUMNS) - 6))


def sequence(piece: int, number: int) -> int:
    """A row's place in the file: the piece it came in, then its number within the piece."""
    return (piece << 32) | number


def copy_text(value: str) -> str:
    if value.isprintable() and "\\" not in value:
        return value
    return value.translate(_ESCAPES)


def _flag(value: bool | None) -> str:
    return NULL if value is None else ("t" if value else "f")


def _error(exc: RowError) -> str:
    return (
        copy_text(COLUMN_LABEL.get(exc.column, exc.column))
        + "\t"
        + copy_text(pii.mask_pii_in_text(exc.reason))
    )


# The first 16 hex digits of an ID hash, as an unsigned 64-bit number: enough to tell
# almost every pair of numbers apart, at a fraction of the memory of the hashes themselves.
ID_KEY_DIGITS = 16


class RepeatCandidates:
    """What the importing process learns of the good member rows as their pieces arrive: the
    ID hashes (by their first 16 hex digits) and the 户编号 of 户主 rows seen more than once
    in the file. Only such rows can be an in-file duplicate or a household's second head
    (merge.py), so the search over the whole stage narrows to them, or is skipped when there
    are none."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._heads: set[str] = set()
        self.ids: set[int] = set()
        self.heads: set[str] = set()

    def add(self, keys: tuple[bytes, list[str]]) -> None:
        id_keys, head_numbers = keys
        self._note(self._ids, self.ids, array("Q", id_keys).tolist())
        self._note(self._heads, self.heads, head_numbers)

    @staticmethod
    def _note(seen: set, repeated: set, values: list) -> None:
        fresh = set(values)
        if len(fresh) < len(values):
            repeated.update(value for value, count in Counter(values).items() if count > 1)
        repeated.update(seen & fresh)
        seen |= fresh

    def id_prefixes(self) -> list[str]:
        return [f"{key:0{ID_KEY_DIGITS}x}" for key in self.ids]


class MemberLines:
    """(piece, rows) → (COPY bytes for the member stage, the keys RepeatCandidates takes);
    built once per import."""

    def __init__(self, positions: dict[str, int], today: date):
        self.fields = tuple(positions.items())
        self.check_id = ListIdChecker(today)
        self.hash_id = pii.lookup_hasher("id_number")
        self.hash_phone = pii.lookup_hasher("phone")

    def __call__(self, piece: int, rows: list[tuple[int, list[str]]]) -> tuple[bytes, tuple]:
        fields, check_id = self.fields, self.check_id
        lines = []
        good = []
        id_keys = array("Q")
        head_numbers = []
        for number, cells in rows:
            values = {name: cells[position] for name, position in fields}
            seq = sequence(piece, number)
            try:
                household = member_household_number(values)
            except RowError as exc:
                lines.append(f"{seq}\t{NULL}\tt\t{_error(exc)}\t{_MEMBER_ERROR_TAIL}\n")
                continue
            try:
                member = member_attributes(values, check_id)
            except RowError as exc:
                lines.append(
                    f"{seq}\t{copy_text(household)}\tf\t{_error(exc)}\t{_MEMBER_ERROR_TAIL}\n"
                )
                continue
            good.append((seq, household, member, not values.get("phone")))
        id_tokens = pii.encrypt_many(
            [member.id_number for _, _, member, _ in good], field="id_number"
        )
        phones = [member.phone for _, _, member, _ in good if member.phone]
        phone_tokens = iter(pii.encrypt_many(phones, field="phone"))
        hash_id, hash_phone = self.hash_id, self.hash_phone
        add_key, head = id_keys.append, Relation.HEAD.value
        for (seq, household, member, phone_blank), id_token in zip(good, id_tokens, strict=True):
            value, phone = member.id_number, member.phone
            if phone:
                phone_part = f"{next(phone_tokens)}\t{hash_phone(phone)}\t{mask_phone(phone)}"
            else:
                phone_part = "\t\t"
            id_hash = hash_id(value)
            add_key(int(id_hash[:ID_KEY_DIGITS], 16))
            is_head = member.relation == head
            if is_head:
                head_numbers.append(household)
            lines.append(
                f"{seq}\t{copy_text(household)}\tf\t{NULL}\t{NULL}\t"
                f"{'t' if is_head else 'f'}\t{copy_text(member.name)}\t"
                f"{member.relation}\t{member.health}\t"
                f"{NULL if member.disability_level is None else member.disability_level}\t"
                f"{member.labour}\t{member.schooling}\t{member.work_status}\t"
                f"{_flag(member.medical_insurance)}\t"
                f"{id_token}\t{id_hash}\t{mask_id_number(value)}\t"
                f"{value[6:10]}-{value[10:12]}-{value[12:14]}\t"
                f"{'M' if int(value[16]) % 2 else 'F'}\t{phone_part}\t"
                f"{'t' if phone_blank else 'f'}\n"
            )
        return "".join(lines).encode("utf-8"), (id_keys.tobytes(), head_numbers)


class HouseholdLines:
    """(piece, rows) → (COPY bytes for the household stage, None); built once per import."""

    def __init__(self, positions: dict[str, int], villages: set[str], scope_prefix: str | None):
        self.fields = tuple(positions.items())
        self.villages, self.scope_prefix = villages, scope_prefix

    def __call__(self, piece: int, rows: list[tuple[int, list[str]]]) -> bytes:
        fields, villages, scope_prefix = self.fields, self.villages, self.scope_prefix
        lines = []
        for number, cells in rows:
            values = {name: cells[position] for name, position in fields}
            seq = sequence(piece, number)
            try:
                key, village = household_key(values, villages, scope_prefix)
            except RowError as exc:
                lines.append(f"{seq}\t{NULL}\t{NULL}\t1\t{_error(exc)}\t{_HOUSEHOLD_ERROR_TAIL}\n")
                continue
            try:
                household = household_attributes(values)
            except RowError as exc:
                lines.append(
                    f"{seq}\t{key}\t{village}\t2\t{_error(exc)}\t{_HOUSEHOLD_ERROR_TAIL}\n"
                )
                continue
            lines.append(
                f"{seq}\t{key}\t{village}\t{NULL}\t{NULL}\t{NULL}\t{household.kind}\t"
                f"{copy_text(household.address)}\t{_flag(household.housing_safe)}\t"
                f"{_flag(household.water_safe)}\t{household.civil_affairs_status}\n"
            )
        return "".join(lines).encode("utf-8"), None
