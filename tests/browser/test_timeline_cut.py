"""A household on list after list: on a phone its page shows the newest events of the
timeline and a link that opens the whole of it, nothing wider than the screen."""

import pytest

from accounts.choices import Role
from accounts.models import User
from households.views import TIMELINE_SHOWN
from monitor.feeds.intake import receive_json
from monitor.feeds.matching import process_batch
from monitor.models import Department
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LISTS, ROWS = 3, 20


def test_the_timeline_shows_the_newest_and_opens_the_rest(
    phone_page, live_server, users, login, shot
):
    account = User.objects.create_user(username="dept_b", password="x", role=Role.DEPARTMENT)
    department = Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=COUNTY, account=account
    )
    household = HouseholdFactory(village_id=VILLAGE_A)
    number = make_id_number(sequence=821)
    MemberFactory(household=household, relation="head", id_number=number)
    for batch in range(1, LISTS + 1):
        rows = [
            {"姓名": "户主", "身份证号": number, "预警类型": f"第{batch}批住院费用{n:02d}"}
            for n in range(ROWS)
        ]
        received = receive_json(department=department, batch_key=f"b{batch}", rows=rows)
        # Committed rows here: the push's own queued matching may have run it already.
        process_batch(received.batch.pk)
        received.batch.refresh_from_db()
        assert received.batch.status == "done"

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
