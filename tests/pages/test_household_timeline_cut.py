"""The household page shows the newest TIMELINE_SHOWN events of its timeline and a link to
the whole of it: a household on list after list gathers warning rows without end."""

import re

import pytest

from households.views import TIMELINE_SHOWN
from tests.conftest import COUNTY, VILLAGE_A
from tests.factories import (
    HouseholdFactory,
    MemberFactory,
    household_on_many_lists,
    make_id_number,
)

pytestmark = pytest.mark.django_db

BATCHES, ROWS = 3, 20  # 60 warnings and the clue they raised: 61 events


def _timeline(html: str) -> list[str]:
    section = html.split('id="timeline"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<li><span class=\"when\">.*?</li>", section, flags=re.S)


@pytest.fixture
def household():
    return household_on_many_lists(
        village=VILLAGE_A, county=COUNTY, lists=BATCHES, rows=ROWS, sequence=811
    )


def test_the_newest_events_and_a_link_to_all(client, users, household):
    client.force_login(users["cadre_a"])
    page = client.get(f"/households/{household.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    shown = _timeline(html)
    assert len(shown) == TIMELINE_SHOWN
    # Newest first: the last two lists whole, the clue the first list raised (after it
    # arrived), then part of the first list.
    assert sum("第3批" in line for line in shown) == ROWS
    assert sum("第2批" in line for line in shown) == ROWS
    assert sum("生成预警线索" in line for line in shown) == 1
    assert sum("第1批" in line for line in shown) == TIMELINE_SHOWN - 2 * ROWS - 1
    assert f"仅显示最近 {TIMELINE_SHOWN} 条" in html and "?timeline=all" in html

    whole = client.get(f"/households/{household.pk}/?timeline=all").content.decode()
    events = _timeline(whole)
    assert len(events) == BATCHES * ROWS + 1
    assert sum("生成预警线索" in line for line in events) == 1
    assert "?timeline=all" not in whole


def test_a_short_timeline_has_no_link(client, users):
    household = HouseholdFactory(village_id=VILLAGE_A)
    MemberFactory(household=household, relation="head", id_number=make_id_number(sequence=812))
    client.force_login(users["cadre_a"])
    html = client.get(f"/households/{household.pk}/").content.decode()
    assert "?timeline=all" not in html
