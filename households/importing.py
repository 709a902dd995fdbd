"""Registry import (农户、家庭成员登记导入) from CSV or XLSX.

Every good row goes in, every bad row comes back with its row number, column and a Chinese
reason, and one bad row never sinks the file. Re-importing a file updates in place: households
are keyed by 户编号, members by the keyed hash of their ID number.

Work is done in chunks with set-based reads and one bulk upsert per chunk (INSERT … ON
CONFLICT DO UPDATE on both PostgreSQL and SQLite), never a query per row.
"""

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import policy
from accounts.audit import audit_record
from accounts.choices import AuditAction
from accounts.scope import region_prefix_of
from households import pii
from households.choices import (
    CivilAffairsStatus,
    DisabilityLevel,
    Health,
    HouseholdKind,
    Labour,
    RegionLevel,
    Relation,
    Schooling,
    WorkStatus,
)
from households.idnumber import IdNumberError, parse_id_number
from households.models import Household, Member, Region, RegistryImport
from households.services import household_number_problem, normalise_phone
from sheets.reading import Table, TableRow, TabularError, read_table

CHUNK = 2000
MAX_STORED_ERRORS = 1000

HOUSEHOLD_COLUMNS = {
    "number": ["户编号", "户码", "户编码"],
    "village": ["村代码", "村级区划代码", "所在村代码", "行政村代码"],
    "kind": ["户类型", "农户类型", "户属性"],
    "address": ["住址", "家庭住址", "地址"],
    "housing_safe": ["住房安全", "住房是否安全"],
    "water_safe": ["饮水安全", "饮水是否安全"],
    "civil_affairs_status": ["民政救助类别", "低保特困类别"],
}
MEMBER_COLUMNS = {
    "household": ["户编号", "户码", "户编码"],
    "name": ["姓名"],
    "id_number": ["身份证号", "身份证号码", "证件号码", "公民身份号码", "身份证"],
    "relation": ["与户主关系"],
    "health": ["健康状况"],
    "disability_level": ["残疾等级"],
    "labour": ["劳动技能", "劳动能力"],
    "schooling": ["在校生状况", "在校情况"],
    "work_status": ["务工状况", "务工情况"],
    "medical_insurance": ["参加基本医疗保险", "是否参加基本医疗保险", "参加城乡居民基本医疗保险"],
    "phone": ["联系电话", "手机号", "手机号码", "电话"],
}
COLUMN_LABEL = {key: names[0] for key, names in {**HOUSEHOLD_COLUMNS, **MEMBER_COLUMNS}.items()}
COLUMN_LABEL["household"] = "户编号"


def _label_map(choices, extra: dict[str, str] | None = None) -> dict[str, str]:
    mapping = {label: value for value, label in choices}
    mapping.update({str(value): value for value, _ in choices if value})
    mapping.update(extra or {})
    return mapping


KIND_BY_LABEL = _label_map(
    HouseholdKind.choices,
    {
        "建档立卡户": HouseholdKind.LIFTED,
        "脱贫户（含监测户）": HouseholdKind.LIFTED,
        "农户": HouseholdKind.ORDINARY,
    },
)
RELATION_BY_LABEL = _label_map(
    Relation.choices,
    {
        "本人": Relation.HEAD,
        "之子": Relation.CHILD,
        "之女": Relation.CHILD,
        "子": Relation.CHILD,
        "女": Relation.CHILD,
        "儿子": Relation.CHILD,
        "女儿": Relation.CHILD,
        "父亲": Relation.PARENT,
        "母亲": Relation.PARENT,
        "孙子": Relation.GRANDCHILD,
        "孙女": Relation.GRANDCHILD,
        "儿媳": Relation.CHILD_IN_LAW,
        "女婿": Relation.CHILD_IN_LAW,
        "之儿媳": Relation.CHILD_IN_LAW,
        "之女婿": Relation.CHILD_IN_LAW,
    },
)
HEALTH_BY_LABEL = _label_map(Health.choices, {"大病": Health.SERIOUS, "慢性病": Health.CHRONIC})
LABOUR_BY_LABEL = _label_map(Labour.choices, {"弱劳动力": Labour.WEAK, "半劳动力": Labour.WEAK})
SCHOOLING_BY_LABEL = _label_map(
    Schooling.choices, {"": "", "无": "", "在校生": "", "辍学": Schooling.DROPOUT}
)
WORK_BY_LABEL = _label_map(WorkStatus.choices, {"": "", "无": "", "否": ""})
DISABILITY_BY_LABEL = _label_map(
    DisabilityLevel.choices, {"": None, "无": None, "1": 1, "2": 2, "3": 3, "4": 4}
)
CIVIL_BY_LABEL = _label_map(
    CivilAffairsStatus.choices,
    {"": "", "无": "", "低保户": "dibao", "特困": "tekun", "特困供养人员": "tekun"},
)
YES = {"是", "安全", "有", "y", "yes", "1", "true", "已参加", "参加"}
NO = {"否", "不安全", "无", "n", "no", "0", "false", "未参加"}


