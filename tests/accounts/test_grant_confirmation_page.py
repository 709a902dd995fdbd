"""The 待复核授权 page (双人复核, issue 11 known gaps): a county approver confirms the
machine account and the keys an administrator made for a department of his county, and a
second administrator confirms the account grants another made — on a page, with a button,
through the services, audited; never what lies outside the county or what one asked for
oneself."""

import re

import pytest
from django.test import Client

from accounts import services
from accounts.choices import AuditAction, Role
from accounts.models import ApiToken, AuditEvent, User
from monitor import administration
from monitor.models.feeds import DepartmentKind
from tests.conftest import VILLAGE_B

pytestmark = pytest.mark.django_db

URL = "/grants/"
BUTTON = re.compile(r'name="kind" value="([a-z_]+)"><input type="hidden" name="pk" value="(\d+)"')


@pytest.fixture
def waiting(users):
    """A department of the approver's county, its account and a key, made by the
    administrator: all three wait for a second person."""
    department = administration.department_create(
        by=users["admin"],
        name="县医保局",
        kind=DepartmentKind.MEDICAL_INSURANCE,
        region=users["approver"].region,
    )
    token, raw = administration.department_key_issue(
        by=users["admin"], department=department, name="每月推送"
    )
    return department, token, raw


def _client(account, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(account)
    return client


def _buttons(page) -> set[tuple[str, str]]:
    """(kind, pk) of every confirm button on the page."""
    return set(BUTTON.findall(page.content.decode()))


def test_the_county_approver_confirms_his_county_s_department_on_the_page(users, waiting):
    department, token, raw = waiting
    approver = users["approver"]
    client = _client(approver)
    home = client.get("/").content.decode()
    assert f'href="{URL}"' in home and "待复核授权" in home  # in the navigation
    page = client.get(URL)
    assert page.status_code == 200
    assert _buttons(page) == {
        ("department_account", str(department.pk)),
        ("department_key", str(token.pk)),
    }
    text = page.content.decode()
    assert department.account.username in text and token.prefix in text and raw not in text
    machine = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    assert machine.get("/api/feeds/batches/").status_code == 401

    done = client.post(URL, {"kind": "department_account", "pk": department.pk})
    assert done.status_code == 302 and done["Location"] == URL
    assert User.objects.get(pk=department.account_id).is_active
    assert machine.get("/api/feeds/batches/").status_code == 401  # the key still waits
    done = client.post(URL, {"kind": "department_key", "pk": token.pk}, follow=True)
    assert "已复核启用" in done.content.decode()
    assert machine.get("/api/feeds/batches/").status_code == 200
    assert _buttons(client.get(URL)) == set()
    # The services wrote the second person's events.
    confirmed = AuditEvent.objects.get(action=AuditAction.GRANT_CONFIRMED)
    assert confirmed.actor == approver and confirmed.object_id == str(department.account_id)
    assert confirmed.ip == "127.0.0.1"  # from the page's request
    key_event = AuditEvent.objects.get(action=AuditAction.TOKEN_CONFIRMED)
    assert key_event.actor == approver and key_event.detail["issued_by"] == "admin"
    # The key's service is not handed the request: the address comes from the request it
    # runs in (accounts/audit.py).
    assert key_event.ip == "127.0.0.1"


def test_another_county_s_approver_sees_nothing_and_confirms_nothing(users, waiting):
    department, token, _raw = waiting
    client = _client(users["approver_other"])
    page = client.get(URL)
    assert page.status_code == 200 and _buttons(page) == set()
    assert department.name not in page.content.decode()
    assert client.post(URL, {"kind": "department_account", "pk": department.pk}).status_code == 404
    assert client.post(URL, {"kind": "department_key", "pk": token.pk}).status_code == 404
    assert not User.objects.get(pk=department.account_id).is_active
    assert ApiToken.objects.get(pk=token.pk).confirmed_at is None


def test_the_administrator_cannot_confirm_what_he_made(users, waiting):
    department, token, _raw = waiting
    client = _client(users["admin"])
    page = client.get(URL)
    assert page.status_code == 200 and _buttons(page) == set()
    assert "由您提交" in page.content.decode() and "由您签发" in page.content.decode()
    refused = client.post(URL, {"kind": "department_key", "pk": token.pk})
    assert refused.status_code == 400 and "另一人复核" in refused.content.decode()
    assert ApiToken.objects.get(pk=token.pk).confirmed_at is None
    refused = client.post(URL, {"kind": "department_account", "pk": department.pk})
    assert refused.status_code == 400 and "另一人复核" in refused.content.decode()
    assert not User.objects.get(pk=department.account_id).is_active


def test_a_confirmation_needs_its_csrf_token(users, waiting):
    department, _token, _raw = waiting
    client = _client(users["approver"], enforce_csrf_checks=True)
    assert client.post(URL, {"kind": "department_account", "pk": department.pk}).status_code == 403
    assert not User.objects.get(pk=department.account_id).is_active


@pytest.mark.parametrize("name", ["cadre_a", "reviewer_1", "auditor", "department"])
def test_the_page_is_for_the_second_persons_only(users, waiting, name):
    department, _token, _raw = waiting
    client = _client(users[name])
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"kind": "department_account", "pk": department.pk}).status_code == 403
    assert f'href="{URL}"' not in client.get("/password/").content.decode()


def test_a_second_administrator_confirms_an_account_grant_on_the_page(users):
    admin = users["admin"]
    second = User.objects.create_user(username="admin2", password="pw-admin2", role=Role.ADMIN)
    cadre = User.objects.get(pk=users["cadre_a"].pk)
    cadre.region_id = VILLAGE_B
    assert services.account_save(by=admin, account=cadre) == "pending"
    # The approver confirms departments, not people's accounts.
    assert _buttons(_client(users["approver"]).get(URL)) == set()
    assert (
        _client(users["approver"]).post(URL, {"kind": "account", "pk": cadre.pk}).status_code == 403
    )
    own = _client(admin).get(URL)
    assert _buttons(own) == set() and "cadre_a" in own.content.decode()
    client = _client(second)
    assert _buttons(client.get(URL)) == {("account", str(cadre.pk))}
    assert client.post(URL, {"kind": "account", "pk": cadre.pk}).status_code == 302
    cadre.refresh_from_db()
    assert cadre.is_active and cadre.region_id == VILLAGE_B and cadre.grant_requested_by is None
    event = AuditEvent.objects.get(action=AuditAction.GRANT_CONFIRMED, object_id=str(cadre.pk))
    assert event.actor == second and event.ip == "127.0.0.1"


@pytest.mark.parametrize(
    "data", [{}, {"kind": "nonsense", "pk": 1}, {"kind": "department_key", "pk": "x"}]
)
def test_a_malformed_confirmation_is_a_400_in_chinese(users, waiting, data):
    page = _client(users["approver"]).post(URL, data)
    assert page.status_code == 400 and "请从列表中选择" in page.content.decode()
