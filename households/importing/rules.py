"""The rules of a registry row (农户、家庭成员登记导入), shared by both import paths.

The columns and their accepted spellings, the labels people type for each choice, the checks
of one row on its own (in the order both paths run them), the words of every reason a row is
refused for, and the report that keeps them. households.importing.orm and
households.bulk_import both build on these, so a row is judged the same whichever way it
goes in.
"""

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import count
from typing import NamedTuple

from django.core.exceptions import ValidationError

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
from households.idnumber import IdNumberError, ListIdChecker
from households.models import Region, RegistryImport
from households.services import household_number_problem, normalise_phone

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
KIND_COLUMNS = {
    RegistryImport.Kind.HOUSEHOLDS: HOUSEHOLD_COLUMNS,
    RegistryImport.Kind.MEMBERS: MEMBER_COLUMNS,
}
KIND_REQUIRED = {
    RegistryImport.Kind.HOUSEHOLDS: ["number", "village", "kind"],
    RegistryImport.Kind.MEMBERS: ["household", "name", "id_number", "relation", "labour"],
}
ALL_COLUMNS = {**MEMBER_COLUMNS, **HOUSEHOLD_COLUMNS}
COLUMN_LABEL = {key: names[0] for key, names in {**HOUSEHOLD_COLUMNS, **MEMBER_COLUMNS}.items()}
COLUMN_LABEL["household"] = "户编号"


def kind_of_columns(columns: Iterable[str]) -> str:
    """A file with an ID-number column is a member list; otherwise a household list."""
    return RegistryImport.Kind.MEMBERS if "id_number" in columns else RegistryImport.Kind.HOUSEHOLDS


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
    """Totals and row errors of one file. The errors kept are those of the first
    MAX_STORED_ERRORS rows in file order, whatever order the checks found them in, so both
    paths keep the same ones; the counts stay exact."""

    kind: str
    rows_total: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    _kept: list = field(default_factory=list, repr=False)
    _order: Iterator[int] = field(default_factory=count, repr=False)

    def reject(self, row: int, column: str, reason: str) -> None:
        self.rejected += 1
        self.keep_error(row, COLUMN_LABEL.get(column, column), reason)

    def keep_error(self, row: int, label: str, reason: str) -> None:
        """Remember one row's error (already counted in `rejected`) if it is among the first."""
        kept = self._kept
        if len(kept) >= MAX_STORED_ERRORS and row >= -kept[0][0]:
            return
        # Reasons may quote the cell: never store a full ID or phone number.
        error = {"row": row, "field": label, "reason": pii.mask_pii_in_text(reason)}
        entry = (-row, next(self._order), error)
        if len(kept) < MAX_STORED_ERRORS:
            heapq.heappush(kept, entry)
        else:
            heapq.heapreplace(kept, entry)

    @property
    def errors(self) -> list[dict]:
        return [error for _, _, error in sorted(self._kept, key=lambda entry: -entry[0])]


# Reasons given for what only the whole file or the database can tell; the set-based path
# builds its messages with the same functions.
def duplicate_number_reason(first_row: int) -> str:
    return f"户编号与第 {first_row} 行重复"


def duplicate_id_reason(first_row: int) -> str:
    return f"身份证号与第 {first_row} 行重复"


def duplicate_head_reason(first_row: int) -> str:
    return f"该户已有户主（第 {first_row} 行）"


def unregistered_reason(number: str) -> str:
    return f"户编号 {number} 未登记（请先导入农户表）"


def closed_reason(number: str) -> str:
    # 销户: the file is kept as it was; nothing new is registered on it.
    return f"户编号 {number} 已销户，不能登记或修改成员"


# Existence oracles (issue 11): the same words as households.services, which say nothing of
# where (or whether) the number is registered outside the importer's region.
HOUSEHOLD_OUTSIDE_REASON = "该户编号不能使用，请联系上级核实"
MEMBER_OUTSIDE_REASON = "该身份证号不能登记在此农户，请联系上级核实"
OTHER_HEAD_REASON = "该户已登记了另一位户主；如需更换，请先把原户主的关系改为其他"


def _choice(values: Mapping, column: str, mapping: dict, *, required: bool, default=""):
    raw = values.get(column, "")
    if raw == "":
        if required:
            raise RowError(column, f"{COLUMN_LABEL[column]}不能为空")
        return default
    try:
        return mapping[raw]
    except KeyError:
        allowed = "、".join(
            label
            for label in dict.fromkeys(label for label in mapping if label and not label.isascii())
        )
        raise RowError(
            column, f"无法识别的{COLUMN_LABEL[column]}「{raw}」，可填：{allowed}"
        ) from None


def _yes_no(values: Mapping, column: str):
    raw = values.get(column, "").strip().lower()
    if raw == "":
        return None
    if raw in YES:
        return True
    if raw in NO:
        return False
    raise RowError(column, f"{COLUMN_LABEL[column]}应填“是”或“否”，实为「{raw}」")