class RowError(Exception):
    def __init__(self, column: str, reason: str):
        self.column, self.reason = column, reason


@dataclass
class ImportReport:
    kind: str
    rows_total: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)

    def reject(self, row: int, column: str, reason: str) -> None:
        self.rejected += 1
        # Keep the report readable and bounded; the count stays exact.
        if len(self.errors) < MAX_STORED_ERRORS:
            # Reasons may quote the cell: never store a full ID or phone number.
            self.errors.append(
                {
                    "row": row,
                    "field": COLUMN_LABEL.get(column, column),
                    "reason": pii.mask_pii_in_text(reason),
                }
            )


def _choice(values: dict, column: str, mapping: dict, *, required: bool, default=""):
    raw = values.get(column, "")
    if raw == "":
        if required:
            raise RowError(column, f"{COLUMN_LABEL[column]}不能为空")
        return default
    if raw not in mapping:
        allowed = "、".join(
            label
            for label in dict.fromkeys(label for label in mapping if label and not label.isascii())
        )
        raise RowError(column, f"无法识别的{COLUMN_LABEL[column]}「{raw}」，可填：{allowed}")
    return mapping[raw]


def _yes_no(values: dict, column: str):
    raw = values.get(column, "").strip().lower()
    if raw == "":
        return None
    if raw in YES:
        return True
    if raw in NO:
        return False
    raise RowError(column, f"{COLUMN_LABEL[column]}应填“是”或“否”，实为「{raw}」")


def _code(values: dict, column: str) -> str:
    """A long digit code (户编号, 村代码) that Excel turned into a number is lost for good."""
    raw = values.get(column, "")
    if "E+" in raw.upper():
        raise RowError(
            column,
            f"{COLUMN_LABEL[column]}「{raw}」被 Excel 转成了科学计数法，原编号已丢失，"
            "请将该列设为文本格式后重新导出",
        )
    return raw


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


def _outside_scope(code: str, scope_prefix: str | None) -> bool:
    return scope_prefix is not None and not code.startswith(scope_prefix)


