"""Households and members of one county, as COPY text, in a worker process.

A county is one task: its ID numbers are made unique there (region part = the county code,
then the birth date and a sequence number per birth day and sex), so the tasks need nothing
from each other and the result does not depend on which worker ran which county. Each task
draws from its own generator seeded with (seed, county), so a seed gives the same people on
any number of workers. Protection is the application's own (households.pii): AES-GCM
ciphertext, keyed hash and mask of the ID number, and of the phone of heads and of some
other adults — the encryption is most of the cost, hence the worker processes.

Besides the rows, a task returns a summary per household that the case planner needs: its
kind, when it was registered and closed, and a few facts about its members (someone able to
work, a disabled member, a pupil, a sick member, a second founding member).
"""

import random
from array import array
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from households import pii
from households.choices import ABLE_TO_WORK
from households.idnumber import check_character, mask_id_number, mask_phone
from households.life import CLOSED_REASON
from monitor.provincegen.sqlio import text_timestamp

HOUSEHOLD_COLUMNS = (
    "id",
    "number",
    "village_id",
    "kind",
    "civil_affairs_status",
    "address",
    "housing_safe",
    "water_safe",
    "is_monitored",
    "closed_on",
    "closed_reason",
    "created_at",
    "updated_at",
)
MEMBER_COLUMNS = (
    "household_id",
    "name",
    "id_number_encrypted",
    "id_number_hash",
    "id_number_masked",
    "birth_date",
    "sex",
    "relation",
    "health",
    "disability_level",
    "labour",
    "schooling",
    "work_status",
    "medical_insurance",
    "life_status",
    "life_status_on",
    "life_status_evidence",
    "phone_encrypted",
    "phone_hash",
    "phone_masked",
    "created_at",
    "updated_at",
)

# Summary flags of a household's members (in the register at the end of the history).
ABLE, DISABLED, PUPIL, SICK, SECOND = 1, 2, 4, 8, 16

LIFTED_SHARE = 0.25
CLOSED_SHARE = 0.003
SIZES = (1, 2, 3, 4, 5, 6, 7, 8)
SIZE_WEIGHTS = (10, 20, 20, 22, 15, 8, 3, 2)  # mean about 3.6 people
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹易常武乔贺赖龚文马"  # noqa: E501
GIVEN = "建国华明军平英秀兰玉珍芳桂红梅丽霞伟强磊洋勇艳杰娟涛超敏静燕德福生海山成文志春云翠花荣林宝刚宏新辉鹏晓欣雪婷浩宇轩子涵梓萱佳怡俊博瑞凯"  # noqa: E501
EVIDENCE = {"deceased": "死亡证明", "moved_out": "户口迁移证明"}
WORKDAY_START, WORKDAY_MINUTES = 8 * 60 + 30, 9 * 60


@dataclass(frozen=True)
class CountyTask:
    seed: int
    county: int
    county_code: str
    # (code, name, index of its first household in the province, households)
    villages: tuple[tuple[str, str, int, int], ...]
    first_household_id: int
    start: date  # the first day of the history
    days: int  # its length; the last day is start + days - 1


@dataclass
class Summary:
    kind: array  # 1 = 脱贫户
    flags: array
    created: array  # day of the history the household was registered
    closed: array  # day it was closed (销户), -1 if it was not


