"""Sessions end after 30 idle minutes (等保 level 3), are written only when their end has to
move (not on every request: config/sessions.py), and background polling is not activity."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from monitor.models import WarningBatch
from tests.conftest import VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-02T{clock}").replace(tzinfo=SHANGHAI)


def _sign_in(client, username):
    response = client.post("/login/", {"username": username, "password": f"pw-{username}"})
    assert response.status_code == 302


def _session_writes(captured) -> int:
    return sum(
        1
        for query in captured.captured_queries
        if query["sql"].lstrip().startswith(("UPDATE", "INSERT"))
        and "django_session" in query["sql"]
    )


def _get(client, path, **headers):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, headers=headers)
    return response, _session_writes(captured)


def test_requests_within_a_minute_of_activity_do_not_write_the_session(client, users, time_machine):
    time_machine.move_to(_at("09:00:00"), tick=False)
    _sign_in(client, "cadre_a")
    key = client.cookies["sessionid"].value
    assert Session.objects.get(pk=key).expire_date == _at("09:30:00")

    for clock in ("09:00:05", "09:00:59"):
        time_machine.move_to(_at(clock), tick=False)
        response, writes = _get(client, "/")
        assert (response.status_code, writes) == (200, 0)
        assert "sessionid" not in response.cookies  # nothing new to tell the browser
    assert Session.objects.get(pk=key).expire_date == _at("09:30:00")

    # A minute after the last write, a request moves the end (one write, a fresh cookie).
    time_machine.move_to(_at("09:01:00"), tick=False)
    response, writes = _get(client, "/")
    assert (response.status_code, writes) == (200, 1)
    assert response.cookies["sessionid"]["max-age"] == 30 * 60
    assert Session.objects.get(pk=key).expire_date == _at("09:31:00")


def test_a_session_ends_within_thirty_minutes_of_the_last_request(client, users, time_machine):
    time_machine.move_to(_at("09:00:00"), tick=False)
    _sign_in(client, "cadre_a")
    # The last write was at sign-in: requests in the next minute do not move the end, so
    # the session ends 30 minutes after sign-in, 29 and a half after the last request.
    time_machine.move_to(_at("09:00:30"), tick=False)
    assert client.get("/").status_code == 200
    time_machine.move_to(_at("09:29:59"), tick=False)
    assert client.get("/").status_code == 200  # moves the end to 09:59:59
    time_machine.move_to(_at("09:59:58"), tick=False)
    assert client.get("/").status_code == 200
    time_machine.move_to(_at("10:30:00"), tick=False)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.fixture
def waiting_list(users, lines):
    """A county's screening run, queued and never processed: its receipt keeps polling."""
    household = HouseholdFactory(village_id=VILLAGE_A, housing_safe=False)
    MemberFactory(household=household, id_number=make_id_number(sequence=900))


def test_polling_does_not_keep_a_session_alive(users, waiting_list, time_machine):
    client = Client()
    time_machine.move_to(_at("09:00:00"), tick=False)
    _sign_in(client, "approver")
    response = client.post("/batches/screening/")
    batch = WarningBatch.objects.get()
    assert response["Location"] == f"/batches/{batch.pk}/" and batch.status == "received"
    receipt = client.get(response["Location"]).content.decode()
    # The receipt's polling block marks its requests as background ones.
    assert f'hx-get="/batches/{batch.pk}/status/"' in receipt
    assert """hx-headers='{"X-Poll": "1"}'""" in receipt

    # The person walks away; the open page polls on (every 2 s in the browser).
    poll = {"HX-Request": "true", "X-Poll": "1"}
    for clock in ("09:05:00", "09:15:00", "09:25:00", "09:29:59"):
        time_machine.move_to(_at(clock), tick=False)
        answer, writes = _get(client, f"/batches/{batch.pk}/status/", **poll)
        assert (answer.status_code, writes) == (200, 0)
        assert 'hx-trigger="every 2s"' in answer.content.decode()
    # 30 minutes after the last request of the person: signed out, polling or not. The
    # poll loads the sign-in page in the browser (back to the receipt after), instead of
    # the sign-in page swapped into the status box.
    time_machine.move_to(_at("09:30:01"), tick=False)
    page = f"http://testserver/batches/{batch.pk}/"
    answer = client.get(f"/batches/{batch.pk}/status/", headers={**poll, "HX-Current-URL": page})
    assert answer.status_code == 204
    assert answer["HX-Redirect"] == f"/login/?next=%2Fbatches%2F{batch.pk}%2F"
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_expired_cookie_makes_no_session_row(client, users, time_machine):
    time_machine.move_to(_at("09:00:00"), tick=False)
    _sign_in(client, "cadre_a")
    time_machine.move_to(_at("10:00:00"), tick=False)
    count = Session.objects.count()
    response, writes = _get(client, "/")
    assert response.status_code == 302 and writes == 0
    assert Session.objects.count() == count
