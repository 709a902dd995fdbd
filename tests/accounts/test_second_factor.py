"""The second factor (TOTP, django-otp) of county approvers and administrators, with real
codes computed from the enrolled secret as an authenticator app computes them (RFC 6238)."""

import re
from base64 import b32decode
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


def code_for(secret_b32: str, *, offset_steps: int = 0) -> str:
    """What an authenticator app shows for this secret now."""
    key = b32decode(secret_b32.replace(" ", "") + "=" * (-len(secret_b32.replace(" ", "")) % 8))
    return f"{totp(key, step=30, t0=0, digits=6, drift=offset_steps):06d}"


def wrong_code(secret_b32: str) -> str:
    """A code the app does not show now, nor one step before or after (all three are taken)."""
    valid = {code_for(secret_b32, offset_steps=step) for step in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


def sign_in(client, username):
    response = client.post("/login/", {"username": username, "password": f"pw-{username}"})
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def enrol(client, username) -> str:
    """Sign in, follow the gate to the enrolment page, read the secret, confirm it."""
    sign_in(client, username)
    page = client.get("/second-factor/enrol/")
    assert page.status_code == 200
    text = page.content.decode()
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', text).group(1)
    uri = re.search(r'id="totp-uri">([^<]+)<', text).group(1).replace("&amp;", "&")
    # The otpauth:// address carries the same secret, for apps that import it.
    assert parse_qs(urlsplit(uri).query)["secret"] == [secret.replace(" ", "")]
    assert uri.startswith("otpauth://totp/")
    done = client.post("/second-factor/enrol/", {"code": code_for(secret), "next": "/"})
    assert done.status_code == 302 and done["Location"] == "/"
    return secret


def test_an_approver_reaches_nothing_before_the_second_factor(client, users, required, clock):
    sign_in(client, "approver")
    for path in ("/", "/cases/", "/review/", "/manage/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/second-factor/?next=")
    api = client.get("/api/cases/")
    assert api.status_code == 403 and "动态口令" in api.json()["detail"]
    # No app enrolled yet: the code page sends on to the enrolment page.
    assert client.get("/second-factor/")["Location"].startswith("/second-factor/enrol/")
    # Nothing of the county's is shown while the sign-in is unfinished, not even the menu.
    enrol_page = client.get("/second-factor/enrol/").content.decode()
    assert "审核" not in enrol_page and "监测对象" not in enrol_page


def test_enrolment_with_a_real_code_opens_the_pages(client, users, required, clock):
    secret = enrol(client, "approver")
    assert client.get("/").status_code == 200
    assert client.get("/api/cases/").status_code == 200
    device = TOTPDevice.objects.get(user=users["approver"])
    assert device.confirmed
    assert secret.replace(" ", "") not in " ".join(
        str(row) for row in AuditEvent.objects.values_list("detail", "object_label")
    )
    assert AuditEvent.objects.filter(
        actor=users["approver"], detail__second_factor="enrolled"
    ).exists()


def test_the_next_sign_in_asks_for_the_code_and_takes_a_real_one(users, required, clock):
    secret = enrol(Client(), "approver")
    clock.shift(60)
    client = Client()
    sign_in(client, "approver")
    assert client.get("/cases/")["Location"] == "/second-factor/?next=%2Fcases%2F"
    page = client.get("/second-factor/?next=/cases/")
    assert page.status_code == 200 and "输入动态口令" in page.content.decode()
    wrong = client.post("/second-factor/", {"code": wrong_code(secret), "next": "/cases/"})
    assert wrong.status_code == 400 and "动态口令不正确" in wrong.content.decode()
    assert client.get("/cases/").status_code == 302
    before = client.session.session_key
    right = client.post("/second-factor/", {"code": code_for(secret), "next": "/cases/"})
    assert right.status_code == 302 and right["Location"] == "/cases/"
    assert client.session.session_key != before  # the session gained rights: a new key
    assert client.get("/cases/").status_code == 200
    actions = list(
        AuditEvent.objects.filter(actor=users["approver"]).values_list("action", "detail")
    )
    assert ("login_failed", {"username": "approver", "stage": "second_factor"}) in actions
    assert ("login", {"second_factor": "totp"}) in actions


def test_a_code_is_taken_once(users, required, clock):
    secret = enrol(Client(), "approver")
    clock.shift(30)
    code = code_for(secret)
    first, second = Client(), Client()
    sign_in(first, "approver")
    sign_in(second, "approver")
    assert first.post("/second-factor/", {"code": code})["Location"] == "/"
    # The same code again (a code seen over someone's shoulder) is refused.
    replay = second.post("/second-factor/", {"code": code})
    assert replay.status_code == 400
    assert second.get("/").status_code == 302


def test_five_wrong_codes_lock_the_account_and_end_the_session(users, required, clock, settings):
    secret = enrol(Client(), "approver")
    clock.shift(60)
    client = Client()
    sign_in(client, "approver")
    wrong = wrong_code(secret)
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        assert client.post("/second-factor/", {"code": wrong}).status_code == 400
    locked = client.post("/second-factor/", {"code": wrong})
    assert locked.status_code == 302 and locked["Location"] == "/login/"
    # Signed out, and the right password is refused while the lock lasts.
    assert client.get("/second-factor/")["Location"].startswith("/login/")
    again = client.post("/login/", {"username": "approver", "password": "pw-approver"})
    assert again.status_code == 200 and "已临时锁定" in again.content.decode()


def test_the_administrator_site_is_behind_the_second_factor_too(users, required, clock):
    admin = users["admin"]
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": "pw-admin", "next": "/admin/"},
    )
    assert response.status_code == 302
    gate = client.get("/admin/accounts/user/")
    assert gate.status_code == 302 and gate["Location"].startswith("/second-factor/")
    enrol(client, "admin")
    assert client.get("/admin/accounts/user/").status_code == 200


def test_an_enrolled_app_is_replaced_only_from_a_verified_session(users, required, clock):
    enrol(Client(), "approver")
    clock.shift(60)
    thief = Client()  # holds the password, not the phone
    sign_in(thief, "approver")
    redirect = thief.get("/second-factor/enrol/")
    assert redirect.status_code == 302 and redirect["Location"].startswith("/second-factor/?")
    assert TOTPDevice.objects.filter(user=users["approver"], confirmed=True).count() == 1


def test_other_roles_sign_in_with_the_password_alone(client, users, required, clock):
    sign_in(client, "cadre_a")
    assert client.get("/").status_code == 200
    assert client.get("/second-factor/").status_code == 403


def test_the_demo_setting_relaxes_it_and_the_pages_still_work(client, users, settings, clock):
    settings.SECOND_FACTOR_REQUIRED = False
    sign_in(client, "approver")
    assert client.get("/").status_code == 200
    # Trying it in the demo: the enrolment page works without being forced.
    assert client.get("/second-factor/enrol/").status_code == 200