class _Draws(random.Random):
    """Whole numbers scaled from one random() call instead of Random's exact rejection
    sampling: a bias far below anything a benchmark sees, and a third of the worker's time
    saved (a few dozen draws per member)."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, n: int) -> int:  # the one-argument form only
        return int(self.random() * n)

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]


class _Person:
    __slots__ = ("age", "birth", "health", "labour", "relation", "schooling", "sex", "surname")

    def __init__(self, relation: str, age: int, sex: str, surname: str):
        self.relation, self.age, self.sex, self.surname = relation, max(0, age), sex, surname


def _family(rng: random.Random, size: int) -> list[_Person]:
    """Relations, ages and sexes of a household of `size` people around its head."""
    surname = rng.choice(SURNAMES)
    head_age = min(85, max(22, int(rng.gauss(52, 13))))
    head = _Person("head", head_age, "M" if rng.random() < 0.85 else "F", surname)
    people = [head]
    other = "F" if head.sex == "M" else "M"
    if size > 1 and (size > 2 or rng.random() < 0.8):
        people.append(_Person("spouse", head_age + rng.randint(-6, 4), other, rng.choice(SURNAMES)))
    if head_age >= 56 and size - len(people) >= 2:
        child = _Person("child", head_age - rng.randint(24, 32), rng.choice("MF"), surname)
        people.append(child)
        in_law = "F" if child.sex == "M" else "M"
        people.append(
            _Person("child_in_law", child.age + rng.randint(-4, 4), in_law, rng.choice(SURNAMES))
        )
        while len(people) < size:
            age = child.age - rng.randint(20, 30) + rng.randint(0, 12)
            people.append(_Person("grandchild", age, rng.choice("MF"), surname))
        return people
    if head_age <= 50 and size - len(people) >= 2 and rng.random() < 0.35:
        age = head_age + rng.randint(24, 32)
        people.append(_Person("parent", min(age, 95), rng.choice("MF"), surname))
    while len(people) < size:
        age = head_age - rng.randint(20, 38)
        relation = "child" if age >= 0 else "other"
        people.append(_Person(relation, max(age, rng.randint(0, 17)), rng.choice("MF"), surname))
    return people


def _condition(rng: random.Random, person: _Person) -> None:
    """Health, labour capacity and schooling that fit the age."""
    age, draw = person.age, rng.random()
    if age < 15:
        limits = (0.97, 0.98, 0.985)
    elif age < 60:
        limits = (0.88, 0.95, 0.97)
    else:
        limits = (0.60, 0.90, 0.95)
    health = (
        "healthy"
        if draw < limits[0]
        else "chronic"
        if draw < limits[1]
        else "serious"
        if draw < limits[2]
        else "disabled"
    )
    person.health = health
    schooling = ""
    if 3 <= age <= 5:
        schooling = "preschool"
    elif 6 <= age <= 15:
        schooling = "dropout" if rng.random() < 0.003 else "compulsory"
    elif 16 <= age <= 18 and rng.random() < 0.65:
        schooling = "high_school"
    elif 19 <= age <= 22 and rng.random() < 0.35:
        schooling = "university"
    person.schooling = schooling
    if age < 16 or schooling in ("high_school", "university"):
        labour = "none"
    elif health == "serious" or (health == "disabled" and rng.random() < 0.6):
        labour = "lost" if rng.random() < 0.7 else "weak"
    elif age >= 70:
        labour = "none" if rng.random() < 0.7 else "weak"
    elif age >= 60 or health in ("chronic", "disabled"):
        labour = "weak" if rng.random() < 0.7 else "ordinary"
    else:
        labour = "skilled" if rng.random() < 0.25 else "ordinary"
    person.labour = labour


def county_registry(task: CountyTask) -> tuple[bytes, bytes, bytes]:
    """COPY text of the county's households and members, and the packed summary."""
    rng = _Draws(f"{task.seed}:registry:{task.county}")
    start = datetime(task.start.year, task.start.month, task.start.day)
    last_day = task.days - 1
    hash_id = pii.lookup_hasher("id_number")
    encrypt, phone_hash = pii.encrypt, pii.phone_hash
    serials: dict[tuple[int, str], int] = {}
    households, members = [], []
    summary = Summary(array("b"), array("B"), array("h"), array("h"))
    start_ordinal = task.start.toordinal()
    end_ordinal = start_ordinal + last_day  # the last day of the history

    def moment(day: int) -> datetime:
        return start + timedelta(days=day, minutes=WORKDAY_START + rng.randrange(WORKDAY_MINUTES))

    def id_number(birth: date, sex: str) -> str:
        key = (birth.toordinal(), sex)
        serial = serials.get(key, 0)
        serials[key] = serial + 1
        # Odd sequence numbers are men (GB 11643); 000 is not used.
        sequence = 2 * serial + (1 if sex == "M" else 2)
        first17 = f"{task.county_code}{birth:%Y%m%d}{sequence:03d}"
        return first17 + check_character(first17)

    total = sum(count for *_, count in task.villages)
    closing = set(rng.sample(range(total), round(total * CLOSED_SHARE))) if total >= 100 else set()
    position = 0
    for village_code, village_name, first_index, count in task.villages:
        for k in range(count):
            index, position = first_index + k, position + 1
            household_id = task.first_household_id + index
            lifted = rng.random() < LIFTED_SHARE
            # Half registered by the first import (the system's start), the rest since.
            created_day = rng.randint(0, 60) if rng.random() < 0.5 else rng.randint(0, last_day)
            closed_day = -1
            if position - 1 in closing and created_day < last_day - 60:
                closed_day = rng.randint(max(created_day + 30, 45), last_day)
            created = moment(created_day)
            size = rng.choices(SIZES, SIZE_WEIGHTS)[0]
            civil = rng.random()
            civil_status = (
                "dibao"
                if civil < (0.15 if lifted else 0.04)
                else "tekun"
                if civil < (0.17 if lifted else 0.05)
                else "dibao_edge"
                if civil < 0.08
                else ""
            )
            housing = rng.random()
            water = rng.random()
            closed_at = moment(closed_day) if closed_day >= 0 else None
            households.append(
                "\t".join(
                    (
                        str(household_id),
                        f"{village_code}{k + 1:04d}",
                        village_code,
                        "lifted" if lifted else "ordinary",
                        civil_status,
                        f"{village_name}{rng.randint(1, 8)}组",
                        "t" if housing < 0.96 else "f" if housing < 0.975 else "\\N",
                        "t" if water < 0.97 else "f" if water < 0.98 else "\\N",
                        "f",
                        closed_at.date().isoformat() if closed_at else "\\N",
                        CLOSED_REASON if closed_at else "",
                        _ts(created),
                        _ts(closed_at or created),
                    )
                )
            )
            flags = 0
            people = _family(rng, size)
            for position_in_family, person in enumerate(people):
                _condition(rng, person)
                birth_ordinal = end_ordinal - int(person.age * 365.2425) - rng.randint(0, 364)
                birth = date.fromordinal(min(birth_ordinal, end_ordinal))
                # Founding members come with the household; a few were added later
                # (births, marriages): registered after both the household and the birth.
                joined_day = created_day
                if position_in_family and rng.random() < 0.04:
                    joined_day = rng.randint(created_day, last_day)
                joined_day = max(joined_day, birth.toordinal() - start_ordinal + rng.randint(1, 30))
                joined_day = min(joined_day, last_day)
                if closed_day >= 0:
                    joined_day = min(joined_day, closed_day)
                joined = moment(joined_day)
                status, status_on, updated = "in_register", None, joined
                if closed_day >= 0:
                    old_alone = size == 1 and person.age >= 75
                    status, status_on = ("deceased" if old_alone else "moved_out"), closed_day
                elif person.relation != "head" and joined_day < last_day:
                    draw = rng.random()
                    dies = 0.08 if person.age >= 60 else 0.004
                    leaves = 0.04 if 18 <= person.age <= 40 else 0.008
                    if draw < dies:
                        status = "deceased"
                    elif draw < dies + leaves:
                        status = "moved_out"
                    if status != "in_register":
                        status_on = rng.randint(joined_day + 1, last_day)
                if status_on is not None:
                    updated = moment(status_on)
                    if updated < joined:
                        updated = joined + timedelta(minutes=30)
                else:
                    if person.labour in ABLE_TO_WORK:
                        flags |= ABLE
                    if person.health == "disabled":
                        flags |= DISABLED
                    if person.health in ("chronic", "serious"):
                        flags |= SICK
                    if person.schooling in ("compulsory", "high_school", "university"):
                        flags |= PUPIL
                    if person.relation != "head" and joined_day == created_day:
                        flags |= SECOND
                number = id_number(birth, person.sex)
                work = ""
                if person.labour in ("ordinary", "skilled") and rng.random() < 0.8:
                    work = rng.choice(("local", "in_province", "out_of_province"))
                insured = rng.random()
                phone = ("", "", "")
                if person.relation == "head" or (person.age >= 18 and rng.random() < 0.3):
                    digits = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
                    phone = (encrypt(digits, field="phone"), phone_hash(digits), mask_phone(digits))
                given = "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
                members.append(
                    "\t".join(
                        (
                            str(household_id),
                            person.surname + given,
                            encrypt(number, field="id_number"),
                            hash_id(number),
                            mask_id_number(number),
                            birth.isoformat(),
                            person.sex,
                            person.relation,
                            person.health,
                            str(rng.choice((1, 2, 2, 3, 3, 4, 4, 4)))
                            if person.health == "disabled"
                            else "\\N",
                            person.labour,
                            person.schooling,
                            work,
                            "t" if insured < 0.97 else "f" if insured < 0.99 else "\\N",
                            status,
                            (start + timedelta(days=status_on)).date().isoformat()
                            if status_on is not None
                            else "\\N",
                            EVIDENCE.get(status, ""),
                            *phone,
                            _ts(joined),
                            _ts(updated),
                        )
                    )
                )
            summary.kind.append(1 if lifted else 0)
            summary.flags.append(flags)
            summary.created.append(created_day)
            summary.closed.append(closed_day)
    packed = b"".join(
        part.tobytes() for part in (summary.kind, summary.flags, summary.created, summary.closed)
    )
    return (
        ("\n".join(households) + "\n").encode(),
        ("\n".join(members) + "\n").encode(),
        packed,
    )


def unpack_summary(packed: bytes, count: int) -> Summary:
    kind, flags, created, closed = array("b"), array("B"), array("h"), array("h")
    offset = 0
    for part in (kind, flags, created, closed):
        size = part.itemsize * count
        part.frombytes(packed[offset : offset + size])
        offset += size
    return Summary(kind, flags, created, closed)


_OFFSETS: dict[int, str] = {}


def _ts(moment: datetime) -> str:
    """A local wall-clock time as COPY text with its UTC offset, looked up once per day (a
    zone lookup per value was a tenth of the worker's time)."""
    day = moment.toordinal()
    offset = _OFFSETS.get(day)
    if offset is None:
        offset = _OFFSETS[day] = text_timestamp(moment.replace(hour=12, minute=0))[-6:]
    return moment.isoformat(" ") + offset