def _code(values: Mapping, column: str) -> str:
    """A long digit code (户编号, 村代码) that Excel turned into a number is lost for good."""
    raw = values.get(column, "")
    if "E+" in raw.upper():
        raise RowError(
            column,
            f"{COLUMN_LABEL[column]}「{raw}」被 Excel 转成了科学计数法，原编号已丢失，"
            "请将该列设为文本格式后重新导出",
        )
    return raw


def outside_scope(code: str, scope_prefix: str | None) -> bool:
    return scope_prefix is not None and not code.startswith(scope_prefix)


# --- One row on its own: the checks both paths run, in this order -------------------------


def household_key(
    values: Mapping[str, str], villages: set[str], scope_prefix: str | None
) -> tuple[str, str]:
    """(户编号, 村代码) of a household row; the checks that come before the duplicate check."""
    number = _code(values, "number")
    village = _code(values, "village")
    if not number:
        raise RowError("number", "户编号不能为空")
    if not village:
        raise RowError("village", "村代码不能为空")
    if village not in villages:
        raise RowError("village", f"村代码 {village} 不是系统中现行的村级区划")
    if outside_scope(village, scope_prefix):
        raise RowError("village", f"村代码 {village} 不在您的管辖范围内")
    problem = household_number_problem(number, village)
    if problem:
        raise RowError("number", problem)
    return number, village


class HouseholdFields(NamedTuple):
    kind: str
    address: str
    housing_safe: bool | None
    water_safe: bool | None
    civil_affairs_status: str


def household_attributes(values: Mapping[str, str]) -> HouseholdFields:
    """The rest of a household row, checked after the duplicate check."""
    return HouseholdFields(
        kind=_choice(values, "kind", KIND_BY_LABEL, required=True),
        address=values.get("address", "")[:200],
        housing_safe=_yes_no(values, "housing_safe"),
        water_safe=_yes_no(values, "water_safe"),
        civil_affairs_status=_choice(
            values, "civil_affairs_status", CIVIL_BY_LABEL, required=False
        ),
    )


def member_household_number(values: Mapping[str, str]) -> str:
    """The 户编号 of a member row, before it is looked up."""
    number = _code(values, "household")
    if not number:
        raise RowError("household", "户编号不能为空")
    return number


class MemberFields(NamedTuple):
    name: str
    id_number: str  # normalised (18 characters), for encryption and the keyed hash only
    relation: str
    health: str
    disability_level: int | None
    labour: str
    schooling: str
    work_status: str
    medical_insurance: bool | None
    phone: str  # normalised, "" when none

    @property
    def birth_date(self) -> date:
        value = self.id_number
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))

    @property
    def sex(self) -> str:
        return "M" if int(self.id_number[16]) % 2 else "F"


def member_attributes(values: Mapping[str, str], check_id: ListIdChecker) -> MemberFields:
    """A member row's own fields, checked once its household is known to be open.
    `check_id` is a ListIdChecker for the day of the import (parse_id_number at a fraction
    of the cost on clean numbers, the same reasons on bad ones)."""
    name = values.get("name", "")
    if not name:
        raise RowError("name", "姓名不能为空")
    if len(name) > 50:
        raise RowError("name", "姓名超过50个字")
    try:
        id_number, _ = check_id(values.get("id_number", ""))
    except IdNumberError as exc:
        raise RowError("id_number", exc.reason) from None
    phone = values.get("phone", "")
    # The usual cell (empty, or a plain 11-digit mobile number) is already what
    # normalise_phone would give; anything else takes the full rule.
    if phone and not (len(phone) == 11 and phone[0] == "1" and phone.isascii() and phone.isdigit()):
        try:
            phone = normalise_phone(phone)
        except ValidationError as exc:
            raise RowError("phone", exc.messages[0]) from None
    health = _choice(values, "health", HEALTH_BY_LABEL, required=False, default=Health.HEALTHY)
    disability = _choice(
        values, "disability_level", DISABILITY_BY_LABEL, required=False, default=None
    )
    if disability is not None and health != Health.DISABLED:
        raise RowError("disability_level", "填写了残疾等级，健康状况应为“残疾”")
    return MemberFields(
        name=name,
        id_number=id_number,
        relation=_choice(values, "relation", RELATION_BY_LABEL, required=True),
        health=health,
        disability_level=disability,
        labour=_choice(values, "labour", LABOUR_BY_LABEL, required=True),
        schooling=_choice(values, "schooling", SCHOOLING_BY_LABEL, required=False),
        work_status=_choice(values, "work_status", WORK_BY_LABEL, required=False),
        medical_insurance=_yes_no(values, "medical_insurance"),
        phone=phone,
    )


def current_villages() -> set[str]:
    return set(
        Region.objects.filter(level=RegionLevel.VILLAGE, retired=False).values_list(
            "code", flat=True
        )
    )


MEMBER_OPTIONAL = (
    "health",
    "disability_level",
    "labour",
    "schooling",
    "work_status",
    "medical_insurance",
)
HOUSEHOLD_OPTIONAL = ("address", "housing_safe", "water_safe", "civil_affairs_status")
