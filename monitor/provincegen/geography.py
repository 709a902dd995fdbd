"""The synthetic province's regions, its staff and its departments.

Province 98 (no real province code starts with 98; households.benchdata uses 99): about 8
cities, 40 counties, a township per dozen villages and a village per 250–350 households,
scaled down with the number of households. Staff: a village cadre per village, a township
reviewer per township, a county approver per county, each with an unusable password.
Departments: four per county (医保, 民政, 教育, 残联) and one per city (应急管理), each with
its machine account.
"""

import math
import random
import string
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, UNUSABLE_PASSWORD_SUFFIX_LENGTH

from accounts.choices import Role
from households.choices import RegionLevel
from monitor.models.feeds import DepartmentKind
from monitor.provincegen.sqlio import aware, copy_rows, reserve_ids

PREFIX = "98"
PROVINCE = "980000000000"
VILLAGE_SIZE = (250, 350)
VILLAGES_PER_COUNTY = 80
VILLAGES_PER_TOWNSHIP = 12
MAX_CITIES, MAX_COUNTIES, COUNTIES_PER_CITY = 8, 40, 5
COUNTY_DEPARTMENTS = (
    (DepartmentKind.MEDICAL_INSURANCE, "医保局"),
    (DepartmentKind.CIVIL_AFFAIRS, "民政局"),
    (DepartmentKind.EDUCATION, "教育局"),
    (DepartmentKind.DISABLED_FEDERATION, "残联"),
)
CITY_DEPARTMENTS = ((DepartmentKind.EMERGENCY, "应急管理局"),)


@dataclass
class Village:
    index: int
    code: str
    name: str
    township: int
    county: int
    first: int  # index of its first household in the province
    count: int


@dataclass
class Township:
    index: int
    code: str
    name: str
    county: int
    villages: list[int] = field(default_factory=list)


@dataclass
class County:
    index: int
    code: str
    name: str
    city: int
    villages: list[int] = field(default_factory=list)
    townships: list[int] = field(default_factory=list)


@dataclass
class Department:
    index: int
    kind: str
    name: str
    region: str  # a county or a city
    counties: list[int]  # the counties its lists cover


@dataclass
class Layout:
    households: int
    cities: list[tuple[str, str]]
    counties: list[County]
    townships: list[Township]
    villages: list[Village]
    departments: list[Department] = field(default_factory=list)
    # Reserved ids of the staff (one range each) and of the departments' accounts.
    cadre_first: int = 0
    reviewer_first: int = 0
    approver_first: int = 0
    account_first: int = 0
    department_first: int = 0

    def village_index(self, code: str) -> int:
        if not hasattr(self, "_village_by_code"):
            self._village_by_code = {v.code: v.index for v in self.villages}
        return self._village_by_code[code]

    def cadre(self, village: int) -> int:
        return self.cadre_first + village

    def reviewer(self, township: int) -> int:
        return self.reviewer_first + township

    def approver(self, county: int) -> int:
        return self.approver_first + county