def import_households(table: Table, *, scope_prefix: str | None) -> ImportReport:
    report = ImportReport(kind=RegistryImport.Kind.HOUSEHOLDS)
    villages = set(
        Region.objects.filter(level=RegionLevel.VILLAGE, retired=False).values_list(
            "code", flat=True
        )
    )
    present = set(table.columns)
    update_fields = ["village", "kind", "updated_at"] + [
        name
        for name in ("address", "housing_safe", "water_safe", "civil_affairs_status")
        if name in present
    ]
    first_seen: dict[str, int] = {}
    for chunk in _chunks(table.rows, CHUNK):
        batch: dict[str, Household] = {}
        for row in chunk:
            report.rows_total += 1
            values = row.values
            try:
                number = _code(values, "number")
                village = _code(values, "village")
                if not number:
                    raise RowError("number", "户编号不能为空")
                if not village:
                    raise RowError("village", "村代码不能为空")
                if village not in villages:
                    raise RowError("village", f"村代码 {village} 不是系统中现行的村级区划")
                if _outside_scope(village, scope_prefix):
                    raise RowError("village", f"村代码 {village} 不在您的管辖范围内")
                problem = household_number_problem(number, village)
                if problem:
                    raise RowError("number", problem)
                if number in first_seen:
                    raise RowError("number", f"户编号与第 {first_seen[number]} 行重复")
                household = Household(
                    number=number,
                    village_id=village,
                    kind=_choice(values, "kind", KIND_BY_LABEL, required=True),
                    address=values.get("address", "")[:200],
                    housing_safe=_yes_no(values, "housing_safe"),
                    water_safe=_yes_no(values, "water_safe"),
                    civil_affairs_status=_choice(
                        values, "civil_affairs_status", CIVIL_BY_LABEL, required=False
                    ),
                )
            except RowError as exc:
                report.reject(row.number, exc.column, exc.reason)
                continue
            first_seen[number] = row.number
            batch[number] = household
        if not batch:
            continue
        existing = dict(
            Household.objects.filter(number__in=list(batch)).values_list("number", "village_id")
        )
        # An existing household outside the importer's region stays untouched.
        for number, village in existing.items():
            if _outside_scope(village, scope_prefix):
                report.reject(first_seen[number], "number", "该户编号已登记在您管辖范围外")
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
    today = today or timezone.localdate()
    present = set(table.columns)
    optional = [
        name
        for name in (
            "health",
            "disability_level",
            "labour",
            "schooling",
            "work_status",
            "medical_insurance",
        )
        if name in present
    ]
    update_fields = ["household", "name", "relation", "updated_at", *optional]
    if "phone" in present:
        update_fields += ["phone_encrypted", "phone_hash", "phone_masked"]
    first_seen: dict[str, int] = {}
    head_row: dict[str, int] = {}
    blank_phone: set[str] = set()
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
                member = _member_from_row(values, households, scope_prefix, today)
                if member.id_number_hash in first_seen:
                    raise RowError(
                        "id_number", f"身份证号与第 {first_seen[member.id_number_hash]} 行重复"
                    )
                if member.relation == Relation.HEAD:
                    number = values["household"]
                    if number in head_row:
                        raise RowError("relation", f"该户已有户主（第 {head_row[number]} 行）")
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
        existing = dict(
            Member.objects.filter(id_number_hash__in=list(batch)).values_list(
                "id_number_hash", "household__village_id"
            )
        )
        for id_hash, village in existing.items():
            if _outside_scope(village, scope_prefix):
                row_number, _ = batch.pop(id_hash)
                report.reject(
                    row_number,
                    "id_number",
                    "该身份证号已登记在您管辖范围外的农户中，请联系上级核实",
                )
        _refuse_second_heads(batch, report)
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


def _refuse_second_heads(batch: dict, report: ImportReport) -> None:
    """One 户主 per household: a head row for a household whose stored head is someone else
    is refused (change the old head's relation first)."""
    heads = {member.household_id for _, member in batch.values() if member.relation == "head"}
    if not heads:
        return
    stored = dict(
        Member.objects.filter(household_id__in=heads, relation=Relation.HEAD).values_list(
            "household_id", "id_number_hash"
        )
    )
    for id_hash, (row_number, member) in list(batch.items()):
        if member.relation == Relation.HEAD and stored.get(member.household_id, id_hash) != id_hash:
            del batch[id_hash]
            report.reject(
                row_number,
                "relation",
                "该户已登记了另一位户主；如需更换，请先把原户主的关系改为其他",
            )


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
    values: dict, households: dict, scope_prefix: str | None, today: date
) -> Member:
    number = _code(values, "household")
    if not number:
        raise RowError("household", "户编号不能为空")
    if number not in households or _outside_scope(households[number][1], scope_prefix):
        raise RowError("household", f"户编号 {number} 未登记（请先导入农户表）")
    if households[number][2] is not None:
        # 销户: the file is kept as it was; nothing new is registered on it.
        raise RowError("household", f"户编号 {number} 已销户，不能登记或修改成员")
    name = values.get("name", "")
    if not name:
        raise RowError("name", "姓名不能为空")
    if len(name) > 50:
        raise RowError("name", "姓名超过50个字")
    try:
        parsed = parse_id_number(values.get("id_number", ""), today=today)
    except IdNumberError as exc:
        raise RowError("id_number", exc.reason) from None
    try:
        phone = normalise_phone(values.get("phone", ""))
    except ValidationError as exc:
        raise RowError("phone", exc.messages[0]) from None
    health = _choice(values, "health", HEALTH_BY_LABEL, required=False, default=Health.HEALTHY)
    disability = _choice(
        values, "disability_level", DISABILITY_BY_LABEL, required=False, default=None
    )
    if disability is not None and health != Health.DISABLED:
        raise RowError("disability_level", "填写了残疾等级，健康状况应为“残疾”")
    return Member(
        household_id=households[number][0],
        name=name,
        birth_date=parsed.birth_date,
        sex=parsed.sex,
        relation=_choice(values, "relation", RELATION_BY_LABEL, required=True),
        health=health,
        disability_level=disability,
        labour=_choice(values, "labour", LABOUR_BY_LABEL, required=True),
        schooling=_choice(values, "schooling", SCHOOLING_BY_LABEL, required=False),
        work_status=_choice(values, "work_status", WORK_BY_LABEL, required=False),
        medical_insurance=_yes_no(values, "medical_insurance"),
        **pii.protect_id_number(parsed.value),
        **pii.protect_phone(phone),
    )


