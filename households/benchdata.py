"""Synthetic data for the benchmark commands: a made-up province 99 (no real code starts
with 99), removed again when a benchmark ends."""

from django.db import connection

from households.models import Household, Region
from households.services import region_create_or_update

PROVINCE, CITY, COUNTY = "990000000000", "990100000000", "990101000000"
PREFIX = "99"


def synthetic_villages(count: int) -> list[str]:
    for code, name in ((PROVINCE, "基准省"), (CITY, "基准市"), (COUNTY, "基准县")):
        region_create_or_update(code=code, name=name)
    villages = []
    for index in range(count):
        township = f"990101{100 + index // 100:03d}000"
        if index % 100 == 0:
            region_create_or_update(code=township, name=f"基准镇{index // 100}")
        village = f"{township[:9]}{200 + index % 100:03d}"
        region_create_or_update(code=village, name=f"基准村{index}")
        villages.append(village)
    return villages


def synthetic_remove() -> None:
    """Set-based deletes: the ORM's cascade would delete a million members in id batches."""
    households = "SELECT id FROM households_household WHERE number LIKE %s"
    with connection.cursor() as cursor:
        for table in ("households_member", "households_incomerecord"):
            cursor.execute(
                f"DELETE FROM {table} WHERE household_id IN ({households})",  # noqa: S608
                [PREFIX + "%"],
            )
    Household.objects.inside(PREFIX).delete()
    for level in (5, 4, 3, 2, 1):
        Region.objects.filter(code__startswith=PREFIX, level=level).delete()
