"""A village cadre's pages at 360 px: nothing wider than the screen (tables scroll inside
their card), so a phone never has to scroll the whole page sideways."""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_the_cadres_pages_fit_a_360_px_phone(phone_page, live_server, login, shot, draft_case):
    login(phone_page, live_server, "cadre_a", "pw-cadre_a")
    household = draft_case.household_id
    paths = [
        "/",
        "/households/",
        f"/households/{household}/",
        f"/households/{household}/income/",
        "/cases/",
        f"/cases/{draft_case.pk}/",
        f"/cases/{draft_case.pk}/aid/",
        f"/cases/{draft_case.pk}/edit/",
        "/clues/",
        "/households/import/",
    ]
    too_wide = {}
    for path in paths:
        phone_page.goto(f"{live_server.url}{path}")
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        shot(phone_page, path.strip("/").replace("/", "-") or "home")
        if width > 360:
            too_wide[path] = width
    assert not too_wide, too_wide