KIND_SPEC = {
    RegistryImport.Kind.HOUSEHOLDS: (
        HOUSEHOLD_COLUMNS,
        ["number", "village", "kind"],
        import_households,
    ),
    RegistryImport.Kind.MEMBERS: (
        MEMBER_COLUMNS,
        ["household", "name", "id_number", "relation", "labour"],
        import_members,
    ),
}


def detect_kind(data: bytes, filename: str, max_bytes: int) -> str:
    """A file with an ID-number column is a member list; otherwise a household list."""
    table = read_table(
        data,
        filename=filename,
        aliases={**MEMBER_COLUMNS, **HOUSEHOLD_COLUMNS},
        max_bytes=max_bytes,
    )
    table.rows.close()  # only the header was needed
    return (
        RegistryImport.Kind.MEMBERS
        if "id_number" in table.columns
        else RegistryImport.Kind.HOUSEHOLDS
    )


def registry_import(
    *,
    data: bytes,
    filename: str,
    by=None,
    scope_prefix: str | None,
    kind: str | None = None,
    max_bytes: int = 30 * 1024 * 1024,
    request=None,
) -> RegistryImport:
    """Import one file; raises TabularError when the file as a whole cannot be read.

    `scope_prefix=None` means the whole registry and is only for operators (`by=None`, the
    management command); a user always imports within a region."""
    if scope_prefix is None and by is not None:
        raise PermissionDenied("没有管辖范围的账号不能导入登记数据")
    kind = kind or detect_kind(data, filename, max_bytes)
    columns, required, importer = KIND_SPEC[kind]
    table = _open(data, filename, columns, required, max_bytes)
    with transaction.atomic():
        report = importer(table, scope_prefix=scope_prefix)
        record = RegistryImport.objects.create(
            kind=kind,
            file_name=filename[:200],
            file_sha256=hashlib.sha256(data).hexdigest(),
            imported_by=by if by is not None and by.is_authenticated else None,
            rows_total=report.rows_total,
            rows_created=report.created,
            rows_updated=report.updated,
            rows_rejected=report.rejected,
            errors=report.errors,
        )
        audit_record(
            actor=by,
            action=AuditAction.IMPORT,
            obj=record,
            request=request,
            detail={
                "created": report.created,
                "updated": report.updated,
                "rejected": report.rejected,
            },
        )
    return record


def _size_label(size: int) -> str:
    """30 MB, 1.5 MB, 512 KB: the limit as people read it."""
    if size < 1024 * 1024:
        return f"{size // 1024} KB"
    return f"{size / (1024 * 1024):.2f}".rstrip("0").rstrip(".") + " MB"


def registry_import_upload(*, by, upload, kind: str | None = None, request=None) -> RegistryImport:
    """One person's upload, from the API or the import page: the policy's `registry.import`,
    the size limit `settings.REGISTRY_IMPORT_MAX_BYTES` (checked before the file is read) and
    the user's own region as the scope. `upload` is an uploaded file (size, name, read()).

    Raises TabularError when the file as a whole cannot be used (code 'too_large' over the
    limit), PolicyDenied or PermissionDenied when the user may not import."""
    policy.require(by, "registry.import")
    limit = settings.REGISTRY_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise TabularError("too_large", f"文件超过 {_size_label(limit)} 的上限，请分批导入")
    return registry_import(
        data=upload.read(),
        filename=upload.name or "upload",
        by=by,
        scope_prefix=region_prefix_of(by),
        kind=kind,
        max_bytes=limit,
        request=request,
    )
