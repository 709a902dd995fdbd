"""A password an administrator sets for someone else (a new account's, a reset) is known to
two people: once a second administrator lets it work, its owner's next sign-in reaches only
the change-password page, the same gate as an expired password (issue 11, known gaps)."""

import pytest
from django.test import Client

from accounts import services
from accounts.choices import Role
from accounts.models import User
from tests.conftest import VILLAGE_A

pytestmark = pytest.mark.django_db

SET_BY_ADMIN = "Nw7!strong-pw"
OWN = "Mine-2026-secret"


def _admin(username: str) -> User:
    return User.objects.create_user(
        username=username,
        password=f"pw-{username}",
        role=Role.ADMIN,
        is_staff=True,
        is_superuser=True,
    )


def _client(account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def _signed_in(username: str, password: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def _assert_only_the_change_page(client) -> None:
    for path in ("/", "/households/", "/cases/"):
        refused = client.get(path)
        assert refused.status_code == 302, path
        assert refused["Location"].startswith("/password/?next="), path
    api = client.get("/api/households/")
    assert api.status_code == 403 and "由管理员设置" in api.json()["detail"]
    page = client.get("/password/")
    assert page.status_code == 200 and "由管理员设置" in page.content.decode()


def _change_own(client, old: str) -> None:
    changed = client.post(
        "/password/", {"old_password": old, "new_password1": OWN, "new_password2": OWN}
    )
    assert changed.status_code == 302, changed.content.decode()[:1000]


def test_a_password_reset_in_the_admin_site_must_be_changed_at_the_next_sign_in(users):
    first, second = _admin("admin1"), _admin("admin2")
    cadre = users["cadre_a"]
    url = f"/admin/accounts/user/{cadre.pk}/password/"
    data = {"set_usable_password": "true", "password1": SET_BY_ADMIN, "password2": SET_BY_ADMIN}
    assert _client(first).post(url, data).status_code == 302
    services.account_confirm(by=second, account=User.objects.get(pk=cadre.pk))
    client = _signed_in("cadre_a", SET_BY_ADMIN)
    _assert_only_the_change_page(client)
    _change_own(client, SET_BY_ADMIN)
    assert client.get("/").status_code == 200
    assert client.get("/api/households/").status_code == 200
    assert not User.objects.get(pk=cadre.pk).password_change_required
    # The next sign-in with his own password goes straight in.
    assert _signed_in("cadre_a", OWN).get("/cases/").status_code == 200


def test_a_new_account_s_first_password_must_be_changed_at_the_first_sign_in(users):
    first, second = _admin("admin1"), _admin("admin2")
    response = _client(first).post(
        "/admin/accounts/user/add/",
        {
            "username": "new_cadre",
            "usable_password": "true",
            "password1": SET_BY_ADMIN,
            "password2": SET_BY_ADMIN,
            "role": Role.VILLAGE_CADRE,
            "region": VILLAGE_A,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    services.account_confirm(by=second, account=User.objects.get(username="new_cadre"))
    client = _signed_in("new_cadre", SET_BY_ADMIN)
    _assert_only_the_change_page(client)
    _change_own(client, SET_BY_ADMIN)
    assert client.get("/households/").status_code == 200


def test_the_service_marks_a_password_set_for_someone_else_and_not_one_s_own(users):
    admin = _admin("admin1")
    cadre = User.objects.get(pk=users["cadre_b"].pk)
    cadre.set_password(SET_BY_ADMIN)
    assert services.account_password_set(by=admin, account=cadre) == "pending"
    assert User.objects.get(pk=cadre.pk).password_change_required
    admin.set_password(OWN)
    assert services.account_password_set(by=admin, account=admin) == "saved"
    assert not User.objects.get(pk=admin.pk).password_change_required
    # Turning password sign-in off is no password anyone knows.
    other = User.objects.get(pk=users["cadre_c"].pk)
    other.set_unusable_password()
    services.account_password_set(by=admin, account=other)
    assert not User.objects.get(pk=other.pk).password_change_required


def test_an_administrator_s_own_password_set_in_the_admin_site_opens_at_once(users):
    admin = _admin("admin1")
    url = f"/admin/accounts/user/{admin.pk}/password/"
    data = {"set_usable_password": "true", "password1": OWN, "password2": OWN}
    assert _client(admin).post(url, data).status_code == 302
    client = _signed_in("admin1", OWN)
    assert client.get("/").status_code == 200
