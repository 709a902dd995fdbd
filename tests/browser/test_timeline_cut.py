"""A household on list after list: on a phone its page shows the newest events of the
timeline and a link that opens the whole of it, nothing wider than the screen."""

import pytest

from households.views import TIMELINE_SHOWN
from tests.conftest import COUNTY, VILLAGE_A
from tests.factories import household_on_many_lists

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LISTS, ROWS = 3, 20


def test_the_timeline_shows_the_newest_and_opens_the_rest(
    phone_page, live_server, users, login, shot
):
    household = household_on_many_lists(
        village=VILLAGE_A, county=COUNTY, lists=LISTS, rows=ROWS, sequence=821
    )

    login(phone_page, live_server, "cadre_a", "pw-cadre_a")
    phone_page.goto(f"{live_server.url}/households/{household.pk}/")
    events = phone_page.locator("#timeline ol.timeline > li")
    assert events.count() == TIMELINE_SHOWN
    link = phone_page.get_by_role("link", name="显示全部记录")
    link.scroll_into_view_if_needed()
    assert link.is_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone_page, "timeline-newest")
    link.click()
    phone_page.wait_for_url("**?timeline=all*")
    assert events.count() == LISTS * ROWS + 1  # and the clue they raised
    assert phone_page.get_by_role("link", name="显示全部记录").count() == 0
    shot(phone_page, "timeline-all")
