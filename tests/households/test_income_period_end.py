"""A record saved without a period end never ends in the future (issue 11, item 9): a period
that has not ended would count toward clearance before it happened."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from households.services import income_record_save

pytestmark = pytest.mark.django_db


def test_a_past_year_ends_on_31_december(family):
    record = income_record_save(household=family, year=2024, wage_income=Decimal("9000"))
    assert record.period_end == date(2024, 12, 31)


def test_the_current_year_ends_today_not_on_31_december(family):
    today = timezone.localdate()
    record = income_record_save(household=family, year=today.year, wage_income=Decimal("9000"))
    assert record.period_end == min(date(today.year, 12, 31), today)
    assert record.period_end <= today
