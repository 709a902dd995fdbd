from decimal import Decimal

import pytest

from households.choices import RegionLevel
from households.models import Household, MonitoringLine, Region
from households.services import monitoring_line_for, regions_load_csv
from tests.conftest import COUNTY, TOWNSHIP_1, VILLAGE_A, VILLAGE_C
from tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db


def test_levels_and_parents_are_derived_from_the_code(regions):
    village = regions[VILLAGE_A]
    assert village.level == RegionLevel.VILLAGE
    assert village.parent_id == TOWNSHIP_1
    assert regions[TOWNSHIP_1].parent_id == COUNTY
    assert regions[COUNTY].prefix == "630121"
    assert regions[TOWNSHIP_1].prefix == "630121100"
    assert Region.prefix_of_code("630000000000") == "63"


def test_inside_is_a_prefix_match(regions):
    HouseholdFactory(village_id=VILLAGE_A)
    HouseholdFactory(village_id=VILLAGE_C)
    assert Household.objects.inside("630121100").count() == 1
    assert Household.objects.inside("630121").count() == 2
    assert {r.code for r in Region.objects.inside("630121100")} == {
        TOWNSHIP_1,
        VILLAGE_A,
        "630121100202",
        "630121100203",
    }


def test_region_file_rows_in_any_order_load_and_bad_rows_are_reported(db):
    text = (
        "区划代码,名称\n630121100201,东关村\n630000000000,青海省\n630121000000,大通县\n"
        "630100000000,西宁市\n630121100000,桥头镇\n6301211002,短码\n630999100201,孤村\n"
    )
    result = regions_load_csv(text=text)
    assert result["created"] == 5
    reasons = {error["row"]: error["reason"] for error in result["errors"]}
    assert "12位" in reasons[7]
    assert "上级区划" in reasons[8]


def test_the_monitoring_line_of_the_most_specific_region_applies(regions):
    MonitoringLine.objects.create(region_id="630000000000", year=2025, amount=Decimal("7000"))
    MonitoringLine.objects.create(region_id=COUNTY, year=2025, amount=Decimal("7300"))
    assert monitoring_line_for(village_code=VILLAGE_A, year=2025).amount == 7300
    assert monitoring_line_for(village_code="630122100201", year=2025).amount == 7000
    assert monitoring_line_for(village_code=VILLAGE_A, year=2024) is None


def test_file_colour_is_derived(regions):
    household = HouseholdFactory(village_id=VILLAGE_A, kind="ordinary")
    assert household.file_colour == "green"
    household.kind = "lifted"
    assert household.file_colour == "blue"
    household.is_monitored = True
    assert household.file_colour == "red"
    assert household.get_file_colour_display().startswith("红色")