def _split(total: int, parts: int) -> list[int]:
    """`total` in `parts` near-equal whole parts."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _scaled(weights: list[int], total: int) -> list[int]:
    """Whole numbers proportional to `weights` that add up to `total` (largest remainder)."""
    exact = [w * total / sum(weights) for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def layout_plan(households: int, rng: random.Random) -> Layout:
    village_count = max(1, round(households / 300))
    sizes = _scaled([rng.randint(*VILLAGE_SIZE) for _ in range(village_count)], households)
    county_count = min(MAX_COUNTIES, max(1, round(village_count / VILLAGES_PER_COUNTY)))
    if village_count >= 4:
        county_count = max(county_count, 2)  # rounds and scope need a neighbour
    city_count = min(MAX_CITIES, max(1, math.ceil(county_count / COUNTIES_PER_CITY)))
    cities = [(f"{PREFIX}{c + 1:02d}00000000", f"演示市{c + 1}") for c in range(city_count)]
    layout = Layout(households, cities, [], [], [])
    per_city: dict[int, int] = {}
    first = 0
    village_index = 0
    for county_index, in_county in enumerate(_split(village_count, county_count)):
        city = county_index * city_count // county_count
        per_city[city] = per_city.get(city, 0) + 1
        county = County(
            county_index,
            f"{cities[city][0][:4]}{per_city[city]:02d}000000",
            f"演示县{county_index + 1}",
            city,
        )
        layout.counties.append(county)
        township_count = max(1, round(in_county / VILLAGES_PER_TOWNSHIP))
        if in_county >= 4:
            township_count = max(township_count, 2)
        for t, in_township in enumerate(_split(in_county, township_count)):
            township = Township(
                len(layout.townships),
                f"{county.code[:6]}{100 + t:03d}000",
                f"演示镇{len(layout.townships) + 1}",
                county_index,
            )
            layout.townships.append(township)
            county.townships.append(township.index)
            for v in range(in_township):
                village = Village(
                    village_index,
                    f"{township.code[:9]}{201 + v:03d}",
                    f"演示村{village_index + 1}",
                    township.index,
                    county_index,
                    first,
                    sizes[village_index],
                )
                first += village.count
                layout.villages.append(village)
                township.villages.append(village_index)
                county.villages.append(village_index)
                village_index += 1
    for county in layout.counties:
        for kind, label in COUNTY_DEPARTMENTS:
            layout.departments.append(
                Department(
                    len(layout.departments), kind, county.name + label, county.code, [county.index]
                )
            )
    for c, (code, name) in enumerate(cities):
        counties = [county.index for county in layout.counties if county.city == c]
        for kind, label in CITY_DEPARTMENTS:
            layout.departments.append(
                Department(len(layout.departments), kind, name + label, code, counties)
            )
    return layout


def regions_write(cursor, layout: Layout) -> int:
    rows = [(PROVINCE, "演示省", RegionLevel.PROVINCE, False, None)]
    rows += [(code, name, RegionLevel.CITY, False, PROVINCE) for code, name in layout.cities]
    rows += [
        (c.code, c.name, RegionLevel.COUNTY, False, layout.cities[c.city][0])
        for c in layout.counties
    ]
    rows += [
        (t.code, t.name, RegionLevel.TOWNSHIP, False, layout.counties[t.county].code)
        for t in layout.townships
    ]
    rows += [
        (v.code, v.name, RegionLevel.VILLAGE, False, layout.townships[v.township].code)
        for v in layout.villages
    ]
    return copy_rows(
        cursor,
        "households_region",
        ("code", "name", "level", "retired", "parent_id"),
        ((code, name, int(level), retired, parent) for code, name, level, retired, parent in rows),
    )


def _unusable_password(rng: random.Random) -> str:
    """What Django's make_password(None) stores, drawn from the seeded generator."""
    alphabet = string.ascii_letters + string.digits
    suffix = "".join(rng.choice(alphabet) for _ in range(UNUSABLE_PASSWORD_SUFFIX_LENGTH))
    return UNUSABLE_PASSWORD_PREFIX + suffix


def staff_write(cursor, layout: Layout, rng: random.Random, joined: datetime) -> int:
    """Staff and department accounts, then the departments, with reserved ids."""
    people = [
        (f"cun_{v.code}", f"{v.name}村干部", Role.VILLAGE_CADRE, v.code) for v in layout.villages
    ]
    people += [
        (f"zhen_{t.code[:9]}", f"{t.name}审核人", Role.TOWNSHIP_REVIEWER, t.code)
        for t in layout.townships
    ]
    people += [
        (f"xian_{c.code[:6]}", f"{c.name}审定人", Role.COUNTY_APPROVER, c.code)
        for c in layout.counties
    ]
    people += [
        (f"bumen_{d.region[:6]}_{d.kind}", d.name, Role.DEPARTMENT, d.region)
        for d in layout.departments
    ]
    first = reserve_ids(cursor, "accounts_user", len(people))
    layout.cadre_first = first
    layout.reviewer_first = first + len(layout.villages)
    layout.approver_first = layout.reviewer_first + len(layout.townships)
    layout.account_first = layout.approver_first + len(layout.counties)
    when = aware(joined)
    written = copy_rows(
        cursor,
        "accounts_user",
        (
            "id",
            "password",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
            "role",
            "phone_masked",
            "region_id",
            "password_changed_at",
            "password_change_required",
        ),
        (
            (first + i, _unusable_password(rng), False, username, name, "", "", False, True, *rest)
            for i, (username, name, role, region) in enumerate(people)
            for rest in [(when, str(role), "", region, when, False)]
        ),
    )
    layout.department_first = reserve_ids(cursor, "monitor_department", len(layout.departments))
    copy_rows(
        cursor,
        "monitor_department",
        ("id", "name", "kind", "active", "account_id", "region_id"),
        (
            (
                layout.department_first + d.index,
                d.name,
                str(d.kind),
                True,
                layout.account_first + d.index,
                d.region,
            )
            for d in layout.departments
        ),
    )
    return written
