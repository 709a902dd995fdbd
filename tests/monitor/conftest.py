from datetime import date
from decimal import Decimal

import pytest

from households.models import MonitoringLine
from households.services import income_record_save
from monitor.choices import Category, Channel
from monitor.services import case_create
from tests.conftest import VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

# A PDF header is all the consent check reads; the scan itself is the household's paper.
PDF = b"%PDF-1.4\n% signed consent scan\n"


@pytest.fixture
def lines(regions):
    for year, amount in ((2025, "7800"), (2026, "8000")):
        MonitoringLine.objects.create(region_id="630000000000", year=year, amount=Decimal(amount))


@pytest.fixture
def family(lines):
    """A 脱贫户 in 东关村: a working head and a child; 2025 income under the line."""
    household = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    MemberFactory(
        household=household,
        name="王大山",
        relation="head",
        labour="ordinary",
        id_number=make_id_number(sequence=700),
    )
    MemberFactory(
        household=household,
        name="王小山",
        relation="child",
        labour="none",
        id_number=make_id_number(birth=date(2015, 3, 1), sequence=702),
    )
    income_record_save(household=household, year=2025, wage_income=Decimal("10000"))
    return household


@pytest.fixture
def draft_case(family, users):
    return case_create(
        household=family,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=date(2026, 3, 2),
        by=users["cadre_a"],
        today=date(2026, 3, 2),
    )
